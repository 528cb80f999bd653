/**
 * A second, independent client against the local OSS server: @alicloud/oss20190517, the
 * official generated SDK, which builds, signs (V1, its own code) and parses its requests
 * without ali-oss. Every call that succeeds proves the server accepts that SDK's signature;
 * each case compares what it sees with what ali-oss sees for the same object where cheap.
 */
import { Readable } from 'node:stream';
import Oss20190517, * as $Oss from '@alicloud/oss20190517';
import * as $OpenApi from '@alicloud/openapi-client';
import { RuntimeOptions } from '@alicloud/tea-util';
import { getSignatureV2 } from '@alicloud/oss-util/dist/signature';
import type { Request as TeaRequest } from '@alicloud/tea-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOss, TEST_AK, TEST_SECRET, type OssTestClient, type TestOss } from '../helpers/oss';
import { rejectionOf } from '../helpers/rejection';

/** What the SDK's errors carry (tea's ResponseError) and what ali-oss's carry: the fields asserted. */
type SdkError = { code: string; statusCode: number };
type AliError = { code: string; status: number };

let t: TestOss;
let sdk: Oss20190517;
let ali: OssTestClient;

beforeAll(async () => {
  t = await startTestOss();
  sdk = sdkClient({ signatureVersion: 'v1' });
  ali = t.client();
});
afterAll(async () => {
  await t.close();
});

/** The SDK against the local server, signing with the given version ('v1' is its default). */
function sdkClient(opts: { signatureVersion: 'v1' | 'v2' }): Oss20190517 {
  return new Oss20190517(
    new $OpenApi.Config({
      accessKeyId: TEST_AK,
      accessKeySecret: TEST_SECRET,
      // 'ip' makes the SDK address buckets path-style (http://127.0.0.1:port/<bucket>/<key>):
      // its virtual-host form would need <bucket>.127.0.0.1 to resolve.
      endpoint: new URL(t.server.url).host,
      endpointType: 'ip',
      protocol: 'http',
      regionId: t.server.region,
      signatureVersion: opts.signatureVersion,
    }),
  );
}

function bodyOf(text: string): Readable {
  return Readable.from([Buffer.from(text)]);
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString();
}

/** A fresh bucket per case, made with ali-oss so that the SDK under test only reads and writes in it. */
async function bucketFor(name: string): Promise<string> {
  const bucket = `second-client-${name}`;
  await ali.putBucket(bucket);
  return bucket;
}

function encryptionRule(byDefault: { SSEAlgorithm: string; KMSMasterKeyID?: string; KMSDataEncryption?: string }): $Oss.PutBucketEncryptionRequest {
  return new $Oss.PutBucketEncryptionRequest({
    serverSideEncryptionRule: new $Oss.ServerSideEncryptionRule({
      applyServerSideEncryptionByDefault: new $Oss.ApplyServerSideEncryptionByDefault(byDefault),
    }),
  });
}

/** The SDK's parsed bucket rule, as plain fields (unset ones dropped), to compare with ali-oss's. */
async function sdkRuleOf(bucket: string): Promise<Record<string, string>> {
  const byDefault = (await sdk.getBucketEncryption(bucket)).body.applyServerSideEncryptionByDefault;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(byDefault ?? {})) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

describe('bucket encryption through @alicloud/oss20190517', () => {
  it('gets what ali-oss and the project client put (AES256, KMS with a key id, KMS with SM4) and deletes it', async () => {
    const bucket = await bucketFor('bucket-enc');
    await ali.putBucketEncryption(bucket, { SSEAlgorithm: 'AES256' });
    expect(await sdkRuleOf(bucket)).toEqual({ SSEAlgorithm: 'AES256' });

    await ali.putBucketEncryption(bucket, { SSEAlgorithm: 'KMS', KMSMasterKeyID: 'key-123' });
    expect(await sdkRuleOf(bucket)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: 'key-123' });

    // ali-oss cannot send KMSDataEncryption; the project's own client can.
    await t.httpClient().putBucketEncryption(bucket, { algorithm: 'KMS', keyId: 'key-sm4', dataEncryption: 'SM4' });
    expect(await sdkRuleOf(bucket)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: 'key-sm4', KMSDataEncryption: 'SM4' });

    await sdk.deleteBucketEncryption(bucket);
    const sdkErr = await rejectionOf<SdkError>(sdk.getBucketEncryption(bucket));
    const aliErr = await rejectionOf<AliError>(ali.getBucketEncryption(bucket));
    expect([sdkErr.code, sdkErr.statusCode]).toEqual(['NoSuchServerSideEncryptionRule', 404]);
    expect([aliErr.code, aliErr.status]).toEqual(['NoSuchServerSideEncryptionRule', 404]);
  });

  // Fails: the SDK (1.0.6) serialises the rule without its root element — the body is
  // <ApplyServerSideEncryptionByDefault>…</ApplyServerSideEncryptionByDefault>, because tea-xml
  // makes the map's single key the root — and the local server answers 400 MalformedXML
  // ("does not have the root element ServerSideEncryptionRule"). Whether real OSS accepts that
  // body is unverified; if it does, this is a server divergence and this case turns green.
  it.fails('puts a rule through the SDK itself (body without the ServerSideEncryptionRule root)', async () => {
    const bucket = await bucketFor('bucket-enc-put');
    await sdk.putBucketEncryption(bucket, encryptionRule({ SSEAlgorithm: 'KMS', KMSMasterKeyID: 'key-123', KMSDataEncryption: 'SM4' }));
    expect(await sdkRuleOf(bucket)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: 'key-123', KMSDataEncryption: 'SM4' });
  });
});

