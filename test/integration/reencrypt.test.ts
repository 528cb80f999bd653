/**
 * The shared re-encryption routine against the local OSS server (signatures verified), with
 * the real ali-oss client setting up and checking state. What the server saw is recorded, so
 * the exact requests and headers of each case are asserted.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { policyFromConfig, type Policy } from '../../shared/policy';
import { reencryptObject } from '../../shared/reencrypt';
import type { OssRequest } from '../../shared/signing';
import { loadConfig } from '../../shared/validation/config';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

let t: TestOss;
let oss: OssHttpClient;
const seen: Array<OssRequest & { requestId: string }> = [];

beforeAll(async () => {
  t = await startTestOss({ onRequest: (req, requestId) => seen.push({ ...req, headers: { ...req.headers }, requestId }) });
  oss = t.httpClient();
});
afterAll(async () => t.close());

const policy = (env: Record<string, string> = {}): Policy => policyFromConfig(loadConfig(env));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Runs `fn` and returns the requests the server saw meanwhile, as "METHOD sub-resource" lines. */
async function traced<T>(fn: () => Promise<T>): Promise<{ result: T; requests: Array<OssRequest & { requestId: string }>; ops: string[] }> {
  const from = seen.length;
  const result = await fn();
  const requests = seen.slice(from);
  const ops = requests.map((r) => {
    const sub = ['acl', 'tagging', 'uploads', 'uploadId', 'versionId'].filter((k) => r.query[k] !== undefined);
    const copy = r.headers['x-oss-copy-source'] ? ' copy' : '';
    return `${r.method}${sub.length ? ` ?${sub.join('&')}` : ''}${copy}`;
  });
  return { result, requests, ops };
}

async function bucket(name: string, versioning = false) {
  const c = t.client({ bucket: name });
  await c.putBucket(name);
  if (versioning) await c.putBucketVersioning(name, 'Enabled');
  return c;
}

