/**
 * FcInvoker over the official @alicloud/fc2 client, speaking the FC 3.0 (2023-03-30) invoke
 * API the way the fc3 component drives fc2: `client.version = '2023-03-30'` and the generic
 * `client.request('POST', '/functions/<name>/invocations', …)`, i.e.
 * `POST /2023-03-30/functions/<name>/invocations` with `x-fc-invocation-type: Sync | Async`.
 *
 * The SDK is imported on first use, not at module load: fc2 requires ali-oss, axios and ws at
 * load time, and the backfill function only invokes when it continues itself or fans out.
 *
 * What comes back: sync → the output; a failed function → 2xx with `x-fc-error-type` and
 * `{ errorMessage, errorType, stackTrace }`; async → 202; a refusal → 4xx/5xx, which fc2
 * throws as `FC<ErrorCode>Error`. See docs/oss-behaviour.md#function-compute-invoke-api.
 */
import type * as Fc2Sdk from '@alicloud/fc2';
import type { Credentials } from '../signing/oss';
import {
  accountIdProblem,
  FC_ACCOUNT_ID_RE,
  FC_FUNCTION_NAME_RE,
  FcInvokeError,
  fcEndpoint,
  type FcInvokeResult,
  type FcInvoker,
} from './port';

export const FC_API_VERSION = '2023-03-30';

export interface FcInvokerOptions {
  /** FC_ENDPOINT: URL or host[:port]; default the region's endpoint for the account (see fcEndpoint). */
  endpoint?: string;
  region: string;
  accountId: string;
  /** Read at every call: FC hands out rotating STS credentials. */
  credentials: () => Credentials | Promise<Credentials>;
  /** Inside FC: use the `-internal` endpoint when no endpoint is given. */
  internal?: boolean;
  /**
   * Whole-request budget (connect to last byte) in ms. Sync waits for the function, so its
   * default is 15 minutes; async only waits for FC to accept the event (default 30 s).
   */
  syncTimeoutMs?: number;
  asyncTimeoutMs?: number;
}

type Fc2Class = (typeof Fc2Sdk)['default'];

/**
 * fc2 is CommonJS with `module.exports = Client`. Through Node's ESM loader (vitest, tsx) the
 * namespace's `default` is that class; bundled by esbuild to CommonJS it is too; accept the
 * module itself being the class in case an interop layer unwraps it.
 */
function clientClassOf(mod: unknown): Fc2Class {
  const m = mod as { default?: unknown };
  if (typeof m.default === 'function') return m.default as Fc2Class;
  if (typeof mod === 'function') return mod as Fc2Class;
  const inner = m.default as { default?: unknown } | undefined;
  if (inner && typeof inner.default === 'function') return inner.default as Fc2Class;
  throw new Error('@alicloud/fc2 did not export its Client class');
}

let sdkLoad: Promise<Fc2Class> | undefined;
function loadSdk(): Promise<Fc2Class> {
  return (sdkLoad ??= import('@alicloud/fc2').then(clientClassOf, (e: unknown) => {
    sdkLoad = undefined; // let a later call try again
    throw e;
  }));
}

// fc2: `${method} ${path} failed with ${code}. requestid: ${requestid}, message: ${errMsg}.`
const FC2_HTTP_ERROR_RE = /failed with (\d{3})\. requestid: (.*?), message: ([\s\S]*)\.$/;
// FC's codes for "too many requests / no capacity right now" (FC error-code table).
const TRANSIENT_CODES = new Set(['ResourceExhausted', 'ResourceThrottled', 'Throttling', 'ServiceUnavailable', 'InternalServerError']);

function redact(text: string, creds: Credentials | undefined): string {
  let out = text;
  if (creds) {
    for (const s of [creds.accessKeySecret, creds.securityToken, creds.accessKeyId]) {
      if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]');
    }
  }
  return out;
}

function scrubError(e: FcInvokeError, creds: Credentials | undefined): FcInvokeError {
  const message = redact(e.message, creds);
  const trace = e.detail?.stackTrace?.map((l) => redact(l, creds));
  if (message === e.message && trace?.join('\n') === e.detail?.stackTrace?.join('\n')) return e;
  const detail = e.detail ? { ...e.detail, ...(trace ? { stackTrace: trace } : {}) } : undefined;
  return new FcInvokeError(e.code, message, { requestId: e.requestId, status: e.status, transient: e.transient, detail });
}

