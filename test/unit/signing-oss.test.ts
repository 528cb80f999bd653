/**
 * OSS V1/V4 signing and verification against the real ali-oss client: a loopback server
 * captures what ali-oss sends, and our code must accept it and reproduce its Authorization
 * header byte for byte. Known-answer vectors from the official Go SDK v2 (which is tested
 * against real OSS) pin the algorithms independently of ali-oss.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OSS_V1_SIGNED_SUBRESOURCES,
  authorizationV1,
  authorizationV4,
  signOssRequest,
  stringToSignV1,
  type Credentials,
  type OssRequest,
} from '../../shared/signing';
import { parseOssRequest, verifyOssRequest, type VerifyResult } from '../../local/oss/verify';

const AK = 'LTAI5tSigningUnitTestKey';
const SECRET = 'SigningUnitTestSecret+/=0123456789abcdef';
const TOKEN = 'CAIS.sts+token/with=odd~chars';
const REGION = 'cn-hangzhou';
const BUCKET = 'sig-test-bucket';
const UPLOAD_ID = 'up id+/=%7E中';
const KEYS = ['a b+c%2F/d 中文 ü.txt', "dir/it's (1)*!~.bin", 'plain'];

interface Captured {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** The ali-oss 6.23.0 methods used here, typed as the JS accepts them (@types/ali-oss lacks putObjectTagging, versionId, additionalHeaders). */
interface Client {
  put(name: string, body: Buffer, options?: object): Promise<unknown>;
  get(name: string, options?: object): Promise<unknown>;
  head(name: string, options?: object): Promise<unknown>;
  delete(name: string, options?: object): Promise<unknown>;
  copy(name: string, source: string, options?: object): Promise<unknown>;
  putACL(name: string, acl: string, options?: object): Promise<unknown>;
  getACL(name: string, options?: object): Promise<unknown>;
  putObjectTagging(name: string, tags: Record<string, string>, options?: object): Promise<unknown>;
  listV2(query: object, options?: object): Promise<unknown>;
  initMultipartUpload(name: string, options?: object): Promise<unknown>;
  uploadPart(name: string, uploadId: string, partNo: number, file: string, start: number, end: number, options?: object): Promise<unknown>;
  getBucketACL(name: string, options?: object): Promise<unknown>;
  listBuckets(query: object, options?: object): Promise<unknown>;
}

let server: http.Server;
let endpoint = '';
let captured: Captured[] = [];
let tmpDir = '';
let partFile = '';

function xml(res: http.ServerResponse, body: string): void {
  res.setHeader('content-type', 'application/xml');
  res.end('<?xml version="1.0" encoding="UTF-8"?>\n' + body);
}