describe('small objects (CopyObject onto itself)', () => {
  it('re-encrypts a plaintext object keeping bytes, content headers, metadata, tags, ACL and storage class', async () => {
    const c = await bucket('small');
    const body = Buffer.from('plaintext payload '.repeat(50));
    await c.put('docs/report 1+1%.csv', body, {
      mime: 'text/csv',
      meta: { owner: 'finance', 'multi-word': 'a b' },
      headers: {
        'Content-Disposition': 'attachment; filename="r.csv"',
        'Content-Encoding': 'identity',
        'Content-Language': 'de',
        'Cache-Control': 'max-age=60',
        Expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        'x-oss-storage-class': 'IA',
        'x-oss-object-acl': 'public-read',
        'x-oss-tagging': 'team=fin&class=secret',
      },
    });
    const before = (await c.head('docs/report 1+1%.csv')).res.headers;
    const log = memoryLogger();
    const { result, requests, ops } = await traced(() =>
      reencryptObject(oss, policy(), log, { bucket: 'small', key: 'docs/report 1+1%.csv' }),
    );
    expect(result).toMatchObject({ action: 'reencrypted', reason: 'unencrypted', bytes: body.length });
    // Verified from the copy's own answer (SSE and CRC-64): no HEAD after it (issue 13).
    expect(ops).toEqual(['HEAD', 'GET ?acl', 'PUT copy']);
    expect(result.verifiedBy).toBe('answer');
    // Exactly the headers we mean reach the server: no x-oss-copy-source-<header> copies.
    const copy = requests[2] as OssRequest;
    const sent = Object.keys(copy.headers).filter(
      (h) => h.startsWith('x-oss-') || h.startsWith('content-') || ['cache-control', 'expires'].includes(h),
    );
    expect(sent.sort()).toEqual(
      [
        'cache-control',
        'content-disposition',
        'content-encoding',
        'content-language',
        'content-length',
        'content-type',
        'expires',
        'x-oss-content-sha256',
        'x-oss-copy-source',
        'x-oss-copy-source-if-match',
        'x-oss-date',
        'x-oss-meta-multi-word',
        'x-oss-meta-owner',
        'x-oss-metadata-directive',
        'x-oss-object-acl',
        'x-oss-server-side-encryption',
        'x-oss-storage-class',
        'x-oss-tagging-directive',
      ].sort(),
    );
    expect(copy.headers['x-oss-copy-source-if-match']).toBe(before.etag);
    expect(copy.headers['x-oss-metadata-directive']).toBe('REPLACE');
    const after = (await c.head('docs/report 1+1%.csv')).res.headers;
    expect(after['x-oss-server-side-encryption']).toBe('AES256');
    for (const h of [
      'content-type',
      'content-disposition',
      'content-encoding',
      'content-language',
      'cache-control',
      'expires',
      'x-oss-meta-owner',
      'x-oss-meta-multi-word',
      'x-oss-storage-class',
      'etag',
      'x-oss-hash-crc64ecma',
      'content-length',
    ]) {
      expect([h, after[h]]).toEqual([h, before[h]]);
    }
    expect((await c.getObjectTagging('docs/report 1+1%.csv')).tag).toEqual({ team: 'fin', class: 'secret' });
    expect((await c.getACL('docs/report 1+1%.csv')).acl).toBe('public-read');
    expect(md5((await c.get('docs/report 1+1%.csv')).content)).toBe(md5(body));
    const line = JSON.parse(log.lines.at(-1) as string);
    expect(line).toMatchObject({
      msg: 'object decision',
      bucket: 'small',
      key: 'docs/report 1+1%.csv',
      action: 'reencrypted',
      reason: 'unencrypted',
      bytes: body.length,
    });
    expect(line.requestIds).toHaveLength(2); // HEAD, copy (verified from its answer)
  });

  it('costs one HEAD for a compliant object and changes nothing; a second run is a no-op', async () => {
    const c = await bucket('compliant');
    await c.put('k', Buffer.from('x'), { headers: { 'x-oss-server-side-encryption': 'KMS' } });
    const etag = (await c.head('k')).res.headers.etag;
    const { result, ops } = await traced(() => reencryptObject(oss, policy(), memoryLogger(), { bucket: 'compliant', key: 'k' }));
    expect(result.action).toBe('compliant');
    expect(ops).toEqual(['HEAD']);
    expect((await c.head('k')).res.headers.etag).toBe(etag);
  });

  it('never downgrades a KMS object under COMPLIANCE=any, and re-keys it under exact', async () => {
    const c = await bucket('rekey');
    await c.put('k', Buffer.from('secret'), {
      headers: { 'x-oss-server-side-encryption': 'KMS', 'x-oss-server-side-encryption-key-id': 'old-key' },
    });
    const anyPolicy = policy({ SSE_ALGORITHM: 'AES256' });
    expect((await reencryptObject(oss, anyPolicy, memoryLogger(), { bucket: 'rekey', key: 'k' })).action).toBe('compliant');
    expect((await c.head('k')).res.headers['x-oss-server-side-encryption-key-id']).toBe('old-key');
    const exact = policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'new-key', COMPLIANCE: 'exact' });
    const res = await reencryptObject(oss, exact, memoryLogger(), { bucket: 'rekey', key: 'k' });
    expect(res).toMatchObject({ action: 'reencrypted', reason: 'wrong-key' });
    const h = (await c.head('k')).res.headers;
    expect([h['x-oss-server-side-encryption'], h['x-oss-server-side-encryption-key-id']]).toEqual(['KMS', 'new-key']);
    expect((await c.get('k')).content.toString()).toBe('secret');
  });

  it('writes SM4 and KMS+SM4 as asked', async () => {
    const c = await bucket('sm4');
    await c.put('a', Buffer.from('a'));
    await c.put('b', Buffer.from('b'));
    await reencryptObject(oss, policy({ SSE_ALGORITHM: 'SM4' }), memoryLogger(), { bucket: 'sm4', key: 'a' });
    await reencryptObject(oss, policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'k-1', KMS_DATA_ENCRYPTION: 'SM4' }), memoryLogger(), {
      bucket: 'sm4',
      key: 'b',
    });
    expect((await c.head('a')).res.headers['x-oss-server-side-encryption']).toBe('SM4');
    const b = (await c.head('b')).res.headers;
    expect([b['x-oss-server-side-encryption'], b['x-oss-server-side-encryption-key-id'], b['x-oss-server-side-data-encryption']]).toEqual([
      'KMS',
      'k-1',
      'SM4',
    ]);
  });

  it('dry run decides and reports but sends no write', async () => {
    const c = await bucket('dry');
    await c.put('k', Buffer.from('x'));
    const { result, ops } = await traced(() =>
      reencryptObject(oss, policy(), memoryLogger(), { bucket: 'dry', key: 'k' }, { dryRun: true }),
    );
    expect(result).toMatchObject({ action: 'would-reencrypt', bytes: 1 });
    expect(ops).toEqual(['HEAD']);
    expect((await c.head('k')).res.headers['x-oss-server-side-encryption']).toBeUndefined();
  });
});

