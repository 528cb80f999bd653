/**
 * Function Compute signing and verification against the real @alicloud/fc2 client: a
 * loopback server captures what the SDK sends (invokeFunction on the 2016-08-15 API, the fc3
 * component's `version = '2023-03-30'` + request() style, an HTTP-trigger proxy path with a
 * signed query), and our code must reproduce its Authorization byte for byte and refuse any
 * changed byte. A property test pins fcStringToSign to fc2's own helper.composeStringToSign.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import Fc2 from '@alicloud/fc2';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  fcAuthorization,
  fcContentMd5,
  fcSignature,
  fcSignsQuery,
  fcStringToSign,
  signFcRequest,
  type FcHeaders,
  type FcQuery,
} from '../../shared/signing';
import { fcContentMd5Matches, verifyFcRequest } from '../../local/fc/verify';

const ACCOUNT = '1234567890123456';
const AK = 'LTAI5tFcSigningUnitTest';
const SECRET = 'FcSigningSecret+/=0123456789abcdef';
const STS_AK = 'STS.NUgYrLnoC3ExampleFcAk';
const STS_SECRET = 'StsSecretForFcSigning/+=';
const TOKEN = 'CAIS.sts+token/with=odd~chars';
const lookupSecret = (id: string) => ({ [AK]: SECRET, [STS_AK]: STS_SECRET })[id];

interface Captured {
  method: string;
  /** Path as received (percent-encoded as sent). */
  path: string;
  query: Record<string, string | string[]>;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let server: http.Server;
let endpoint = '';
let captured: Captured[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const query: Record<string, string | string[]> = {};
      for (const [k, v] of url.searchParams) {
        const prev = query[k];
        query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      captured.push({ method: req.method ?? '', path: url.pathname, query, headers: req.headers, body: Buffer.concat(chunks) });
      const json = '{"ok":true}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length, 'x-fc-request-id': 'req-1' });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
});

beforeEach(() => {
  captured = [];
});

// The SDK's default export is the client class; under Node's ESM loader it may arrive wrapped.
function Client(): typeof Fc2 {
  const m = Fc2 as unknown as { default?: typeof Fc2 };
  return typeof m.default === 'function' ? m.default : Fc2;
}

function newClient(opts: { ak?: string; secret?: string; token?: string } = {}): Fc2 {
  const C = Client();
  return new C(ACCOUNT, {
    accessKeyID: opts.ak ?? AK,
    accessKeySecret: opts.secret ?? SECRET,
    ...(opts.token ? { securityToken: opts.token } : {}),
    region: 'cn-hangzhou',
    endpoint,
  });
}

function only(): Captured {
  expect(captured).toHaveLength(1);
  return captured[0] as Captured;
}

function verify(c: Captured, patch: { method?: string; path?: string; query?: FcQuery; headers?: FcHeaders; secret?: string } = {}) {
  const headers = { ...c.headers, ...patch.headers };
  return verifyFcRequest(patch.method ?? c.method, patch.path ?? c.path, patch.query ?? c.query, headers, {
    lookupSecret: patch.secret === undefined ? lookupSecret : () => patch.secret,
    now: new Date(Date.parse(String(c.headers.date))),
  });
}

