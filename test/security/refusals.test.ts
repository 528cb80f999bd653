/**
 * Security: the local stack refuses badly signed requests, on all three services (OSS, KMS,
 * FC), and a refused request changes nothing. OSS requests are built and signed here with
 * shared/signing (V1 and V4) and sent raw, so each refusal is exactly one tampering; the real
 * ali-oss client is used where it can express the fault (wrong secret, unknown key id).
 *
 * The functions never run here: the triggers are paused, and refused requests never reach them.
 */
import OSS from 'ali-oss';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { signFcRequest, signOssRequest, signRpcParams, type Credentials, type OssRequest } from '../../shared/signing';

const REGION = 'cn-hangzhou';
const AK = 'LTAI5tSecurityRefusalKeyId';
const SECRET = 'SecurityRefusalSecretThatMustNeverLeak01';
const GOOD: Credentials = { accessKeyId: AK, accessKeySecret: SECRET };
const WRONG: Credentials = { accessKeyId: AK, accessKeySecret: 'SecurityRefusalWrongSecret0000000000099' };
const UNKNOWN: Credentials = { accessKeyId: 'LTAI5tNobodyKnowsThisKey', accessKeySecret: SECRET };
const SKEW_MS = 16 * 60 * 1000;
const BUCKET = 'sec-refusals';