/** Answers just well enough that ali-oss gets past response parsing; only the request matters. */
function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const host = req.headers.host ?? '';
  res.setHeader('x-oss-request-id', 'TESTREQUEST');
  res.setHeader('etag', '"5D41402ABC4B2A76B9719D911017C592"');
  const owner = '<Owner><ID>1</ID><DisplayName>1</DisplayName></Owner>';
  if (req.method === 'HEAD') return void res.end();
  if (req.method === 'DELETE') {
    res.statusCode = 204;
    return void res.end();
  }
  if (req.method === 'GET' && host.startsWith('.')) {
    return xml(res, `<ListAllMyBucketsResult>${owner}<Buckets></Buckets></ListAllMyBucketsResult>`);
  }
  if (req.method === 'GET' && /[?&]acl(=|&|$)/.test(url)) {
    return xml(res, `<AccessControlPolicy>${owner}<AccessControlList><Grant>private</Grant></AccessControlList></AccessControlPolicy>`);
  }
  if (req.method === 'GET' && url.includes('list-type=2')) {
    return xml(
      res,
      `<ListBucketResult><Name>${BUCKET}</Name><Prefix></Prefix><MaxKeys>10</MaxKeys><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
    );
  }
  if (req.method === 'POST' && url.includes('uploads')) {
    return xml(
      res,
      `<InitiateMultipartUploadResult><Bucket>${BUCKET}</Bucket><Key>k</Key><UploadId>${UPLOAD_ID}</UploadId></InitiateMultipartUploadResult>`,
    );
  }
  if (req.method === 'PUT' && req.headers['x-oss-copy-source']) {
    return xml(
      res,
      '<CopyObjectResult><ETag>"5D41402ABC4B2A76B9719D911017C592"</ETag><LastModified>2024-01-01T00:00:00.000Z</LastModified></CopyObjectResult>',
    );
  }
  if (req.method === 'GET') {
    res.setHeader('content-type', 'application/octet-stream');
    return void res.end('hello');
  }
  res.end();
}

beforeAll(async () => {
  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'signing-oss-'));
  partFile = path.join(tmpDir, 'part.bin');
  writeFileSync(partFile, 'hello world');
  server = http.createServer((req, res) => {
    captured.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmpDir, { recursive: true, force: true });
});

interface Flavour {
  name: string;
  v4: boolean;
  sts: boolean;
}
const FLAVOURS: Flavour[] = [
  { name: 'V1', v4: false, sts: false },
  { name: 'V1 + STS', v4: false, sts: true },
  { name: 'V4', v4: true, sts: false },
  { name: 'V4 + STS', v4: true, sts: true },
];

function client(f: Flavour): Client {
  const opts = {
    accessKeyId: AK,
    accessKeySecret: SECRET,
    bucket: BUCKET,
    region: `oss-${REGION}`,
    endpoint,
    ...(f.v4 ? { authorizationV4: true } : {}),
    // refreshSTSToken too: a bare stsToken makes ali-oss warn on every request
    ...(f.sts ? { stsToken: TOKEN, refreshSTSToken: async () => ({ accessKeyId: AK, accessKeySecret: SECRET, stsToken: TOKEN }) } : {}),
  };
  return new OSS(opts) as unknown as Client;
}

function credsFor(f: { sts: boolean }): Credentials {
  return f.sts ? { accessKeyId: AK, accessKeySecret: SECRET, securityToken: TOKEN } : { accessKeyId: AK, accessKeySecret: SECRET };
}

/** Run one client call and return the single request it sent. */
async function capture(run: () => Promise<unknown>): Promise<Captured> {
  captured = [];
  try {
    await run();
  } catch {
    // The canned answer may not satisfy every client parser; the request is what we test.
  }
  expect(captured).toHaveLength(1);
  return captured[0] as Captured;
}

function parse(c: Captured): OssRequest {
  return parseOssRequest(c.method, c.url, c.headers);
}

const lookup = (ak: string): string | undefined => (ak === AK ? SECRET : undefined);

function verify(req: OssRequest, opts: { now?: Date; secret?: string; region?: string; maxSkewMs?: number } = {}): VerifyResult {
  return verifyOssRequest(req, {
    lookupSecret: opts.secret === undefined ? lookup : (ak) => (ak === AK ? opts.secret : undefined),
    region: opts.region ?? REGION,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.maxSkewMs !== undefined ? { maxSkewMs: opts.maxSkewMs } : {}),
  });
}

/** Change one character (XOR of its low bit): the smallest possible edit. */
function flip(s: string, at = 0): string {
  return s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ 1) + s.slice(at + 1);
}

function header(req: OssRequest, name: string): string {
  const v = req.headers[name];
  if (typeof v !== 'string') throw new Error(`no ${name} header`);
  return v;
}

function withHeaders(req: OssRequest, headers: Record<string, string | undefined>): OssRequest {
  return { ...req, headers: { ...req.headers, ...headers } };
}

/** Date of the captured request in ms: V1 carries RFC 1123, V4 ISO basic. */
function requestTime(req: OssRequest): number {
  const d = header(req, 'x-oss-date');
  if (d.length !== 16) return Date.parse(d);
  return Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13), +d.slice(13, 15));
}

/** AdditionalHeaders named in a V4 Authorization header. */
function additionalOf(auth: string): string[] | undefined {
  const m = /AdditionalHeaders=([^,]*)/.exec(auth);
  return m?.[1] ? m[1].split(';') : undefined;
}

interface Op {
  name: string;
  key?: string; // the object key the request must name (undefined: bucket or service level)
  service?: boolean;
  run: (c: Client, key: string) => Promise<unknown>;
  /** V1: the CanonicalizedResource suffix that must be signed. */
  resourceSuffix?: string;
}

function opsFor(key: string): Op[] {
  return [
    {
      name: 'put with meta, SSE and cache headers',
      key,
      run: (c) =>
        c.put(key, Buffer.from('hello'), {
          meta: { color: 'blue' },
          headers: { 'x-oss-server-side-encryption': 'AES256', 'Cache-Control': 'no-cache' },
        }),
    },
    {
      name: 'put with AdditionalHeaders',
      key,
      run: (c) =>
        c.put(key, Buffer.from('hello'), { additionalHeaders: ['Content-Length', 'user-agent', 'x-oss-meta-ignored', 'content-type'] }),
    },
    { name: 'get', key, run: (c) => c.get(key) },
    {
      name: 'get with versionId and x-oss-process',
      key,
      run: (c) => c.get(key, { versionId: 'CAEQ+/=v1', process: 'image/resize,w_100' }),
      resourceSuffix: '?versionId=CAEQ+/=v1&x-oss-process=image/resize,w_100',
    },
    { name: 'head', key, run: (c) => c.head(key) },
    { name: 'head with versionId', key, run: (c) => c.head(key, { versionId: 'v 2' }), resourceSuffix: '?versionId=v 2' },
    { name: 'delete', key, run: (c) => c.delete(key) },
    {
      name: 'copy with meta and content-type',
      key: key + '.copy',
      run: (c) => c.copy(key + '.copy', key, { meta: { a: 'b' }, headers: { 'Content-Type': 'text/x-test' } }),
    },
    { name: 'putACL', key, run: (c) => c.putACL(key, 'private'), resourceSuffix: '?acl' },
    { name: 'getACL', key, run: (c) => c.getACL(key), resourceSuffix: '?acl' },
    { name: 'putObjectTagging', key, run: (c) => c.putObjectTagging(key, { project: 'sse', 'a b': 'c+d' }), resourceSuffix: '?tagging' },
    {
      name: 'listV2 with prefix and continuation-token',
      run: (c) => c.listV2({ prefix: 'a b+/中', 'max-keys': '10', delimiter: '/', 'continuation-token': 'tok en+/=' }),
      resourceSuffix: `/${BUCKET}/?continuation-token=tok en+/=`,
    },
    {
      name: 'initMultipartUpload',
      key,
      run: (c) => c.initMultipartUpload(key, { headers: { 'x-oss-server-side-encryption': 'KMS' } }),
      resourceSuffix: '?uploads',
    },
    {
      name: 'uploadPart',
      key,
      run: (c) => c.uploadPart(key, UPLOAD_ID, 3, partFile, 0, 5),
      resourceSuffix: `?partNumber=3&uploadId=${UPLOAD_ID}`,
    },
    { name: 'getBucketACL', run: (c) => c.getBucketACL(BUCKET), resourceSuffix: `/${BUCKET}/?acl` },
    {
      name: 'listBuckets (service level)',
      service: true,
      run: (c) => c.listBuckets({ prefix: 'sig', 'max-keys': 5 }),
      resourceSuffix: '\n/',
    },
  ];
}

describe.each(FLAVOURS)('ali-oss requests signed with $name', (f) => {
  const creds = credsFor(f);
  const cases = KEYS.flatMap((key) => opsFor(key).map((op) => ({ ...op, title: `${op.name} — ${JSON.stringify(key)}`, objectKey: key })))
    // bucket- and service-level calls do not depend on the key: run them once
    .filter((op, i, all) => op.key !== undefined || all.findIndex((o) => o.name === op.name) === i);

  it.each(cases)('$title', async (op) => {
    const raw = await capture(() => op.run(client(f), op.objectKey));
    const req = parse(raw);

    expect(req.bucket).toBe(op.service ? undefined : BUCKET);
    expect(req.key).toBe(op.key);
    const result = verify(req);
    expect(result).toEqual(
      f.sts
        ? { ok: true, accessKeyId: AK, securityToken: TOKEN, version: f.v4 ? 'v4' : 'v1' }
        : { ok: true, accessKeyId: AK, version: f.v4 ? 'v4' : 'v1' },
    );

    const sent = header(req, 'authorization');
    if (f.v4) {
      expect(sent.startsWith('OSS4-HMAC-SHA256 ')).toBe(true);
      expect(authorizationV4(req, creds, `oss-${REGION}`, additionalOf(sent))).toBe(sent);
      expect(authorizationV4(req, creds, REGION, additionalOf(sent))).toBe(sent);
    } else {
      expect(sent.startsWith('OSS ')).toBe(true);
      expect(authorizationV1(req, creds)).toBe(sent);
      if (op.resourceSuffix) expect(stringToSignV1(req).endsWith(op.resourceSuffix)).toBe(true);
    }
    expect(req.headers['x-oss-security-token']).toBe(f.sts ? TOKEN : undefined);
  });

  it('AdditionalHeaders reach the Authorization header lower-cased, de-duplicated and without default-signed names', async () => {
    const raw = await capture(() =>
      client(f).put('x', Buffer.from('hello'), {
        additionalHeaders: ['Content-Length', 'user-agent', 'x-oss-meta-ignored', 'content-type'],
      }),
    );
    const auth = header(parse(raw), 'authorization');
    if (f.v4) expect(auth).toContain(',AdditionalHeaders=content-length;user-agent,Signature=');
    else expect(auth).not.toContain('AdditionalHeaders');
  });
});

describe.each([
  { name: 'V1', v4: false },
  { name: 'V4', v4: true },
])('rejections ($name)', ({ v4 }) => {
  const f: Flavour = { name: '', v4, sts: true };
  let put: OssRequest;
  let part: OssRequest;
  let list: OssRequest;

  beforeAll(async () => {
    put = parse(await capture(() => client(f).put(KEYS[0] as string, Buffer.from('hello'), { meta: { color: 'blue' } })));
    part = parse(await capture(() => client(f).uploadPart(KEYS[0] as string, UPLOAD_ID, 1, partFile, 0, 5)));
    list = parse(await capture(() => client(f).listV2({ prefix: 'p/', 'continuation-token': 'tok' })));
  });

  const expectMismatch = (r: VerifyResult) => expect(r).toMatchObject({ ok: false, status: 403, code: 'SignatureDoesNotMatch' });

  it('accepts the untouched requests (baseline for every mutation below)', () => {
    for (const r of [put, part, list]) expect(verify(r).ok).toBe(true);
  });

  it('a changed method fails', () => {
    expectMismatch(verify({ ...put, method: flip(put.method, 2) }));
  });

  it('a changed x-oss-meta-* value fails', () => {
    expectMismatch(verify(withHeaders(put, { 'x-oss-meta-color': flip(header(put, 'x-oss-meta-color')) })));
  });

  it('an added x-oss-* header fails', () => {
    expectMismatch(verify(withHeaders(put, { 'x-oss-object-acl': 'public-read' })));
  });

  it('a changed content-type fails', () => {
    expectMismatch(verify(withHeaders(put, { 'content-type': flip(header(put, 'content-type'), 3) })));
  });

  it('a changed content-md5 fails', () => {
    expectMismatch(verify(withHeaders(put, { 'content-md5': flip(header(put, 'content-md5'), 5) })));
  });

  it('a changed security token fails (it is a signed header)', () => {
    expectMismatch(verify(withHeaders(put, { 'x-oss-security-token': flip(TOKEN, 4) })));
  });

  it('a changed key fails, at its first, a middle and its last character', () => {
    const key = put.key as string;
    for (const at of [0, 6, key.length - 1]) expectMismatch(verify({ ...put, key: flip(key, at) }));
  });

  it('a changed bucket fails', () => {
    expectMismatch(verify({ ...put, bucket: flip(put.bucket as string, 1) }));
  });

  it('a changed or dropped signed sub-resource fails', () => {
    expectMismatch(verify({ ...part, query: { ...part.query, uploadId: flip(UPLOAD_ID, 1) } }));
    expectMismatch(verify({ ...part, query: { ...part.query, partNumber: '2' } }));
    const { partNumber: _dropped, ...rest } = part.query;
    expectMismatch(verify({ ...part, query: rest }));
    expectMismatch(verify({ ...list, query: { ...list.query, 'continuation-token': 'toc' } }));
  });

  it(v4 ? 'V4 signs plain query parameters too (prefix)' : 'V1 does not sign plain query parameters (prefix), as OSS', () => {
    const r = verify({ ...list, query: { ...list.query, prefix: 'q/' } });
    if (v4) expectMismatch(r);
    else expect(r.ok).toBe(true);
  });

  it('headers outside the signature (user-agent, host) may change', () => {
    expect(verify(withHeaders(put, { 'user-agent': 'other', host: 'elsewhere' })).ok).toBe(true);
  });

  // See docs/oss-behaviour.md#signatures (aliyun-oss-python-sdk test_sign_v1_x_oss_date).
  it.runIf(!v4)('V1 with both Date and x-oss-date signs and checks the clock against x-oss-date only', () => {
    const hourOff = new Date(requestTime(put) - 3_600_000).toUTCString();
    expect(verify(withHeaders(put, { date: hourOff })).ok).toBe(true);
  });

  it('a wrong secret fails with SignatureDoesNotMatch', () => {
    expectMismatch(verify(put, { secret: flip(SECRET, 7) }));
  });

  it('a changed signature fails', () => {
    const auth = header(put, 'authorization');
    expectMismatch(verify(withHeaders(put, { authorization: flip(auth, auth.length - 2) })));
  });

  it('an unknown access key id gives 403 InvalidAccessKeyId', () => {
    const auth = header(put, 'authorization').replace(AK, 'LTAI5tSomebodyElse');
    expect(verify(withHeaders(put, { authorization: auth }))).toMatchObject({ ok: false, status: 403, code: 'InvalidAccessKeyId' });
  });

  it('a missing Authorization header gives 403 AccessDenied', () => {
    expect(verify(withHeaders(put, { authorization: undefined }))).toMatchObject({ ok: false, status: 403, code: 'AccessDenied' });
  });

  it('a malformed Authorization header gives 400 InvalidArgument', () => {
    for (const authorization of [
      'Bearer abc',
      'OSS no-colon',
      'OSS4-HMAC-SHA256 Signature=abc',
      'OSS4-HMAC-SHA256 Credential=ak/20240101/cn-hangzhou,Signature=abc',
    ]) {
      expect(verify(withHeaders(put, { authorization }))).toMatchObject({ ok: false, status: 400, code: 'InvalidArgument' });
    }
  });

  it('a request 16 minutes off either way gives 403 RequestTimeTooSkewed; 14 minutes passes', () => {
    const t = requestTime(put);
    expect(Number.isNaN(t)).toBe(false);
    for (const off of [16, -16]) {
      expect(verify(put, { now: new Date(t + off * 60_000) })).toMatchObject({ ok: false, status: 403, code: 'RequestTimeTooSkewed' });
    }
    for (const off of [14, -14]) expect(verify(put, { now: new Date(t + off * 60_000) }).ok).toBe(true);
    expect(verify(put, { now: new Date(t + 2 * 60_000), maxSkewMs: 60_000 })).toMatchObject({ code: 'RequestTimeTooSkewed' });
  });

  it('an unparseable or missing date gives 403 AccessDenied', () => {
    expect(verify(withHeaders(put, { 'x-oss-date': 'yesterday' }))).toMatchObject({ ok: false, status: 403, code: 'AccessDenied' });
    expect(verify(withHeaders(put, { 'x-oss-date': undefined }))).toMatchObject({ ok: false, status: 403, code: 'AccessDenied' });
  });

  it('the failure message never contains the secret, even when a header carries it', () => {
    const r = verify(withHeaders(put, { 'x-oss-meta-leak': SECRET }));
    expectMismatch(r);
    if (r.ok) throw new Error('unreachable');
    expect(r.message).not.toContain(SECRET);
    expect(r.message).toContain('[redacted]');
    expect(r.message).toContain('x-oss-meta-color:blue'); // what we signed is shown, for debugging
  });

  if (v4) {
    it('V4: a signing region other than the server region gives 400 InvalidArgument', () => {
      expect(verify(put, { region: 'cn-shanghai' })).toMatchObject({ ok: false, status: 400, code: 'InvalidArgument' });
      expect(verify(put, { region: 'oss-cn-hangzhou' }).ok).toBe(true); // ali-oss's region spelling is accepted too
    });

    it('V4: x-oss-content-sha256 is required, and a changed value fails', () => {
      expect(verify(withHeaders(put, { 'x-oss-content-sha256': undefined }))).toMatchObject({
        ok: false,
        status: 400,
        code: 'InvalidArgument',
      });
      expectMismatch(
        verify(withHeaders(put, { 'x-oss-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' })),
      );
    });

    it('V4: AdditionalHeaders naming a header the request lacks gives 400 InvalidArgument; a changed additional header fails', async () => {
      const auth = header(put, 'authorization').replace(',Signature=', ',AdditionalHeaders=x-missing,Signature=');
      expect(verify(withHeaders(put, { authorization: auth }))).toMatchObject({ ok: false, status: 400, code: 'InvalidArgument' });
      const extra = parse(await capture(() => client(f).put('k', Buffer.from('hello'), { additionalHeaders: ['user-agent'] })));
      expect(verify(extra).ok).toBe(true);
      expectMismatch(verify(withHeaders(extra, { 'user-agent': 'other' })));
    });

    it('V4: a Credential date other than the x-oss-date day gives 400 InvalidArgument', () => {
      const auth = header(put, 'authorization').replace(/\/(\d{8})\//, '/19990101/');
      expect(verify(withHeaders(put, { authorization: auth }))).toMatchObject({ ok: false, status: 400, code: 'InvalidArgument' });
    });
  }
});

describe('known-answer vectors from the official Go SDK v2 (oss/signer/signer_test.go)', () => {
  const goCreds: Credentials = { accessKeyId: 'ak', accessKeySecret: 'sk' };
  const goLookup = (ak: string) => (ak === 'ak' ? 'sk' : undefined);
  const v1Date = 'Wed, 28 Dec 2022 10:27:41 GMT';
  const v1Headers = () => ({
    'content-md5': 'eB5eJF1ptWaXm4bijSPyxw==',
    'content-type': 'text/html',
    'x-oss-meta-author': 'alice',
    'x-oss-meta-magic': 'abracadabra',
    'x-oss-date': v1Date,
    date: v1Date,
  });

  it.each<{ query: Record<string, string>; sts: string; auth: string }>([
    { query: {}, sts: '/examplebucket/nelson', auth: 'OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=' },
    { query: { acl: '' }, sts: '/examplebucket/nelson?acl', auth: 'OSS ak:/afkugFbmWDQ967j1vr6zygBLQk=' },
  ])('V1 object PUT $sts', ({ query, sts, auth }) => {
    const req: OssRequest = { method: 'PUT', bucket: 'examplebucket', key: 'nelson', query, headers: v1Headers() };
    expect(stringToSignV1(req)).toBe(
      `PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\n${v1Date}\nx-oss-date:${v1Date}\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n${sts}`,
    );
    expect(authorizationV1(req, goCreds)).toBe(auth);
    const verified = verifyOssRequest(
      { ...req, headers: { ...req.headers, authorization: auth } },
      { lookupSecret: goLookup, region: REGION, now: new Date(v1Date) },
    );
    expect(verified).toEqual({ ok: true, accessKeyId: 'ak', version: 'v1' });
  });

  it('V1 bucket GET signs resourceGroup and acl but not other parameters', () => {
    const req: OssRequest = {
      method: 'GET',
      bucket: 'examplebucket',
      query: { resourceGroup: '', 'non-resousce': 'null' },
      headers: { 'x-oss-date': v1Date },
    };
    expect(stringToSignV1(req)).toBe(`GET\n\n\n${v1Date}\nx-oss-date:${v1Date}\n/examplebucket/?resourceGroup`);
    expect(authorizationV1(req, goCreds)).toBe('OSS ak:vkQmfuUDyi1uDi3bKt67oemssIs=');
    expect(authorizationV1({ ...req, query: { resourceGroup: '', acl: '' } }, goCreds)).toBe('OSS ak:x3E5TgOvl/i7PN618s5mEvpJDYk=');
  });

  const isoBasic = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/[-:]|\.\d+/g, '');
  const v4Query = { param1: 'value1', '+param1': 'value3', '|param1': 'value4', '+param2': '', '|param2': '', param2: '' };
  const v4Request = (epochSeconds: number, extra: Record<string, string> = {}): OssRequest => ({
    method: 'PUT',
    bucket: 'bucket',
    key: '1234+-/123/1.txt',
    query: { ...v4Query },
    headers: {
      'x-oss-head1': 'value',
      abc: 'value',
      zabc: 'value',
      xyz: 'value',
      'content-type': 'text/plain',
      'x-oss-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-oss-date': isoBasic(epochSeconds),
      date: new Date(epochSeconds * 1000).toUTCString(),
      ...extra,
    },
  });

  it.each<{ name: string; t: number; extra: Record<string, string>; creds: Credentials; additional: string[] | undefined; auth: string }>([
    {
      name: 'plain',
      t: 1702743657,
      extra: {},
      creds: goCreds,
      additional: undefined,
      auth: 'OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe',
    },
    {
      name: 'STS token',
      t: 1702784856,
      extra: { 'x-oss-security-token': 'token' },
      creds: { ...goCreds, securityToken: 'token' },
      additional: undefined,
      auth: 'OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea',
    },
    {
      name: 'AdditionalHeaders',
      t: 1702747512,
      extra: {},
      creds: goCreds,
      additional: ['ZAbc', 'abc'],
      auth: 'OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f',
    },
    {
      name: 'AdditionalHeaders incl. default-signed',
      t: 1702747512,
      extra: {},
      creds: goCreds,
      additional: ['x-oss-head1', 'ZAbc', 'abc', 'content-type'],
      auth: 'OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f',
    },
  ])('V4 $name', ({ t, extra, creds, additional, auth }) => {
    const req = v4Request(t, extra);
    expect(authorizationV4(req, creds, REGION, additional)).toBe(auth);
    const verified = verifyOssRequest(withHeaders(req, { authorization: auth }), {
      lookupSecret: goLookup,
      region: REGION,
      now: new Date(t * 1000),
    });
    expect(verified).toMatchObject({ ok: true, accessKeyId: 'ak', version: 'v4' });
  });
});

describe('V4 canonical request, written out by hand', () => {
  /** The documented signing-key chain, independent of the code under test. */
  function signCanonical(canonical: string, date: string, secret: string, region: string): string {
    const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
    const scope = `${date.slice(0, 8)}/${region}/oss/aliyun_v4_request`;
    const stringToSign = `OSS4-HMAC-SHA256\n${date}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const key = hmac(hmac(hmac(hmac('aliyun_v4' + secret, date.slice(0, 8)), region), 'oss'), 'aliyun_v4_request');
    return createHmac('sha256', key).update(stringToSign).digest('hex');
  }

  it('encodes the URI per RFC 3986 keeping "/", sorts the query by encoded name in byte order, trims header values', () => {
    const req: OssRequest = {
      method: 'GET',
      bucket: 'bkt',
      key: "d/é (1)*!'~.txt",
      // byte order puts 'B' before 'a' and 'a' before 'a-b'; localeCompare would not
      query: { a_b: '', '~x': '*', a: '1 2', 'a.b': 'x/y', B: '2', 'a-b': '' },
      headers: {
        'x-oss-date': '20240506T070809Z',
        'x-oss-content-sha256': 'UNSIGNED-PAYLOAD',
        'content-type': 'text/plain',
        'x-oss-meta-z': '  z  ',
        'user-agent': 'not signed',
        host: 'bkt.oss-cn-hangzhou.aliyuncs.com',
      },
    };
    const canonical = [
      'GET',
      '/bkt/d/%C3%A9%20%281%29%2A%21%27~.txt',
      'B=2&a=1%202&a-b&a.b=x%2Fy&a_b&~x=%2A',
      'content-type:text/plain\nhost:bkt.oss-cn-hangzhou.aliyuncs.com\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240506T070809Z\nx-oss-meta-z:z\n',
      'host',
      'UNSIGNED-PAYLOAD',
    ].join('\n');
    const auth = authorizationV4(req, { accessKeyId: AK, accessKeySecret: SECRET }, REGION, ['Host']);
    expect(auth).toBe(
      `OSS4-HMAC-SHA256 Credential=${AK}/20240506/${REGION}/oss/aliyun_v4_request,AdditionalHeaders=host,Signature=${signCanonical(canonical, '20240506T070809Z', SECRET, REGION)}`,
    );
    expect(verify(withHeaders(req, { authorization: auth }), { now: new Date('2024-05-06T07:08:09Z') }).ok).toBe(true);
  });
});