describe('skips', () => {
  it('reports every skip reason without writing anything', async () => {
    const c = await bucket('skips');
    await c.put('target', Buffer.from('t'));
    await c.putSymlink('link', 'target');
    await c.append('log', Buffer.from('a'));
    await c.put('cold', Buffer.from('c'), { headers: { 'x-oss-storage-class': 'Archive' } });
    await c.put('tmp/x', Buffer.from('x'));
    const p = policy({ KEY_EXCLUDE_PREFIXES: 'tmp/', BUCKET_EXCLUDE: 'other-*' });
    const run = (bucketName: string, key: string) => reencryptObject(oss, p, memoryLogger(), { bucket: bucketName, key });
    const { result: results, ops } = await traced(async () => [
      await run('skips', 'link'),
      await run('skips', 'log'),
      await run('skips', 'cold'),
      await run('skips', 'tmp/x'),
      await run('skips', 'gone'),
      await run('other-bucket', 'k'),
    ]);
    expect(results.map((r) => [r.action, r.reason])).toEqual([
      ['skipped', 'symlink'],
      ['skipped', 'appendable'],
      ['skipped', 'archived-not-restored'],
      ['skipped', 'excluded-prefix'],
      ['skipped', 'not-found'],
      ['skipped', 'excluded-bucket'],
    ]);
    expect(ops).toEqual(['HEAD', 'HEAD', 'HEAD', 'HEAD']); // nothing for excluded bucket or prefix
    expect((await c.head('target')).res.headers['x-oss-server-side-encryption']).toBeUndefined();
  });

  it('re-encrypts a restored Archive object, keeping its storage class', async () => {
    const t2 = await startTestOss({ settings: { restoreDelayMs: 0 } });
    const client = t2.client({ bucket: 'cold' });
    const oss2 = new OssHttpClient({
      endpoint: t2.server.url,
      region: t2.server.region,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    });
    await client.putBucket('cold');
    await client.put('k', Buffer.from('frozen'), { headers: { 'x-oss-storage-class': 'Archive' } });
    await client.restore('k'); // restoreDelayMs 0: readable at once
    const res = await reencryptObject(oss2, policy(), memoryLogger(), { bucket: 'cold', key: 'k' });
    expect(res.action).toBe('reencrypted');
    const h = (await client.head('k')).res.headers;
    expect([h['x-oss-storage-class'], h['x-oss-server-side-encryption']]).toEqual(['Archive', 'AES256']);
    oss2.destroy();
    await t2.close();
  });
});

