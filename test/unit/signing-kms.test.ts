/**
 * Alibaba Cloud RPC (KMS) signing and verification against the real @alicloud/kms20160120
 * client: a loopback server captures what the SDK sends, and our code must reproduce its
 * Signature byte for byte and refuse any changed byte. The documented DescribeRegions
 * example (Alibaba Cloud "RPC signature" page) pins the algorithm independently of the SDK.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Kms, * as $Kms from '@alicloud/kms20160120';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNonceCache, parseRpcParams, verifyRpcRequest } from '../../local/kms/verify';
import { encodeRfc3986, rpcSignature, rpcStringToSign, signRpcParams } from '../../shared/signing';

const AK = 'LTAI5tKmsSigningUnitTest';
const SECRET = 'KmsSigningSecret+/=0123456789abcdef';
const TOKEN = 'CAIS.sts+token/with=odd~chars中';
const KEY_IDS = ['1234abcd-12ab-34cd-56ef-123456789012', "alias/a b+c*!'()~中/ü", 'acs:kms:cn-hangzhou:1234567890123456:key/abc'];

interface Captured {
  method: string;
  url: string;
  body: string;
}

let server: http.Server;
let endpoint = '';
const captured: Captured[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      captured.push({ method: req.method ?? '', url: req.url ?? '', body });
      const json = JSON.stringify({ RequestId: 'r-1', KeyMetadata: { KeyId: 'k', KeyState: 'Enabled' } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

// The SDK's default export is the client class; under Node's ESM loader it may arrive wrapped.
function KmsClient(): typeof Kms {
  const m = Kms as unknown as { default?: typeof Kms };
  return typeof m.default === 'function' ? m.default : Kms;
}

function client(securityToken?: string): InstanceType<typeof Kms> {
  const Ctor = KmsClient();
  return new Ctor({
    accessKeyId: AK,
    accessKeySecret: SECRET,
    ...(securityToken ? { securityToken } : {}),
    endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
  } as ConstructorParameters<typeof Kms>[0]);
}

/** Sends one request through the SDK and returns what reached the wire, decoded. */
async function capture(
  send: (c: InstanceType<typeof Kms>) => Promise<unknown>,
  token?: string,
): Promise<{ method: string; params: Record<string, string> }> {
  captured.length = 0;
  await send(client(token));
  expect(captured).toHaveLength(1);
  const c = captured[0] as Captured;
  const q = c.url.indexOf('?');
  const params = parseRpcParams(q < 0 ? '' : c.url.slice(q + 1));
  if (c.body !== '') parseRpcParams(c.body, params);
  return { method: c.method, params };
}

const lookupSecret = (id: string) => (id === AK ? SECRET : undefined);