/** Any failure → FcInvokeError with FC's code and no credentials. */
export function toFcInvokeError(e: unknown, creds?: Credentials, endpoint?: string): FcInvokeError {
  if (e instanceof FcInvokeError) return scrubError(e, creds);
  const err = (e ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  const rawMessage = typeof err.message === 'string' ? err.message : String(e);
  const name = typeof err.name === 'string' ? err.name : 'Error';
  const http = name.startsWith('FC') ? FC2_HTTP_ERROR_RE.exec(rawMessage) : null;
  if (http) {
    const status = Number(http[1]);
    const requestId = http[2] && http[2] !== 'undefined' ? http[2] : undefined;
    const fcMessage = http[3] && http[3] !== 'undefined' ? http[3] : `FC answered HTTP ${status}`;
    // A body without ErrorCode (e.g. the 2023-03-30 `{ Code, Message }` shape) leaves fc2 without a code.
    const code = typeof err.code === 'string' && err.code !== '' ? err.code : 'UnknownError';
    const transient = status >= 500 || status === 429 || TRANSIENT_CODES.has(code);
    return new FcInvokeError(code, redact(fcMessage, creds), { requestId, status, transient });
  }
  if (e instanceof SyntaxError) {
    // fc2 JSON.parse()s any application/json body; a broken one lands here.
    return new FcInvokeError('InvalidResponse', 'FC answered with a body that is not valid JSON', { transient: true });
  }
  // No FC answer: connection refused/reset, DNS, timeouts. Keep only the error's name and
  // code; httpx appends the request URL to these messages, fc2 wraps nothing else.
  const code = name === 'RequestTimeoutError' ? 'Timeout' : 'NetworkError';
  const detail = typeof err.code === 'string' && /^[A-Z0-9_]+$/.test(err.code) ? err.code : name;
  return new FcInvokeError(code, `FC request failed before a response${endpoint ? ` from ${endpoint}` : ''}: ${detail}`, {
    transient: true,
  });
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Buffer and string as they are, anything else as JSON text (so 0, false and null arrive too). */
function encodePayload(payload: unknown): Buffer | string | null {
  if (payload === undefined) return null;
  if (Buffer.isBuffer(payload)) return payload.length > 0 ? payload : null;
  if (payload instanceof Uint8Array) return payload.length > 0 ? Buffer.from(payload) : null;
  if (typeof payload === 'string') return payload === '' ? null : payload;
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch {
    text = undefined; // BigInt, cycles
  }
  if (text === undefined) throw new FcInvokeError('InvalidArgument', 'the payload cannot be serialised as JSON');
  return text;
}

/** The body as the caller wants it: parsed JSON, else text; '' → undefined. */
function decodeBody(data: unknown): unknown {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : data;
  if (typeof text !== 'string') return text; // fc2 already parsed an application/json body
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function functionError(errorType: string, data: unknown, requestId: string): FcInvokeError {
  const body = decodeBody(data);
  const obj = (typeof body === 'object' && body !== null ? body : {}) as {
    errorMessage?: unknown;
    errorType?: unknown;
    stackTrace?: unknown;
  };
  const message =
    typeof obj.errorMessage === 'string' ? obj.errorMessage : typeof body === 'string' ? body : `the function failed (${errorType})`;
  const stackTrace = Array.isArray(obj.stackTrace) ? obj.stackTrace.filter((l): l is string => typeof l === 'string') : undefined;
  return new FcInvokeError(errorType, message, {
    requestId: requestId || undefined,
    status: 200,
    detail: {
      ...(typeof obj.errorType === 'string' ? { errorType: obj.errorType } : {}),
      ...(stackTrace ? { stackTrace } : {}),
    },
  });
}

export function createFcInvoker(opts: FcInvokerOptions): FcInvoker {
  const endpoint = fcEndpoint(opts);
  const syncTimeout = opts.syncTimeoutMs ?? 15 * 60_000;
  const asyncTimeout = opts.asyncTimeoutMs ?? 30_000;

  return {
    async invoke(functionName: string, payload: unknown, { async }: { async: boolean }): Promise<FcInvokeResult> {
      if (!FC_FUNCTION_NAME_RE.test(functionName)) {
        throw new FcInvokeError('InvalidArgument', `not a Function Compute function name: ${JSON.stringify(functionName.slice(0, 160))}`);
      }
      // The account id names the endpoint and goes in x-fc-account-id; fc2 would throw a bare TypeError without one.
      if (!FC_ACCOUNT_ID_RE.test(opts.accountId)) throw new FcInvokeError('InvalidArgument', accountIdProblem(opts.accountId));
      const body = encodePayload(payload);
      let Client: Fc2Class;
      try {
        Client = await loadSdk();
      } catch (e) {
        throw new FcInvokeError('SdkUnavailable', `@alicloud/fc2 could not be loaded: ${(e as Error).message}`);
      }
      const creds = await opts.credentials();
      let client: InstanceType<Fc2Class>;
      try {
        // A client per call: construction only copies fields, and credentials rotate.
        client = new Client(opts.accountId, {
          accessKeyID: creds.accessKeyId,
          accessKeySecret: creds.accessKeySecret,
          ...(creds.securityToken ? { securityToken: creds.securityToken } : {}),
          region: opts.region,
          endpoint,
          timeout: async ? asyncTimeout : syncTimeout,
        });
      } catch (e) {
        // fc2 throws a TypeError naming the missing field ('"config.region" must be passed in'); no request was sent.
        throw new FcInvokeError('InvalidArgument', `@alicloud/fc2 refused its configuration: ${redact((e as Error).message, creds)}`);
      }
      // fc2 sends x-fc-security-token only for AccessKey ids starting with "STS"; set it
      // directly so any STS pair (the local stack's role credentials too) carries its token.
      if (creds.securityToken) client.securityToken = creds.securityToken;
      client.version = FC_API_VERSION;
      try {
        const res = await client.request('POST', `/functions/${functionName}/invocations`, null, body, {
          'x-fc-invocation-type': async ? 'Async' : 'Sync',
          'x-fc-log-type': 'None',
        });
        const requestId = header(res.headers, 'x-fc-request-id') ?? '';
        const errorType = header(res.headers, 'x-fc-error-type');
        if (errorType) throw functionError(errorType, res.data, requestId);
        if (async) return { requestId };
        const result = decodeBody(res.data);
        return result === undefined ? { requestId } : { requestId, result };
      } catch (e) {
        throw toFcInvokeError(e, creds, endpoint);
      }
    },
  };
}