describe('objects with SSE headers through @alicloud/oss20190517', () => {
  it('puts with AES256 and reads back the same header and body as ali-oss', async () => {
    const bucket = await bucketFor('put-aes');
    const put = await sdk.putObjectWithOptions(
      bucket,
      'a.txt',
      new $Oss.PutObjectRequest({ body: bodyOf('hello aes') }),
      // Metadata goes as a plain header: the SDK's metaData field sends an `x-oss-meta-*: null`
      // header it does not sign, which any verifying server refuses (SignatureDoesNotMatch).
      new $Oss.PutObjectHeaders({ serverSideEncryption: 'AES256', commonHeaders: { 'x-oss-meta-owner': 'second' } }),
      new RuntimeOptions({}),
    );
    expect(put.statusCode).toBe(200);
    const head = await sdk.headObject(bucket, 'a.txt', new $Oss.HeadObjectRequest({}));
    expect(head.headers['x-oss-server-side-encryption']).toBe('AES256');
    expect(head.headers['x-oss-meta-owner']).toBe('second');
    expect(head.headers.etag).toBe(put.headers.etag);
    const aliHead = await t.client({ bucket }).head('a.txt');
    expect(aliHead.res.headers['x-oss-server-side-encryption']).toBe('AES256');
    expect(aliHead.res.headers.etag).toBe(put.headers.etag);

    const got = await sdk.getObject(bucket, 'a.txt', new $Oss.GetObjectRequest({}));
    expect(got.headers['x-oss-server-side-encryption']).toBe('AES256');
    expect(await readAll(got.body)).toBe('hello aes');
  });

  it('puts with KMS, a key id and SM4 data encryption; head and get report all three', async () => {
    const bucket = await bucketFor('put-kms');
    await sdk.putObjectWithOptions(
      bucket,
      'k.txt',
      new $Oss.PutObjectRequest({ body: bodyOf('hello kms') }),
      new $Oss.PutObjectHeaders({ serverSideEncryption: 'KMS', sseKeyId: 'key-123', sseDataEncryption: 'SM4' }),
      new RuntimeOptions({}),
    );
    const head = await sdk.headObject(bucket, 'k.txt', new $Oss.HeadObjectRequest({}));
    const sseOf = (h: Record<string, string | undefined>): (string | undefined)[] => [
      h['x-oss-server-side-encryption'],
      h['x-oss-server-side-encryption-key-id'],
      h['x-oss-server-side-data-encryption'],
    ];
    expect(sseOf(head.headers)).toEqual(['KMS', 'key-123', 'SM4']);
    expect(sseOf((await t.client({ bucket }).head('k.txt')).res.headers)).toEqual(['KMS', 'key-123', 'SM4']);
    const got = await sdk.getObject(bucket, 'k.txt', new $Oss.GetObjectRequest({}));
    expect(sseOf(got.headers)).toEqual(['KMS', 'key-123', 'SM4']);
    expect(await readAll(got.body)).toBe('hello kms');
  });

  it('heads a missing key as 404, as ali-oss sees it', async () => {
    const bucket = await bucketFor('head-missing');
    const sdkErr = await rejectionOf<SdkError>(sdk.headObject(bucket, 'nope', new $Oss.HeadObjectRequest({})));
    const aliErr = await rejectionOf<AliError>(t.client({ bucket }).head('nope'));
    expect(sdkErr.statusCode).toBe(404);
    expect(aliErr.status).toBe(404);
  });
});