describe('V2 string to sign, written out by hand', () => {
  it("encodes the whole resource ('/' too), signs every query parameter and the AdditionalHeaders", () => {
    const date = 'Mon, 06 May 2024 07:08:09 GMT';
    const req: OssRequest = {
      method: 'GET',
      bucket: 'bkt',
      key: 'd/é (1).txt',
      query: { 'response-content-type': 'text/a b', prefix: '', acl: '' },
      headers: { date, 'x-oss-meta-z': '  z  ', range: 'bytes=0-1', 'user-agent': 'not signed', 'content-type': 'text/plain' },
    };
    const stringToSign = [
      'GET',
      '',
      'text/plain',
      date,
      'range:bytes=0-1',
      'x-oss-meta-z:z',
      'range',
      '%2Fbkt%2Fd%2F%C3%A9%20%281%29.txt?acl&prefix&response-content-type=text%2Fa%20b',
    ].join('\n');
    const signature = createHmac('sha256', SECRET).update(stringToSign).digest('base64');
    const signed = withHeaders(req, { authorization: `OSS2 AccessKeyId:${AK}, AdditionalHeaders:range, Signature:${signature}` });
    expect(verify(signed, { now: new Date(date) })).toMatchObject({ ok: true, accessKeyId: AK, version: 'v2' });
    const otherQuery = { ...signed, query: { ...signed.query, prefix: 'x' } };
    expect(verify(otherQuery, { now: new Date(date) })).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
  });
});

