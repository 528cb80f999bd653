/**
 * Retries with exponential backoff and full jitter (DESIGN: "Throttling, 5xx and network
 * errors: retry … inside the invocation's remaining time; a permanent error is reported,
 * never retried forever").
 *
 * Full jitter (wait = random() · min(cap, base · 2^attempt)) spreads the retries of many
 * parallel workers that were throttled at the same moment, which is exactly the case of a
 * sharded backfill hitting OSS's per-account QPS limit.
 */

export interface RetryOptions {
  /** Epoch ms: a wait that would end after it is never started; the last error is thrown instead. */
  deadline?: number;
  /** Total tries, the first one included. Default 8. */
  maxAttempts?: number;
  /** Backoff base in ms. Default 100. */
  baseMs?: number;
  /** Upper bound of one backoff window in ms. Default 10 000. */
  capMs?: number;
  /** Whether an error may go away by itself. Default: isTransientOssError. */
  isRetryable?: (err: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1). Default Math.random. */
  random?: () => number;
  /** The clock the deadline is compared with. Default Date.now. */
  now?: () => number;
  /** Called before each wait: the error, the 0-based attempt that failed, the wait in ms. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
}

export const RETRY_DEFAULTS = { maxAttempts: 8, baseMs: 100, capMs: 10_000 } as const;

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs fn(attempt) with attempt = 0, 1, 2, … until it resolves, the error is not retryable,
 * maxAttempts tries were made, or the next wait would end after the deadline. Always
 * rethrows the last error unchanged, so callers see what OSS actually said.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const maxAttempts = Math.max(1, Math.floor(opts.maxAttempts ?? RETRY_DEFAULTS.maxAttempts));
  const baseMs = opts.baseMs ?? RETRY_DEFAULTS.baseMs;
  const capMs = opts.capMs ?? RETRY_DEFAULTS.capMs;
  const isRetryable = opts.isRetryable ?? isTransientOssError;
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;

  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt + 1 >= maxAttempts || !isRetryable(err)) throw err;
      // 2^attempt overflows to Infinity long after the cap applies; min() keeps it finite.
      const waitMs = random() * Math.min(capMs, baseMs * 2 ** attempt);
      if (opts.deadline !== undefined && now() + waitMs > opts.deadline) throw err;
      opts.onRetry?.(err, attempt, waitMs);
      await sleep(waitMs);
    }
  }
}

/** OSS error codes that mean "slow down / try again", whatever the status. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'TotalQpsLimitExceeded',
  'MetaOperationQpsLimitExceeded',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
]);

/** ali-oss's status for a request without an answer: -1 network error, -2 ResponseTimeoutError. */
const ALI_OSS_NO_ANSWER: ReadonlySet<number> = new Set([-1, -2]);

/**
 * True for errors that may succeed when retried: throttling (503 *QpsLimitExceeded,
 * SlowDown, 429), any 5xx, requests without an answer (OssRequestError status
 * 'network-error' or 'timeout'; ali-oss's -1 and -2). Every 4xx is
 * permanent (AccessDenied, InvalidObjectState, FileImmutable, NoSuchKey,
 * PreconditionFailed, InvalidArgument, …): retrying cannot change the answer.
 * Duck-typed on `status`/`code`, so ali-oss errors are classified the same way.
 */
export function isTransientOssError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { status, code } = err as { status?: unknown; code?: unknown };
  if (status === 'network-error' || status === 'timeout') return true;
  if (typeof status !== 'number') return false;
  if (ALI_OSS_NO_ANSWER.has(status) || status === 429 || status >= 500) return true;
  if (status >= 400) return false;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}
