/**
 * An FC-like runtime for nodejs20 bundles: each function runs in its own worker thread with
 * its own environment, gets `handler(event: Buffer, context)` calls, and async invocations
 * are retried with exponential backoff like FC's asyncInvokeConfig.maxAsyncRetryAttempts,
 * ending in a failure record. See docs/oss-behaviour.md#function-compute-runtime.
 */
import { randomUUID } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { createScrubber } from '../../shared/log';
import { FunctionError } from './errors';
import { FunctionInstance } from './instance';
import type { LogLevel, WireContext, WireError } from './protocol';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export interface FunctionConfig {
  /** The name the runtime registers and invokes it under. */
  name: string;
  /**
   * The name Function Compute knows it by (context.function.name, FC_FUNCTION_NAME): what a
   * function invoking itself names, and what its role's policy grants. Default `name`.
   */
  fcName?: string;
  /** The esbuild bundle exporting `handler`, e.g. dist/functions/<name>/index.js. */
  bundlePath: string;
  /** The function's environment variables (s.yaml `environmentVariables`). */
  env: Record<string, string>;
  /** Fractions are accepted so tests can use short timeouts. */
  timeoutSeconds: number;
  /** Reported in context.function.memory; default 512 (fc3 memorySize default). Not enforced. */
  memoryMB?: number;
  /** Invocations one instance runs at once (FC instanceConcurrency); default 8. */
  instanceConcurrency?: number;
  /** FC 2.0-style service, passed through to context.service when set. */
  service?: { name: string; qualifier?: string; versionId?: string };
}

export interface AsyncRetryOptions {
  /** Retries after the first attempt (FC maxAsyncRetryAttempts, default 3, 0..8). */
  maxAttempts: number;
  /** Delay before retry n is baseDelayMs * 2^(n-1). */
  baseDelayMs: number;
}

export interface FailureRecord {
  requestId: string;
  functionName: string;
  error: WireError;
  /** Tries made in total: 1 + retries. */
  attempts: number;
  event: Buffer;
}

export interface RuntimeOptions {
  functions: FunctionConfig[];
  region: string;
  accountId: string;
  /** Called per attempt with the function's name (each runs as its own role), so rotating STS credentials are picked up like FC's. */
  credentials: (functionName: string) => Credentials;
  /** Every line: the functions' output and the runtime's own (credential-free) lines. */
  log?: (line: string) => void;
  asyncRetry?: Partial<AsyncRetryOptions>;
  /** Called when an async invocation has failed its last attempt (FC's failure destination). */
  onFailure?: (record: FailureRecord) => void;
}

export interface InvokeOptions {
  async?: boolean;
  /** Defaults to a fresh UUID; the local FC server passes its x-fc-request-id. */
  requestId?: string;
}

export type InvokeEvent = Buffer | Uint8Array | string | object;

const DEFAULT_RETRY: AsyncRetryOptions = { maxAttempts: 3, baseDelayMs: 1000 };
const DEFAULT_MEMORY_MB = 512;
const DEFAULT_CONCURRENCY = 8;
/** The only parent variables a function sees; everything else comes from its own config. */
const BASE_ENV_KEYS = ['PATH', 'HOME', 'TMPDIR', 'LANG'] as const;

interface Registered {
  config: FunctionConfig;
  instance: FunctionInstance;
}

export class FunctionRuntime {
  private readonly functions = new Map<string, Registered>();
  private readonly retry: AsyncRetryOptions;
  private readonly failureLog: FailureRecord[] = [];
  private readonly write: (line: string) => void;
  /** Credential values seen so far (bounded), so rotated ones are scrubbed too. */
  private readonly secrets: string[] = [];
  private readonly scrub: (text: string) => string;
  private pendingAsync = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  private closed = false;

  constructor(private readonly options: RuntimeOptions) {
    this.retry = { ...DEFAULT_RETRY, ...options.asyncRetry };
    this.write = options.log ?? ((line) => process.stdout.write(`${line}\n`));
    this.scrub = createScrubber(() => this.secrets);
    for (const config of options.functions) {
      if (this.functions.has(config.name)) throw new Error(`function ${config.name} is configured twice`);
      const instance = new FunctionInstance({
        name: config.name,
        bundlePath: resolvePath(config.bundlePath),
        env: () => this.workerEnv(config),
        timeoutSeconds: config.timeoutSeconds,
        concurrency: config.instanceConcurrency ?? DEFAULT_CONCURRENCY,
        functionLog: (level, requestId, time, message) => this.write(formatLine(config.name, time, requestId, level, message)),
        runtimeLog: (level, requestId, message) => this.runtimeLog(config.name, level, requestId, message),
      });
      this.functions.set(config.name, { config, instance });
    }
  }

  has(name: string): boolean {
    return this.functions.has(name);
  }

  names(): string[] {
    return [...this.functions.keys()];
  }