describe('copy and multipart through @alicloud/oss20190517', () => {
  it('copies an object onto itself with KMS and metadata-directive REPLACE, as the re-encryption does', async () => {
    const bucket = await bucketFor('copy-self');
    const aliIn = t.client({ bucket });
    await aliIn.put('plain.txt', Buffer.from('was plain'), { headers: { 'x-oss-meta-keep': 'old' } });
    expect((await aliIn.head('plain.txt')).res.headers['x-oss-server-side-encryption']).toBeUndefined();

    const copied = await sdk.copyObjectWithOptions(
      bucket,
      'plain.txt',
      new $Oss.CopyObjectHeaders({
        copySource: `/${bucket}/plain.txt`,
        metadataDirective: 'REPLACE',
        serverSideEncryption: 'KMS',
        sseKeyId: 'key-123',
        commonHeaders: { 'x-oss-meta-reencrypted': 'yes' },
      }),
      new RuntimeOptions({}),
    );
    expect(copied.body.ETag).toMatch(/^"[0-9A-F]{32}"$/);
    const aliHead = (await aliIn.head('plain.txt')).res.headers;
    expect([aliHead['x-oss-server-side-encryption'], aliHead['x-oss-server-side-encryption-key-id']]).toEqual(['KMS', 'key-123']);
    // REPLACE: the old metadata is gone, the new is there.
    expect([aliHead['x-oss-meta-keep'], aliHead['x-oss-meta-reencrypted']]).toEqual([undefined, 'yes']);
    expect((await aliIn.get('plain.txt')).content.toString()).toBe('was plain');
  });

  it('initiates with SSE, copies a byte range of another object as a part, and completes', async () => {
    const bucket = await bucketFor('multipart');
    const aliIn = t.client({ bucket });
    const source = Buffer.alloc(300 * 1024, 'abcdefghij');
    await aliIn.put('source.bin', source);

    const init = await sdk.initiateMultipartUploadWithOptions(
      bucket,
      'target.bin',
      new $Oss.InitiateMultipartUploadRequest({}),
      new $Oss.InitiateMultipartUploadHeaders({ serverSideEncryption: 'KMS', sseKeyId: 'key-mp', sseDataEncryption: 'SM4' }),
      new RuntimeOptions({}),
    );
    const uploadId = init.body.uploadId ?? '';
    expect([init.body.bucket, init.body.key, uploadId.length > 0]).toEqual([bucket, 'target.bin', true]);
    expect(init.headers['x-oss-server-side-encryption']).toBe('KMS');

    const firstPartLength = 200 * 1024;
    for (const [partNumber, range] of [
      [1, `bytes=0-${firstPartLength - 1}`],
      [2, `bytes=${firstPartLength}-${source.length - 1}`],
    ] as const) {
      const copied = await sdk.uploadPartCopyWithOptions(
        bucket,
        'target.bin',
        new $Oss.UploadPartCopyRequest({ partNumber, uploadId }),
        new $Oss.UploadPartCopyHeaders({ copySource: `/${bucket}/source.bin`, copySourceRange: range }),
        new RuntimeOptions({}),
      );
      expect(copied.body.ETag).toMatch(/^"[0-9A-F]{32}"$/);
    }

    // Completed with x-oss-complete-all rather than a part list: the SDK (1.0.6) serialises
    // CompleteMultipartUpload as one <Part> root holding every part's ETag and PartNumber
    // side by side (no <CompleteMultipartUpload>, parts merged), which no OSS can read; the
    // parts it would list are exactly the ones uploaded, so the result is the same.
    const done = await sdk.completeMultipartUploadWithOptions(
      bucket,
      'target.bin',
      new $Oss.CompleteMultipartUploadRequest({ uploadId }),
      new $Oss.CompleteMultipartUploadHeaders({ completeAll: 'yes' }),
      new RuntimeOptions({}),
    );
    expect([done.body.bucket, done.body.key]).toEqual([bucket, 'target.bin']);
    expect(done.body.ETag).toMatch(/^"[0-9A-F]{32}-2"$/);

    const aliHead = (await aliIn.head('target.bin')).res.headers;
    expect([aliHead['x-oss-server-side-encryption'], aliHead['x-oss-server-side-encryption-key-id'], aliHead['x-oss-server-side-data-encryption']]).toEqual([
      'KMS',
      'key-mp',
      'SM4',
    ]);
    expect(aliHead.etag).toBe(done.body.ETag);
    expect(Buffer.compare((await aliIn.get('target.bin')).content, source)).toBe(0);
  });
});

