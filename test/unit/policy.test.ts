/** The shared decision: every outcome of decideObject and decideBucketRule. */
import { describe, expect, it } from 'vitest';
import type { ObjectHead } from '../../shared/oss/port';
import { bucketSelected, decideBucketRule, decideObject, policyFromConfig, sseRequestHeaders, type Policy } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { answerVerdict, REPORT_COPY_VERIFY_SAMPLE_EVERY, VerificationSampler } from '../../shared/reencrypt';

const policy = (env: Record<string, string> = {}): Policy => policyFromConfig(loadConfig(env));

const head = (over: Partial<ObjectHead> = {}): ObjectHead => ({
  bucket: 'b',
  key: 'k',
  etag: '"ABC"',
  size: 10,
  objectType: 'Normal',
  storageClass: 'Standard',
  contentHeaders: {},
  userMeta: {},
  taggingCount: 0,
  ...over,
});

describe('decideObject', () => {
  const any = policy();
  it('re-encrypts an unencrypted object and calls an encrypted one compliant under any', () => {
    expect(decideObject(any, 'b', 'k', head())).toEqual({ action: 'reencrypt', reason: 'unencrypted' });
    expect(decideObject(any, 'b', 'k', head({ sse: { algorithm: 'KMS', keyId: 'other' } }))).toEqual({ action: 'compliant' });
    expect(decideObject(any, 'b', 'k', head({ sse: { algorithm: 'SM4' } }))).toEqual({ action: 'compliant' });
  });

  it('skips, with the reason, what must not or cannot be copied', () => {
    expect(decideObject(any, 'b', 'k', undefined)).toEqual({ action: 'skip', reason: 'not-found' });
    expect(decideObject(any, 'b', 'k', head({ objectType: 'Symlink' }))).toEqual({ action: 'skip', reason: 'symlink' });
    expect(decideObject(any, 'b', 'k', head({ objectType: 'Appendable' }))).toEqual({ action: 'skip', reason: 'appendable' });
    for (const storageClass of ['Archive', 'ColdArchive', 'DeepColdArchive'] as const) {
      expect(decideObject(any, 'b', 'k', head({ storageClass }))).toEqual({ action: 'skip', reason: 'archived-not-restored' });
      expect(decideObject(any, 'b', 'k', head({ storageClass, restore: 'ongoing-request="true"' }))).toEqual({
        action: 'skip',
        reason: 'archived-not-restored',
      });
      expect(decideObject(any, 'b', 'k', head({ storageClass, restore: 'ongoing-request="false", expiry-date="x"' })).action).toBe(
        'reencrypt',
      );
    }
    expect(decideObject(any, 'b', 'k', head({ objectType: 'Appendable', sse: { algorithm: 'AES256' } }))).toEqual({ action: 'compliant' });
  });

  it('an object type or storage class OSS sends that the code does not know is decided as Normal / Standard, as before they were typed', () => {
    const exact = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1', COMPLIANCE: 'exact' });
    const sses = [
      undefined,
      { algorithm: 'AES256' as const },
      { algorithm: 'KMS' as const, keyId: 'key-1' },
      { algorithm: 'KMS' as const },
    ];
    for (const p of [any, exact]) {
      for (const sse of sses) {
        const known = decideObject(p, 'b', 'k', head({ ...(sse ? { sse } : {}) }));
        for (const unknown of [
          { objectType: { unrecognised: 'Hologram' } },
          { storageClass: { unrecognised: 'FrozenArchive' } },
          { storageClass: { unrecognised: 'FrozenArchive' }, restore: 'ongoing-request="true"' },
          { objectType: { unrecognised: 'symlink' }, storageClass: { unrecognised: 'archive' } },
        ]) {
          expect(decideObject(p, 'b', 'k', head({ ...unknown, ...(sse ? { sse } : {}) })), JSON.stringify({ unknown, sse })).toEqual(known);
        }
      }
    }
  });

  it('honours bucket include/exclude globs and key prefixes before looking at the object', () => {
    const p = policy({ BUCKET_INCLUDE: 'prod-*,logs-??', BUCKET_EXCLUDE: 'prod-tmp*', KEY_EXCLUDE_PREFIXES: 'tmp/' });
    expect(bucketSelected(p, 'prod-a')).toBe(true);
    expect(bucketSelected(p, 'logs-01')).toBe(true);
    expect(bucketSelected(p, 'logs-001')).toBe(false);
    expect(bucketSelected(p, 'prod-tmp-1')).toBe(false);
    expect(decideObject(p, 'dev', 'k', head())).toEqual({ action: 'skip', reason: 'excluded-bucket' });
    expect(decideObject(p, 'prod-a', 'tmp/x', head())).toEqual({ action: 'skip', reason: 'excluded-prefix' });
    expect(decideObject(p, 'prod-a', 'data/x', undefined)).toEqual({ action: 'skip', reason: 'not-found' });
  });

  it('under exact, re-encrypts another algorithm, another key or missing SM4 data encryption', () => {
    const p = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1', KMS_DATA_ENCRYPTION: 'SM4', COMPLIANCE: 'exact' });
    const ok = { algorithm: 'KMS' as const, keyId: 'key-1', dataEncryption: 'SM4' as const };
    expect(decideObject(p, 'b', 'k', head({ sse: ok }))).toEqual({ action: 'compliant' });
    expect(decideObject(p, 'b', 'k', head({ sse: { algorithm: 'AES256' } }))).toEqual({ action: 'reencrypt', reason: 'wrong-algorithm' });
    expect(decideObject(p, 'b', 'k', head({ sse: { ...ok, keyId: 'key-2' } }))).toEqual({ action: 'reencrypt', reason: 'wrong-key' });
    expect(decideObject(p, 'b', 'k', head({ sse: { algorithm: 'KMS', keyId: 'key-1' } }))).toEqual({
      action: 'reencrypt',
      reason: 'wrong-data-encryption',
    });
  });

  it('matches a configured alias or ARN against the key id OSS reports', () => {
    const alias = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/prod', COMPLIANCE: 'exact' });
    const sse = { algorithm: 'KMS' as const, keyId: 'key-xyz' };
    expect(decideObject(alias, 'b', 'k', head({ sse })).action).toBe('reencrypt');
    expect(decideObject(alias, 'b', 'k', head({ sse }), 'key-xyz')).toEqual({ action: 'compliant' });
    const arn = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'acs:kms:cn-hangzhou:123:key/key-xyz', COMPLIANCE: 'exact' });
    expect(decideObject(arn, 'b', 'k', head({ sse }))).toEqual({ action: 'compliant' });
  });
});