/** Change one character of a string (the middle one), keeping its length. */
function flip(s: string): string {
  const i = Math.floor(s.length / 2);
  const c = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe('what fc2 sends', () => {
  it('invokeFunction (2016-08-15): our Authorization equals the SDK’s and verifies', async () => {
    await newClient().invokeFunction('svc', 'fn-1', 'payload bytes', { 'x-fc-invocation-type': 'Async' });
    const c = only();
    expect(c.path).toBe('/2016-08-15/services/svc/functions/fn-1/invocations');
    expect(c.headers['x-fc-account-id']).toBe(ACCOUNT);
    expect(c.headers['x-fc-invocation-type']).toBe('Async');
    // fc2's Content-MD5 is base64 of the hex digest.
    expect(c.headers['content-md5']).toBe(fcContentMd5(c.body));
    expect(fcContentMd5Matches(String(c.headers['content-md5']), c.body)).toBe(true);
    expect(fcContentMd5Matches(String(c.headers['content-md5']), Buffer.from('payload bytez'))).toBe(false);
    expect(c.headers.authorization).toBe(fcAuthorization(c.method, c.path, c.headers, { accessKeyId: AK, accessKeySecret: SECRET }));
    expect(verify(c)).toEqual({ ok: true, accessKeyId: AK });
  });

  it('fc3 style (version 2023-03-30 + request()): a JSON body and custom x-fc-* headers verify', async () => {
    const client = newClient();
    client.version = '2023-03-30';
    await client.request(
      'POST',
      '/functions/backfill/invocations',
      null,
      { bucket: 'b', n: 1, 中: '文' },
      { 'X-Fc-Invocation-Type': 'Sync', 'x-fc-log-type': 'None' },
    );
    const c = only();
    expect(c.path).toBe('/2023-03-30/functions/backfill/invocations');
    expect(c.headers['content-type']).toBe('application/json');
    expect(JSON.parse(c.body.toString('utf8'))).toEqual({ bucket: 'b', n: 1, 中: '文' });
    const expected = Client().getSignature(
      AK,
      SECRET,
      'POST',
      '/2023-03-30/functions/backfill/invocations',
      c.headers as Record<string, string>,
    );
    expect(c.headers.authorization).toBe(expected);
    expect(verify(c)).toEqual({ ok: true, accessKeyId: AK });
  });

  it('a request without a body (no Content-MD5/Content-Type) verifies', async () => {
    const client = newClient();
    client.version = '2023-03-30';
    await client.request('POST', '/functions/empty/invocations', null, null, {});
    const c = only();
    expect(c.headers['content-md5']).toBeUndefined();
    expect(verify(c).ok).toBe(true);
  });

  it('STS: x-fc-security-token is signed and returned; a changed token fails', async () => {
    await newClient({ ak: STS_AK, secret: STS_SECRET, token: TOKEN }).invokeFunction('svc', 'fn', Buffer.from([0, 1, 2, 255]));
    const c = only();
    expect(c.headers['x-fc-security-token']).toBe(TOKEN);
    expect(verify(c)).toEqual({ ok: true, accessKeyId: STS_AK, securityToken: TOKEN });
    expect(verify(c, { headers: { 'x-fc-security-token': TOKEN + 'x' } })).toMatchObject({ ok: false, code: 'SignatureNotMatch' });
  });

  it('fc2 drops the token for AccessKey ids not starting with "STS" unless set on the client (what shared/fc-invoke does)', async () => {
    const plain = newClient({ token: TOKEN });
    await plain.invokeFunction('svc', 'fn', 'x');
    expect(only().headers['x-fc-security-token']).toBeUndefined();
    captured = [];
    const withToken = newClient({ token: TOKEN });
    withToken.securityToken = TOKEN;
    await withToken.invokeFunction('svc', 'fn', 'x');
    const c = only();
    expect(c.headers['x-fc-security-token']).toBe(TOKEN);
    expect(verify(c)).toEqual({ ok: true, accessKeyId: AK, securityToken: TOKEN });
  });

  it('HTTP-trigger proxy paths sign the query; invocation paths do not', async () => {
    await newClient().get('/proxy/svc/fn/action', { b: '2', a: ['1', 'x y'], c: "~!*'()中" }, {});
    const c = only();
    expect(fcSignsQuery(c.path)).toBe(true);
    expect(verify(c)).toEqual({ ok: true, accessKeyId: AK });
    expect(verify(c, { query: { ...c.query, b: '3' } })).toMatchObject({ ok: false, code: 'SignatureNotMatch' });
    expect(verify(c, { query: { ...c.query, a: ['1'] } })).toMatchObject({ ok: false, code: 'SignatureNotMatch' });

    captured = [];
    const client = newClient();
    client.version = '2023-03-30';
    await client.request('POST', '/functions/fn/invocations', { qualifier: 'LATEST' }, 'e', {});
    const inv = only();
    expect(fcSignsQuery(inv.path)).toBe(false);
    expect(inv.query).toEqual({ qualifier: 'LATEST' });
    // FC (and fc2) leave the query of non-proxy paths unsigned.
    expect(verify(inv, { query: { qualifier: 'other' } }).ok).toBe(true);
  });
});

describe('a changed byte fails', () => {
  let c: Captured;
  beforeEach(async () => {
    const client = newClient();
    client.version = '2023-03-30';
    await client.request('POST', '/functions/object-encryption/invocations', null, '{"events":[]}', { 'x-fc-invocation-type': 'Async' });
    c = only();
    expect(verify(c).ok).toBe(true);
  });

  it.each<[string, (c: Captured) => Parameters<typeof verify>[1]]>([
    ['a byte of the path', (c) => ({ path: c.path.replace('object-encryption', 'object-encryptiom') })],
    ['the API version in the path', (c) => ({ path: c.path.replace('2023-03-30', '2016-08-15') })],
    ['the method', () => ({ method: 'PUT' })],
    ['x-fc-invocation-type', () => ({ headers: { 'x-fc-invocation-type': 'Sync' } })],
    ['x-fc-account-id', () => ({ headers: { 'x-fc-account-id': '1234567890123457' } })],
    ['an added x-fc-* header', () => ({ headers: { 'x-fc-log-type': 'Tail' } })],
    ['the body’s Content-MD5', (c) => ({ headers: { 'content-md5': flip(String(c.headers['content-md5'])) } })],
    ['the Content-Type', () => ({ headers: { 'content-type': 'application/json' } })],
    ['the Date (one second)', (c) => ({ headers: { date: new Date(Date.parse(String(c.headers.date)) + 1000).toUTCString() } })],
    ['a byte of the signature', (c) => ({ headers: { authorization: flip(String(c.headers.authorization)) } })],
    ['the secret', () => ({ secret: SECRET.slice(0, -1) + 'g' })],
  ])('%s → 403 SignatureNotMatch', (_what, patch) => {
    const r = verify(c, patch(c));
    expect(r).toEqual({
      ok: false,
      status: 403,
      code: 'SignatureNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your access key and signing method',
    });
  });

  it('an unknown AccessKey id → 403 InvalidAccessKeyID naming it', () => {
    const auth = String(c.headers.authorization).replace(AK, 'LTAI5tNobodyKnowsThis');
    expect(verify(c, { headers: { authorization: auth } })).toEqual({
      ok: false,
      status: 403,
      code: 'InvalidAccessKeyID',
      message: "invalid access key ID 'LTAI5tNobodyKnowsThis'",
    });
  });

  it('missing Authorization or Date → 400 MissingRequiredHeader; malformed ones → 400 InvalidArgument', () => {
    expect(verify(c, { headers: { authorization: undefined } })).toMatchObject({
      status: 400,
      code: 'MissingRequiredHeader',
      message: 'required HTTP header Authorization was not specified',
    });
    expect(verify(c, { headers: { date: undefined } })).toMatchObject({
      status: 400,
      code: 'MissingRequiredHeader',
      message: 'required HTTP header Date was not specified',
    });
    expect(verify(c, { headers: { authorization: `OSS ${AK}:abc` } })).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(verify(c, { headers: { date: 'yesterday' } })).toMatchObject({ status: 400, code: 'InvalidArgument' });
  });

  it('a Date more than 15 minutes away → 403 RequestTimeTooSkewed, whatever the signature', () => {
    const date = Date.parse(String(c.headers.date));
    const at = (ms: number) => verifyFcRequest(c.method, c.path, c.query, c.headers, { lookupSecret, now: new Date(date + ms) });
    expect(at(14 * 60_000).ok).toBe(true);
    expect(at(-14 * 60_000).ok).toBe(true);
    expect(at(16 * 60_000)).toMatchObject({ ok: false, status: 403, code: 'RequestTimeTooSkewed' });
    expect(at(-16 * 60_000)).toMatchObject({ ok: false, status: 403, code: 'RequestTimeTooSkewed' });
  });
});

describe('signFcRequest', () => {
  it('produces what fc2 would send for the same headers, and verifies', () => {
    const now = new Date('2024-05-06T07:08:09Z');
    const body = '{"bucket":"b"}';
    const headers = signFcRequest(
      {
        method: 'POST',
        path: '/2023-03-30/functions/f/invocations',
        headers: { 'Content-Type': 'application/octet-stream', 'X-Fc-Invocation-Type': 'Async' },
        body,
      },
      { accessKeyId: STS_AK, accessKeySecret: STS_SECRET, securityToken: TOKEN },
      { accountId: ACCOUNT, now },
    );
    expect(headers).toMatchObject({
      date: 'Mon, 06 May 2024 07:08:09 GMT',
      'x-fc-account-id': ACCOUNT,
      'x-fc-security-token': TOKEN,
      'x-fc-invocation-type': 'Async',
      'content-md5': fcContentMd5(body),
    });
    const { authorization, ...unsigned } = headers;
    expect(authorization).toBe(Client().getSignature(STS_AK, STS_SECRET, 'POST', '/2023-03-30/functions/f/invocations', unsigned));
    expect(verifyFcRequest('POST', '/2023-03-30/functions/f/invocations', {}, headers, { lookupSecret, now })).toEqual({
      ok: true,
      accessKeyId: STS_AK,
      securityToken: TOKEN,
    });
  });
});

describe('fcStringToSign equals fc2’s helper.composeStringToSign', () => {
  type Compose = (
    method: string,
    path: string,
    headers: Record<string, string>,
    queries: Record<string, string | string[]> | null,
  ) => string;
  // fc2's internal helper (CommonJS, no types): the reference implementation.
  const compose = (createRequire(import.meta.url)('@alicloud/fc2/lib/helper.js') as { composeStringToSign: Compose }).composeStringToSign;

  const token = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(...'abcXYZ019-_.~ 中é'.split('')) });
  const fcHeaderName = fc
    .string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(...'abcdeXYZ-'.split('')) })
    .chain((suffix) => fc.constantFrom(`x-fc-${suffix}`, `X-Fc-${suffix}`, ` x-fc-${suffix}`));

  it('for random headers, paths and (proxy) queries', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.array(token, { minLength: 1, maxLength: 4 }),
        fc.option(token, { nil: undefined }),
        fc.option(token, { nil: undefined }),
        fc.dictionary(fcHeaderName, token, { maxKeys: 5 }),
        fc.option(fc.dictionary(token, fc.oneof(token, fc.array(token, { maxLength: 3 })), { maxKeys: 4 }), { nil: null }),
        (method, segments, md5, type, fcHeaders, query) => {
          const headers: Record<string, string> = { date: 'Mon, 06 May 2024 07:08:09 GMT', host: 'h', ...fcHeaders };
          if (md5 !== undefined) headers['content-md5'] = md5;
          if (type !== undefined) headers['content-type'] = type;
          const path = '/2023-03-30/' + segments.join('/');
          const ours = fcStringToSign(method, path, headers, query ?? undefined);
          expect(ours).toBe(compose(method, path, headers, query));
          expect(`FC ${AK}:${fcSignature(ours, SECRET)}`).toBe(Client().getSignature(AK, SECRET, method, path, headers, query));
        },
      ),
      { numRuns: 300 },
    );
  });
});
