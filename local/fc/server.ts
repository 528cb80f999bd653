/**
 * The local Function-Compute-compatible server: a loopback HTTP endpoint for FC's invoke API
 * that the unmodified @alicloud/fc2 client (as shared/fc-invoke drives it) talks to as if it
 * were `https://<account>.<region>.fc.aliyuncs.com`. It verifies FC signatures
 * (shared/signing/fc.ts) and hands invocations to the FC-like runtime (local/runtime).
 *
 * Routes:
 * - `POST /2023-03-30/functions/<name>/invocations` (FC 3.0; `?qualifier=` LATEST only);
 * - `POST /2016-08-15/services/<service>[.LATEST]/functions/<name>/invocations` (FC 2.0, what
 *   fc2's invokeFunction sends); the service name is not checked: the runtime has none.
 * Header `x-fc-invocation-type`: `Sync` (default) or `Async`.
 *
 * Answers, as FC gives them: every response carries `x-fc-request-id`; sync → 200 with the
 * handler's output; a failed handler → 200 with `x-fc-error-type: UnhandledInvocationError`
 * and `{ errorMessage, errorType, stackTrace }`; async → 202, empty, once queued; refusals →
 * 4xx/5xx with both `{ ErrorCode, ErrorMessage }` (fc2) and `{ Code, Message }` (2023-03-30),
 * since which one the real endpoint sends is UNCONFIRMED. An account id (x-fc-account-id, or the
 * Host's first label) other than the endpoint's → 403 AccessDenied, as FC answers.
 * See docs/oss-behaviour.md#function-compute-invoke-api.
 */
import { randomUUID } from 'node:crypto';
import { listenLoopback } from '../listen';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FcQuery } from '../../shared/signing';
import { fcContentMd5Matches, verifyFcRequest } from './verify';
import { FunctionError } from '../runtime';
import { FC_PORT_RAM } from '../../shared/ram/actions';
import type { RamAuthority, RamCaller } from '../ram/authority';

/**
 * What the server needs of the runtime; FunctionRuntime satisfies it (the two overloads
 * mirror FunctionRuntime.invoke's, so it is assignable without a cast).
 */
export interface FcRuntimePort {
  has(name: string): boolean;
  /** Async: resolves once the event is queued (retries are the runtime's). */
  invoke(name: string, event: Buffer, options: { async: true; requestId: string }): Promise<unknown>;
  /** Sync: resolves with the handler's result, rejects with a FunctionError. */
  invoke(name: string, event: Buffer, options: { async?: false; requestId: string }): Promise<unknown>;
}

export interface FcServerOptions {
  host?: string;
  port?: number;
  region: string;
  /** The account the endpoint belongs to; a request whose x-fc-account-id (or FC Host) names another is refused. */
  accountId: string;
  /** Access keys the server accepts: id → secret. An STS token (x-fc-security-token) is accepted for any known id. */
  credentials: Record<string, string>;
  runtime: FcRuntimePort;
  /** One line per request (route, function, status, ms, request id); never headers, bodies or credentials. */
  log?: (line: string) => void;
  /** Allowed Date skew; default 15 minutes. */
  maxSkewMs?: number;
  /** RAM policies bound to access keys (local/ram/authority.ts); without it every verified request is allowed. */
  ram?: RamAuthority;
}

export interface FcServer {
  url: string;
  port: number;
  region: string;
  accountId: string;
  close(): Promise<void>;
}

/**
 * FC's payload limits: 32 MB for a sync invocation, 128 KB for an async one (FC limits
 * table; the async figure is the FC 2.0 one, the stricter reading).
 */
export const FC_MAX_SYNC_PAYLOAD = 32 * 1024 * 1024;
export const FC_MAX_ASYNC_PAYLOAD = 128 * 1024;

const INVOKE_V3_RE = /^\/2023-03-30\/functions\/([^/]+)\/invocations$/;
const INVOKE_V2_RE = /^\/2016-08-15\/services\/([^/]+)\/functions\/([^/]+)\/invocations$/;

class FcServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The FC error-code table's wording where it has one. */
const Errors = {
  pathNotSupported: (method: string, path: string) =>
    new FcServiceError(400, 'PathNotSupported', `'${method}' against '${path}' is not supported`),
  entityTooLarge: (max: number) => new FcServiceError(400, 'EntityTooLarge', `payload size exceeds maximum allowed size (${max} bytes)`),
  invalidArgument: (message: string) => new FcServiceError(400, 'InvalidArgument', message),
  functionNotFound: (name: string, service?: string) =>
    new FcServiceError(
      404,
      'FunctionNotFound',
      service === undefined ? `function '${name}' does not exist.` : `function '${name}' does not exist in service '${service}'`,
    ),
  internal: () => new FcServiceError(500, 'InternalServerError', 'an internal error has occurred. Please retry.'),
  // Real FC's answer to an account id that is not the caller's (fcli and fc2 output in
  // alibaba/funcraft#86; FC 2.0 — the 2023-03-30 answer is UNCONFIRMED).
  notYourAccount: () => new FcServiceError(403, 'AccessDenied', "The service or function doesn't belong to you."),
  // FC's words for a missing RAM permission (Serverless-Devs issue #350, alibaba/funcraft PR #243).
  notAuthorized: (action: string, resource: string) =>
    new FcServiceError(403, 'AccessDenied', `the caller is not authorized to perform '${action}' on resource '${resource}'`),
  // Local only: FC's code for STS credentials sent with another token is UNCONFIRMED.
  invalidSecurityToken: () =>
    new FcServiceError(403, 'InvalidSecurityToken', 'the security token is not the one issued with this AccessKey'),
};

/** Throws FC's refusal unless the caller may invoke the function (fc:InvokeFunction on its ARN, from the one table). */
function authorizeInvoke(ram: RamAuthority, caller: RamCaller, functionArn: string): void {
  const row = FC_PORT_RAM.invoke;
  if (row === undefined) throw Errors.internal(); // never: the table names the invoke action (and a missing row must not allow)
  const verdict = ram.authorize(
    'fc',
    caller,
    row.actions.map((action) => ({ action, resource: functionArn })),
  );
  if (verdict.allowed) return;
  if (verdict.reason === 'InvalidSecurityToken') throw Errors.invalidSecurityToken();
  throw Errors.notAuthorized(verdict.access.action, verdict.access.resource);
}

/** The account in an FC endpoint host (`<account>.<region>[-internal].fc.aliyuncs.com`), if the Host is one. */
function accountInHost(host: string | undefined): string | undefined {
  return host === undefined ? undefined : /^([^.]+)\.[^.]+\.fc\.aliyuncs\.com(?::\d+)?$/i.exec(host)?.[1];
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw Errors.invalidArgument(`the path segment "${s}" is not valid percent-encoding`);
  }
}

function parseQuery(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw Errors.entityTooLarge(max);
    chunks.push(c);
  }
  return Buffer.concat(chunks, size);
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The handler's result as FC's nodejs runtime puts it on the wire: bytes and strings as they are, the rest as JSON. */
function resultBody(result: unknown): Buffer {
  if (result === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(result)) return result;
  if (result instanceof Uint8Array) return Buffer.from(result);
  if (typeof result === 'string') return Buffer.from(result, 'utf8');
  return Buffer.from(JSON.stringify(result) ?? '', 'utf8');
}

interface Invocation {
  functionName: string;
  service?: string;
  qualifier?: string;
}

function route(method: string, path: string, query: FcQuery): Invocation {
  const v3 = INVOKE_V3_RE.exec(path);
  const v2 = v3 ? null : INVOKE_V2_RE.exec(path);
  if (!v3 && !v2) throw Errors.pathNotSupported(method, path);
  if (method !== 'POST') throw Errors.pathNotSupported(method, path);
  if (v3) {
    const q = query.qualifier;
    const qualifier = typeof q === 'string' ? q : q?.[0];
    return { functionName: decodeSegment(v3[1] as string), ...(qualifier ? { qualifier } : {}) };
  }
  // FC 2.0: `<service>.<qualifier>` (fc2 getServiceName joins them with '.').
  const serviceSegment = decodeSegment((v2 as RegExpExecArray)[1] as string);
  const dot = serviceSegment.indexOf('.');
  const service = dot < 0 ? serviceSegment : serviceSegment.slice(0, dot);
  const qualifier = dot < 0 ? undefined : serviceSegment.slice(dot + 1);
  return { functionName: decodeSegment((v2 as RegExpExecArray)[2] as string), service, ...(qualifier ? { qualifier } : {}) };
}

