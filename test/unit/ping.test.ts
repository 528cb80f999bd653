/** `{"ping": true}`: recognised in every form a handler receives, never confused with an event; answered from the configuration. */
import { describe, expect, it } from 'vitest';
import { isPing, PingAnswerSchema, pingAnswer } from '../../shared/events';
import { loadConfig } from '../../shared/validation/config';
import { OSS_SSE_VERSION } from '../../shared/version';
import packageJson from '../../package.json';

describe('isPing', () => {
  it('recognises the ping as bytes (what FC hands over), text or a value, with whitespace and a BOM', () => {
    expect(isPing(Buffer.from('{"ping":true}'))).toBe(true);
    expect(isPing(Buffer.from('\ufeff{ "ping" : true }\n'))).toBe(true);
    expect(isPing('{"ping": true}')).toBe(true);
    expect(isPing({ ping: true })).toBe(true);
  });

  it('anything else is an event for the function to parse (and refuse), not a ping', () => {
    for (const event of [
      Buffer.from('{"ping":false}'),
      Buffer.from('{"ping":"true"}'),
      Buffer.from('{"ping":true,"bucket":"b"}'),
      Buffer.from('[{"ping":true}]'),
      Buffer.from('not json'),
      Buffer.from(''),
      { bucket: 'b' },
      null,
      Buffer.from(`{"ping":true${' '.repeat(2000)}}`),
    ]) {
      expect(isPing(event), String(event)).toBe(false);
    }
  });
});

describe('pingAnswer', () => {
  it('summarises the validated configuration: function, version, algorithm, key, data encryption, compliance', () => {
    const config = loadConfig({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/prod', KMS_DATA_ENCRYPTION: 'SM4', COMPLIANCE: 'exact' });
    const answer = pingAnswer('oss-sse-object-encryption', config);
    expect(answer).toEqual({
      pong: true,
      function: 'oss-sse-object-encryption',
      version: packageJson.version,
      algorithm: 'KMS',
      kmsKeyId: 'alias/prod',
      dataEncryption: 'SM4',
      compliance: 'exact',
    });
    expect(PingAnswerSchema.parse(answer)).toEqual(answer);
    expect(OSS_SSE_VERSION).toBe(packageJson.version);
  });

  it('leaves out what the configuration does not set', () => {
    expect(pingAnswer('f', loadConfig({}))).toEqual({
      pong: true,
      function: 'f',
      version: packageJson.version,
      algorithm: 'AES256',
      compliance: 'any',
    });
  });
});
