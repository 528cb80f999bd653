/**
 * OssHttpClient against the local OSS server (signature verification on), cross-checked with
 * the real ali-oss client. The server's onRequest observer shows exactly which headers reached
 * it, so "nothing but the caller's headers and signing" is asserted, not assumed.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from '../../shared/crc64';
import { requestTarget, resolveOssEndpoint } from '../../shared/oss/endpoint';
import { copySourceHeader } from '../../shared/oss/encoding';
import { DEFAULT_MAX_SOCKETS, OssHttpClient, type OssHttpClientOptions } from '../../shared/oss/http-client';
import { MAX_OBJECTS_IN_FLIGHT_UNDER_CAP } from '../../shared/backfill/rate-limit';
import type { OssRequestInfo } from '../../shared/oss/transport';
import { OssRequestError } from '../../shared/oss/port';
import type { Credentials, OssRequest } from '../../shared/signing';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

const STS_TOKEN = 'CAIS-sts-token/With+Odd=Chars-0123456789abcdef';
const CREDS: Credentials = { accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET };

let t: TestOss;
/** What the server saw, by request id (filled by the server's onRequest observer). */
const seen = new Map<string, OssRequest>();
const clients: OssHttpClient[] = [];

beforeAll(async () => {
  t = await startTestOss({
    onRequest: (req, requestId) => seen.set(requestId, { ...req, query: { ...req.query }, headers: { ...req.headers } }),
  });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await t.close();
});

interface Tracked {
  client: OssHttpClient;
  infos: OssRequestInfo[];
  /** The server's view of the latest request (of `op`, when given). */
  last(op?: string): OssRequest;
}

function tracked(opts: Partial<OssHttpClientOptions> = {}): Tracked {
  const infos: OssRequestInfo[] = [];
  const client = new OssHttpClient({
    endpoint: t.server.url,
    region: t.server.region,
    credentials: () => CREDS,
    ...opts,
    onRequest: (i) => {
      infos.push(i);
      opts.onRequest?.(i);
    },
  });
  clients.push(client);
  return {
    client,
    infos,
    last(op?: string): OssRequest {
      const info = [...infos].reverse().find((i) => op === undefined || i.op === op);
      const req = info?.requestId === undefined ? undefined : seen.get(info.requestId);
      if (!req) throw new Error(`the server saw no ${op ?? ''} request`);
      return req;
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<OssRequestError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OssRequestError);
    return e as OssRequestError;
  }
  throw new Error('expected the request to fail');
}

const SIGNING_V4 = ['authorization', 'x-oss-content-sha256', 'x-oss-date'];
const SIGNING_V1 = ['authorization', 'x-oss-date'];
const TRANSPORT = ['connection', 'host'];
const sorted = (names: Iterable<string>) => [...names].sort();
const md5Etag = (b: Buffer) => `"${createHash('md5').update(b).digest('hex').toUpperCase()}"`;

// ---------------------------------------------------------------------------------------------

describe('resolveOssEndpoint / requestTarget', () => {
  it('defaults to the public or the internal regional endpoint, stripping an oss- prefix', () => {
    expect(resolveOssEndpoint({ region: 'cn-hangzhou', internal: false })).toEqual({
      protocol: 'https:',
      host: 'oss-cn-hangzhou.aliyuncs.com',
      port: 443,
      ipStyle: false,
    });
    expect(resolveOssEndpoint({ region: 'oss-cn-shanghai', internal: true })).toEqual({
      protocol: 'https:',
      host: 'oss-cn-shanghai-internal.aliyuncs.com',
      port: 443,
      ipStyle: false,
    });
  });

  it('accepts a URL or host[:port] (https by default) and flags IP endpoints', () => {
    expect(resolveOssEndpoint({ endpoint: 'http://127.0.0.1:9000', region: 'cn-hangzhou', internal: true })).toEqual({
      protocol: 'http:',
      host: '127.0.0.1',
      port: 9000,
      ipStyle: true,
    });
    expect(resolveOssEndpoint({ endpoint: 'oss.example.com:8443', region: 'cn-hangzhou', internal: false })).toEqual({
      protocol: 'https:',
      host: 'oss.example.com',
      port: 8443,
      ipStyle: false,
    });
    expect(resolveOssEndpoint({ endpoint: 'http://[::1]:81', region: 'r', internal: false })).toMatchObject({ host: '::1', ipStyle: true });
    expect(resolveOssEndpoint({ endpoint: 'http://localhost:81', region: 'r', internal: false }).ipStyle).toBe(true);
    expect(() => resolveOssEndpoint({ endpoint: 'https://oss.example.com/path', region: 'r', internal: false })).toThrow(/path/);
    expect(() => resolveOssEndpoint({ endpoint: 'ftp://oss.example.com', region: 'r', internal: false })).toThrow(/http/);
  });

  it('virtual-hosts buckets on host names and puts the bucket in Host only for IP endpoints', () => {
    const real = resolveOssEndpoint({ region: 'cn-hangzhou', internal: false });
    expect(requestTarget(real, 'cn-hangzhou', 'my-bucket')).toEqual({
      protocol: 'https:',
      connectHost: 'my-bucket.oss-cn-hangzhou.aliyuncs.com',
      port: 443,
      hostHeader: 'my-bucket.oss-cn-hangzhou.aliyuncs.com',
    });
    expect(requestTarget(real, 'cn-hangzhou', undefined).hostHeader).toBe('oss-cn-hangzhou.aliyuncs.com');
    const custom = resolveOssEndpoint({ endpoint: 'http://oss.example.com:8080', region: 'cn-hangzhou', internal: false });
    expect(requestTarget(custom, 'cn-hangzhou', 'b1').hostHeader).toBe('b1.oss.example.com:8080');
    const ip = resolveOssEndpoint({ endpoint: 'http://127.0.0.1:9000', region: 'oss-cn-beijing', internal: true });
    expect(requestTarget(ip, 'oss-cn-beijing', 'b1')).toEqual({
      protocol: 'http:',
      connectHost: '127.0.0.1',
      port: 9000,
      hostHeader: 'b1.oss-cn-beijing.aliyuncs.com',
    });
    expect(requestTarget(ip, 'cn-beijing', undefined).hostHeader).toBe('oss-cn-beijing.aliyuncs.com');
  });

  it('encodes copy sources so that no decoder can misread them', () => {
    expect(copySourceHeader('b', 'a b+c/d%2F?#é')).toBe('/b/a%20b%2Bc%2Fd%252F%3F%23%C3%A9');
    expect(copySourceHeader('b', "it's(1)*!")).toBe('/b/it%27s%281%29%2A%21');
    expect(copySourceHeader('b', 'k', 'CAEQ+v/1=')).toBe('/b/k?versionId=CAEQ%2Bv%2F1%3D');
  });
});