let stack: LocalStack;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string | string[] | undefined>,
  body?: Buffer | string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v;
    if (body !== undefined) out['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest(`${url}${path}`, { method, headers: out, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The `<Code>` of an OSS error body. */
const ossCode = (r: RawResponse): string | undefined => /<Code>([^<]*)<\/Code>/.exec(r.body)?.[1];

interface OssCall {
  method: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

/** A signed OssRequest for a call on BUCKET (path-style). */
function signedOss(call: OssCall, creds: Credentials, version: 'v1' | 'v4', now?: Date): OssRequest {
  const req: OssRequest = {
    method: call.method,
    bucket: BUCKET,
    ...(call.key !== undefined ? { key: call.key } : {}),
    query: { ...call.query },
    headers: { ...call.headers },
  };
  signOssRequest(req, creds, { version, region: REGION, ...(now ? { now } : {}) });
  return req;
}

function sendOss(req: OssRequest, body?: string): Promise<RawResponse> {
  const q = Object.entries(req.query)
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  const path = `/${req.bucket ?? ''}${req.key !== undefined ? '/' + req.key.split('/').map(encodeURIComponent).join('/') : ''}${q ? '?' + q : ''}`;
  return send(stack.oss.url, req.method, path, req.headers, body);
}

const putCall = (key: string): OssCall => ({
  method: 'PUT',
  key,
  headers: { 'content-type': 'text/plain', 'x-oss-meta-origin': 'security-test' },
  body: `payload of ${key}`,
});

/** Flip one base64 character of the signature at the end of an Authorization header. */
function flipLastSignatureChar(auth: string): string {
  const i = auth.length - 2; // the last char may be base64 '=' padding or a hex digit: flip the one before
  const c = auth[i] as string;
  const flipped = c === 'A' ? 'B' : c === '0' ? '1' : c === 'a' ? 'b' : /[0-9]/.test(c) ? '0' : /[a-z]/.test(c) ? 'a' : 'A';
  return auth.slice(0, i) + flipped + auth.slice(i + 1);
}

beforeAll(async () => {
  stack = await startLocalStack({
    region: REGION,
    accessKeyId: AK,
    accessKeySecret: SECRET,
    functionsDir: join(__dirname, '..', '..', 'dist', 'functions'),
  });
  // Nothing here is about the functions: keep them out of the way.
  stack.triggers.object = false;
  stack.triggers.bucket = false;
  const created = await send(stack.oss.url, 'PUT', `/${BUCKET}`, signedOss({ method: 'PUT' }, GOOD, 'v4').headers);
  expect(created.status, created.body).toBe(200);
});

afterAll(async () => {
  await stack?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

describe.each(['v1', 'v4'] as const)('OSS, signature %s: refused requests change nothing', (version) => {
  const key = (what: string) => `refused/${version}/${what}`;

  async function refusedPut(
    what: string,
    creds: Credentials,
    expected: { status: number; code: string },
    opts: { now?: Date; tamper?: (h: OssRequest['headers']) => void } = {},
  ): Promise<RawResponse> {
    const call = putCall(key(what));
    const req = signedOss(call, creds, version, opts.now);
    opts.tamper?.(req.headers);
    const r = await sendOss(req, call.body);
    expect([r.status, ossCode(r)], r.body).toEqual([expected.status, expected.code]);
    // OSS error bodies carry the request id; the header does too.
    expect(r.body).toMatch(/<RequestId>[0-9A-F]{24}<\/RequestId>/);
    expect(r.headers['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
    expect(r.body).not.toContain(SECRET);
    expect(r.body).not.toContain(creds.accessKeySecret);
    expect(await headStatus(key(what))).toBe(404);
    return r;
  }

  async function headStatus(k: string): Promise<number> {
    return (await sendOss(signedOss({ method: 'HEAD', key: k }, GOOD, version))).status;
  }

  it('control: the same request correctly signed is accepted and stores the object', async () => {
    const call = putCall(key('control'));
    const r = await sendOss(signedOss(call, GOOD, version), call.body);
    expect(r.status, r.body).toBe(200);
    expect(await headStatus(key('control'))).toBe(200);
  });

  it('wrong secret: 403 SignatureDoesNotMatch', async () => {
    await refusedPut('wrong-secret', WRONG, { status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('unknown access key id: 403 InvalidAccessKeyId', async () => {
    await refusedPut('unknown-key', UNKNOWN, { status: 403, code: 'InvalidAccessKeyId' });
  });

  it('one character of the signature flipped: 403 SignatureDoesNotMatch', async () => {
    await refusedPut(
      'flipped',
      GOOD,
      { status: 403, code: 'SignatureDoesNotMatch' },
      {
        tamper: (h) => {
          h['authorization'] = flipLastSignatureChar(h['authorization'] as string);
        },
      },
    );
  });

  it('a signed header changed after signing (x-oss-meta-*, content-type, date): 403 SignatureDoesNotMatch', async () => {
    await refusedPut(
      'tampered-meta',
      GOOD,
      { status: 403, code: 'SignatureDoesNotMatch' },
      {
        tamper: (h) => {
          h['x-oss-meta-origin'] = 'attacker';
        },
      },
    );
    await refusedPut(
      'tampered-acl',
      GOOD,
      { status: 403, code: 'SignatureDoesNotMatch' },
      {
        tamper: (h) => {
          h['x-oss-object-acl'] = 'public-read';
        },
      },
    );
    await refusedPut(
      'tampered-type',
      GOOD,
      { status: 403, code: 'SignatureDoesNotMatch' },
      {
        tamper: (h) => {
          h['content-type'] = 'text/html';
        },
      },
    );
    await refusedPut(
      'tampered-date',
      GOOD,
      { status: 403, code: 'SignatureDoesNotMatch' },
      {
        tamper: (h) => {
          const d = new Date(Date.now() - 60_000);
          h['x-oss-date'] = version === 'v1' ? d.toUTCString() : d.toISOString().replace(/[-:]|\.\d+/g, '');
        },
      },
    );
  });

  it('a date 16 minutes in the past or the future: 403 RequestTimeTooSkewed', async () => {
    await refusedPut('past', GOOD, { status: 403, code: 'RequestTimeTooSkewed' }, { now: new Date(Date.now() - SKEW_MS) });
    await refusedPut('future', GOOD, { status: 403, code: 'RequestTimeTooSkewed' }, { now: new Date(Date.now() + SKEW_MS) });
  });

  it('a captured valid request replayed 16 minutes later: 403 RequestTimeTooSkewed, nothing overwritten', async () => {
    const call = putCall(key('replayed'));
    const req = signedOss(call, GOOD, version);
    const first = await sendOss(req, call.body);
    expect(first.status, first.body).toBe(200);
    const etag = first.headers['etag'];
    // The same bytes, a different body would not verify anyway; replay a DELETE too.
    const del = signedOss({ method: 'DELETE', key: key('replayed') }, GOOD, version);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + SKEW_MS);
    const replayedPut = await sendOss(req, 'a different body the attacker wants stored');
    const replayedDel = await sendOss(del);
    vi.useRealTimers();
    expect([replayedPut.status, ossCode(replayedPut)]).toEqual([403, 'RequestTimeTooSkewed']);
    expect([replayedDel.status, ossCode(replayedDel)]).toEqual([403, 'RequestTimeTooSkewed']);
    const head = await sendOss(signedOss({ method: 'HEAD', key: key('replayed') }, GOOD, version));
    expect([head.status, head.headers['etag']]).toEqual([200, etag]);
  });

  it('a refused DELETE and a refused bucket deletion delete nothing', async () => {
    const call = putCall(key('kept'));
    expect((await sendOss(signedOss(call, GOOD, version), call.body)).status).toBe(200);
    for (const creds of [WRONG, UNKNOWN]) {
      const del = await sendOss(signedOss({ method: 'DELETE', key: key('kept') }, creds, version));
      expect(del.status).toBe(403);
      const delBucket = await sendOss({ ...signedOss({ method: 'DELETE' }, creds, version) });
      expect(delBucket.status).toBe(403);
    }
    const stale = await sendOss(signedOss({ method: 'DELETE', key: key('kept') }, GOOD, version, new Date(Date.now() - SKEW_MS)));
    expect([stale.status, ossCode(stale)]).toEqual([403, 'RequestTimeTooSkewed']);
    expect(await headStatus(key('kept'))).toBe(200);
  });
});

describe('OSS through the real ali-oss client', () => {
  const client = (creds: Credentials, v4: boolean) =>
    new OSS({
      endpoint: stack.oss.url,
      region: `oss-${REGION}`,
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      bucket: BUCKET,
      ...(v4 ? { authorizationV4: true } : {}),
      timeout: 10_000,
    } as OSS.Options);

  it.each([false, true])(
    'wrong secret / unknown key id (V4 %s): the client gets the code and a request id, nothing is stored',
    async (v4) => {
      for (const [creds, code] of [
        [WRONG, 'SignatureDoesNotMatch'],
        [UNKNOWN, 'InvalidAccessKeyId'],
      ] as const) {
        const k = `refused/ali-oss/${v4 ? 'v4' : 'v1'}/${code}`;
        const err = (await client(creds, v4)
          .put(k, Buffer.from('never stored'))
          .then(
            () => undefined,
            (e: unknown) => e,
          )) as { status?: number; code?: string; requestId?: string; message?: string } | undefined;
        expect(err, code).toBeDefined();
        expect([err?.status, err?.code]).toEqual([403, code]);
        expect(err?.requestId).toMatch(/^[0-9A-F]{24}$/);
        expect(String(err?.message)).not.toContain(creds.accessKeySecret);
        const head = await client(GOOD, v4)
          .head(k)
          .then(
            () => 200,
            (e: { status?: number }) => e.status,
          );
        expect(head).toBe(404);
      }
    },
  );

  it('a bucket creation with a wrong secret creates no bucket', async () => {
    const c = client(WRONG, true);
    await expect(c.putBucket('sec-never-created')).rejects.toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(stack.oss.store.hasBucket('sec-never-created')).toBe(false);
  });
});

// ---- KMS --------------------------------------------------------------------------------

describe('KMS (RPC signature)', () => {
  interface KmsResponse {
    status: number;
    json: { Code?: string; RequestId?: string; Message?: string; [k: string]: unknown };
  }

  async function callKms(
    creds: Credentials,
    opts: { now?: Date; nonce?: string; tamper?: (p: Record<string, string>) => void } = {},
  ): Promise<KmsResponse> {
    const params = signRpcParams(
      'POST',
      { Action: 'DescribeKey', Version: '2016-01-20', KeyId: 'alias/oss-sse-default', RegionId: REGION },
      creds,
      { ...(opts.now ? { now: opts.now } : {}), ...(opts.nonce ? { nonce: opts.nonce } : {}) },
    );
    opts.tamper?.(params);
    const body = new URLSearchParams(params).toString();
    const r = await send(stack.kms.url, 'POST', '/', { 'content-type': 'application/x-www-form-urlencoded' }, body);
    return { status: r.status, json: JSON.parse(r.body) as KmsResponse['json'] };
  }

  const state = () => JSON.stringify([stack.kms.keys.listKeys().map((k) => k.keyId), stack.kms.keys.listAliases()]);

  it('control: a correctly signed call succeeds', async () => {
    const r = await callKms(GOOD);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  });

  it.each([
    ['wrong secret', WRONG, {}, 'SignatureDoesNotMatch'],
    ['unknown key id', UNKNOWN, {}, 'InvalidAccessKeyId.NotFound'],
    ['16 minutes in the past', GOOD, { now: new Date(Date.now() - SKEW_MS) }, 'InvalidTimeStamp.Expired'],
    ['16 minutes in the future', GOOD, { now: new Date(Date.now() + SKEW_MS) }, 'InvalidTimeStamp.Expired'],
    [
      'a tampered parameter',
      GOOD,
      {
        tamper: (p: Record<string, string>) => {
          p.KeyId = 'alias/oss-sse-sm4';
        },
      },
      'SignatureDoesNotMatch',
    ],
  ] as const)('%s: refused with %s and a request id, the key ring unchanged', async (_name, creds, opts, code) => {
    const before = state();
    const r = await callKms(creds, opts);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.json.Code).toBe(code);
    expect(r.json.RequestId).toMatch(/\S/);
    expect(JSON.stringify(r.json)).not.toContain(SECRET);
    expect(JSON.stringify(r.json)).not.toContain(WRONG.accessKeySecret);
    expect(r.json).not.toHaveProperty('KeyMetadata');
    expect(state()).toBe(before);
  });

  it('a replayed call (same nonce) is refused; replayed 16 minutes later it is refused as expired', async () => {
    const nonce = `sec-replay-${Date.now()}`;
    expect((await callKms(GOOD, { nonce })).status).toBe(200);
    const again = await callKms(GOOD, { nonce, now: new Date(Date.now()) });
    expect(again.json.Code).toBe('SignatureNonceUsed');
    const stale = await callKms(GOOD, { nonce: `${nonce}-stale`, now: new Date(Date.now() - SKEW_MS) });
    expect(stale.json.Code).toBe('InvalidTimeStamp.Expired');
  });
});

// ---- FC ---------------------------------------------------------------------------------

describe('FC endpoint (FC signature)', () => {
  const path = '/2023-03-30/functions/oss-sse-backfill/invocations';
  // A payload the backfill function would refuse anyway: even an accepted call changes nothing.
  const payload = JSON.stringify({ bucket: 'Not_A_Valid_Bucket' });

  async function invoke(creds: Credentials, opts: { now?: Date; tamper?: (h: Record<string, string>) => void } = {}) {
    const fc = stack.fc;
    if (!fc) throw new Error('the stack started without the FC endpoint');
    const headers = signFcRequest(
      { method: 'POST', path, headers: { 'content-type': 'application/json', 'x-fc-invocation-type': 'Async' }, body: payload },
      creds,
      { ...(opts.now ? { now: opts.now } : {}) },
    );
    opts.tamper?.(headers);
    const r = await send(fc.url, 'POST', path, headers, payload);
    const json = r.body === '' ? {} : (JSON.parse(r.body) as { ErrorCode?: string; Code?: string; RequestId?: string; Message?: string });
    return { status: r.status, headers: r.headers, json, body: r.body };
  }

  const invocations = () => stack.runtime?.failures().length ?? -1;

  it.each([
    ['wrong secret', WRONG, {}, 403, 'SignatureNotMatch'],
    ['unknown key id', UNKNOWN, {}, 403, 'InvalidAccessKeyID'],
    ['16 minutes in the past', GOOD, { now: new Date(Date.now() - SKEW_MS) }, 403, 'RequestTimeTooSkewed'],
    ['16 minutes in the future', GOOD, { now: new Date(Date.now() + SKEW_MS) }, 403, 'RequestTimeTooSkewed'],
    [
      'a tampered signed header',
      GOOD,
      {
        tamper: (h: Record<string, string>) => {
          h['x-fc-invocation-type'] = 'Sync';
        },
      },
      403,
      'SignatureNotMatch',
    ],
    [
      'a flipped signature character',
      GOOD,
      {
        tamper: (h: Record<string, string>) => {
          h.authorization = flipLastSignatureChar(h.authorization as string);
        },
      },
      403,
      'SignatureNotMatch',
    ],
  ] as const)('%s: %s %s, the function is not invoked', async (_name, creds, opts, status, code) => {
    const before = invocations();
    const r = await invoke(creds, opts);
    expect(r.status, r.body).toBe(status);
    expect(r.json.ErrorCode ?? r.json.Code).toBe(code);
    expect(r.headers['x-fc-request-id']).toMatch(/\S/);
    expect(r.body).not.toContain(SECRET);
    expect(r.body).not.toContain(WRONG.accessKeySecret);
    await stack.idle();
    expect(invocations()).toBe(before);
  });
});