describe('signOssRequest', () => {
  it.each([
    { version: 'v1' as const, sts: false },
    { version: 'v1' as const, sts: true },
    { version: 'v4' as const, sts: false },
    { version: 'v4' as const, sts: true },
  ])('$version (STS: $sts) signs what verifyOssRequest accepts, for awkward keys', ({ version, sts }) => {
    const creds = credsFor({ sts });
    for (const key of KEYS) {
      const req: OssRequest = {
        method: 'PUT',
        bucket: BUCKET,
        key,
        query: { encryption: '' },
        headers: { 'content-type': 'application/xml', 'x-oss-meta-m': ' padded ' },
      };
      signOssRequest(req, creds, { version, region: REGION, now: new Date('2024-05-06T07:08:09Z') });
      expect(req.headers['x-oss-date']).toBe(version === 'v1' ? 'Mon, 06 May 2024 07:08:09 GMT' : '20240506T070809Z');
      expect(req.headers['x-oss-security-token']).toBe(sts ? TOKEN : undefined);
      expect(verify(req, { now: new Date('2024-05-06T07:10:00Z') })).toMatchObject({ ok: true, version });
      expect(verify({ ...req, key: key + 'x' }, { now: new Date('2024-05-06T07:10:00Z') })).toMatchObject({
        code: 'SignatureDoesNotMatch',
      });
    }
  });

  it('V4 dates each request to its own second (the text is reused within one, also when the clock steps back)', () => {
    const dateOf = (iso: string): unknown => {
      const req: OssRequest = { method: 'GET', bucket: BUCKET, key: 'k', query: {}, headers: {} };
      signOssRequest(req, credsFor({ sts: false }), { version: 'v4', region: REGION, now: new Date(iso) });
      return req.headers['x-oss-date'];
    };
    expect(
      [
        '2024-05-06T07:08:09.000Z',
        '2024-05-06T07:08:09.999Z',
        '2024-05-06T07:08:10.000Z',
        '2024-05-06T07:08:09.500Z',
        '2031-01-01T00:00:00.001Z',
      ].map(dateOf),
    ).toEqual(['20240506T070809Z', '20240506T070809Z', '20240506T070810Z', '20240506T070809Z', '20310101T000000Z']);
  });

  it('V1 with only a Date header (Go/Python SDK style) verifies, and skew is measured from it', () => {
    const req: OssRequest = { method: 'GET', bucket: BUCKET, key: 'k', query: {}, headers: { date: 'Mon, 06 May 2024 07:08:09 GMT' } };
    req.headers['authorization'] = authorizationV1(req, credsFor({ sts: false }));
    expect(verify(req, { now: new Date('2024-05-06T07:08:09Z') }).ok).toBe(true);
    expect(verify(req, { now: new Date('2024-05-06T07:30:00Z') })).toMatchObject({ code: 'RequestTimeTooSkewed' });
  });

  it('refuses to sign with a security token the headers do not carry', () => {
    const req: OssRequest = { method: 'GET', bucket: BUCKET, key: 'k', query: {}, headers: { 'x-oss-date': '20240506T070809Z' } };
    const creds = credsFor({ sts: true });
    expect(() => authorizationV1(req, creds)).toThrow(/x-oss-security-token/);
    expect(() => authorizationV4(req, creds, REGION)).toThrow(/x-oss-security-token/);
  });

  it('V4 refuses a missing or non-ISO x-oss-date and an AdditionalHeader the request lacks', () => {
    const creds = credsFor({ sts: false });
    const base: OssRequest = { method: 'GET', bucket: BUCKET, key: 'k', query: {}, headers: {} };
    expect(() => authorizationV4(base, creds, REGION)).toThrow(/x-oss-date/);
    expect(() => authorizationV4(withHeaders(base, { 'x-oss-date': 'Mon, 06 May 2024 07:08:09 GMT' }), creds, REGION)).toThrow(
      /x-oss-date/,
    );
    expect(() => authorizationV4(withHeaders(base, { 'x-oss-date': '20240506T070809Z' }), creds, REGION, ['host'])).toThrow(/host/);
  });
});

