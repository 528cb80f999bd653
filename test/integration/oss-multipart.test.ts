/** Multipart upload APIs of the local OSS server, through the real ali-oss client. */
import { createHash, randomBytes } from 'node:crypto';
import type OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from '../../shared/crc64';
import type { OssEventRecord } from '../../local/oss/events';
import { startTestOss, type TestOss } from '../helpers/oss';
import { rejectionOf } from '../helpers/rejection';

let t: TestOss;
const bucket = 'multipart';
const versionedBucket = 'multipart-versioned';
const events: OssEventRecord[] = [];

beforeAll(async () => {
  t = await startTestOss();
  await t.client().putBucket(bucket);
  await t.client().putBucket(versionedBucket);
  await untyped(t.client({ bucket: versionedBucket })).putBucketVersioning(versionedBucket, 'Enabled');
  t.server.events.on('object', (e) => events.push(...e.events));
});
afterAll(async () => t.close());

/** Methods ali-oss 6.23.0 has that @types/ali-oss lacks. See docs/oss-behaviour.md#ali-oss-quirks. */
interface UntypedMethods {
  putBucketVersioning(name: string, status: 'Enabled' | 'Suspended'): Promise<unknown>;
  getObjectTagging(name: string): Promise<{ tag: Record<string, string> }>;
}
const untyped = (client: OSS) => client as unknown as UntypedMethods;

const c = (opts: { v4?: boolean; bucket?: string } = {}) => t.client({ bucket: opts.bucket ?? bucket, v4: opts.v4 });

interface OssErr {
  code: string;
  status: number;
  message: string;
}
const ossError = (p: Promise<unknown>) => rejectionOf<OssErr>(p);

const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const md5Etag = (b: Buffer) => `"${md5(b).toString('hex').toUpperCase()}"`;
/** OSS's multipart ETag computed independently from the part contents. */
const multipartEtag = (parts: Buffer[]) =>
  `"${createHash('md5')
    .update(Buffer.concat(parts.map(md5)))
    .digest('hex')
    .toUpperCase()}-${parts.length}"`;
const headersOf = (res: unknown) => (res as { headers: Record<string, string> }).headers;

/**
 * ali-oss's own request path with a body we choose: completeMultipartUpload() sorts and
 * de-duplicates parts and always sends XML, so bad orders, malformed documents and
 * x-oss-complete-all need the client's generic (signed) request.
 */
