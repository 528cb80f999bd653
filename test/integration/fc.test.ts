/**
 * The local FC server with the FC-like runtime behind it, driven through createFcInvoker —
 * the real @alicloud/fc2 client, loaded lazily, speaking the 2023-03-30 invoke API — with
 * signature verification on. Raw signed requests (shared/signing/fc.ts) check what the
 * SDK hides: status codes, headers, the Content-MD5 check.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fc2 from '@alicloud/fc2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFcInvoker, FcInvokeError, type FcInvoker } from '../../shared/fc-invoke';
import { verifyFcRequest } from '../../local/fc/verify';
import { signFcRequest, type Credentials } from '../../shared/signing';
import { startFcServer, type FcServer } from '../../local/fc/server';
import { createRuntime, type FunctionRuntime } from '../../local/runtime';
import { bundleFunctionFixtures } from '../helpers/function-fixtures';

const REGION = 'cn-hangzhou';
const ACCOUNT = '1234567890123456';
const AK = 'LTAI5tFcIntegrationKey01';
const SECRET = 'FcIntegrationSecretThatMustNeverLeak01';
const TOKEN = 'CAIS-FcIntegrationStsTokenThatMustNeverLeak';
// The functions run with the same key plus an STS token, as the local stack's role does.
const ROLE: Credentials = { accessKeyId: AK, accessKeySecret: SECRET, securityToken: TOKEN };

let dir = '';
let runtime: FunctionRuntime;
let server: FcServer;
const serverLog: string[] = [];
const errors: unknown[] = [];

function invoker(credentials: Credentials = { accessKeyId: AK, accessKeySecret: SECRET }, endpoint?: string): FcInvoker {
  return createFcInvoker({ endpoint: endpoint ?? server.url, region: REGION, accountId: ACCOUNT, credentials: () => credentials });
}

/** The FcInvokeError a call rejects with (kept for the no-secrets sweep). */
async function failure(p: Promise<unknown>): Promise<FcInvokeError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  errors.push(e);
  expect(e).toBeInstanceOf(FcInvokeError);
  return e as FcInvokeError;
}

const counter = (name: string) => join(dir, `${name}-${randomBytes(4).toString('hex')}.count`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oss-sse-fc-'));
  await bundleFunctionFixtures(dir);
  runtime = createRuntime({
    functions: [
      { name: 'echo', bundlePath: join(dir, 'echo', 'index.js'), env: {}, timeoutSeconds: 5 },
      { name: 'flaky', bundlePath: join(dir, 'flaky', 'index.js'), env: {}, timeoutSeconds: 5 },
      { name: 'slow', bundlePath: join(dir, 'slow', 'index.js'), env: {}, timeoutSeconds: 5 },
      { name: 'bad-config', bundlePath: join(dir, 'config-check', 'index.js'), env: { SSE_ALGORITHM: 'DES' }, timeoutSeconds: 5 },
    ],
    region: REGION,
    accountId: ACCOUNT,
    credentials: () => ROLE,
    log: () => undefined,
    asyncRetry: { maxAttempts: 1, baseDelayMs: 5 },
  });
  server = await startFcServer({
    region: REGION,
    accountId: ACCOUNT,
    credentials: { [AK]: SECRET },
    runtime,
    log: (l) => serverLog.push(l),
  });
});