export async function startFcServer(options: FcServerOptions): Promise<FcServer> {
  const { region, accountId, runtime } = options;
  const secrets = new Map(Object.entries(options.credentials));
  const lookupSecret = (id: string) => secrets.get(id) ?? options.ram?.secretOf(id);

  function send(res: ServerResponse, status: number, requestId: string, body: Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'x-fc-request-id': requestId, 'content-length': body.length, ...headers });
    res.end(body);
  }

  function sendError(res: ServerResponse, err: FcServiceError, requestId: string): void {
    const json = JSON.stringify({
      ErrorCode: err.code,
      ErrorMessage: err.message,
      RequestId: requestId,
      Code: err.code,
      Message: err.message,
    });
    send(res, err.status, requestId, Buffer.from(json, 'utf8'), { 'content-type': 'application/json; charset=utf-8' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    let label = '-';
    let status = 500;
    try {
      const query = parseQuery(q < 0 ? '' : rawUrl.slice(q + 1));
      const body = await readBody(req, FC_MAX_SYNC_PAYLOAD);

      const auth = verifyFcRequest(method, path, query, req.headers, {
        lookupSecret,
        ...(options.maxSkewMs ? { maxSkewMs: options.maxSkewMs } : {}),
      });
      if (!auth.ok) throw new FcServiceError(auth.status, auth.code, auth.message);
      const claimedAccounts = [firstHeader(req.headers['x-fc-account-id']), accountInHost(firstHeader(req.headers.host))];
      if (claimedAccounts.some((claimed) => claimed !== undefined && claimed !== accountId)) throw Errors.notYourAccount();
      // The signature covers the Content-MD5 header, not the bytes: check those here (UNCONFIRMED
      // that FC does; the stricter reading, docs/oss-behaviour.md#function-compute-invoke-api).
      const md5 = firstHeader(req.headers['content-md5']);
      if (md5 !== undefined && md5 !== '' && !fcContentMd5Matches(md5, body)) {
        throw Errors.invalidArgument('the Content-MD5 header does not match the request body');
      }

      const inv = route(method, path, query);
      label = inv.functionName;
      if (options.ram) {
        const caller = { accessKeyId: auth.accessKeyId, securityToken: auth.securityToken };
        authorizeInvoke(options.ram, caller, `acs:fc:${region}:${accountId}:functions/${inv.functionName}`);
      }
      if (inv.qualifier !== undefined && inv.qualifier !== 'LATEST') {
        throw Errors.invalidArgument(`qualifier '${inv.qualifier}': the local FC server serves only LATEST`);
      }
      const type = firstHeader(req.headers['x-fc-invocation-type']) ?? 'Sync';
      if (type !== 'Sync' && type !== 'Async') {
        throw Errors.invalidArgument(`x-fc-invocation-type '${type}' is not supported (Sync or Async)`);
      }
      const async = type === 'Async';
      if (async && body.length > FC_MAX_ASYNC_PAYLOAD) throw Errors.entityTooLarge(FC_MAX_ASYNC_PAYLOAD);
      if (!runtime.has(inv.functionName)) throw Errors.functionNotFound(inv.functionName, inv.service);

      let result: unknown;
      try {
        result = await (async
          ? runtime.invoke(inv.functionName, body, { async: true, requestId })
          : runtime.invoke(inv.functionName, body, { async: false, requestId }));
      } catch (e) {
        if (e instanceof FunctionError && e.kind === 'not-found') throw Errors.functionNotFound(inv.functionName, inv.service);
        if (e instanceof FunctionError && e.kind === 'closed') throw Errors.internal();
        if (e instanceof FunctionError) {
          // The function failed, the invocation did not: FC answers 200 and says so in x-fc-error-type.
          status = 200;
          send(res, 200, requestId, Buffer.from(JSON.stringify(e.toJSON()), 'utf8'), {
            'content-type': 'application/json; charset=utf-8',
            'x-fc-error-type': 'UnhandledInvocationError',
          });
          return;
        }
        throw e;
      }
      if (async) {
        status = 202;
        send(res, 202, requestId, Buffer.alloc(0));
        return;
      }
      status = 200;
      // The result's content type is UNCONFIRMED (undocumented; FC's own local emulator's); see docs/oss-behaviour.md#function-compute-invoke-api.
      send(res, 200, requestId, resultBody(result), { 'content-type': 'application/octet-stream' });
    } catch (e) {
      const err = e instanceof FcServiceError ? e : Errors.internal();
      if (!(e instanceof FcServiceError)) options.log?.(`fc internal error ${requestId}: ${(e as Error).stack ?? String(e)}`);
      status = err.status;
      if (!res.headersSent) {
        req.resume();
        sendError(res, err, requestId);
      } else {
        res.destroy();
      }
    } finally {
      if (options.log) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        options.log(`FC ${method} ${label} ${status} ${ms.toFixed(1)}ms ${requestId}`);
      }
    }
  }

  const listening = await listenLoopback(handle, options);
  return {
    url: listening.url,
    port: listening.port,
    region,
    accountId,
    close: listening.close,
  };
}