  /**
   * Sync: resolves with the handler's return value (JSON round-tripped; a Buffer stays a
   * Buffer) or rejects with a FunctionError. Async: resolves with the request id at once
   * and runs in the background with retries; an unknown function rejects in both modes.
   */
  invoke(name: string, event: InvokeEvent, options: InvokeOptions & { async: true }): Promise<{ requestId: string }>;
  invoke(name: string, event: InvokeEvent, options?: InvokeOptions & { async?: false }): Promise<unknown>;
  invoke(name: string, event: InvokeEvent, options: InvokeOptions = {}): Promise<unknown> {
    const requestId = options.requestId ?? randomUUID();
    const fn = this.functions.get(name);
    if (!fn) {
      return Promise.reject(
        new FunctionError(name, requestId, 'not-found', { errorType: 'FunctionNotFound', errorMessage: `function not found: ${name}` }),
      );
    }
    if (this.closed) {
      return Promise.reject(
        new FunctionError(name, requestId, 'closed', { errorType: 'RuntimeClosed', errorMessage: 'the runtime is closed' }),
      );
    }
    const payload = toEventBuffer(event);
    if (!options.async) return this.attempt(fn, requestId, payload);
    this.pendingAsync++;
    void this.runAsync(fn, requestId, payload).finally(() => {
      this.pendingAsync--;
      if (this.pendingAsync === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
    return Promise.resolve({ requestId });
  }

  /** Async invocations that exhausted their retries, oldest first. */
  failures(): FailureRecord[] {
    return [...this.failureLog];
  }

  /** Resolves once no async invocation (including ones started meanwhile) is pending. */
  idle(): Promise<void> {
    if (this.pendingAsync === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sleeps) {
      clearTimeout(s.timer);
      s.done();
    }
    this.sleeps.clear();
    await Promise.all([...this.functions.values()].map((f) => f.instance.close()));
  }

  private attempt(fn: Registered, requestId: string, event: Buffer): Promise<unknown> {
    return fn.instance.run(requestId, event, this.context(fn.config, requestId));
  }

  private async runAsync(fn: Registered, requestId: string, event: Buffer): Promise<void> {
    const name = fn.config.name;
    const total = 1 + this.retry.maxAttempts;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.attempt(fn, requestId, event);
        return;
      } catch (err) {
        if (this.closed) return;
        const wire = toWire(err);
        if (attempt >= total) {
          const record: FailureRecord = { requestId, functionName: name, error: wire, attempts: attempt, event };
          this.failureLog.push(record);
          this.runtimeLog(
            name,
            'ERROR',
            requestId,
            `async invocation failed after ${attempt} attempts: ${wire.errorType}: ${wire.errorMessage}`,
          );
          this.options.onFailure?.(record);
          return;
        }
        const delay = this.retry.baseDelayMs * 2 ** (attempt - 1);
        this.runtimeLog(
          name,
          'WARN',
          requestId,
          `async attempt ${attempt}/${total} failed: ${wire.errorType}: ${wire.errorMessage}; retrying in ${delay}ms`,
        );
        await this.sleep(delay);
        if (this.closed) return;
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeps.delete(entry);
          resolve();
        }, ms),
        done: resolve,
      };
      this.sleeps.add(entry);
    });
  }

  private context(config: FunctionConfig, requestId: string): WireContext {
    const c = this.options.credentials(config.name);
    this.remember(c.accessKeyId, c.accessKeySecret, c.securityToken);
    return {
      requestId,
      credentials: { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken },
      region: this.options.region,
      accountId: this.options.accountId,
      function: {
        name: config.fcName ?? config.name,
        handler: 'index.handler',
        memory: config.memoryMB ?? DEFAULT_MEMORY_MB,
        timeout: config.timeoutSeconds,
      },
      ...(config.service ? { service: config.service } : {}),
    };
  }

  private workerEnv(config: FunctionConfig): Record<string, string> {
    const env: Record<string, string> = {};
    for (const key of BASE_ENV_KEYS) {
      const v = process.env[key];
      if (v !== undefined) env[key] = v;
    }
    // FC 3.0's built-in variables (no credentials: functions take those from context).
    Object.assign(env, {
      FC_FUNCTION_NAME: config.fcName ?? config.name,
      FC_FUNCTION_HANDLER: 'index.handler',
      FC_FUNCTION_MEMORY_SIZE: String(config.memoryMB ?? DEFAULT_MEMORY_MB),
      FC_REGION: this.options.region,
      FC_ACCOUNT_ID: this.options.accountId,
      FC_INSTANCE_ID: randomUUID(), // env() runs per cold start: a new id per instance
    });
    return { ...env, ...config.env };
  }

  private remember(...values: Array<string | undefined>): void {
    for (const v of values) {
      if (v === undefined || this.secrets.includes(v)) continue;
      this.secrets.push(v);
      if (this.secrets.length > 32) this.secrets.shift();
    }
  }

  /** The runtime's own lines: scrubbed, because error messages may quote anything. */
  private runtimeLog(name: string, level: LogLevel, requestId: string | undefined, message: string): void {
    this.write(this.scrub(formatLine(name, new Date().toISOString(), requestId, level, `[runtime] ${message}`)));
  }
}

export function createRuntime(options: RuntimeOptions): FunctionRuntime {
  return new FunctionRuntime(options);
}

/** FC's log line shape, prefixed with the function: `[name] <time> <requestId> [LEVEL] <message>`. */
function formatLine(name: string, time: string, requestId: string | undefined, level: LogLevel, message: string): string {
  return `[${name}] ${time} ${requestId ?? '-'} [${level}] ${message}`;
}

/** FC hands the handler the raw body; objects are sent as their JSON text. */
function toEventBuffer(event: InvokeEvent): Buffer {
  if (Buffer.isBuffer(event)) return event;
  if (event instanceof Uint8Array) return Buffer.from(event);
  if (typeof event === 'string') return Buffer.from(event, 'utf8');
  return Buffer.from(JSON.stringify(event), 'utf8');
}

function toWire(err: unknown): WireError {
  if (err instanceof FunctionError) return err.toJSON();
  if (err instanceof Error) return { errorType: err.name, errorMessage: err.message };
  return { errorType: 'Error', errorMessage: String(err) };
}