afterAll(async () => {
  await server?.close();
  await runtime?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request signed by shared/signing/fc.ts, sent with node:http (fetch forbids setting Date). */
function raw(
  path: string,
  opts: {
    body?: string;
    invocationType?: string;
    creds?: Credentials;
    tamper?: (h: Record<string, string>) => void;
    sendBody?: string;
  } = {},
): Promise<RawResponse> {
  const headers = signFcRequest(
    {
      method: 'POST',
      // FC signs the path without the query (except for HTTP-trigger paths).
      path: path.split('?')[0] as string,
      headers: {
        ...(opts.body !== undefined ? { 'content-type': 'application/octet-stream' } : {}),
        ...(opts.invocationType ? { 'x-fc-invocation-type': opts.invocationType } : {}),
      },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    },
    opts.creds ?? { accessKeyId: AK, accessKeySecret: SECRET },
    { accountId: ACCOUNT },
  );
  opts.tamper?.(headers);
  const payload = opts.sendBody ?? opts.body;
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${server.url}${path}`,
      {
        method: 'POST',
        headers: { ...headers, ...(payload !== undefined ? { 'content-length': String(Buffer.byteLength(payload)) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface EchoResult {
  isBuffer: boolean;
  eventText: string;
  context: { requestId: string; credentials: Credentials; accountId: string; function: { name: string } };
}

describe('sync invocation', () => {
  it('returns the handler’s JSON result and FC’s request id, which the handler saw', async () => {
    const payload = { bucket: 'b', keys: ['a/中.txt'], n: 1 };
    const { requestId, result } = await invoker().invoke('echo', payload, { async: false });
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const r = result as EchoResult;
    expect(r.isBuffer).toBe(true);
    expect(JSON.parse(r.eventText)).toEqual(payload);
    expect(r.context.requestId).toBe(requestId);
    expect(r.context.function.name).toBe('echo');
    expect(r.context.accountId).toBe(ACCOUNT);
  });

  it('sends strings and Buffers byte for byte, and falsy JSON values as JSON', async () => {
    const text = (await invoker().invoke('echo', 'plain text', { async: false })).result as EchoResult;
    expect(text.eventText).toBe('plain text');
    const bytes = (await invoker().invoke('echo', Buffer.from('{"x":1}'), { async: false })).result as EchoResult;
    expect(bytes.eventText).toBe('{"x":1}');
    const zero = (await invoker().invoke('echo', 0, { async: false })).result as EchoResult;
    expect(zero.eventText).toBe('0');
  });

  it('answers 200 with x-fc-request-id and the result as the body', async () => {
    const res = await raw('/2023-03-30/functions/slow/invocations', { body: '{"ms":1}' });
    expect(res.status).toBe(200);
    expect(res.headers['x-fc-error-type']).toBeUndefined();
    const requestId = res.headers['x-fc-request-id'];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(res.body)).toMatchObject({ requestId });
  });

  it('serves the 2016-08-15 path fc2’s invokeFunction uses', async () => {
    const C = (Fc2 as unknown as { default?: typeof Fc2 }).default ?? Fc2;
    const client = new C(ACCOUNT, { accessKeyID: AK, accessKeySecret: SECRET, region: REGION, endpoint: server.url });
    const res = await client.invokeFunction('any-service', 'echo', 'via fc2', {}, 'LATEST');
    expect(typeof res.data).toBe('string');
    expect((JSON.parse(res.data as string) as EchoResult).eventText).toBe('via fc2');
    expect(res.headers['x-fc-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('async invocation', () => {
  it('answers 202 at once and the invocation really runs', async () => {
    const file = counter('async');
    const res = await raw('/2023-03-30/functions/flaky/invocations', {
      body: JSON.stringify({ counterFile: file, failTimes: 0 }),
      invocationType: 'Async',
    });
    expect(res.status).toBe(202);
    expect(res.body).toBe('');
    expect(res.headers['x-fc-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    await runtime.idle();
    expect(await readFile(file, 'utf8')).toBe('1');
  });

  it('through the invoker: resolves with the request id; the handler runs with that id', async () => {
    const file = counter('async-invoker');
    const before = runtime.failures().length;
    const { requestId, result } = await invoker().invoke('flaky', { counterFile: file, failTimes: 1 }, { async: true });
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result).toBeUndefined();
    await runtime.idle();
    // Failed once, retried by the runtime (FC's async retry), then succeeded.
    expect(await readFile(file, 'utf8')).toBe('2');
    expect(runtime.failures()).toHaveLength(before);
  });

  it('a failing async invocation ends in the runtime’s failure record under FC’s request id, not at the caller', async () => {
    const file = counter('async-fail');
    const { requestId } = await invoker().invoke('flaky', { counterFile: file, failTimes: 9 }, { async: true });
    await runtime.idle();
    expect(runtime.failures().find((f) => f.requestId === requestId)).toMatchObject({ functionName: 'flaky', attempts: 2 });
  });

  it('refuses an async payload above 128 KiB with EntityTooLarge', async () => {
    const e = await failure(invoker().invoke('echo', 'x'.repeat(128 * 1024 + 1), { async: true }));
    expect(e).toMatchObject({ code: 'EntityTooLarge', status: 400 });
  });
});

describe('a failing function', () => {
  it('→ FcInvokeError UnhandledInvocationError with the handler’s message (FC: 200 + x-fc-error-type)', async () => {
    const file = counter('sync-fail');
    const e = await failure(invoker().invoke('flaky', { counterFile: file, failTimes: 9 }, { async: false }));
    expect(e.code).toBe('UnhandledInvocationError');
    expect(e.message).toBe('attempt 1 failed');
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.transient).toBe(false);
    expect(e.detail?.errorType).toBe('TransientError');
    expect(e.detail?.stackTrace?.length).toBeGreaterThan(0);
    // Sync invocations are not retried.
    expect(await readFile(file, 'utf8')).toBe('1');

    const res = await raw('/2023-03-30/functions/flaky/invocations', {
      body: JSON.stringify({ counterFile: counter('raw-fail'), failTimes: 9 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-fc-error-type']).toBe('UnhandledInvocationError');
    expect(JSON.parse(res.body)).toMatchObject({ errorMessage: 'attempt 1 failed', errorType: 'TransientError' });
  });

  it('a cold-start failure reports the bundle’s message', async () => {
    const e = await failure(invoker().invoke('bad-config', {}, { async: false }));
    expect(e.code).toBe('UnhandledInvocationError');
    expect(e.message).toBe('SSE_ALGORITHM must be AES256, KMS or SM4 (got "DES")');
  });

  it('credentials a function puts in its error message do not reach the caller', async () => {
    const e = await failure(
      invoker(ROLE).invoke('flaky', { counterFile: counter('leak'), failTimes: 9, leakSecret: true }, { async: false }),
    );
    expect(e.message).toBe('attempt 1 failed (secret [redacted] token [redacted])');
  });
});

describe('refusals', () => {
  it('an unknown function → FunctionNotFound (404) naming it', async () => {
    const e = await failure(invoker().invoke('no-such-function', {}, { async: false }));
    expect(e).toMatchObject({
      code: 'FunctionNotFound',
      status: 404,
      message: "function 'no-such-function' does not exist.",
      transient: false,
    });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const asyncErr = await failure(invoker().invoke('no-such-function', {}, { async: true }));
    expect(asyncErr.code).toBe('FunctionNotFound');
  });

  it('a name FC would not accept is refused before any request', async () => {
    const lines = serverLog.length;
    const e = await failure(invoker().invoke('../echo', {}, { async: false }));
    expect(e.code).toBe('InvalidArgument');
    expect(serverLog.length).toBe(lines);
  });

  it('a wrong secret → 403 SignatureNotMatch and nothing runs', async () => {
    const file = counter('wrong-secret');
    const e = await failure(
      invoker({ accessKeyId: AK, accessKeySecret: SECRET + 'x' }).invoke('flaky', { counterFile: file, failTimes: 0 }, { async: true }),
    );
    expect(e).toMatchObject({ code: 'SignatureNotMatch', status: 403, transient: false });
    expect(e.message).toContain('does not match the signature you provided');
    await runtime.idle();
    expect(existsSync(file)).toBe(false);
    expect(serverLog.at(-1)).toMatch(/^FC POST - 403 /);
  });

  it('an unknown AccessKey id → 403 InvalidAccessKeyID, the id redacted from the message', async () => {
    const e = await failure(invoker({ accessKeyId: 'LTAI5tUnknownKeyId99', accessKeySecret: SECRET }).invoke('echo', {}, { async: false }));
    expect(e).toMatchObject({ code: 'InvalidAccessKeyID', status: 403, message: "invalid access key ID '[redacted]'" });
  });

  it('another account’s x-fc-account-id → 403 AccessDenied', async () => {
    const e = await failure(
      createFcInvoker({
        endpoint: server.url,
        region: REGION,
        accountId: '9999999999999999',
        credentials: () => ({ accessKeyId: AK, accessKeySecret: SECRET }),
      }).invoke('echo', {}, { async: false }),
    );
    // Real FC's answer to an account id that is not the caller's (docs/oss-behaviour.md#function-compute-invoke-api).
    expect(e).toMatchObject({ code: 'AccessDenied', status: 403, message: "The service or function doesn't belong to you." });
    expect(serverLog.at(-1)).toMatch(/^FC POST - 403 /);
  });

  it('another account in an FC endpoint Host → 403 AccessDenied; this account in it → served', async () => {
    const path = '/2023-03-30/functions/echo/invocations';
    const other = await raw(path, { body: '{}', tamper: (h) => (h.host = `9999999999999999.${REGION}.fc.aliyuncs.com`) });
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body)).toMatchObject({ ErrorCode: 'AccessDenied', Code: 'AccessDenied' });
    const own = await raw(path, { body: '{}', tamper: (h) => (h.host = `${ACCOUNT}.${REGION}-internal.fc.aliyuncs.com`) });
    expect(own.status).toBe(200);
  });

  it.each([
    ['missing', ''],
    ['not numeric', 'me@example.com'],
  ])('an account id that is %s → InvalidArgument naming it, before any request', async (_, accountId) => {
    const before = serverLog.length;
    const e = await failure(
      createFcInvoker({
        endpoint: server.url,
        region: REGION,
        accountId,
        credentials: () => ({ accessKeyId: AK, accessKeySecret: SECRET }),
      }).invoke('echo', {}, { async: false }),
    );
    expect(e).toMatchObject({ code: 'InvalidArgument', status: undefined, transient: false });
    expect(e.message).toMatch(/account id/);
    expect(e.message).not.toMatch(/TypeError/);
    expect(serverLog.length).toBe(before);
  });

  it('a body that does not match its Content-MD5 → 400 InvalidArgument and nothing runs', async () => {
    const file = counter('md5');
    const body = JSON.stringify({ counterFile: file, failTimes: 0 });
    const res = await raw('/2023-03-30/functions/flaky/invocations', {
      body,
      sendBody: body.replace('"failTimes":0', '"failTimes":1'),
      invocationType: 'Async',
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ ErrorCode: 'InvalidArgument', RequestId: res.headers['x-fc-request-id'] });
    await runtime.idle();
    expect(existsSync(file)).toBe(false);
  });

  it('unsupported routes, qualifiers and invocation types are refused with FC’s codes', async () => {
    expect(JSON.parse((await raw('/2023-03-30/functions')).body)).toMatchObject({ ErrorCode: 'PathNotSupported' });
    expect((await raw('/2023-03-30/functions/echo/invocations?qualifier=v1', { body: '{}' })).status).toBe(400);
    const task = await raw('/2023-03-30/functions/echo/invocations', { body: '{}', invocationType: 'Task' });
    expect(task.status).toBe(400);
    expect(JSON.parse(task.body)).toMatchObject({ ErrorCode: 'InvalidArgument' });
  });
});

describe('STS credentials', () => {
  it('a token is sent, signed and accepted', async () => {
    const { result } = await invoker(ROLE).invoke('echo', 'with token', { async: false });
    expect((result as EchoResult).eventText).toBe('with token');
    // The token is part of the signature: a swapped token is refused.
    const res = await raw('/2023-03-30/functions/echo/invocations', {
      body: 'x',
      creds: ROLE,
      tamper: (h) => {
        expect(h['x-fc-security-token']).toBe(TOKEN);
        h['x-fc-security-token'] = TOKEN + '2';
      },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ ErrorCode: 'SignatureNotMatch' });
  });

  it('the invoker sends the token even for an AccessKey id not starting with "STS" (fc2 alone would drop it)', async () => {
    // A recorder in front: what exactly does the invoker put on the wire?
    let seen: { path: string; headers: http.IncomingHttpHeaders } | undefined;
    const recorder = http.createServer((req, res) => {
      seen = { path: req.url ?? '', headers: req.headers };
      req.resume();
      res.writeHead(202, { 'x-fc-request-id': 'rec-1', 'content-length': 0 });
      res.end();
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
      expect(await invoker(ROLE, url).invoke('backfill', { bucket: 'b' }, { async: true })).toEqual({ requestId: 'rec-1' });
      expect(seen?.path).toBe('/2023-03-30/functions/backfill/invocations');
      expect(seen?.headers['x-fc-security-token']).toBe(TOKEN);
      expect(seen?.headers['x-fc-invocation-type']).toBe('Async');
      expect(
        verifyFcRequest('POST', seen?.path ?? '', {}, seen?.headers ?? {}, { lookupSecret: (id) => (id === AK ? SECRET : undefined) }),
      ).toEqual({
        ok: true,
        accessKeyId: AK,
        securityToken: TOKEN,
      });
    } finally {
      await new Promise<void>((resolve) => {
        recorder.close(() => resolve());
        recorder.closeAllConnections();
      });
    }
  });
});

describe('no answer', () => {
  it('a closed port → NetworkError, transient', async () => {
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const e = await failure(invoker(ROLE, `http://127.0.0.1:${port}`).invoke('echo', {}, { async: false }));
    expect(e).toMatchObject({ code: 'NetworkError', transient: true });
    expect(e.message).toContain(`127.0.0.1:${port}`);
  });
});

describe('errors carry no credentials', () => {
  it('none of the errors above quotes a secret, a token or an AccessKey id', () => {
    // Every describe above pushed its errors; this runs last (vitest keeps file order).
    expect(errors.length).toBeGreaterThanOrEqual(10);
    for (const e of errors) {
      const err = e as FcInvokeError;
      const text = [err.message, err.stack ?? '', JSON.stringify(err), JSON.stringify(err.detail ?? {})].join('\n');
      for (const secret of [SECRET, TOKEN, AK, 'LTAI5tUnknownKeyId99']) expect(text).not.toContain(secret);
    }
  });
});
