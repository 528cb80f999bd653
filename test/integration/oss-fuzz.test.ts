/**
 * The local OSS server under arbitrary well-signed requests: random methods, sub-resources,
 * parameters, headers and bodies (bad XML, garbage bytes) against a bucket holding objects,
 * tags, versions and an open multipart upload. Every answer is a 2xx/3xx or a 4xx with the
 * OSS error document — never a 5xx or a dropped connection — and a refused request leaves
 * the whole store exactly as it was (no partial write).
 */
import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signOssRequest, type OssRequest } from '../../shared/signing';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

const BUCKET = 'oss-fuzz';
let t: TestOss;
let uploadId = '';

beforeAll(async () => {
  t = await startTestOss();
  const c = t.client({ bucket: BUCKET });
  await c.putBucket(BUCKET);
  await c.put('k', Buffer.from('value'), { headers: { 'x-oss-tagging': 'a=1', 'x-oss-meta-m': 'x' } });
  await c.put('enc', Buffer.from('sealed'), { headers: { 'x-oss-server-side-encryption': 'AES256' } });
  await c.put('dir/x y+z', Buffer.from('odd'));
  uploadId = (await c.initMultipartUpload('mp')).uploadId as string;
});
afterAll(async () => t.close());

/** Everything a request could change, as JSON (blob ids included: a rewritten byte shows). */
function snapshot(): string {
  const store = t.server.store;
  return JSON.stringify(
    store.listBuckets().map((b) => ({
      bucket: b,
      objects: [...store.keysFrom(b.name, { key: '', inclusive: true })].map((k) => store.versionsOf(b.name, k)),
      uploads: store.uploadsOf(b.name).map((u) => ({ ...u, parts: [...u.parts.entries()] })),
    })),
  );
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(req: OssRequest, body: Buffer): Promise<Answer> {
  const q = Object.entries(req.query)
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  const key = req.key === undefined ? '' : `/${req.key.split('/').map(encodeURIComponent).join('/')}`;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const r = httpRequest(`${t.server.url}/${BUCKET}${key}${q ? `?${q}` : ''}`, { method: req.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

const printable = fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_.,;:=/+%*"<>&?#~'.split('')), maxLength: 24 });
const value = fc.oneof(
  printable,
  fc.constantFrom('', '0', '-1', '1', '10001', '99999999999999999999', 'bytes=0-2', 'bytes=5-1', 'AES256', 'KMS', 'SM4', 'DES'),
  fc.constantFrom('Standard', 'IA', 'Archive', 'ColdArchive', 'private', 'public-read', 'default', 'COPY', 'REPLACE', 'true'),
  fc.constantFrom(`/${BUCKET}/k`, `/${BUCKET}/nope`, '/other-bucket/k', `${BUCKET}/enc`, '"0"', 'a=1&b=2', '%ZZ'),
);
const SUBRESOURCES = [
  'acl',
  'tagging',
  'uploads',
  'uploadId',
  'partNumber',
  'append',
  'position',
  'symlink',
  'restore',
  'versioning',
  'encryption',
  'versions',
  'delete',
  'list-type',
  'max-keys',
  'continuation-token',
  'start-after',
  'encoding-type',
  'bucketInfo',
  'lifecycle',
  'versionId',
  'prefix',
  'delimiter',
  'marker',
  'location',
  'cors',
  'x-oss-process',
];
const HEADERS = [
  'x-oss-copy-source',
  'x-oss-copy-source-range',
  'x-oss-copy-source-if-match',
  'x-oss-metadata-directive',
  'x-oss-tagging-directive',
  'x-oss-tagging',
  'x-oss-server-side-encryption',
  'x-oss-server-side-encryption-key-id',
  'x-oss-server-side-data-encryption',
  'x-oss-object-acl',
  'x-oss-acl',
  'x-oss-storage-class',
  'x-oss-forbid-overwrite',
  'x-oss-symlink-target',
  'range',
  'if-match',
  'if-none-match',
  'content-md5',
  'content-type',
  'x-oss-meta-fuzz',
];
const xmlBodies = fc.constantFrom(
  '<Tagging><TagSet>',
  '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>',
  '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"X"</ETag></Part></CompleteMultipartUpload>',
  '<CompleteMultipartUpload></CompleteMultipartUpload>',
  '<Delete><Object><Key>k</Key></Object></Delete>',
  '<Delete><Quiet>maybe</Quiet><Object></Object></Delete>',
  '<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>DES</SSEAlgorithm></ApplyServerSideEncryptionByDefault></ServerSideEncryptionRule>',
  '<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>',
  '<RestoreRequest><Days>-3</Days></RestoreRequest>',
  '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;&a;</x>',
  '<' + 'a>'.repeat(2000),
);

const requests = fc.record({
  method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD'),
  key: fc.option(fc.constantFrom('k', 'enc', 'mp', 'new', 'dir/x y+z', 'a'.repeat(1023), 'é/文件', 'k/'), { nil: undefined }),
  query: fc.dictionary(fc.constantFrom(...SUBRESOURCES), fc.oneof(fc.constant(''), value, fc.constant('<uploadId>')), { maxKeys: 3 }),
  headers: fc.dictionary(fc.constantFrom(...HEADERS), value, { maxKeys: 4 }),
  body: fc.oneof(
    fc.constant(Buffer.alloc(0)),
    xmlBodies.map((x) => Buffer.from(x)),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  ),
});

describe('property: the local OSS server answers every signed request with a 2xx/3xx or a clean 4xx', () => {
  it('never a 5xx or a reset, always a request id, and a refused request changes nothing', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requests, async (r) => {
        const query = Object.fromEntries(Object.entries(r.query).map(([k, v]) => [k, v === '<uploadId>' ? uploadId : v]));
        const req: OssRequest = {
          method: r.method,
          bucket: BUCKET,
          ...(r.key !== undefined ? { key: r.key } : {}),
          query,
          headers: { ...r.headers },
        };
        signOssRequest(req, { accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }, { version: 'v4', region: t.server.region });
        const before = snapshot();
        const a = await send(req, r.body);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        expect(a.status, `${r.method} ${JSON.stringify(query)} ${JSON.stringify(r.headers)} → ${a.body.slice(0, 300)}`).toBeLessThan(500);
        expect(a.headers['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
        if (a.status >= 400) {
          if (r.method !== 'HEAD') expect(a.body).toMatch(/^<\?xml[^>]*>\s*<Error>\s*<Code>\w+<\/Code>/);
          expect(snapshot(), `${r.method} ${JSON.stringify(query)} refused with ${a.status} but changed the store`).toBe(before);
        }
      }),
      { numRuns: 1500 },
    );
    // The generator reaches both sides, or the property proves little.
    const ok = [...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0);
    const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
    expect(ok).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(300);
  }, 120_000);
});