describe('RPC signature: documented example', () => {
  const doc = {
    AccessKeyId: 'testid',
    Action: 'DescribeRegions',
    Format: 'XML',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
    SignatureVersion: '1.0',
    Timestamp: '2016-02-23T12:46:24Z',
    Version: '2014-05-26',
  };

  it('builds the documented StringToSign and signature', () => {
    expect(rpcStringToSign('GET', doc)).toBe(
      'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1' +
        '%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0' +
        '%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26',
    );
    expect(rpcSignature('GET', doc, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  it('ignores a Signature parameter when computing the string to sign', () => {
    expect(rpcSignature('GET', { ...doc, Signature: 'anything' }, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  it('percent-encodes like rpc-util (RFC 3986 unreserved only)', () => {
    expect(encodeRfc3986("a b*c~d!'()+/=中")).toBe('a%20b%2Ac~d%21%27%28%29%2B%2F%3D%E4%B8%AD');
  });
});

describe('RPC signature: what @alicloud/kms20160120 sends', () => {
  it('sends every parameter in the query of POST / with an empty body', async () => {
    const { method, params } = await capture((c) => c.describeKey(new $Kms.DescribeKeyRequest({ keyId: 'k' })));
    expect(method).toBe('POST');
    expect(captured[0]?.url.startsWith('/?')).toBe(true);
    expect(captured[0]?.body).toBe('');
    expect(params).toMatchObject({
      Action: 'DescribeKey',
      Format: 'json',
      Version: '2016-01-20',
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      AccessKeyId: AK,
      KeyId: 'k',
    });
    expect(params.Timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(params.SecurityToken).toBeUndefined();
  });

  for (const keyId of KEY_IDS) {
    for (const token of [undefined, TOKEN]) {
      it(`our signature equals the SDK's (KeyId ${JSON.stringify(keyId)}, ${token ? 'STS' : 'AK'})`, async () => {
        const { method, params } = await capture((c) => c.describeKey(new $Kms.DescribeKeyRequest({ keyId })), token);
        expect(params.KeyId).toBe(keyId);
        expect(params.SecurityToken).toBe(token);
        expect(rpcSignature(method, params, SECRET)).toBe(params.Signature);
        const ok = verifyRpcRequest(method, params, { lookupSecret });
        expect(ok).toEqual(token ? { ok: true, accessKeyId: AK, securityToken: token } : { ok: true, accessKeyId: AK });
      });
    }
  }

  it('verifies GenerateDataKey with a flattened EncryptionContext and a number parameter', async () => {
    const { method, params } = await capture((c) =>
      c.generateDataKey(
        new $Kms.GenerateDataKeyRequest({ keyId: 'k', numberOfBytes: 32, encryptionContext: { bucket: 'b 1', 'x/y': '*' } }),
      ),
    );
    expect(params['EncryptionContext.bucket']).toBe('b 1');
    expect(params['EncryptionContext.x/y']).toBe('*');
    expect(params.NumberOfBytes).toBe('32');
    expect(verifyRpcRequest(method, params, { lookupSecret }).ok).toBe(true);
  });

  it('refuses a changed byte in any parameter, the method, or the secret', async () => {
    const { method, params } = await capture((c) => c.describeKey(new $Kms.DescribeKeyRequest({ keyId: KEY_IDS[1] as string })), TOKEN);
    expect(verifyRpcRequest(method, params, { lookupSecret }).ok).toBe(true);
    for (const name of Object.keys(params)) {
      if (name === 'Signature') continue;
      const v = params[name] as string;
      const changed = { ...params, [name]: v.slice(0, -1) + String.fromCharCode(v.charCodeAt(v.length - 1) ^ 1) };
      const r = verifyRpcRequest(method, changed, { lookupSecret });
      expect(r.ok, `changing ${name} must fail`).toBe(false);
    }
    const kid = verifyRpcRequest(method, { ...params, KeyId: 'alias/other' }, { lookupSecret });
    expect(kid).toMatchObject({ ok: false, status: 400, code: 'SignatureDoesNotMatch' });
    expect(verifyRpcRequest('GET', params, { lookupSecret })).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    const sig = params.Signature as string;
    const flipped = { ...params, Signature: (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1) };
    expect(verifyRpcRequest(method, flipped, { lookupSecret })).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    const wrongSecret = verifyRpcRequest(method, params, { lookupSecret: () => SECRET.slice(0, -1) + 'X' });
    expect(wrongSecret).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    // An added parameter is signed too.
    expect(verifyRpcRequest(method, { ...params, Extra: '1' }, { lookupSecret })).toMatchObject({
      ok: false,
      code: 'SignatureDoesNotMatch',
    });
  });

  it('SignatureDoesNotMatch shows the string to sign without the token or the secret', async () => {
    const { method, params } = await capture((c) => c.describeKey(new $Kms.DescribeKeyRequest({ keyId: SECRET })), TOKEN);
    const r = verifyRpcRequest(method, { ...params, KeyId: SECRET + 'x' }, { lookupSecret });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toContain('server string to sign is:POST&%2F&');
    expect(r.message).toContain('%255Bredacted%255D');
    expect(r.message).not.toContain(encodeRfc3986(encodeRfc3986(TOKEN)));
    expect(r.message).not.toContain(SECRET);
    expect(r.message).not.toContain(encodeRfc3986(encodeRfc3986(SECRET)));
  });
});

describe('verifyRpcRequest: refusals other than a mismatch', () => {
  const now = new Date('2024-05-01T10:00:00Z');
  const base = signRpcParams(
    'POST',
    { Action: 'DescribeKey', Version: '2016-01-20', KeyId: 'k' },
    { accessKeyId: AK, accessKeySecret: SECRET },
    { now, nonce: 'n-1' },
  );

  it('accepts what signRpcParams produces', () => {
    expect(base.Timestamp).toBe('2024-05-01T10:00:00Z');
    expect(verifyRpcRequest('POST', base, { lookupSecret, now })).toEqual({ ok: true, accessKeyId: AK });
  });

  it('unknown access key → 404 InvalidAccessKeyId.NotFound', () => {
    expect(verifyRpcRequest('POST', base, { lookupSecret: () => undefined, now })).toMatchObject({
      ok: false,
      status: 404,
      code: 'InvalidAccessKeyId.NotFound',
    });
  });

  it('missing parameters → MissingParameter / IllegalTimestamp', () => {
    for (const name of ['AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce']) {
      const { [name]: _dropped, ...rest } = base;
      expect(verifyRpcRequest('POST', rest, { lookupSecret, now }), name).toMatchObject({
        ok: false,
        status: 400,
        code: 'MissingParameter',
      });
    }
    const { Timestamp: _t, ...noTs } = base;
    expect(verifyRpcRequest('POST', noTs, { lookupSecret, now })).toMatchObject({ ok: false, code: 'IllegalTimestamp' });
    expect(verifyRpcRequest('POST', { ...base, Timestamp: '2024-05-01 10:00:00' }, { lookupSecret, now })).toMatchObject({
      ok: false,
      code: 'IllegalTimestamp',
    });
  });

  it('other signature methods → IncompleteSignature', () => {
    const sha256 = signRpcParams('POST', { Action: 'DescribeKey' }, { accessKeyId: AK, accessKeySecret: SECRET }, { now });
    expect(verifyRpcRequest('POST', { ...sha256, SignatureMethod: 'HMAC-SHA256' }, { lookupSecret, now })).toMatchObject({
      ok: false,
      code: 'IncompleteSignature',
    });
  });

  it('a Timestamp more than 15 minutes away → InvalidTimeStamp.Expired; within → ok', () => {
    const later = new Date(now.getTime() + 15 * 60_000 + 1000);
    expect(verifyRpcRequest('POST', base, { lookupSecret, now: later })).toMatchObject({ ok: false, code: 'InvalidTimeStamp.Expired' });
    const earlier = new Date(now.getTime() - 14 * 60_000);
    expect(verifyRpcRequest('POST', base, { lookupSecret, now: earlier }).ok).toBe(true);
    expect(verifyRpcRequest('POST', base, { lookupSecret, now: later, maxSkewMs: 20 * 60_000 }).ok).toBe(true);
  });

  it('a replayed SignatureNonce → SignatureNonceUsed, but only after the signature checks out', () => {
    const nonceSeen = createNonceCache();
    const forged = { ...base, KeyId: 'other' };
    expect(verifyRpcRequest('POST', forged, { lookupSecret, now, nonceSeen })).toMatchObject({ code: 'SignatureDoesNotMatch' });
    expect(verifyRpcRequest('POST', base, { lookupSecret, now, nonceSeen }).ok).toBe(true);
    expect(verifyRpcRequest('POST', base, { lookupSecret, now, nonceSeen })).toMatchObject({ ok: false, code: 'SignatureNonceUsed' });
  });

  it('the nonce cache forgets entries after their TTL and stays bounded', () => {
    let t = 0;
    const seen = createNonceCache({ ttlMs: 1000, maxEntries: 2, now: () => t });
    expect(seen('a', '1')).toBe(false);
    expect(seen('a', '1')).toBe(true);
    expect(seen('b', '1')).toBe(false); // same nonce, other key: distinct
    t = 2000;
    expect(seen('a', '1')).toBe(false);
    expect(seen('a', '2')).toBe(false);
    expect(seen('a', '3')).toBe(false); // evicts the oldest
    expect(seen('a', '1')).toBe(false);
  });

  it('parseRpcParams decodes form encoding and keeps the first occurrence', () => {
    expect({ ...parseRpcParams('a=1+2&b=%2B%2F&a=3&c') }).toEqual({ a: '1 2', b: '+/', c: '' });
    expect(() => parseRpcParams('a=%E4')).toThrow(URIError);
  });
});
