/**
 * Messages between the runtime (main thread) and a function's worker thread, and the
 * context a handler receives. The worker side is plain JS (worker-source.ts), so these
 * types are the single description of what crosses the thread boundary.
 */

/** FC's error body: what a failed invocation reports. See docs/oss-behaviour.md#function-compute-runtime. */
export interface WireError {
  errorMessage: string;
  errorType: string;
  stackTrace?: string[];
}

export type LogLevel = 'INFO' | 'WARN' | 'ERROR' | 'DEBUG';

/** The handler's return value, encoded so bytes stay bytes and everything else is JSON. */
export type WireResult = { kind: 'undefined' } | { kind: 'json'; text: string } | { kind: 'bytes'; data: Uint8Array };

/**
 * The FC nodejs20 context minus `logger` (functions cannot cross threads; the worker adds
 * it). There is deliberately no getRemainingTimeInMilliseconds(): FC's nodejs runtime has
 * none, so a function computes its deadline as its own start time + function.timeout s.
 */
export interface WireContext {
  requestId: string;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  region: string;
  accountId: string;
  function: { name: string; handler: string; memory: number; timeout: number };
  service?: { name: string; qualifier?: string; versionId?: string };
}

/** What a handler sees as `context` (a type for fixtures and functions to import). */
export interface FcContext extends WireContext {
  logger: {
    info(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
    debug(...args: unknown[]): void;
  };
}

export interface InvokeMessage {
  type: 'invoke';
  id: number;
  event: Uint8Array;
  context: WireContext;
}

export type WorkerMessage =
  | { type: 'log'; level: LogLevel; requestId?: string; time: string; message: string }
  | { type: 'loadError'; error: WireError }
  | { type: 'result'; id: number; ok: true; result: WireResult }
  | { type: 'result'; id: number; ok: false; error: WireError };

/**
 * A worker writes `<marker><invocation id>` as a line on stdout and on stderr after an
 * invocation's output and before its result: the streams are not ordered with parentPort
 * messages, so the parent hands out the result only once both markers are read.
 */
export const OUTPUT_END_MARKER = '\u0000oss-sse:output-end:';

export interface WorkerData {
  bundlePath: string;
}
