/** Log lines: secrets by field name and by value never written; the replacer skipped only where it would change nothing. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonLine, memoryLogger, redactingReplacer } from '../../shared/log';

const viaReplacer = (r: Record<string, unknown>): string => JSON.stringify(r, redactingReplacer);
const outcome = (f: () => string): string => {
  try {
    return f();
  } catch (e) {
    return `throws ${(e as Error).name}`;
  }
};

describe('jsonLine', () => {
  it('writes what JSON.stringify with the redacting replacer writes, for any fields', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constantFrom('authorization', 'Signature', 'SECRET', 'accessKeySecret', 'x-oss-security-token', 'key', 'toJSON', '__proto__'),
    );
    const value = fc.anything({
      key,
      maxDepth: 10,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withNullPrototype: true,
      withSparseArray: true,
      withBoxedValues: true,
    });
    const error = fc.string().map((m) => Object.assign(new Error(m), { code: 'E' }));
    const record = fc.dictionary(key, fc.oneof(value, error, fc.record({ nested: fc.oneof(value, error) })), { maxKeys: 6 });
    fc.assert(
      fc.property(record, (r) => {
        expect(outcome(() => jsonLine(r))).toBe(outcome(() => viaReplacer(r)));
      }),
      { numRuns: 3000 },
    );
  });

  it('a decision line takes the plain path and a secret anywhere takes the replacer', () => {
    const line = {
      time: '2026-12-02T00:00:00.000Z',
      level: 'info',
      msg: 'object decision',
      bucket: 'b',
      key: 'k',
      requestIds: ['R1'],
      bytes: 1,
    };
    expect(jsonLine(line)).toBe(JSON.stringify(line));
    const deep = { ...line, error: { detail: { headers: { Authorization: 'OSS4-HMAC-SHA256 Credential=x' } } } };
    expect(jsonLine(deep)).toContain('"Authorization":"[redacted]"');
    // What a toJSON gives is what the replacer sees.
    expect(jsonLine({ ...line, wrapped: { toJSON: () => ({ authorization: 'x', n: 1n }) } })).toContain(
      '"wrapped":{"authorization":"[redacted]","n":"1"}',
    );
    expect(jsonLine({ ...line, at: new Date(0), n: 10n, e: new Error('boom') })).toContain(
      '"at":"1970-01-01T00:00:00.000Z","n":"10","e":{"name":"Error","message":"boom"}',
    );
  });

  it('the logger scrubs the credentials in use from every line, by value', () => {
    const secret = 'TestSecretKeyThatMustNeverBeLogged0001';
    const log = memoryLogger(() => [secret, undefined, 'short']);
    log.info('failed', { message: `signature over ${secret} did not match`, token: 'short' });
    expect(log.lines[0]).not.toContain(secret);
    expect(log.lines[0]).toContain('signature over [redacted] did not match');
    expect(log.lines[0]).toContain('"token":"short"'); // under 8 characters: not a credential
  });
});
