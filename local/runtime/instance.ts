/**
 * One function's instance: a worker thread with the function's own environment, the bundle
 * loaded once (cold start), up to `concurrency` invocations in flight and a queue behind them.
 * Like FC, an invocation past its timeout kills the instance (and everything in flight on
 * it); the next invocation cold-starts a fresh one.
 */
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { FunctionError, type FunctionErrorKind } from './errors';
import {
  OUTPUT_END_MARKER,
  type InvokeMessage,
  type LogLevel,
  type WireContext,
  type WireError,
  type WireResult,
  type WorkerData,
  type WorkerMessage,
} from './protocol';
import { WORKER_SOURCE } from './worker-source';

export interface InstanceConfig {
  name: string;
  /** Absolute path of the bundle (dist/functions/<name>/index.js). */
  bundlePath: string;
  /** The worker's whole environment (base + function env), fixed per cold start. */
  env: () => Record<string, string>;
  timeoutSeconds: number;
  concurrency: number;
  /** A line the function wrote (console, context.logger, raw stdout/stderr). */
  functionLog: (level: LogLevel, requestId: string | undefined, time: string, message: string) => void;
  /** A line the runtime itself writes about this function (scrubbed by the caller). */
  runtimeLog: (level: LogLevel, requestId: string | undefined, message: string) => void;
}

interface Job {
  requestId: string;
  event: Buffer;
  context: WireContext;
  resolve: (value: unknown) => void;
  reject: (err: FunctionError) => void;
}

type ResultMessage = Extract<WorkerMessage, { type: 'result' }>;

interface InFlight extends Job {
  worker: Worker;
  timer: NodeJS.Timeout;
  /** The handler's result, held until the invocation's output is read (OUTPUT_END_MARKER). */
  result?: ResultMessage;
  /** How many of stdout and stderr have shown the invocation's end marker. */
  outputEnds: number;
}

const OUTPUT_STREAMS = 2;

export class FunctionInstance {
  private worker: Worker | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly queue: Job[] = [];
  private initError: WireError | undefined;
  private closed = false;
  private seq = 0;

  constructor(private readonly config: InstanceConfig) {}

