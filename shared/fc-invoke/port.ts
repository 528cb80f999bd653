/**
 * The port the backfill function (continuation, shards) and the CLI (`oss-sse invoke`) use
 * to invoke functions, and the error it throws. SDK-free, so tests can fake it.
 */

export interface FcInvokeResult {
  /** FC's x-fc-request-id: the invocation's id (async: the id its logs and retries carry). */
  requestId: string;
  /**
   * Sync only: the function's result. JSON is parsed; a body that is not JSON stays a string;
   * an empty body is undefined.
   */
  result?: unknown;
}

export interface FcInvoker {
  /**
   * Invokes `functionName` with `payload` (Buffer and string are sent as they are, anything
   * else as its JSON text). Async resolves once FC has accepted the event (202). Throws
   * FcInvokeError: a function that failed (code UnhandledInvocationError or
   * HandledInvocationError, message = the function's errorMessage), a refused request
   * (FunctionNotFound, SignatureNotMatch, …) or no answer (NetworkError, Timeout).
   */
  invoke(functionName: string, payload: unknown, opts: { async: boolean }): Promise<FcInvokeResult>;
}

export class FcInvokeError extends Error {
  override readonly name = 'FcInvokeError';

  readonly requestId: string | undefined;
  /** HTTP status of FC's answer; undefined when there was none. */
  readonly status: number | undefined;
  /** Worth retrying: throttling, 5xx, no answer. A failed function is not (FC retries async ones itself). */
  readonly transient: boolean;
  /** For a failed function: its errorType and stackTrace as FC reported them. */
  readonly detail: FunctionErrorDetail | undefined;

  constructor(
    /** FC's ErrorCode, the x-fc-error-type of a failed function, or NetworkError / Timeout / InvalidResponse / InvalidArgument. */
    readonly code: string,
    message: string,
    details: FcInvokeErrorDetails = {},
  ) {
    super(message);
    this.requestId = details.requestId;
    this.status = details.status;
    this.transient = details.transient ?? false;
    this.detail = details.detail;
  }
}

/** What FC reported about a function that failed. */
export interface FunctionErrorDetail {
  errorType?: string;
  stackTrace?: string[];
}

/** What is known about an invoke failure besides its code and message. */
export interface FcInvokeErrorDetails {
  requestId?: string;
  status?: number;
  /** Default false. */
  transient?: boolean;
  detail?: FunctionErrorDetail;
}

/**
 * FC function names: letters, digits, '_' and '-', not starting with a digit or '-', at most
 * 128 characters (FC 3.0 CreateFunction). Checked before sending, so a name never needs
 * escaping in the path fc2 signs unencoded.
 */
export const FC_FUNCTION_NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

/**
 * Alibaba Cloud account ids (UIDs) are numeric; the FC endpoint host starts with the one that
 * owns the functions. A login name or alias there makes an unresolvable host (funcraft #201).
 */
export const FC_ACCOUNT_ID_RE = /^[0-9]{1,32}$/;

/** Why `accountId` cannot name an FC endpoint (empty or not numeric); for the caller's error message. */
export function accountIdProblem(accountId: string): string {
  return accountId === ''
    ? 'no Alibaba Cloud account id: the FC endpoint is https://<account-id>.<region>.fc.aliyuncs.com'
    : `the account id ${JSON.stringify(accountId.slice(0, 64))} is not an Alibaba Cloud account id (the numeric id of the account that owns the functions)`;
}

/**
 * The FC endpoint URL. `override` (FC_ENDPOINT) is a URL, or host[:port] meaning https.
 * Default: `https://<accountId>.<region>-internal.fc.aliyuncs.com` inside FC (internal), else
 * `https://<accountId>.<region>.fc.aliyuncs.com` — the invoke endpoint the fc3 component uses
 * for the 2023-03-30 API (devsapp/fc3 src/resources/fc/impl/client.ts) and fc2's default host
 * with its `-internal` variant.
 */
export function fcEndpoint(opts: { accountId: string; region: string; endpoint?: string; internal?: boolean }): string {
  const override = opts.endpoint;
  if (override !== undefined && override !== '') {
    if (/^https?:\/\//i.test(override)) {
      const url = new URL(override);
      return `${url.protocol.toLowerCase()}//${url.host}`;
    }
    return `https://${override.replace(/\/+$/, '')}`;
  }
  return `https://${opts.accountId}.${opts.region}${opts.internal ? '-internal' : ''}.fc.aliyuncs.com`;
}
