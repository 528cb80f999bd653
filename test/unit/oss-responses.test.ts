/** OSS answers parsed into OssPort values: known values as their union members, unknown ones kept as sent. */
import { describe, expect, it } from 'vitest';
import type { Reply } from '../../shared/oss/failures';
import { asSent } from '../../shared/oss/port';
import { parseHead, parseListObjects, writeResult } from '../../shared/oss/responses';

const reply = (headers: Record<string, string>, body = ''): Reply => ({ status: 200, headers, body: Buffer.from(body, 'utf8') });

describe('parseHead', () => {
  it('known object types and storage classes are union members; absent ones default to Normal / Standard', () => {
    const h = parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-object-type': 'Appendable', 'x-oss-storage-class': 'ColdArchive' }));
    expect([h.objectType, h.storageClass]).toEqual(['Appendable', 'ColdArchive']);
    const d = parseHead('b', 'k', reply({ etag: '"E"' }));
    expect([d.objectType, d.storageClass]).toEqual(['Normal', 'Standard']);
  });

  it('a value the code does not know is Unrecognised, kept as sent (a copy sends it back unchanged)', () => {
    const h = parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-object-type': 'Hologram', 'x-oss-storage-class': 'FrozenArchive' }));
    expect(h.objectType).toEqual({ unrecognised: 'Hologram' });
    expect(h.storageClass).toEqual({ unrecognised: 'FrozenArchive' });
    expect(asSent(h.storageClass)).toBe('FrozenArchive');
    expect(asSent(parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-storage-class': 'IA' })).storageClass)).toBe('IA');
  });

  it('an SSE algorithm the code does not know is left out (the policy then re-encrypts)', () => {
    expect(parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-server-side-encryption': 'ROT13' })).sse).toBeUndefined();
    expect(parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-server-side-encryption': 'SM4' })).sse).toEqual({ algorithm: 'SM4' });
  });
});

describe('writeResult', () => {
  it('a copy’s answer: ETag, version, source version, CRC-64 and encryption as the headers give them', () => {
    const r = reply({
      'x-oss-version-id': 'v2',
      'x-oss-copy-source-version-id': 'v1',
      'x-oss-hash-crc64ecma': '1234',
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'key-1',
      'x-oss-server-side-data-encryption': 'SM4',
    });
    expect(writeResult('"E"', { ...r, requestId: 'R' })).toEqual({
      etag: '"E"',
      versionId: 'v2',
      sourceVersionId: 'v1',
      crc64: '1234',
      sse: { algorithm: 'KMS', keyId: 'key-1', dataEncryption: 'SM4' },
      requestId: 'R',
    });
    expect(writeResult('"E"', reply({}))).toEqual({ etag: '"E"' });
  });
});

describe('parseListObjects', () => {
  it('listed storage classes and types: known as members, unknown kept as sent', () => {
    const xml =
      '<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>' +
      '<Contents><Key>a%2Bb</Key><StorageClass>IA</StorageClass><Type>Multipart</Type></Contents>' +
      '<Contents><Key>c</Key><StorageClass>Glacier</StorageClass><Type>Hologram</Type></Contents>' +
      '<Contents><Key>d</Key></Contents></ListBucketResult>';
    const page = parseListObjects(reply({}, xml));
    expect(page.objects.map((o) => [o.key, o.storageClass, o.type])).toEqual([
      ['a+b', 'IA', 'Multipart'],
      ['c', { unrecognised: 'Glacier' }, { unrecognised: 'Hologram' }],
      ['d', 'Standard', 'Normal'],
    ]);
  });
});