describe('decideBucketRule', () => {
  it('sets a missing rule, keeps a matching one, reports a different one unless told to replace it', () => {
    const p = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1' });
    expect(decideBucketRule(p, undefined)).toEqual({ action: 'set', reason: 'missing' });
    expect(decideBucketRule(p, { algorithm: 'KMS', keyId: 'key-1' })).toEqual({ action: 'compliant' });
    expect(decideBucketRule(p, { algorithm: 'AES256' })).toEqual({ action: 'report', reason: 'different-rule' });
    expect(
      decideBucketRule(policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1', OVERRIDE_BUCKET_RULE: 'true' }), { algorithm: 'AES256' }),
    ).toEqual({
      action: 'set',
      reason: 'replace',
    });
    expect(
      decideBucketRule(policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1', COMPLIANCE: 'exact' }), { algorithm: 'KMS', keyId: 'key-2' }),
    ).toEqual({
      action: 'set',
      reason: 'replace',
    });
  });
});

describe('sseRequestHeaders', () => {
  it('asks for exactly the policy encryption, with the resolved key id when there is one', () => {
    expect(sseRequestHeaders({ algorithm: 'AES256' })).toEqual({ 'x-oss-server-side-encryption': 'AES256' });
    expect(sseRequestHeaders({ algorithm: 'KMS', keyId: 'alias/a', dataEncryption: 'SM4' }, 'key-1')).toEqual({
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'key-1',
      'x-oss-server-side-data-encryption': 'SM4',
    });
    expect(sseRequestHeaders({ algorithm: 'KMS' })).toEqual({ 'x-oss-server-side-encryption': 'KMS' });
  });
});

describe('answerVerdict: what a copy’s own answer proves', () => {
  const aes = policy();
  const kms = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1' });
  const before = head({ crc64: '42' });
  it('the demanded encryption and the source’s CRC-64: verified by the answer', () => {
    expect(answerVerdict(aes, before, { etag: '"E"', crc64: '42', sse: { algorithm: 'AES256' } }, undefined)).toBe('answer');
    expect(answerVerdict(kms, before, { etag: '"E"', crc64: '42', sse: { algorithm: 'KMS', keyId: 'key-1' } }, undefined)).toBe('answer');
  });
  it('a field lacking (CRC-64, the KMS key id, the source’s CRC-64): partial, for the HEAD sample', () => {
    expect(answerVerdict(aes, before, { etag: '"E"', sse: { algorithm: 'AES256' } }, undefined)).toBe('partial');
    expect(answerVerdict(kms, before, { etag: '"E"', crc64: '42', sse: { algorithm: 'KMS' } }, undefined)).toBe('partial');
    expect(answerVerdict(aes, head(), { etag: '"E"', crc64: '42', sse: { algorithm: 'AES256' } }, undefined)).toBe('partial');
  });
  it('anything that disagrees, no encryption, no answer, or no new version in a versioned bucket: a HEAD', () => {
    expect(answerVerdict(aes, before, { etag: '"E"', crc64: '43', sse: { algorithm: 'AES256' } }, undefined)).toBe('needs-head');
    expect(answerVerdict(aes, before, { etag: '"E"', crc64: '42', sse: { algorithm: 'SM4' } }, undefined)).toBe('needs-head');
    expect(answerVerdict(aes, before, { etag: '"E"', crc64: '42' }, undefined)).toBe('needs-head');
    expect(answerVerdict(kms, before, { etag: '"E"', crc64: '42', sse: { algorithm: 'KMS', keyId: 'other' } }, undefined)).toBe(
      'needs-head',
    );
    expect(answerVerdict(aes, before, {}, undefined)).toBe('needs-head');
    expect(
      answerVerdict(aes, head({ crc64: '42', versionId: 'v1' }), { etag: '"E"', crc64: '42', sse: { algorithm: 'AES256' } }, undefined),
    ).toBe('needs-head');
  });
});

describe('answerVerdict of a copy decided on a report (no HEAD, so no source CRC-64)', () => {
  const aes = policy();
  const kms = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'key-1' });
  const reported = head();
  const fromReport = { fromReport: true };
  it('the demanded encryption exactly: encryption-only (the CRC-64 cannot be compared), with or without the answer’s CRC-64', () => {
    expect(answerVerdict(aes, reported, { etag: '"E"', crc64: '42', sse: { algorithm: 'AES256' } }, undefined, fromReport)).toBe(
      'encryption-only',
    );
    expect(answerVerdict(aes, reported, { etag: '"E"', sse: { algorithm: 'AES256' } }, undefined, fromReport)).toBe('encryption-only');
    expect(answerVerdict(kms, reported, { etag: '"E"', sse: { algorithm: 'KMS', keyId: 'key-1' } }, undefined, fromReport)).toBe(
      'encryption-only',
    );
  });
  it('a KMS answer without the key id: partial (the listing path’s sample), the encryption not fully shown', () => {
    expect(answerVerdict(kms, reported, { etag: '"E"', sse: { algorithm: 'KMS' } }, undefined, fromReport)).toBe('partial');
  });
  it('a wrong or missing encryption, no answer, or no new version in a versioned bucket: always a HEAD', () => {
    expect(answerVerdict(aes, reported, { etag: '"E"', sse: { algorithm: 'SM4' } }, undefined, fromReport)).toBe('needs-head');
    expect(answerVerdict(aes, reported, { etag: '"E"', sse: { algorithm: 'KMS' } }, undefined, fromReport)).toBe('needs-head');
    expect(answerVerdict(aes, reported, { etag: '"E"' }, undefined, fromReport)).toBe('needs-head');
    expect(answerVerdict(kms, reported, { etag: '"E"', sse: { algorithm: 'KMS', keyId: 'other' } }, undefined, fromReport)).toBe(
      'needs-head',
    );
    expect(answerVerdict(aes, reported, {}, undefined, fromReport)).toBe('needs-head');
    expect(answerVerdict(aes, head({ versionId: 'v1' }), { etag: '"E"', sse: { algorithm: 'AES256' } }, undefined, fromReport)).toBe(
      'needs-head',
    );
  });
});

describe('VerificationSampler', () => {
  it('takes the first and then every n-th', () => {
    const s = new VerificationSampler(3);
    expect(Array.from({ length: 7 }, () => s.takeSample())).toEqual([true, false, false, true, false, false, true]);
    expect(() => new VerificationSampler(0)).toThrow(RangeError);
  });
  it('samples copies decided on a report apart: the first and every 1,000th by default', () => {
    const s = new VerificationSampler(3);
    expect(s.everyFromReport).toBe(REPORT_COPY_VERIFY_SAMPLE_EVERY);
    expect(REPORT_COPY_VERIFY_SAMPLE_EVERY).toBe(1000);
    const taken = Array.from({ length: 2001 }, () => s.takeReportSample());
    expect(taken.flatMap((t, i) => (t ? [i] : []))).toEqual([0, 1000, 2000]);
    // The listing path's count is its own.
    expect(s.takeSample()).toBe(true);
    expect(() => new VerificationSampler(3, 0)).toThrow(RangeError);
  });
});