describe('parseOssRequest', () => {
  it('reads the bucket from a virtual-hosted Host (public, internal, with port) and decodes the key', () => {
    for (const host of [
      'my-bucket.oss-cn-hangzhou.aliyuncs.com',
      'my-bucket.oss-cn-hangzhou-internal.aliyuncs.com:8080',
      'my-bucket.OSS-accelerate.aliyuncs.com',
    ]) {
      const r = parseOssRequest('get', '/dir/a%20b+c%2Bd%252F%E4%B8%AD', { host });
      expect(r).toMatchObject({ method: 'GET', bucket: 'my-bucket', key: 'dir/a b+c+d%2F中' });
    }
  });

  it('keeps the bucket as the client spelled it (it signed that spelling; the server judges the name)', () => {
    expect(parseOssRequest('PUT', '/', { host: 'Bad_Bucket.oss-cn-hangzhou.aliyuncs.com' }).bucket).toBe('Bad_Bucket');
    expect(parseOssRequest('PUT', '/', { host: 'Bad_Bucket.LOCALHOST' }, { hostSuffixes: ['localhost'] }).bucket).toBe('Bad_Bucket');
  });

  it('falls back to path-style for IP, localhost and endpoint hosts', () => {
    for (const host of ['127.0.0.1:9000', 'localhost', 'oss-cn-hangzhou.aliyuncs.com', '[::1]:9000', undefined]) {
      expect(parseOssRequest('PUT', '/b1/dir/x%20y?acl', { host })).toMatchObject({ bucket: 'b1', key: 'dir/x y', query: { acl: '' } });
    }
    expect(parseOssRequest('GET', '/b1', { host: 'localhost' })).toEqual({
      method: 'GET',
      bucket: 'b1',
      query: {},
      headers: { host: 'localhost' },
    });
    expect(parseOssRequest('GET', '/b1/', { host: 'localhost' }).key).toBeUndefined();
    const service = parseOssRequest('GET', '/?prefix=a', { host: 'localhost' });
    expect([service.bucket, service.key, { ...service.query }]).toEqual([undefined, undefined, { prefix: 'a' }]);
  });

  it('treats ali-oss service-level Host ".oss-<region>…" (empty bucket label) as service level', () => {
    const r = parseOssRequest('GET', '/?prefix=sig&max-keys=5', { host: '.oss-cn-hangzhou.aliyuncs.com' });
    expect(r.bucket).toBeUndefined();
    expect(r.key).toBeUndefined();
  });

  it('honours hostSuffixes for other virtual-hosted names', () => {
    expect(parseOssRequest('GET', '/k', { host: 'b2.localhost:9000' }, { hostSuffixes: ['localhost'] })).toMatchObject({
      bucket: 'b2',
      key: 'k',
    });
    expect(parseOssRequest('GET', '/k', { host: 'b2.oss.test' }, { hostSuffixes: ['.oss.test'] })).toMatchObject({
      bucket: 'b2',
      key: 'k',
    });
    expect(parseOssRequest('GET', '/b3/k', { host: 'localhost' }, { hostSuffixes: ['localhost'] })).toMatchObject({
      bucket: 'b3',
      key: 'k',
    });
  });

  it('decodes the query: valueless names map to "", "+" is a space, the first duplicate wins, no prototype keys', () => {
    const r = parseOssRequest('GET', '/b/k?a=1&b&c=x+y%2Bz&a=2&&__proto__=p&empty=', { host: 'localhost' });
    expect(Object.entries(r.query)).toEqual([
      ['a', '1'],
      ['b', ''],
      ['c', 'x y+z'],
      ['__proto__', 'p'],
      ['empty', ''],
    ]);
    expect(Object.getPrototypeOf(r.query)).toBeNull();
  });

  it('accepts absolute-form URLs', () => {
    expect(parseOssRequest('GET', 'http://127.0.0.1:9/b/k?acl', { host: '127.0.0.1:9' })).toMatchObject({
      bucket: 'b',
      key: 'k',
      query: { acl: '' },
    });
  });

  it('throws on malformed percent-encoding', () => {
    expect(() => parseOssRequest('GET', '/b/%E4%B8', { host: 'localhost' })).toThrow();
    expect(() => parseOssRequest('GET', '/b/k?x=%ZZ', { host: 'localhost' })).toThrow();
  });
});

describe('OSS_V1_SIGNED_SUBRESOURCES', () => {
  it('holds every sub-resource ali-oss signs and none of the plain listing parameters', () => {
    for (const s of [
      'acl',
      'uploads',
      'uploadId',
      'partNumber',
      'encryption',
      'versionId',
      'versions',
      'versioning',
      'tagging',
      'symlink',
      'restore',
      'objectMeta',
      'bucketInfo',
      'continuation-token',
      'x-oss-process',
      'delete',
      'append',
      'position',
      'stat',
      'worm',
      'inventory',
      'asyncFetch',
    ]) {
      expect(OSS_V1_SIGNED_SUBRESOURCES.has(s)).toBe(true);
    }
    for (const s of [
      'prefix',
      'max-keys',
      'list-type',
      'delimiter',
      'start-after',
      'marker',
      'encoding-type',
      'fetch-owner',
      'key-marker',
      'upload-id-marker',
      'max-parts',
      'part-number-marker',
    ]) {
      expect(OSS_V1_SIGNED_SUBRESOURCES.has(s)).toBe(false);
    }
  });
});