  run(requestId: string, event: Buffer, context: WireContext): Promise<unknown> {
    if (this.closed)
      return Promise.reject(this.error('closed', requestId, { errorType: 'RuntimeClosed', errorMessage: 'the runtime is closed' }));
    if (this.initError) return Promise.reject(this.error('init', requestId, this.initError));
    return new Promise((resolve, reject) => {
      this.queue.push({ requestId, event, context, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const closedError: WireError = { errorType: 'RuntimeClosed', errorMessage: 'the runtime is closed' };
    for (const job of this.queue.splice(0)) job.reject(this.error('closed', job.requestId, closedError));
    const worker = this.worker;
    if (worker) {
      this.detach(worker, 'closed', closedError);
      await worker.terminate();
    }
  }

  private pump(): void {
    while (!this.closed && !this.initError && this.inFlight.size < this.config.concurrency) {
      const job = this.queue.shift();
      if (!job) return;
      const worker = this.worker ?? this.spawn();
      const id = ++this.seq;
      // The clock starts when the instance takes the invocation; like FC without an
      // initializer, a cold start counts against the first invocation's timeout.
      const timer = setTimeout(() => this.onTimeout(id), this.config.timeoutSeconds * 1000);
      this.inFlight.set(id, { ...job, worker, timer, outputEnds: 0 });
      const message: InvokeMessage = { type: 'invoke', id, event: new Uint8Array(job.event), context: job.context };
      worker.postMessage(message);
    }
  }

  private spawn(): Worker {
    const data: WorkerData = { bundlePath: this.config.bundlePath };
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      env: this.config.env(),
      workerData: data,
      // Parent flags (tsx/vitest loaders) must not leak into the function's runtime.
      execArgv: [],
      stdout: true,
      stderr: true,
    });
    this.worker = worker;
    worker.on('message', (m: unknown) => this.onMessage(worker, m as WorkerMessage)); // our own worker code sends only WorkerMessage
    worker.on('error', (err) => {
      if (worker !== this.worker) return;
      this.config.runtimeLog('ERROR', undefined, `instance crashed: ${err.name}: ${err.message}`);
      this.detach(worker, 'crash', { errorType: err.name, errorMessage: err.message });
      this.pump();
    });
    worker.on('exit', (code) => {
      if (worker !== this.worker) return;
      const wire = {
        errorType: 'ProcessExited',
        errorMessage: `Process exited unexpectedly before completing request (exit code ${code})`,
      };
      this.config.runtimeLog('ERROR', undefined, `instance exited unexpectedly (exit code ${code})`);
      this.detach(worker, 'crash', wire);
      this.pump();
    });
    // Raw writes (process.stdout.write) bypass the console hooks; still the function's output.
    for (const [stream, level] of [
      [worker.stdout, 'INFO'],
      [worker.stderr, 'ERROR'],
    ] as const) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        // A function's last write may lack its newline: the marker then ends that line.
        const marker = line.indexOf(OUTPUT_END_MARKER);
        const output = marker < 0 ? line : line.slice(0, marker);
        if (marker !== 0) this.config.functionLog(level, undefined, new Date().toISOString(), output);
        if (marker >= 0) this.onOutputEnd(worker, Number(line.slice(marker + OUTPUT_END_MARKER.length)));
      });
    }
    return worker;
  }

  private onMessage(worker: Worker, msg: WorkerMessage): void {
    switch (msg.type) {
      case 'log':
        this.config.functionLog(msg.level, msg.requestId, msg.time, msg.message);
        return;
      case 'loadError':
        if (worker !== this.worker) return;
        this.initError = msg.error;
        // Logged once: later invocations fail fast from the cached error without a new line.
        this.config.runtimeLog('ERROR', undefined, `cold start failed: ${msg.error.errorType}: ${msg.error.errorMessage}`);
        this.detach(worker, 'init', msg.error);
        for (const job of this.queue.splice(0)) job.reject(this.error('init', job.requestId, msg.error));
        void worker.terminate();
        return;
      case 'result': {
        const entry = this.inFlight.get(msg.id);
        if (!entry || entry.worker !== worker) return; // already failed (timeout, crash)
        entry.result = msg;
        this.settleIfDone(msg.id, entry);
        return;
      }
    }
  }

  private onOutputEnd(worker: Worker, id: number): void {
    const entry = this.inFlight.get(id);
    if (!entry || entry.worker !== worker) return;
    entry.outputEnds++;
    this.settleIfDone(id, entry);
  }

  /** Hands out the result once the handler returned and everything it wrote has been read. */
  private settleIfDone(id: number, entry: InFlight): void {
    const msg = entry.result;
    if (msg === undefined || entry.outputEnds < OUTPUT_STREAMS) return;
    this.inFlight.delete(id);
    clearTimeout(entry.timer);
    if (msg.ok) entry.resolve(decodeResult(msg.result));
    else entry.reject(this.error('handler', entry.requestId, msg.error));
    this.pump();
  }

  private onTimeout(id: number): void {
    const entry = this.inFlight.get(id);
    if (!entry) return;
    const wire: WireError = {
      errorType: 'FunctionTimeout',
      errorMessage: `Function timed out after ${this.config.timeoutSeconds} seconds`,
    };
    this.config.runtimeLog('ERROR', entry.requestId, `${wire.errorMessage}; terminating the instance`);
    // FC kills the instance: everything in flight on it fails with the timeout.
    this.detach(entry.worker, 'timeout', wire);
    void entry.worker.terminate();
    this.pump();
  }

  /** Forgets `worker` and fails whatever was running on it. */
  private detach(worker: Worker, kind: FunctionErrorKind, wire: WireError): void {
    if (this.worker === worker) this.worker = undefined;
    for (const [id, entry] of this.inFlight) {
      if (entry.worker !== worker) continue;
      this.inFlight.delete(id);
      clearTimeout(entry.timer);
      entry.reject(this.error(kind, entry.requestId, wire));
    }
  }

  private error(kind: FunctionErrorKind, requestId: string, wire: WireError): FunctionError {
    return new FunctionError(this.config.name, requestId, kind, wire);
  }
}

function decodeResult(result: WireResult): unknown {
  switch (result.kind) {
    case 'undefined':
      return undefined;
    case 'bytes':
      return Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength);
    case 'json':
      return JSON.parse(result.text) as unknown;
  }
}