describe('concurrent overwrites', () => {
  it('a write between HEAD and copy gets 412: the newer object is decided again and never overwritten', async () => {
    const c = await bucket('race');
    await c.put('k', Buffer.from('old plaintext'));
    const staleHead = await oss.headObject('race', 'k');
    // Someone overwrites the object with new content, already encrypted, after our HEAD.
    await c.put('k', Buffer.from('NEW content'), {
      headers: { 'x-oss-server-side-encryption': 'KMS', 'x-oss-server-side-encryption-key-id': 'theirs' },
    });
    const { result, ops } = await traced(() =>
      reencryptObject(oss, policy(), memoryLogger(), { bucket: 'race', key: 'k' }, { head: staleHead }),
    );
    expect(ops).toEqual(['GET ?acl', 'PUT copy', 'HEAD']);
    expect(result.action).toBe('compliant');
    expect((await c.get('k')).content.toString()).toBe('NEW content');
    expect((await c.head('k')).res.headers['x-oss-server-side-encryption-key-id']).toBe('theirs');
  });

  it('a plaintext overwrite after the HEAD is re-encrypted with its own bytes, not the old ones', async () => {
    const c = await bucket('race2');
    await c.put('k', Buffer.from('old'));
    const staleHead = await oss.headObject('race2', 'k');
    await c.put('k', Buffer.from('newer plaintext'));
    const result = await reencryptObject(oss, policy(), memoryLogger(), { bucket: 'race2', key: 'k' }, { head: staleHead });
    expect(result.action).toBe('reencrypted');
    expect((await c.get('k')).content.toString()).toBe('newer plaintext');
  });
});

describe('versioned buckets', () => {
  it('makes a new encrypted current version and reports the plaintext one left behind', async () => {
    const c = await bucket('ver', true);
    const v1 = (await c.put('k', Buffer.from('v1'))).res.headers['x-oss-version-id'];
    const res = await reencryptObject(oss, policy(), memoryLogger(), { bucket: 'ver', key: 'k' });
    expect(res).toMatchObject({ action: 'reencrypted', versionId: v1, plaintextVersion: { versionId: v1, deleted: false } });
    expect(res.newVersionId).toBeTruthy();
    expect(res.newVersionId).not.toBe(v1);
    expect((await c.head('k', { versionId: v1 })).res.headers['x-oss-server-side-encryption']).toBeUndefined();
    expect((await c.head('k')).res.headers['x-oss-server-side-encryption']).toBe('AES256');
  });

  it('with DELETE_PLAINTEXT_VERSIONS=true deletes exactly the copied version, after the copy verified', async () => {
    const c = await bucket('ver-delete', true);
    const v0 = (await c.put('k', Buffer.from('older'))).res.headers['x-oss-version-id'];
    const v1 = (await c.put('k', Buffer.from('current'))).res.headers['x-oss-version-id'];
    const { result: res, ops } = await traced(() =>
      reencryptObject(oss, policy({ DELETE_PLAINTEXT_VERSIONS: 'true' }), memoryLogger(), { bucket: 'ver-delete', key: 'k' }),
    );
    // The copy's answer carries the new version id, SSE and CRC-64: verified without a HEAD (issue 13).
    expect(ops).toEqual(['HEAD', 'GET ?acl&versionId', 'PUT copy', 'DELETE ?versionId']);
    expect(res.plaintextVersion).toEqual({ versionId: v1, deleted: true });
    const versions = await c.getBucketVersions({ prefix: 'k' });
    const ids = versions.objects.map((o: { versionId: string }) => o.versionId);
    expect(ids).toContain(v0); // an older version was not what we copied: it stays
    expect(ids).not.toContain(v1);
    expect((await c.get('k')).content.toString()).toBe('current');
  });
});