describe('listing, tagging and ACL through @alicloud/oss20190517', () => {
  /**
   * Four keys under logs/ and one outside, put with ali-oss; the bucket's name. Pages of two
   * keep every page at two entries: the SDK (1.0.6) cannot parse a page holding a single
   * <Contents> ("type of contents is mismatch, expect array, but object"), whoever serves it.
   */
  async function listingBucket(name: string): Promise<string> {
    const bucket = await bucketFor(name);
    const aliIn = t.client({ bucket });
    for (const key of ['logs/a', 'logs/b', 'logs/c', 'logs/d', 'other/x']) await aliIn.put(key, Buffer.from(key));
    return bucket;
  }

  /** ali-oss's pages of two under logs/, joined by the continuation token. */
  async function aliPagesOf(bucket: string): Promise<string[][]> {
    const aliIn = t.client({ bucket });
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page = await aliIn.listV2({ prefix: 'logs/', 'max-keys': 2, ...(token ? { 'continuation-token': token } : {}) });
      pages.push((page.objects ?? []).map((o: { name: string }) => o.name));
      token = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (token !== undefined);
    return pages;
  }

  async function sdkPage(bucket: string, from: { continuationToken?: string; startAfter?: string }): Promise<$Oss.ListObjectsV2ResponseBody> {
    return (await sdk.listObjectsV2(bucket, new $Oss.ListObjectsV2Request({ prefix: 'logs/', maxKeys: 2, ...from }))).body;
  }

  it('lists V2 under a prefix: the first page and its token, and the same pages as ali-oss when paging by start-after', async () => {
    const bucket = await listingBucket('list-v2');
    const first = await sdkPage(bucket, {});
    expect([first.prefix, first.maxKeys, first.keyCount, first.isTruncated]).toEqual(['logs/', 2, 2, true]);
    expect(first.nextContinuationToken).toBeTruthy();

    const sdkPages: string[][] = [];
    let page = first;
    for (;;) {
      const keys = (page.contents ?? []).map((o) => o.key ?? '');
      sdkPages.push(keys);
      if (!page.isTruncated) break;
      page = await sdkPage(bucket, { startAfter: keys[keys.length - 1] });
    }
    expect(sdkPages).toEqual([['logs/a', 'logs/b'], ['logs/c', 'logs/d']]);
    expect(await aliPagesOf(bucket)).toEqual(sdkPages);
  });

  // The SDK (1.0.6, gateway-oss 0.0.8) leaves continuation-token out of the V1
  // CanonicalizedResource. Real OSS signs it: ali-oss sends the token as a signed
  // sub-resource, and its own suite lists page two that way against real OSS (test/node/
  // object.test.js "should list with continuation-token"), so that SDK's page two cannot
  // verify there either. The local server agrees with OSS; paging by start-after (above) works.
  it("refuses the SDK's page two, whose signature leaves out the continuation token", async () => {
    const bucket = await listingBucket('list-v2-token');
    const first = await sdkPage(bucket, {});
    expect(first.nextContinuationToken).toBeTruthy();
    const err = await rejectionOf<SdkError>(sdkPage(bucket, { continuationToken: first.nextContinuationToken }));
    expect([err.code, err.statusCode]).toEqual(['SignatureDoesNotMatch', 403]);
    expect((await aliPagesOf(bucket))[1]).toEqual(['logs/c', 'logs/d']); // the same token, signed, works
  });

  // Tags of an untagged object are left to ali-oss alone: the SDK (1.0.6) cannot parse the
  // empty <TagSet/> OSS answers ("type of tagSet is mismatch, expect object, but string").
  it('gets the tags ali-oss put, as ali-oss reads them', async () => {
    const bucket = await bucketFor('tagging');
    const aliIn = t.client({ bucket });
    await aliIn.put('tagged', Buffer.from('t'));
    await aliIn.putObjectTagging('tagged', { team: 'storage', 'cost center': 'a+b/c' });
    await aliIn.put('untagged', Buffer.from('u'));

    const tagsOf = async (key: string): Promise<Record<string, string>> => {
      const body = (await sdk.getObjectTagging(bucket, key, new $Oss.GetObjectTaggingRequest({}))).body;
      return Object.fromEntries((body.tagSet?.tags ?? []).map((tag) => [tag.key ?? '', tag.value ?? '']));
    };
    expect(await tagsOf('tagged')).toEqual({ team: 'storage', 'cost center': 'a+b/c' });
    expect((await aliIn.getObjectTagging('tagged')).tag).toEqual({ team: 'storage', 'cost center': 'a+b/c' });
    expect((await aliIn.getObjectTagging('untagged')).tag).toEqual({});
  });

  it('gets the object ACL, default and set, as ali-oss reads it', async () => {
    const bucket = await bucketFor('acl');
    const aliIn = t.client({ bucket });
    await aliIn.put('default', Buffer.from('d'));
    await aliIn.put('private', Buffer.from('p'));
    await aliIn.putACL('private', 'private');

    const aclOf = async (key: string): Promise<string | undefined> =>
      (await sdk.getObjectAcl(bucket, key, new $Oss.GetObjectAclRequest({}))).body.accessControlList?.ACL;
    expect(await aclOf('default')).toBe('default');
    expect((await aliIn.getACL('default')).acl).toBe('default');
    expect(await aclOf('private')).toBe('private');
    expect((await aliIn.getACL('private')).acl).toBe('private');
    const owner = (await sdk.getObjectAcl(bucket, 'private', new $Oss.GetObjectAclRequest({}))).body.owner;
    expect((await aliIn.getACL('private')).owner.id).toBe(owner?.ID);
  });
});