interface RawClient {
  _objectRequestParams(method: string, name: string, options: Record<string, unknown>): Record<string, unknown>;
  request(params: Record<string, unknown>): Promise<{ status: number; data: Buffer; res: { headers: Record<string, string> } }>;
}
async function raw(
  client: OSS,
  method: string,
  name: string,
  subres: Record<string, string> | string,
  opts: { content?: string; headers?: Record<string, string>; query?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  const rc = client as unknown as RawClient;
  const params = rc._objectRequestParams(method, name, { subres, headers: opts.headers ?? {} });
  if (opts.content !== undefined) {
    params.content = opts.content;
    params.mime = 'xml';
  }
  if (opts.query) params.query = opts.query;
  params.successStatuses = [200, 204];
  const r = await rc.request(params);
  return { status: r.status, body: Buffer.from(r.data ?? '').toString('utf8'), headers: r.res.headers };
}
const completeXml = (parts: Array<[number, string]>) =>
  `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>${parts
    .map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`)
    .join('')}</CompleteMultipartUpload>`;

/** Uploads `parts` as parts 1..n of a new upload; returns the upload id and the ETags the server gave. */
async function uploadAll(client: OSS, name: string, parts: Buffer[], initOptions?: OSS.InitMultipartUploadOptions) {
  const { uploadId } = await client.initMultipartUpload(name, initOptions);
  const etags: string[] = [];
  for (const [i, p] of parts.entries()) {
    const r = await client.uploadPart(name, uploadId, i + 1, p, 0, p.length);
    etags.push(r.etag);
  }
  return { uploadId, etags, done: etags.map((etag, i) => ({ number: i + 1, etag })) };
}

const KB = 1024;
const big = () => randomBytes(100 * KB + 7);

describe('Initiate / UploadPart / Complete with the real client', () => {
  it('applies SSE, metadata, storage class, ACL and tags from Initiate to the final object', async () => {
    const name = 'mp/sealed.txt';
    const client = c();
    const init = await client.initMultipartUpload(name, {
      mime: 'text/plain',
      meta: { owner: 'team-a' } as never,
      headers: {
        'Cache-Control': 'no-cache',
        'x-oss-server-side-encryption': 'KMS',
        'x-oss-server-side-encryption-key-id': 'cmk-1',
        'x-oss-storage-class': 'IA',
        'x-oss-object-acl': 'private',
        'x-oss-tagging': 'a=1&b=two%20words',
      },
    });
    expect(init.bucket).toBe(bucket);
    expect(init.name).toBe(name);
    expect(init.uploadId).toMatch(/^[0-9A-F]{32}$/);
    expect(headersOf(init.res)).toMatchObject({
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'cmk-1',
    });

    const p1 = big();
    const p2 = Buffer.from('the short last part');
    const r1 = await client.uploadPart(name, init.uploadId, 1, p1, 0, p1.length);
    expect(r1.etag).toBe(md5Etag(p1));
    expect(headersOf(r1.res)).toMatchObject({
      'x-oss-hash-crc64ecma': crc64(p1),
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'cmk-1',
    });
    const r2 = await client.uploadPart(name, init.uploadId, 2, p2, 0, p2.length);

    const done = await client.completeMultipartUpload(name, init.uploadId, [
      { number: 1, etag: r1.etag },
      { number: 2, etag: r2.etag },
    ]);
    const whole = Buffer.concat([p1, p2]);
    expect(done.etag).toBe(multipartEtag([p1, p2]));
    expect(done.etag).toMatch(/^"[0-9A-F]{32}-2"$/);
    expect(headersOf(done.res)).toMatchObject({
      'x-oss-hash-crc64ecma': crc64(whole),
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'cmk-1',
    });
    expect(headersOf(done.res)['x-oss-version-id']).toBeUndefined();

    const h = headersOf((await client.head(name)).res);
    expect(h).toMatchObject({
      'content-type': 'text/plain',
      'content-length': String(whole.length),
      'cache-control': 'no-cache',
      etag: done.etag,
      'x-oss-object-type': 'Multipart',
      'x-oss-storage-class': 'IA',
      'x-oss-hash-crc64ecma': crc64(whole),
      'x-oss-meta-owner': 'team-a',
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'cmk-1',
      'x-oss-tagging-count': '2',
    });
    expect(h['content-md5']).toBeUndefined(); // a multipart object has no whole-object MD5
    expect((await client.get(name)).content.equals(whole)).toBe(true);
    expect((await client.getACL(name)).acl).toBe('private');
    expect((await untyped(client).getObjectTagging(name)).tag).toEqual({ a: '1', b: 'two words' });

    // Encrypted at rest for real: every stored segment carries a wrapped data key.
    const stored = t.server.store.current(bucket, name);
    expect(stored?.segments).toHaveLength(2);
    expect(stored?.segments.every((s) => typeof s.wrappedKey === 'string' && s.wrappedKey.length > 0)).toBe(true);
  });

  it('leaves an upload without SSE unsealed and takes the bucket default class', async () => {
    const name = 'mp/plain.bin';
    const parts = [big(), Buffer.from('tail')];
    const { uploadId, done } = await uploadAll(c(), name, parts);
    const res = await c().completeMultipartUpload(name, uploadId, done);
    expect(headersOf(res.res)['x-oss-server-side-encryption']).toBeUndefined();
    const stored = t.server.store.current(bucket, name);
    expect(stored?.segments.map((s) => s.wrappedKey)).toEqual([undefined, undefined]);
    expect(stored?.storageClass).toBe('Standard');
    expect(stored?.objectType).toBe('Multipart');
  });

  it('answers Complete with the document ali-oss and OSS define (Location, Bucket, Key, ETag)', async () => {
    const name = 'mp/dir/with space.bin';
    const { uploadId, etags } = await uploadAll(c(), name, [Buffer.from('only part')]);
    const r = await raw(c(), 'POST', name, { uploadId }, { content: completeXml([[1, etags[0] as string]]) });
    expect(r.status).toBe(200);
    expect(r.body).toContain('<CompleteMultipartUploadResult>');
    expect(r.body).toContain(`<Location>http://${bucket}.oss-${t.server.region}.aliyuncs.com/mp/dir/with%20space.bin</Location>`);
    expect(r.body).toContain(`<Bucket>${bucket}</Bucket>`);
    expect(r.body).toContain(`<Key>${name}</Key>`);
    expect(r.body).toMatch(/<ETag>(&quot;|")[0-9A-F]{32}-1(&quot;|")<\/ETag>/);
    expect(r.headers.etag).toBe(multipartEtag([Buffer.from('only part')]));
  });

  it('emits the object events FC and EventBridge would deliver', async () => {
    const name = 'mp/events.bin';
    events.length = 0;
    const parts = [big(), Buffer.from('end')];
    const { uploadId, done } = await uploadAll(c(), name, parts);
    await c().completeMultipartUpload(name, uploadId, done);
    const names = events.filter((e) => e.oss.object.key === name).map((e) => e.eventName);
    expect(names).toEqual([
      'ObjectCreated:InitiateMultipartUpload',
      'ObjectCreated:UploadPart',
      'ObjectCreated:UploadPart',
      'ObjectCreated:CompleteMultipartUpload',
    ]);
    const complete = events.find((e) => e.eventName === 'ObjectCreated:CompleteMultipartUpload');
    const size = parts[0]!.length + parts[1]!.length;
    expect(complete?.oss.object).toMatchObject({ size, deltaSize: size, eTag: multipartEtag(parts).replace(/"/g, '') });

    // Overwriting with a smaller object reports the (negative) difference.
    events.length = 0;
    const again = await uploadAll(c(), name, [Buffer.from('small')]);
    await c().completeMultipartUpload(name, again.uploadId, again.done);
    const second = events.find((e) => e.eventName === 'ObjectCreated:CompleteMultipartUpload');
    expect(second?.oss.object).toMatchObject({ size: 5, deltaSize: 5 - size });
  });

  it('gives a version id in a versioned bucket', async () => {
    const client = c({ bucket: versionedBucket });
    const { uploadId, done } = await uploadAll(client, 'v.bin', [Buffer.from('versioned')]);
    const res = await client.completeMultipartUpload('v.bin', uploadId, done);
    const versionId = headersOf(res.res)['x-oss-version-id'];
    expect(versionId).toMatch(/^CAEQ/);
    expect(t.server.store.current(versionedBucket, 'v.bin')?.versionId).toBe(versionId);
  });

  it('frees the data of parts the Complete did not use', async () => {
    const name = 'mp/unused-parts.bin';
    const blobs = (t.server.store as unknown as { blobs: { list(): Promise<string[]> } }).blobs;
    const before = new Set(await blobs.list());
    const { uploadId, done } = await uploadAll(c(), name, [Buffer.from('kept'), Buffer.from('dropped'), Buffer.from('also dropped')]);
    expect((await blobs.list()).length).toBe(before.size + 3);
    await c().completeMultipartUpload(name, uploadId, done.slice(0, 1));
    const after = (await blobs.list()).filter((id) => !before.has(id));
    expect(after).toEqual(t.server.store.current(bucket, name)?.segments.map((s) => s.blobId));
    expect((await c().get(name)).content.toString()).toBe('kept');
  });

  it('takes a part ETag case-insensitively and without quotes', async () => {
    const name = 'mp/etag-forms.bin';
    const p1 = big();
    const { uploadId, etags } = await uploadAll(c(), name, [p1, Buffer.from('b')]);
    const loose = (etags[0] as string).replace(/"/g, '').toLowerCase();
    const r = await raw(
      c(),
      'POST',
      name,
      { uploadId },
      {
        content: completeXml([
          [1, loose],
          [2, etags[1] as string],
        ]),
      },
    );
    expect(r.status).toBe(200);
    expect(r.headers.etag).toBe(multipartEtag([p1, Buffer.from('b')]));
  });

  it('completes every uploaded part in order with x-oss-complete-all: yes and an empty body', async () => {
    const name = 'mp/complete-all.bin';
    const parts = [big(), big(), Buffer.from('last')];
    const { uploadId } = await c().initMultipartUpload(name);
    // Upload out of order: the server, not the request, decides the order.
    for (const i of [2, 0, 1]) await c().uploadPart(name, uploadId, i + 1, parts[i], 0, parts[i]!.length);
    const r = await raw(c(), 'POST', name, { uploadId }, { headers: { 'x-oss-complete-all': 'yes' } });
    expect(r.status).toBe(200);
    expect(r.headers.etag).toBe(multipartEtag(parts));
    expect((await c().get(name)).content.equals(Buffer.concat(parts))).toBe(true);
  });

  it('refuses x-oss-complete-all with a body (400 InvalidArgument)', async () => {
    const name = 'mp/complete-all-body.bin';
    const { uploadId, etags } = await uploadAll(c(), name, [Buffer.from('x')]);
    const e = await ossError(
      raw(c(), 'POST', name, { uploadId }, { content: completeXml([[1, etags[0] as string]]), headers: { 'x-oss-complete-all': 'yes' } }),
    );
    expect([e.status, e.code]).toEqual([400, 'InvalidArgument']);
  });

  it('honours x-oss-forbid-overwrite on Initiate and on Complete (409 FileAlreadyExists)', async () => {
    const name = 'mp/forbid.bin';
    await c().put(name, Buffer.from('existing'));
    const e1 = await ossError(c().initMultipartUpload(name, { headers: { 'x-oss-forbid-overwrite': 'true' } }));
    expect([e1.status, e1.code]).toEqual([409, 'FileAlreadyExists']);
    const { uploadId, done } = await uploadAll(c(), name, [Buffer.from('new')]);
    const e2 = await ossError(c().completeMultipartUpload(name, uploadId, done, { headers: { 'x-oss-forbid-overwrite': 'true' } }));
    expect([e2.status, e2.code]).toEqual([409, 'FileAlreadyExists']);
    expect((await c().get(name)).content.toString()).toBe('existing');
    // The failed Complete left the upload usable.
    await c().completeMultipartUpload(name, uploadId, done);
    expect((await c().get(name)).content.toString()).toBe('new');
  });

  it('answers Initiate with a URL-encoded key under encoding-type=url', async () => {
    const name = 'mp/ü nicode.bin';
    const r = await raw(c(), 'POST', name, 'uploads', { query: { 'encoding-type': 'url' } });
    expect(r.body).toContain('<EncodingType>url</EncodingType>');
    expect(r.body).toContain(`<Key>${encodeURIComponent(name)}</Key>`);
  });
});

describe('multipartUpload() of ali-oss', () => {
  for (const v4 of [false, true]) {
    it(`uploads ~1 MB in 100 KB parts byte-exactly (${v4 ? 'V4' : 'V1'} signing)`, async () => {
      const name = `mp/managed-${v4 ? 'v4' : 'v1'}.bin`;
      const data = randomBytes(1_000_000 + 123);
      const client = c({ v4 });
      const res = await client.multipartUpload(name, data, {
        partSize: 102400,
        parallel: 3,
        headers: { 'x-oss-server-side-encryption': 'AES256' },
      });
      const parts = Math.ceil(data.length / 102400);
      expect(parts).toBe(10);
      expect(res.etag).toMatch(new RegExp(`^"[0-9A-F]{32}-${parts}"$`));
      const chunks = Array.from({ length: parts }, (_, i) => data.subarray(i * 102400, (i + 1) * 102400));
      expect(res.etag).toBe(multipartEtag(chunks));
      const got = await client.get(name);
      expect(got.content.equals(data)).toBe(true);
      expect(headersOf(got.res)).toMatchObject({
        'x-oss-hash-crc64ecma': crc64(data),
        'x-oss-server-side-encryption': 'AES256',
        'x-oss-object-type': 'Multipart',
      });
      expect(t.server.store.current(bucket, name)?.segments.every((s) => s.wrappedKey !== undefined)).toBe(true);
    });
  }

  it('fails when ali-oss repeats the KMS key id on every part (real OSS rejects SSE headers on UploadPart)', async () => {
    const e = await ossError(
      c().multipartUpload('mp/managed-kms.bin', randomBytes(250 * KB), {
        partSize: 102400,
        headers: { 'x-oss-server-side-encryption': 'KMS', 'x-oss-server-side-encryption-key-id': 'cmk-1' },
      }),
    );
    expect([e.status, e.code]).toEqual([400, 'InvalidArgument']);
  });
});

describe('UploadPartCopy', () => {
  const source = randomBytes(300 * KB + 11);
  const sourceKey = 'copy/source.bin';
  const src = { sourceKey, sourceBucketName: bucket };
  beforeAll(async () => {
    await c().put(sourceKey, source);
  });

  it('copies inclusive ranges into parts and completes into the same bytes, sealed under the upload SSE', async () => {
    const name = 'copy/target.bin';
    const client = c();
    const { uploadId } = await client.initMultipartUpload(name, { headers: { 'x-oss-server-side-encryption': 'SM4' } });
    const split = 150 * KB;
    const r1 = await client.uploadPartCopy(name, uploadId, 1, `0-${split - 1}`, src, {});
    const r2 = await client.uploadPartCopy(name, uploadId, 2, `${split}-${source.length - 1}`, src, {});
    expect(r1.etag).toBe(md5Etag(source.subarray(0, split)));
    expect(r2.etag).toBe(md5Etag(source.subarray(split)));
    expect(headersOf(r1.res)['x-oss-server-side-encryption']).toBe('SM4');
    const done = await client.completeMultipartUpload(name, uploadId, [
      { number: 1, etag: r1.etag },
      { number: 2, etag: r2.etag },
    ]);
    expect(headersOf(done.res)['x-oss-hash-crc64ecma']).toBe(crc64(source));
    const got = await client.get(name);
    expect(got.content.equals(source)).toBe(true);
    expect(headersOf(got.res)['x-oss-server-side-encryption']).toBe('SM4');
    // The source is plain, the copy sealed: SSE comes from Initiate, never from the source.
    expect(t.server.store.current(bucket, sourceKey)?.segments[0]?.wrappedKey).toBeUndefined();
    expect(t.server.store.current(bucket, name)?.segments.every((s) => s.wrappedKey !== undefined)).toBe(true);
  });

  it('treats the range as inclusive at both ends and copies the whole object without one', async () => {
    const name = 'copy/ranges.bin';
    const client = c();
    const { uploadId } = await client.initMultipartUpload(name);
    const r1 = await client.uploadPartCopy(name, uploadId, 1, '10-19', src, {});
    expect(r1.etag).toBe(md5Etag(source.subarray(10, 20)));
    const r2 = await client.uploadPartCopy(name, uploadId, 2, '', src, {});
    expect(r2.etag).toBe(md5Etag(source));
    const r3 = await client.uploadPartCopy(name, uploadId, 3, `${source.length - 1}-${source.length - 1}`, src, {});
    expect(r3.etag).toBe(md5Etag(source.subarray(source.length - 1)));
    const parts = await client.listParts(name, uploadId, {} as OSS.ListPartsQuery);
    const sizes = (parts.parts as unknown as Array<{ Size: string }>).map((p) => p.Size);
    expect(sizes).toEqual(['10', String(source.length), '1']);
  });

  // See docs/oss-behaviour.md#objects-and-re-encryption (OSS EC page 0042-00000308).
  it('refuses a symlink as the source of UploadPartCopy with EC 0042-00000308', async () => {
    const client = c();
    await client.putSymlink('copy/link-to-source', sourceKey);
    const { uploadId } = await client.initMultipartUpload('copy/from-link.bin');
    const err = await ossError(
      client.uploadPartCopy('copy/from-link.bin', uploadId, 1, '', { sourceKey: 'copy/link-to-source', sourceBucketName: bucket }, {}),
    );
    expect([err.status, err.code, (err as OssErr & { ecCode?: string }).ecCode]).toEqual([400, 'OperationNotSupported', '0042-00000308']);
  });

  it('answers with a CopyPartResult document', async () => {
    const name = 'copy/doc.bin';
    const { uploadId } = await c().initMultipartUpload(name);
    const r = await raw(
      c(),
      'PUT',
      name,
      { partNumber: '1', uploadId },
      {
        headers: { 'x-oss-copy-source': `/${bucket}/${encodeURIComponent(sourceKey)}`, 'x-oss-copy-source-range': 'bytes=0-99' },
      },
    );
    expect(r.body).toContain('<CopyPartResult>');
    expect(r.body).toMatch(/<LastModified>\d{4}-\d\d-\d\dT[\d:.]+Z<\/LastModified>/);
    expect(r.body).toContain(md5Etag(source.subarray(0, 100)).replace(/"/g, ''));
    expect(r.headers.etag).toBe(md5Etag(source.subarray(0, 100)));
    expect(r.headers['x-oss-copy-source-version-id']).toBeUndefined(); // source bucket not versioned
  });

  it('echoes the source version id when the source bucket is versioned', async () => {
    const vc = c({ bucket: versionedBucket });
    const put = await vc.put('vsource.bin', randomBytes(1000));
    const versionId = headersOf(put.res)['x-oss-version-id'];
    const { uploadId } = await c().initMultipartUpload('copy/from-versioned.bin');
    const r = await c().uploadPartCopy(
      'copy/from-versioned.bin',
      uploadId,
      1,
      '0-9',
      { sourceKey: 'vsource.bin', sourceBucketName: versionedBucket },
      {},
    );
    expect(headersOf(r.res)['x-oss-copy-source-version-id']).toBe(versionId);
  });

  it('honours x-oss-copy-source-if-match: 412 when the source changed, success when it did not', async () => {
    const name = 'copy/pinned.bin';
    const { uploadId } = await c().initMultipartUpload(name);
    const e = await ossError(
      c().uploadPartCopy(name, uploadId, 1, '0-9', src, {
        headers: { 'x-oss-copy-source-if-match': '"0123456789ABCDEF0123456789ABCDEF"' },
      }),
    );
    expect([e.status, e.code]).toEqual([412, 'PreconditionFailed']);
    const ok = await c().uploadPartCopy(name, uploadId, 1, '0-9', src, { headers: { 'x-oss-copy-source-if-match': md5Etag(source) } });
    expect(ok.etag).toBe(md5Etag(source.subarray(0, 10)));
  });

  it('refuses malformed ranges and ranges outside the source (400 InvalidArgument)', async () => {
    const name = 'copy/bad-range.bin';
    const { uploadId } = await c().initMultipartUpload(name);
    for (const range of [`0-${source.length}`, '20-10', 'abc', '5-']) {
      const e = await ossError(c().uploadPartCopy(name, uploadId, 1, range, src, {}));
      expect([range, e.status, e.code]).toEqual([range, 400, 'InvalidArgument']);
    }
  });

  it('answers 404 NoSuchKey for a missing source', async () => {
    const { uploadId } = await c().initMultipartUpload('copy/missing.bin');
    const e = await ossError(
      c().uploadPartCopy('copy/missing.bin', uploadId, 1, '0-1', { sourceKey: 'nope', sourceBucketName: bucket }, {}),
    );
    expect([e.status, e.code]).toEqual([404, 'NoSuchKey']);
  });
});

describe('ListParts / ListMultipartUploads / Abort', () => {
  it('lists parts in number order with the fields ali-oss reads, page by page', async () => {
    const name = 'list/parts.bin';
    const bodies = [Buffer.from('one'), Buffer.from('two!'), Buffer.from('three')];
    const { uploadId } = await c().initMultipartUpload(name);
    for (const n of [3, 1, 2]) await c().uploadPart(name, uploadId, n, bodies[n - 1], 0, bodies[n - 1]!.length);

    const page1 = await c().listParts(name, uploadId, { 'max-parts': 2 } as OSS.ListPartsQuery);
    expect(page1).toMatchObject({
      uploadId,
      bucket,
      name,
      maxParts: '2',
      isTruncated: 'true',
      nextPartNumberMarker: '2',
      partNumberMarker: '0',
    });
    const parts = page1.parts as unknown as Array<Record<string, string>>;
    expect(parts.map((p) => p.PartNumber)).toEqual(['1', '2']);
    expect(parts[0]).toMatchObject({ ETag: md5Etag(bodies[0]!), Size: '3', HashCrc64ecma: crc64(bodies[0]!) });
    expect(Date.parse(parts[0]!.LastModified as string)).toBeGreaterThan(Date.now() - 60_000);

    const page2 = await c().listParts(name, uploadId, { 'part-number-marker': 2 } as OSS.ListPartsQuery);
    expect(page2).toMatchObject({ isTruncated: 'false', nextPartNumberMarker: '3' });
    // xml2js gives a single <Part> as an object rather than an array.
    expect(page2.parts).toMatchObject({ PartNumber: '3', Size: '5' });
  });

  it('refuses max-parts outside 1..1000', async () => {
    const { uploadId } = await c().initMultipartUpload('list/bad-max.bin');
    const e = await ossError(c().listParts('list/bad-max.bin', uploadId, { 'max-parts': 1001 } as OSS.ListPartsQuery));
    expect([e.status, e.code]).toEqual([400, 'InvalidArgument']);
  });

  it('lists uploads by key then initiation time, with prefix, delimiter and markers', async () => {
    const b = 'multipart-uploads';
    await t.client().putBucket(b);
    const client = c({ bucket: b });
    const ids: Record<string, string[]> = {};
    for (const key of ['lu/b', 'lu/a', 'lu/b', 'lu/dir/x', 'lu/dir/y', 'other']) {
      const { uploadId } = await client.initMultipartUpload(key);
      (ids[key] ??= []).push(uploadId);
      await new Promise((r) => setTimeout(r, 3)); // distinct initiation times
    }
    const all = await client.listUploads({ prefix: 'lu/' });
    expect(all.uploads.map((u: { name: string; uploadId: string }) => [u.name, u.uploadId])).toEqual([
      ['lu/a', ids['lu/a']![0]],
      ['lu/b', ids['lu/b']![0]],
      ['lu/b', ids['lu/b']![1]],
      ['lu/dir/x', ids['lu/dir/x']![0]],
      ['lu/dir/y', ids['lu/dir/y']![0]],
    ]);
    expect(all.isTruncated).toBe(false);
    expect(Date.parse(all.uploads[0]!.initiated as string)).toBeGreaterThan(Date.now() - 60_000);

    const page1 = await client.listUploads({ prefix: 'lu/', 'max-uploads': 2 });
    expect(page1.isTruncated).toBe(true);
    expect(page1.uploads.map((u: { name: string; uploadId: string }) => u.uploadId)).toEqual([ids['lu/a']![0], ids['lu/b']![0]]);
    expect([page1.nextKeyMarker, page1.nextUploadIdMarker]).toEqual(['lu/b', ids['lu/b']![0]]);
    const page2 = await client.listUploads({
      prefix: 'lu/',
      'max-uploads': 2,
      'key-marker': page1.nextKeyMarker as string,
      'upload-id-marker': page1.nextUploadIdMarker as string,
    });
    expect(page2.uploads.map((u: { name: string; uploadId: string }) => u.uploadId)).toEqual([ids['lu/b']![1], ids['lu/dir/x']![0]]);

    // ali-oss drops CommonPrefixes; read them from the document itself.
    const r = await raw(client, 'GET', '', 'uploads', { query: { prefix: 'lu/', delimiter: '/' } });
    expect(r.body).toContain('<CommonPrefixes><Prefix>lu/dir/</Prefix></CommonPrefixes>');
    expect(r.body.match(/<Upload>/g)).toHaveLength(3);
    expect(r.body).not.toContain('<Key>lu/dir/x</Key>');
    // A returned common prefix given back as key-marker is not repeated.
    const after = await raw(client, 'GET', '', 'uploads', { query: { prefix: 'lu/', delimiter: '/', 'key-marker': 'lu/dir/' } });
    expect(after.body).not.toContain('<Prefix>lu/dir/</Prefix>');
    expect(after.body).not.toContain('<Upload>');

    for (const [key, list] of Object.entries(ids)) for (const id of list) await client.abortMultipartUpload(key, id);
    expect((await client.listUploads({})).uploads).toEqual([]);
  });

  it("orders one key's uploads by upload ID, which follows initiation, and resumes after an upload-id-marker", async () => {
    // ali-oss test/node/multipart.test.js "listUploads() should list by id marker" / "by id & key marker".
    const b = 'multipart-upload-ids';
    await t.client().putBucket(b);
    const client = c({ bucket: b });
    const initiated: string[] = [];
    for (let i = 0; i < 5; i++) {
      initiated.push((await client.initMultipartUpload('same')).uploadId);
      await new Promise((r) => setTimeout(r, 2)); // distinct initiation times
    }
    const concurrent = (await Promise.all([1, 2, 3].map(() => client.initMultipartUpload('zz')))).map((u) => u.uploadId);
    const idsOf = (r: { uploads: Array<{ uploadId: string }> }) => r.uploads.map((u) => u.uploadId);

    expect([...initiated].sort()).toEqual(initiated);
    expect(idsOf(await client.listUploads({ 'max-uploads': 10 }))).toEqual([...initiated, ...[...concurrent].sort()]);
    // An upload-id-marker without a key-marker is ignored.
    expect(idsOf(await client.listUploads({ 'max-uploads': 10, 'upload-id-marker': initiated[1]! }))).toHaveLength(8);
    const after1 = await client.listUploads({ 'max-uploads': 10, 'key-marker': 'same', 'upload-id-marker': initiated[1]! });
    expect(idsOf(after1)).toEqual([...initiated.slice(2), ...[...concurrent].sort()]);
    const afterLast = await client.listUploads({ 'max-uploads': 10, 'key-marker': 'same', 'upload-id-marker': initiated[4]! });
    expect(idsOf(afterLast)).toEqual([...concurrent].sort());
  });

  it('aborts: 204, then the upload is gone (404 NoSuchUpload) and its data freed', async () => {
    const name = 'list/abort.bin';
    const blobs = (t.server.store as unknown as { blobs: { list(): Promise<string[]> } }).blobs;
    const before = (await blobs.list()).length;
    const { uploadId } = await uploadAll(c(), name, [Buffer.from('a'), Buffer.from('b')]);
    expect((await blobs.list()).length).toBe(before + 2);
    const res = (await c().abortMultipartUpload(name, uploadId)) as unknown as { res: { status: number } };
    expect(res.res.status).toBe(204);
    expect((await blobs.list()).length).toBe(before);
    // Thunks, not promises: each request runs (and fails) inside its own await.
    for (const call of [
      () => c().listParts(name, uploadId, {} as OSS.ListPartsQuery),
      () => c().uploadPart(name, uploadId, 1, Buffer.from('x'), 0, 1),
      () => c().abortMultipartUpload(name, uploadId),
      () => c().completeMultipartUpload(name, uploadId, [{ number: 1, etag: md5Etag(Buffer.from('a')) }]),
    ]) {
      const e = await ossError(call());
      expect([e.status, e.code]).toEqual([404, 'NoSuchUpload']);
    }
  });
});

describe('errors', () => {
  it('refuses part numbers 0 and 10001 (400 InvalidArgument) and accepts 10000', async () => {
    const name = 'err/part-number.bin';
    const { uploadId } = await c().initMultipartUpload(name);
    for (const n of [0, 10001]) {
      const e = await ossError(c().uploadPart(name, uploadId, n, Buffer.from('x'), 0, 1));
      expect([n, e.status, e.code]).toEqual([n, 400, 'InvalidArgument']);
    }
    const ok = await c().uploadPart(name, uploadId, 10000, Buffer.from('x'), 0, 1);
    expect(ok.etag).toBe(md5Etag(Buffer.from('x')));
  });

  it('refuses SSE headers on UploadPart (400 InvalidArgument)', async () => {
    const name = 'err/sse-part.bin';
    const { uploadId } = await c().initMultipartUpload(name, { headers: { 'x-oss-server-side-encryption': 'KMS' } });
    for (const h of [{ 'x-oss-server-side-encryption-key-id': 'cmk-1' }, { 'x-oss-server-side-data-encryption': 'SM4' }]) {
      const e = await ossError(c().uploadPart(name, uploadId, 1, Buffer.from('x'), 0, 1, { headers: h } as OSS.RequestOptions));
      expect([e.status, e.code]).toEqual([400, 'InvalidArgument']);
    }
    // ali-oss strips x-oss-server-side-encryption itself, so send it signed by hand.
    const e = await ossError(
      raw(c(), 'PUT', name, { partNumber: '1', uploadId }, { content: 'x', headers: { 'x-oss-server-side-encryption': 'KMS' } }),
    );
    expect([e.status, e.code]).toEqual([400, 'InvalidArgument']);
    expect((await c().listParts(name, uploadId, {} as OSS.ListPartsQuery)).parts).toEqual([]);
  });

  it('refuses a wrong Content-MD5 (400 InvalidDigest) and keeps no part', async () => {
    const name = 'err/md5.bin';
    const { uploadId } = await c().initMultipartUpload(name);
    const e = await ossError(
      c().uploadPart(name, uploadId, 1, Buffer.from('payload'), 0, 7, {
        headers: { 'Content-MD5': md5(Buffer.from('other')).toString('base64') },
      } as OSS.RequestOptions),
    );
    expect([e.status, e.code]).toEqual([400, 'InvalidDigest']);
    expect((await c().listParts(name, uploadId, {} as OSS.ListPartsQuery)).parts).toEqual([]);
  });

  it('refuses parts out of order or repeated (400 InvalidPartOrder)', async () => {
    const name = 'err/order.bin';
    const { uploadId, etags } = await uploadAll(c(), name, [big(), Buffer.from('b')]);
    for (const parts of [
      [
        [2, etags[1]],
        [1, etags[0]],
      ],
      [
        [1, etags[0]],
        [1, etags[0]],
      ],
    ] as Array<Array<[number, string]>>) {
      const e = await ossError(raw(c(), 'POST', name, { uploadId }, { content: completeXml(parts) }));
      expect([e.status, e.code]).toEqual([400, 'InvalidPartOrder']);
    }
  });

  it('refuses a wrong ETag or a part never uploaded (400 InvalidPart)', async () => {
    const name = 'err/etag.bin';
    const { uploadId, done } = await uploadAll(c(), name, [big(), Buffer.from('b')]);
    const e1 = await ossError(
      c().completeMultipartUpload(name, uploadId, [done[0]!, { number: 2, etag: '"0123456789ABCDEF0123456789ABCDEF"' }]),
    );
    expect([e1.status, e1.code]).toEqual([400, 'InvalidPart']);
    const e2 = await ossError(c().completeMultipartUpload(name, uploadId, [...done, { number: 3, etag: done[1]!.etag }]));
    expect([e2.status, e2.code]).toEqual([400, 'InvalidPart']);
    // Nothing was created and the upload is still there.
    expect(t.server.store.current(bucket, name)).toBeUndefined();
    await c().completeMultipartUpload(name, uploadId, done);
  });

  it('refuses a part below 100 KB before the last (400 EntityTooSmall); exactly 102400 bytes is enough', async () => {
    const name = 'err/small.bin';
    const tooSmall = await uploadAll(c(), name, [big(), randomBytes(102399), Buffer.from('end')]);
    const e = await ossError(c().completeMultipartUpload(name, tooSmall.uploadId, tooSmall.done));
    expect([e.status, e.code]).toEqual([400, 'EntityTooSmall']);
    // The small part as the last one is fine.
    await c().completeMultipartUpload(name, tooSmall.uploadId, tooSmall.done.slice(0, 2));
    const exact = await uploadAll(c(), name, [randomBytes(102400), Buffer.from('end')]);
    await c().completeMultipartUpload(name, exact.uploadId, exact.done);
    expect(Number(headersOf((await c().head(name)).res)['content-length'])).toBe(102403);
  });

  it('refuses a malformed or part-less body (400 MalformedXML)', async () => {
    const name = 'err/xml.bin';
    const { uploadId, etags } = await uploadAll(c(), name, [Buffer.from('a')]);
    for (const content of [
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>',
      '<Other/>',
      '<CompleteMultipartUpload></CompleteMultipartUpload>',
      `<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>${etags[0]}</ETag></Part></CompleteMultipartUpload>`,
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>',
    ]) {
      const e = await ossError(raw(c(), 'POST', name, { uploadId }, { content }));
      expect([content, e.status, e.code]).toEqual([content, 400, 'MalformedXML']);
    }
  });

  it('answers 404 NoSuchUpload for an unknown upload id, and for one of another key', async () => {
    const unknown = '0123456789ABCDEF0123456789ABCDEF';
    for (const call of [
      () => c().uploadPart('err/unknown.bin', unknown, 1, Buffer.from('x'), 0, 1),
      () => c().completeMultipartUpload('err/unknown.bin', unknown, [{ number: 1, etag: md5Etag(Buffer.from('x')) }]),
      () => c().listParts('err/unknown.bin', unknown, {} as OSS.ListPartsQuery),
      () => c().abortMultipartUpload('err/unknown.bin', unknown),
      () => c().uploadPartCopy('err/unknown.bin', unknown, 1, '', { sourceKey: 'mp/plain.bin', sourceBucketName: bucket }, {}),
    ]) {
      const e = await ossError(call());
      expect([e.status, e.code]).toEqual([404, 'NoSuchUpload']);
    }
    const { uploadId } = await c().initMultipartUpload('err/key-a.bin');
    const e = await ossError(c().uploadPart('err/key-b.bin', uploadId, 1, Buffer.from('x'), 0, 1));
    expect([e.status, e.code]).toEqual([404, 'NoSuchUpload']);
  });
});