describe('large objects (multipart copy)', () => {
  const big = Buffer.alloc(350 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const mp = () => policy({ MULTIPART_THRESHOLD_BYTES: String(100 * 1024), PART_SIZE_BYTES: String(100 * 1024), PART_CONCURRENCY: '4' });

  it('copies in parallel parts pinned to the ETag, with metadata, tags, ACL and storage class on Initiate', async () => {
    const c = await bucket('large');
    await c.put('big.bin', big, {
      mime: 'application/x-big',
      meta: { m: '1' },
      headers: { 'x-oss-tagging': 'a=1', 'x-oss-storage-class': 'IA', 'x-oss-object-acl': 'private' },
    });
    const before = (await c.head('big.bin')).res.headers;
    const { result, requests, ops } = await traced(() => reencryptObject(oss, mp(), memoryLogger(), { bucket: 'large', key: 'big.bin' }));
    expect(result.action).toBe('reencrypted');
    expect(ops).toEqual([
      'HEAD',
      'GET ?acl',
      'GET ?tagging',
      'POST ?uploads',
      'PUT ?uploadId copy',
      'PUT ?uploadId copy',
      'PUT ?uploadId copy',
      'PUT ?uploadId copy',
      'HEAD', // unchanged since the parts were copied? (Complete itself cannot be conditional)
      'POST ?uploadId', // its answer carries SSE and CRC-64: no HEAD after it (issue 13)
    ]);
    for (const part of requests.filter((r) => r.method === 'PUT')) {
      expect(part.headers['x-oss-copy-source-if-match']).toBe(before.etag);
      expect(part.headers['x-oss-server-side-encryption']).toBeUndefined();
    }
    const after = (await c.head('big.bin')).res.headers;
    expect(after).toMatchObject({
      'x-oss-server-side-encryption': 'AES256',
      'content-type': 'application/x-big',
      'x-oss-meta-m': '1',
      'x-oss-storage-class': 'IA',
      'x-oss-hash-crc64ecma': before['x-oss-hash-crc64ecma'],
      'content-length': before['content-length'],
    });
    expect((await c.getObjectTagging('big.bin')).tag).toEqual({ a: '1' });
    expect((await c.getACL('big.bin')).acl).toBe('private');
    expect(md5((await c.get('big.bin')).content)).toBe(md5(big));
  });

  it('aborts the upload when a part fails (object changed), leaves no upload behind, and decides again', async () => {
    const c = await bucket('large-race');
    await c.put('big.bin', big);
    const stale = await oss.headObject('large-race', 'big.bin');
    const newer = Buffer.concat([big, Buffer.from('changed')]);
    await c.put('big.bin', newer);
    const { result, ops } = await traced(() =>
      reencryptObject(oss, mp(), memoryLogger(), { bucket: 'large-race', key: 'big.bin' }, { head: stale }),
    );
    expect(ops).toContain('DELETE ?uploadId');
    expect(result.action).toBe('reencrypted');
    expect((await c.listUploads({})).uploads ?? []).toEqual([]);
    expect(md5((await c.get('big.bin')).content)).toBe(md5(newer));
  });
});

describe('errors', () => {
  it('reports a permanent error with its code and request id, without retrying', async () => {
    const c = await bucket('errs');
    await c.put('k', Buffer.from('x'));
    const denied = new OssHttpClient({
      endpoint: t.server.url,
      region: t.server.region,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: 'wrong-secret-value' }),
    });
    const log = memoryLogger(() => ['wrong-secret-value']);
    const { result, ops } = await traced(() => reencryptObject(denied, policy(), log, { bucket: 'errs', key: 'k' }));
    denied.destroy();
    expect(result).toMatchObject({ action: 'failed', retryable: false, error: { code: 'SignatureDoesNotMatch', status: 403 } });
    expect(result.error?.requestId).toMatch(/^[0-9A-F]{24}$/);
    expect(ops).toEqual([]); // refused before any handler ran: nothing reached the store
    expect(log.lines.join('\n')).not.toContain('wrong-secret-value');
  });
});

describe('non-ASCII metadata', () => {
  it('keeps UTF-8 metadata byte for byte through the re-encryption (signatures over the wire bytes)', async () => {
    // ali-oss sends UTF-8 bytes and signs them with headerEncoding latin1, as its own tests against OSS do.
    const raw = t.client({ bucket: 'utf8-meta' });
    await raw.putBucket('utf8-meta');
    const value = '中文 ünïcode';
    const c = new (raw.constructor as new (o: Record<string, unknown>) => typeof raw)({ ...raw.options, headerEncoding: 'latin1' });
    await c.put('k', Buffer.from('x'), { headers: { 'x-oss-meta-title': value } });
    const res = await reencryptObject(oss, policy(), memoryLogger(), { bucket: 'utf8-meta', key: 'k' });
    expect(res.action).toBe('reencrypted');
    const h = (await c.head('k')).res.headers;
    expect(h['x-oss-server-side-encryption']).toBe('AES256');
    expect(Buffer.from(h['x-oss-meta-title'] as string, 'latin1').toString('utf8')).toBe(value);
  });
});