// ---------------------------------------------------------------------------------------------

const flavours = [
  { name: 'V4', bucket: 'client-v4', version: 'v4' as const, token: undefined },
  { name: 'V1', bucket: 'client-v1', version: 'v1' as const, token: undefined },
  { name: 'V4 + STS', bucket: 'client-v4-sts', version: 'v4' as const, token: STS_TOKEN },
  { name: 'V1 + STS', bucket: 'client-v1-sts', version: 'v1' as const, token: STS_TOKEN },
];

describe.each(flavours)('$name signing verifies on every kind of request', ({ bucket, version, token }) => {
  const creds: Credentials = token === undefined ? CREDS : { ...CREDS, securityToken: token };
  let c: Tracked;
  beforeAll(async () => {
    await t.client().putBucket(bucket);
    await t.client({ bucket }).put('dir/obj.txt', Buffer.from('payload'));
    c = tracked({ signatureVersion: version, credentials: () => creds });
  });

  it('object, sub-resource, body and service requests all pass and carry the expected signing headers', async () => {
    const head = await c.client.headObject(bucket, 'dir/obj.txt');
    expect(head?.size).toBe(7);
    const headReq = c.last('HeadObject');
    expect(headReq.headers['authorization']).toMatch(version === 'v4' ? /^OSS4-HMAC-SHA256 Credential=/ : /^OSS LTAI/);
    expect(headReq.headers['x-oss-security-token']).toBe(token);
    expect(sorted(Object.keys(headReq.headers))).toEqual(
      sorted([...(version === 'v4' ? SIGNING_V4 : SIGNING_V1), ...TRANSPORT, ...(token ? ['x-oss-security-token'] : [])]),
    );

    expect(await c.client.getObjectAcl(bucket, 'dir/obj.txt')).toBe('default');
    await c.client.putBucketEncryption(bucket, { algorithm: 'KMS', keyId: 'k-1', dataEncryption: 'SM4' });
    expect(await c.client.getBucketEncryption(bucket)).toEqual({ algorithm: 'KMS', keyId: 'k-1', dataEncryption: 'SM4' });
    const page = await c.client.listObjectsV2(bucket, { prefix: 'dir/', maxKeys: 10 });
    expect(page.objects.map((o) => o.key)).toEqual(['dir/obj.txt']);
    const copied = await c.client.copyObject({
      bucket,
      key: 'dir/copy.txt',
      sourceBucket: bucket,
      sourceKey: 'dir/obj.txt',
      headers: { 'x-oss-server-side-encryption': 'AES256' },
    });
    expect(copied.etag).toBe(head?.etag);
    expect((await c.client.listBuckets({ prefix: bucket })).buckets).toContain(bucket);
    expect(c.infos.every((i) => typeof i.status === 'number' && i.status >= 200 && i.status < 300)).toBe(true);
  });

  it('a wrong secret is 403 SignatureDoesNotMatch whose message and stack hold no secret, token or signature', async () => {
    const secret = 'WrongSecretThatMustNotLeak0123456789';
    const bad = tracked({ signatureVersion: version, credentials: () => ({ ...creds, accessKeySecret: secret }) });
    for (const op of [
      () => bad.client.listObjectsV2(bucket, {}),
      () => bad.client.headObject(bucket, 'dir/obj.txt'),
      () => bad.client.putBucketEncryption(bucket, { algorithm: 'AES256' }),
    ]) {
      const before = bad.client.requestCount;
      const err = await rejection(op());
      expect([err.status, err.code]).toEqual([403, 'SignatureDoesNotMatch']);
      expect(err.requestId).toMatch(/^[0-9A-F]{24}$/);
      expect(bad.client.requestCount - before).toBe(1); // permanent: not retried
      const text = `${err.message}\n${err.stack ?? ''}\n${JSON.stringify(err)}`;
      expect(text).not.toContain(secret);
      expect(text).not.toContain(TEST_SECRET);
      if (token) expect(text).not.toContain(token);
      expect(text).not.toMatch(/Signature=[0-9a-f]{16}/);
      expect(text).not.toMatch(/OSS LTAI\w+:[A-Za-z0-9+/]{20}/);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('OssHttpClient operations', () => {
  const bucket = 'client-ops';
  const versioned = 'client-ops-versioned';
  const ali = () => t.client({ bucket });
  let c: Tracked;
  beforeAll(async () => {
    await t.client().putBucket(bucket);
    await t.client().putBucket(versioned);
    await t.client({ bucket: versioned }).putBucketVersioning(versioned, 'Enabled');
    c = tracked();
  });

  // See docs/oss-behaviour.md#objects-and-re-encryption.
  it('headObject parses every header OSS documents for an object', async () => {
    const body = Buffer.from('head me');
    await ali().put('full.bin', body, {
      mime: 'text/plain',
      meta: { owner: 'team-a', note: 'x y' },
      headers: {
        'Content-Encoding': 'identity',
        'Content-Disposition': 'attachment; filename="a.txt"',
        'Content-Language': 'en',
        'Cache-Control': 'no-cache',
        Expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        'x-oss-storage-class': 'IA',
        'x-oss-server-side-encryption': 'KMS',
        'x-oss-server-side-encryption-key-id': 'my-key',
        'x-oss-server-side-data-encryption': 'SM4',
        'x-oss-tagging': 'a=1&b=2',
      },
    });
    const head = await c.client.headObject(bucket, 'full.bin');
    expect(head).toEqual({
      bucket,
      key: 'full.bin',
      etag: md5Etag(body),
      size: body.length,
      crc64: crc64(body),
      lastModified: expect.stringMatching(/GMT$/),
      objectType: 'Normal',
      storageClass: 'IA',
      sse: { algorithm: 'KMS', keyId: 'my-key', dataEncryption: 'SM4' },
      contentHeaders: {
        'content-type': 'text/plain',
        'content-encoding': 'identity',
        'content-disposition': 'attachment; filename="a.txt"',
        'content-language': 'en',
        'cache-control': 'no-cache',
        expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
      },
      userMeta: { 'x-oss-meta-owner': 'team-a', 'x-oss-meta-note': 'x y' },
      taggingCount: 2,
      requestId: expect.stringMatching(/^[0-9A-F]{24}$/),
    });
    // An unencrypted object has no sse; an Appendable one says so.
    await ali().append('app.log', Buffer.from('line\n'));
    const app = await c.client.headObject(bucket, 'app.log');
    expect([app?.objectType, app?.sse, app?.taggingCount]).toEqual(['Appendable', undefined, 0]);
  });

  it('headObject: 404 is undefined, a missing bucket is an error, and HEAD errors take their code from x-oss-err', async () => {
    expect(await c.client.headObject(bucket, 'no/such/key')).toBeUndefined();
    const noBucket = await rejection(c.client.headObject('client-no-such-bucket', 'k'));
    expect([noBucket.status, noBucket.code, noBucket.ec]).toEqual([404, 'NoSuchBucket', '0015-00000101']);
    const unknownKey = tracked({ credentials: () => ({ accessKeyId: 'LTAI-unknown', accessKeySecret: 'x-secret-value' }) });
    const denied = await rejection(unknownKey.client.headObject(bucket, 'full.bin'));
    expect([denied.status, denied.code]).toEqual([403, 'InvalidAccessKeyId']);
    expect(denied.requestId).toMatch(/^[0-9A-F]{24}$/);
    expect(denied.message).toContain('InvalidAccessKeyId');
  });

  it('versions: headObject/deleteObject by versionId and getBucketVersioning', async () => {
    const v = t.client({ bucket: versioned });
    const first = await v.put('doc', Buffer.from('one'));
    await v.put('doc', Buffer.from('two!'));
    const firstId = first.res.headers['x-oss-version-id'] as string;
    const old = await c.client.headObject(versioned, 'doc', firstId);
    expect([old?.versionId, old?.size]).toEqual([firstId, 3]);
    expect((await c.client.headObject(versioned, 'doc'))?.size).toBe(4);
    expect(await c.client.getBucketVersioning(versioned)).toBe('Enabled');
    expect(await c.client.getBucketVersioning(bucket)).toBeUndefined();

    // CopyObject from an old version
    const copied = await c.client.copyObject({
      bucket: versioned,
      key: 'doc-restored',
      sourceBucket: versioned,
      sourceKey: 'doc',
      sourceVersionId: firstId,
      headers: {},
    });
    expect(copied.versionId).toMatch(/.+/);
    expect((await v.get('doc-restored')).content.toString()).toBe('one');

    await c.client.deleteObject(versioned, 'doc', firstId);
    expect(await c.client.headObject(versioned, 'doc', firstId)).toBeUndefined();
    expect((await c.client.headObject(versioned, 'doc'))?.size).toBe(4);
  });

  it('getObjectAcl and getObjectTagging read what ali-oss wrote (odd tag text included)', async () => {
    await ali().put('acl.txt', Buffer.from('a'));
    expect(await c.client.getObjectAcl(bucket, 'acl.txt')).toBe('default');
    await ali().putACL('acl.txt', 'public-read');
    expect(await c.client.getObjectAcl(bucket, 'acl.txt')).toBe('public-read');

    expect(await c.client.getObjectTagging(bucket, 'acl.txt')).toEqual([]);
    await ali().putObjectTagging('acl.txt', { plain: 'v', 'a:b': '1+1=2 /x' });
    expect(await c.client.getObjectTagging(bucket, 'acl.txt')).toEqual([
      ['plain', 'v'],
      ['a:b', '1+1=2 /x'],
    ]);
    // ali-oss refuses XML-special text in putObjectTagging; x-oss-tagging on PUT takes any text.
    const tags = { 'a&b': '<x> "q" \'s\'', ' spaced ': ' both ends ', ключ: '值 😀', empty: '' };
    const tagging = Object.entries(tags)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    await ali().put('tagged.txt', Buffer.from('t'), { headers: { 'x-oss-tagging': tagging } });
    expect(Object.fromEntries(await c.client.getObjectTagging(bucket, 'tagged.txt'))).toEqual(tags);
  });

  it('copyObject sends exactly the given headers (no x-oss-copy-source-* copies) and they take effect', async () => {
    const body = Buffer.from('source bytes');
    const put = await ali().put('src.txt', body, { meta: { keep: 'me' } });
    const etag = put.res.headers.etag as string;
    const headers = {
      'x-oss-copy-source-if-match': etag,
      'x-oss-metadata-directive': 'REPLACE',
      'x-oss-meta-keep': 'me',
      'x-oss-meta-added': 'yes',
      'content-type': 'text/x-test',
      'cache-control': 'max-age=60',
      'x-oss-server-side-encryption': 'SM4',
      'x-oss-storage-class': 'IA',
      'x-oss-object-acl': 'private',
    };
    const before = c.client.requestCount;
    const r = await c.client.copyObject({ bucket, key: 'dst.txt', sourceBucket: bucket, sourceKey: 'src.txt', headers });
    expect(c.client.requestCount - before).toBe(1);
    expect(r.etag).toBe(md5Etag(body));
    expect(r.requestId).toMatch(/^[0-9A-F]{24}$/);

    const sent = c.last('CopyObject');
    expect(sorted(Object.keys(sent.headers))).toEqual(
      sorted([...Object.keys(headers), 'x-oss-copy-source', 'content-length', ...SIGNING_V4, ...TRANSPORT]),
    );
    for (const [k, v] of Object.entries(headers)) expect(sent.headers[k]).toBe(v);
    expect(sent.headers['x-oss-copy-source']).toBe('/client-ops/src.txt');
    expect(sent.headers['content-length']).toBe('0');
    expect(Object.keys(sent.headers).filter((k) => k.startsWith('x-oss-copy-source-x-'))).toEqual([]);

    const h = (await ali().head('dst.txt')).res.headers as Record<string, string>;
    expect(h).toMatchObject({
      'x-oss-server-side-encryption': 'SM4',
      'x-oss-storage-class': 'IA',
      'content-type': 'text/x-test',
      'cache-control': 'max-age=60',
      'x-oss-meta-keep': 'me',
      'x-oss-meta-added': 'yes',
    });
    expect((await ali().getACL('dst.txt')).acl).toBe('private');
  });

  it('copyObject pinned to a stale ETag is 412 PreconditionFailed, not retried, and changes nothing', async () => {
    await ali().put('pinned.txt', Buffer.from('v1'));
    const before = c.client.requestCount;
    const err = await rejection(
      c.client.copyObject({
        bucket,
        key: 'pinned.txt',
        sourceBucket: bucket,
        sourceKey: 'pinned.txt',
        headers: { 'x-oss-copy-source-if-match': '"00000000000000000000000000000000"', 'x-oss-server-side-encryption': 'AES256' },
      }),
    );
    expect([err.status, err.code]).toEqual([412, 'PreconditionFailed']);
    expect(c.client.requestCount - before).toBe(1);
    expect((await c.client.headObject(bucket, 'pinned.txt'))?.sse).toBeUndefined();
  });

  it('multipart copy: initiate with headers, UploadPartCopy pinned to the ETag, complete; abort discards', async () => {
    const source = Buffer.alloc(250 * 1024);
    for (let i = 0; i < source.length; i++) source[i] = (i * 7) & 0xff;
    const put = await ali().put('big.bin', source);
    const etag = put.res.headers.etag as string;

    const init = await c.client.initiateMultipartUpload(bucket, 'big.bin', {
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'mp-key',
      'x-oss-meta-origin': 'multipart',
      'x-oss-storage-class': 'IA',
    });
    expect(init.uploadId).toMatch(/.+/);
    const initReq = c.last('InitiateMultipartUpload');
    expect(initReq.headers['x-oss-meta-origin']).toBe('multipart');
    expect(initReq.query).toMatchObject({ uploads: '', 'encoding-type': 'url' });

    const ranges: Array<[number, number]> = [
      [0, 102_399],
      [102_400, 204_799],
      [204_800, source.length - 1],
    ];
    // Parts in parallel, as the re-encryption routine runs them; completed out of order on purpose.
    const parts = await Promise.all(
      ranges.map((range, i) =>
        c.client.uploadPartCopy({
          bucket,
          key: 'big.bin',
          uploadId: init.uploadId,
          partNumber: i + 1,
          sourceBucket: bucket,
          sourceKey: 'big.bin',
          range,
          ifMatch: etag,
        }),
      ),
    );
    expect(parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    const partReq = c.last('UploadPartCopy');
    expect(
      sorted(Object.keys(partReq.headers).filter((k) => !SIGNING_V4.includes(k) && !TRANSPORT.includes(k) && k !== 'content-length')),
    ).toEqual(['x-oss-copy-source', 'x-oss-copy-source-if-match', 'x-oss-copy-source-range']);
    expect(partReq.headers['x-oss-copy-source-if-match']).toBe(etag);

    const done = await c.client.completeMultipartUpload(bucket, 'big.bin', init.uploadId, [...parts].reverse());
    expect(done.etag).toMatch(/-3"$/);
    const got = await ali().get('big.bin');
    expect(got.content.equals(source)).toBe(true);
    expect(got.res.headers).toMatchObject({
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'mp-key',
      'x-oss-meta-origin': 'multipart',
      'x-oss-storage-class': 'IA',
    });
    const completeReq = c.last('CompleteMultipartUpload');
    expect(completeReq.headers['content-type']).toBe('application/xml');
    expect(completeReq.headers['content-md5']).toMatch(/^[A-Za-z0-9+/]{22}==$/);

    // A stale pin fails the part; abort makes the upload unusable.
    const other = await c.client.initiateMultipartUpload(bucket, 'big.bin', {});
    const stale = await rejection(
      c.client.uploadPartCopy({
        bucket,
        key: 'big.bin',
        uploadId: other.uploadId,
        partNumber: 1,
        sourceBucket: bucket,
        sourceKey: 'big.bin',
        range: [0, 99],
        ifMatch: etag, // the object was replaced by the multipart result
      }),
    );
    expect([stale.status, stale.code]).toEqual([412, 'PreconditionFailed']);
    await c.client.abortMultipartUpload(bucket, 'big.bin', other.uploadId);
    const gone = await rejection(c.client.completeMultipartUpload(bucket, 'big.bin', other.uploadId, [{ partNumber: 1, etag: '"x"' }]));
    expect([gone.status, gone.code]).toEqual([404, 'NoSuchUpload']);
    await expect(
      c.client.uploadPartCopy({
        bucket,
        key: 'big.bin',
        uploadId: 'u',
        partNumber: 1,
        sourceBucket: bucket,
        sourceKey: 'big.bin',
        range: [10, 5],
        ifMatch: etag,
      }),
    ).rejects.toThrow(RangeError);
  });

  it('deleteObject removes the object', async () => {
    await ali().put('delete-me', Buffer.from('x'));
    await c.client.deleteObject(bucket, 'delete-me');
    expect(c.last('DeleteObject').method).toBe('DELETE');
    await expect(ali().head('delete-me')).rejects.toMatchObject({ status: 404 });
    await c.client.deleteObject(bucket, 'delete-me'); // idempotent, as on OSS
  });

  it('listObjectsV2 pages with continuation tokens, delimiter and start-after, decoding keys', async () => {
    const b = 'client-list';
    await t.client().putBucket(b);
    const keys = ['p/a b', 'p/a+b', 'p/c%2Fd', 'p/dir/x', 'p/dir/y', 'p/é', 'p/😀', 'q/other'];
    for (const k of keys) await t.client({ bucket: b }).put(k, Buffer.from(k));

    const all: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await c.client.listObjectsV2(b, { prefix: 'p/', maxKeys: 3, ...(token ? { continuationToken: token } : {}) });
      all.push(...page.objects.map((o) => o.key));
      expect(page.objects.length).toBeLessThanOrEqual(3);
      expect(page.isTruncated).toBe(page.nextContinuationToken !== undefined);
      token = page.nextContinuationToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(all).toEqual(keys.filter((k) => k.startsWith('p/')));
    expect(c.last('ListObjectsV2').query['encoding-type']).toBe('url');

    const rolled = await c.client.listObjectsV2(b, { prefix: 'p/', delimiter: '/' });
    expect(rolled.commonPrefixes).toEqual(['p/dir/']);
    expect(rolled.objects.map((o) => o.key)).toEqual(['p/a b', 'p/a+b', 'p/c%2Fd', 'p/é', 'p/😀']);
    const first = rolled.objects[0];
    expect(first).toEqual({
      key: 'p/a b',
      etag: md5Etag(Buffer.from('p/a b')),
      size: 5,
      storageClass: 'Standard',
      lastModified: expect.stringMatching(/Z$/),
      type: 'Normal',
    });

    const after = await c.client.listObjectsV2(b, { startAfter: 'p/é' });
    expect(after.objects.map((o) => o.key)).toEqual(['p/😀', 'q/other']);
    // ali-oss itself leaves the keys encoded under encoding-type=url. See docs/oss-behaviour.md#ali-oss-quirks.
    const raw = await t.client({ bucket: b }).listV2({ prefix: 'p/a', 'encoding-type': 'url' });
    expect(raw.objects.map((o: { name: string }) => o.name)).toEqual(['p%2Fa%20b', 'p%2Fa%2Bb']);
  });

  it('listBuckets pages with prefix, max-keys and marker, addressed to the regional host', async () => {
    for (const name of ['lb-a', 'lb-b', 'lb-c']) await t.client().putBucket(name);
    const first = await c.client.listBuckets({ prefix: 'lb-', maxKeys: 2 });
    expect(first).toEqual({ buckets: ['lb-a', 'lb-b'], nextMarker: 'lb-b' });
    const req = c.last('ListBuckets');
    expect([req.bucket, req.headers['host']]).toEqual([undefined, 'oss-cn-hangzhou.aliyuncs.com']);
    expect(await c.client.listBuckets({ prefix: 'lb-', maxKeys: 2, marker: 'lb-b' })).toEqual({ buckets: ['lb-c'] });
  });

  it('bucket encryption: absent → undefined; AES256, SM4 and KMS + SM4 data encryption round-trip; delete', async () => {
    const b = 'client-encryption';
    await t.client().putBucket(b);
    const aliB = t.client({ bucket: b });
    expect(await c.client.getBucketEncryption(b)).toBeUndefined();

    await c.client.putBucketEncryption(b, { algorithm: 'AES256' });
    expect(await c.client.getBucketEncryption(b)).toEqual({ algorithm: 'AES256' });
    await c.client.putBucketEncryption(b, { algorithm: 'SM4' });
    expect(await c.client.getBucketEncryption(b)).toEqual({ algorithm: 'SM4' });

    await c.client.putBucketEncryption(b, { algorithm: 'KMS', keyId: 'cmk-1', dataEncryption: 'SM4' });
    expect(await c.client.getBucketEncryption(b)).toEqual({ algorithm: 'KMS', keyId: 'cmk-1', dataEncryption: 'SM4' });
    expect((await aliB.getBucketEncryption(b)).encryption).toEqual({
      SSEAlgorithm: 'KMS',
      KMSMasterKeyID: 'cmk-1',
      KMSDataEncryption: 'SM4',
    });
    const putReq = c.last('PutBucketEncryption');
    expect(sorted(Object.keys(putReq.headers))).toEqual(
      sorted([...SIGNING_V4, ...TRANSPORT, 'content-length', 'content-md5', 'content-type']),
    );
    // New objects get the rule
    await aliB.put('after-rule', Buffer.from('x'));
    expect((await c.client.headObject(b, 'after-rule'))?.sse).toEqual({ algorithm: 'KMS', keyId: 'cmk-1', dataEncryption: 'SM4' });

    await c.client.putBucketEncryption(b, { algorithm: 'KMS' }); // OSS-managed CMK: no key id
    expect(await c.client.getBucketEncryption(b)).toEqual({ algorithm: 'KMS' });

    const invalid = await rejection(c.client.putBucketEncryption(b, { algorithm: 'AES256', keyId: 'k' }));
    expect([invalid.status, invalid.code]).toEqual([400, 'InvalidArgument']);

    await c.client.deleteBucketEncryption(b);
    expect(await c.client.getBucketEncryption(b)).toBeUndefined();
  });

  it('works with an ali-oss style region (oss-cn-hangzhou) and re-reads rotating credentials per request', async () => {
    let n = 0;
    const rotating = tracked({
      region: 'oss-cn-hangzhou',
      credentials: () => ({ ...CREDS, securityToken: `token-${++n}` }),
    });
    await rotating.client.headObject(bucket, 'full.bin');
    await rotating.client.headObject(bucket, 'full.bin');
    expect(rotating.last().headers['x-oss-security-token']).toBe('token-2');
    expect(n).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------

describe('odd keys round-trip through head, copy and list', () => {
  const bucket = 'client-odd-keys';
  const long = 'long-' + 'é'.repeat(509); // 5 + 509 * 2 = 1023 UTF-8 bytes, the maximum
  const keys = [
    'with space',
    ' leading and trailing ',
    'plus+sign',
    '100%',
    '%41 is not A',
    'x%2Fy',
    'a/b//c/',
    'ünïcødé/名字',
    'emoji 😀🎉',
    'question?x=1&y=2',
    'hash#fragment',
    'quote\'s "double" <tag> &amp;',
    'tab\tnewline\nend',
    '~!@$^*()_=[]{}|;:,.',
    long,
  ];
  let c: Tracked;
  beforeAll(async () => {
    await t.client().putBucket(bucket);
    c = tracked();
  });

  it('the long key is exactly 1023 bytes', () => {
    expect(Buffer.byteLength(long)).toBe(1023);
  });

  it.each(keys.map((k, i) => [JSON.stringify(k).slice(0, 40), k, i] as const))('%s', async (_label, key, i) => {
    const body = Buffer.from(`body of ${i}`);
    await t.client({ bucket }).put(key, body);

    const head = await c.client.headObject(bucket, key);
    expect(head?.key).toBe(key);
    expect(head?.etag).toBe(md5Etag(body));
    expect(c.last('HeadObject').key).toBe(key); // the server decoded the path back to the key

    const dest = `copies/${i}`;
    await c.client.copyObject({
      bucket,
      key: dest,
      sourceBucket: bucket,
      sourceKey: key,
      headers: { 'x-oss-copy-source-if-match': head?.etag ?? '' },
    });
    expect((await t.client({ bucket }).get(dest)).content.equals(body)).toBe(true);
    // and the other way round: an odd destination key
    await c.client.copyObject({
      bucket,
      key,
      sourceBucket: bucket,
      sourceKey: dest,
      headers: { 'x-oss-server-side-encryption': 'AES256' },
    });
    expect((await c.client.headObject(bucket, key))?.sse).toEqual({ algorithm: 'AES256' });

    const page = await c.client.listObjectsV2(bucket, { prefix: key, maxKeys: 1000 });
    expect(page.objects.map((o) => o.key)).toContain(key);
    expect(page.objects.every((o) => o.key.startsWith(key))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

interface Fault {
  status: number;
  code: string;
}

/**
 * A loopback proxy in front of the local OSS server that answers the faults `plan` returns
 * (with an OSS-shaped error: XML body, or x-oss-err on HEAD) and forwards everything else
 * untouched (Host included, so signatures still verify).
 */
async function startFaultProxy(plan: (req: IncomingMessage, n: number) => Fault | undefined) {
  let n = 0;
  const server: Server = createServer((req, res) => {
    const fault = plan(req, n++);
    if (fault) {
      const requestId = `PROXY${String(n).padStart(19, '0')}`;
      const xml =
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>Injected by the test proxy.</Message>` +
        `<RequestId>${requestId}</RequestId><HostId>proxy</HostId><EC>0000-00000000</EC></Error>`;
      req.resume();
      if (req.method === 'HEAD') {
        res.writeHead(fault.status, {
          'x-oss-request-id': requestId,
          'x-oss-err': Buffer.from(xml).toString('base64'),
          'content-length': 0,
        });
        res.end();
      } else {
        res.writeHead(fault.status, {
          'x-oss-request-id': requestId,
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(xml),
        });
        res.end(xml);
      }
      return;
    }
    const up = request({ host: '127.0.0.1', port: t.server.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('retries', () => {
  const bucket = 'client-retry';
  beforeAll(async () => {
    await t.client().putBucket(bucket);
    await t.client({ bucket }).put('obj', Buffer.from('retry me'));
  });

  it('retries 503 TotalQpsLimitExceeded until the request gets through, counting every request sent', async () => {
    const proxy = await startFaultProxy((_req, n) => (n < 3 ? { status: 503, code: 'TotalQpsLimitExceeded' } : undefined));
    try {
      const c = tracked({ endpoint: proxy.url, retry: { baseMs: 1, capMs: 5 } });
      const r = await c.client.copyObject({
        bucket,
        key: 'obj',
        sourceBucket: bucket,
        sourceKey: 'obj',
        headers: { 'x-oss-server-side-encryption': 'AES256' },
      });
      expect(r.etag).toBe(md5Etag(Buffer.from('retry me')));
      expect(c.client.requestCount).toBe(4);
      expect(proxy.count()).toBe(4);
      expect(c.infos.map((i) => [i.op, i.status, i.attempt])).toEqual([
        ['CopyObject', 503, 0],
        ['CopyObject', 503, 1],
        ['CopyObject', 503, 2],
        ['CopyObject', 200, 3],
      ]);
      expect((await t.client({ bucket }).head('obj')).res.headers['x-oss-server-side-encryption']).toBe('AES256');
    } finally {
      await proxy.close();
    }
  });

  it('retries HEAD and bucket-level 503s (MetaOperationQpsLimitExceeded, 500, 502)', async () => {
    // Request n gets plan[n]; undefined goes through to the server.
    const plan: Array<Fault | undefined> = [
      { status: 503, code: 'SlowDown' },
      { status: 503, code: 'MetaOperationQpsLimitExceeded' },
      undefined,
      { status: 500, code: 'InternalError' },
      { status: 502, code: 'BadGateway' },
    ];
    const proxy = await startFaultProxy((_req, n) => plan[n]);
    try {
      const c = tracked({ endpoint: proxy.url, retry: { baseMs: 1, capMs: 5 } });
      expect((await c.client.headObject(bucket, 'obj'))?.size).toBe(8);
      expect(await c.client.getBucketEncryption(bucket)).toBeUndefined();
      expect(c.client.requestCount).toBe(6);
      expect(c.infos.map((i) => i.status)).toEqual([503, 503, 200, 500, 502, 404]);
    } finally {
      await proxy.close();
    }
  });

  it('gives up after maxAttempts with the last 503, and never waits past the deadline', async () => {
    const proxy = await startFaultProxy(() => ({ status: 503, code: 'TotalQpsLimitExceeded' }));
    try {
      const capped = tracked({ endpoint: proxy.url, retry: { baseMs: 1, capMs: 2, maxAttempts: 3 } });
      const err = await rejection(capped.client.listObjectsV2(bucket, {}));
      expect([err.status, err.code, err.requestId]).toEqual([503, 'TotalQpsLimitExceeded', 'PROXY0000000000000000003']);
      expect(capped.client.requestCount).toBe(3);

      // A deadline already reached: one try, no wait.
      const late = tracked({ endpoint: proxy.url, retry: { deadline: () => Date.now() - 1, baseMs: 1 } });
      await rejection(late.client.headObject(bucket, 'obj'));
      expect(late.client.requestCount).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('does not retry permanent errors (403 AccessDenied, 409 FileImmutable)', async () => {
    const proxy = await startFaultProxy((req) =>
      req.method === 'PUT' ? { status: 409, code: 'FileImmutable' } : { status: 403, code: 'AccessDenied' },
    );
    try {
      const c = tracked({ endpoint: proxy.url, retry: { baseMs: 1 } });
      const denied = await rejection(c.client.headObject(bucket, 'obj'));
      expect([denied.status, denied.code]).toEqual([403, 'AccessDenied']);
      const immutable = await rejection(c.client.copyObject({ bucket, key: 'obj', sourceBucket: bucket, sourceKey: 'obj', headers: {} }));
      expect([immutable.status, immutable.code]).toEqual([409, 'FileImmutable']);
      expect(c.client.requestCount).toBe(2);
      expect(proxy.count()).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('network errors are status network-error and retried; timeouts are status timeout', async () => {
    // A port nobody listens on: connection refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = tracked({ endpoint: `http://127.0.0.1:${port}`, retry: { baseMs: 1, maxAttempts: 3 } });
    const netErr = await rejection(refused.client.headObject(bucket, 'obj'));
    expect([netErr.status, netErr.code]).toEqual(['network-error', 'NetworkError']);
    expect(netErr.message).toContain('ECONNREFUSED');
    expect(refused.client.requestCount).toBe(3);
    expect(refused.infos.map((i) => i.status)).toEqual(['network-error', 'network-error', 'network-error']);

    // A server that accepts and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const slow = tracked({
        endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        timeoutMs: 150,
        retry: { baseMs: 1, maxAttempts: 2 },
      });
      const timeout = await rejection(slow.client.listObjectsV2(bucket, {}));
      expect([timeout.status, timeout.code]).toEqual(['timeout', 'ClientTimeout']);
      expect(slow.client.requestCount).toBe(2);
    } finally {
      await new Promise<void>((resolve) => {
        silent.close(() => resolve());
        silent.closeAllConnections();
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('keep-alive sockets', () => {
  /** A server that answers nothing until `wanted` requests are open at once (or `giveUpMs` passed), then answers them all. */
  async function gatheringServer(giveUpMs: number) {
    const held: Array<{ end(): void }> = [];
    let wanted = Infinity;
    let peak = 0;
    const releaseAll = (): void => {
      for (const r of held.splice(0)) r.end();
    };
    const server = createServer((req, res) => {
      req.resume();
      res.setHeader('etag', '"E"');
      res.setHeader('content-length', '0');
      held.push(res);
      peak = Math.max(peak, held.length);
      if (held.length >= wanted) releaseAll();
    });
    const timer = setInterval(releaseAll, giveUpMs);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      /** The most requests open at once since the last call. */
      gather(n: number): () => number {
        wanted = n;
        peak = 0;
        return () => peak;
      },
      close: () =>
        new Promise<void>((resolve) => {
          clearInterval(timer);
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }

  it('by default, as many requests go out at once as a capped backfill has objects in flight; an explicit maxSockets caps them', async () => {
    expect(DEFAULT_MAX_SOCKETS).toBeGreaterThanOrEqual(MAX_OBJECTS_IN_FLIGHT_UNDER_CAP);
    const server = await gatheringServer(300);
    try {
      // 300 at once: more than the former default of 128.
      const byDefault = tracked({ endpoint: server.url });
      let peak = server.gather(300);
      await Promise.all(Array.from({ length: 300 }, (_, i) => byDefault.client.headObject('bucket', `k${i}`)));
      expect(peak()).toBe(300);

      const capped = tracked({ endpoint: server.url, maxSockets: 50 });
      peak = server.gather(100);
      await Promise.all(Array.from({ length: 100 }, (_, i) => capped.client.headObject('bucket', `k${i}`)));
      expect(peak()).toBe(50);
    } finally {
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('non-ASCII header values', () => {
  /**
   * Real OSS signs the raw header bytes (see signingValue in http-client.ts). The local server
   * reads headers as latin1 strings and signs their UTF-8 re-encoding instead, so this is
   * checked against a capturing server and an independent V1 computation over the raw bytes.
   */
  it('are sent as UTF-8 bytes and signed over exactly those bytes (V1)', async () => {
    let captured: IncomingMessage['headers'] = {};
    const server = createServer((req, res) => {
      captured = req.headers;
      req.resume();
      const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult><ETag>"AB"</ETag></CopyObjectResult>';
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml), 'x-oss-request-id': 'R' });
      res.end(xml);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const c = tracked({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, signatureVersion: 'v1' });
      const stored = Buffer.from('名字 é', 'utf8').toString('latin1'); // as a HEAD hands it over
      await c.client.copyObject({
        bucket: 'b',
        key: 'k',
        sourceBucket: 'b',
        sourceKey: 'k',
        headers: { 'x-oss-meta-from-head': stored, 'x-oss-meta-text': '文字 ü', 'x-oss-metadata-directive': 'REPLACE' },
      });
      const raw = (name: string) => Buffer.from(String(captured[name]), 'latin1');
      expect(raw('x-oss-meta-from-head').equals(Buffer.from('名字 é', 'utf8'))).toBe(true);
      expect(raw('x-oss-meta-text').equals(Buffer.from('文字 ü', 'utf8'))).toBe(true);

      const ossHeaders = Object.keys(captured)
        .filter((n) => n.startsWith('x-oss-'))
        .sort();
      const stringToSign = Buffer.concat([
        Buffer.from(`PUT\n\n\n${String(captured['x-oss-date'])}\n`),
        ...ossHeaders.flatMap((n) => [Buffer.from(`${n}:`), raw(n), Buffer.from('\n')]),
        Buffer.from('/b/k'),
      ]);
      const expected = createHmac('sha1', TEST_SECRET).update(stringToSign).digest('base64');
      expect(captured['authorization']).toBe(`OSS ${TEST_AK}:${expected}`);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  });
});