describe('OSS2 (V2) signatures', () => {
  /**
   * A request signed with V2 by @alicloud/oss-util's getSignatureV2 (Alibaba's own code, not
   * ours), sent with fetch: path-style, headers lower-case as the signer reads them.
   */
  async function sendV2(req: {
    method: string;
    bucket: string;
    key?: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: string;
    additionalHeaders?: string[];
    tamper?: (url: URL) => void;
  }): Promise<Response> {
    const headers: Record<string, string> = { date: new Date().toUTCString(), ...req.headers };
    const query = req.query ?? {};
    const pathname = '/' + (req.key ?? '');
    const additional = req.additionalHeaders ?? [];
    const { signature } = getSignatureV2({ method: req.method, pathname, query, headers } as TeaRequest, req.bucket, TEST_SECRET, additional);
    headers['authorization'] =
      `OSS2 AccessKeyId:${TEST_AK},` + (additional.length > 0 ? `AdditionalHeaders:${additional.join(';')},` : '') + `Signature:${signature}`;
    const url = new URL(`${t.server.url}/${req.bucket}/${(req.key ?? '').split('/').map(encodeURIComponent).join('/')}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    req.tamper?.(url);
    return fetch(url, { method: req.method, headers, ...(req.body !== undefined ? { body: req.body } : {}) });
  }

  it('puts, reads and lists with V2-signed requests, as ali-oss sees them', async () => {
    const bucket = await bucketFor('sign-v2');
    const key = 'dir/a b ü.txt';
    const put = await sendV2({
      method: 'PUT',
      bucket,
      key,
      headers: { 'content-type': 'text/plain', 'x-oss-server-side-encryption': 'AES256', 'x-oss-meta-signed': 'v2' },
      body: 'signed with v2',
    });
    expect(put.status).toBe(200);
    const head = await t.client({ bucket }).head(key);
    expect(head.res.headers['x-oss-server-side-encryption']).toBe('AES256');
    expect(head.meta).toEqual({ signed: 'v2' });

    // A signed non-x-oss header (AdditionalHeaders) and a query parameter V1 would not sign.
    const ranged = await sendV2({
      method: 'GET',
      bucket,
      key,
      query: { 'response-content-type': 'application/x-v2' },
      headers: { range: 'bytes=0-5' },
      additionalHeaders: ['range'],
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-type')).toBe('application/x-v2');
    expect(await ranged.text()).toBe('signed');

    const listed = await sendV2({ method: 'GET', bucket, query: { 'list-type': '2', prefix: 'dir/' } });
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain('<Key>dir/a b ü.txt</Key>');
  });

  it('signs every query parameter: one changed after signing is SignatureDoesNotMatch', async () => {
    const bucket = await bucketFor('sign-v2-query');
    const res = await sendV2({
      method: 'GET',
      bucket,
      query: { 'list-type': '2', prefix: 'a/' },
      tamper: (url) => url.searchParams.set('prefix', 'b/'),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  // @alicloud/oss20190517 1.0.6 offers signatureVersion 'v2', but its gateway
  // (@alicloud/gateway-oss 0.0.8, getSignatureV2) returns an empty signature: it sends
  // `OSS2 AccessKeyId:<ak>,Signature:` and no server that checks signatures can accept it.
  it("refuses the generated SDK's empty V2 signature as SignatureDoesNotMatch", async () => {
    const bucket = await bucketFor('sign-v2-sdk');
    const v2 = sdkClient({ signatureVersion: 'v2' });
    const err = await rejectionOf<SdkError>(v2.putObject(bucket, 'v2.txt', new $Oss.PutObjectRequest({ body: bodyOf('x') })));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('SignatureDoesNotMatch');
    expect((await rejectionOf<AliError>(t.client({ bucket }).head('v2.txt'))).status).toBe(404); // nothing written
  });
});
