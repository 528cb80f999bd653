/**
 * Injected latency, faults and a QPS limit for the local OSS server (`oss-sse local
 * --latency-ms/--fault-rate/--qps-limit …`), so the functions and the backfill can be run
 * against the failures real OSS and real networks produce.
 *
 * Per request (after its signature verified; requests signed with an exempt key are never
 * touched):
 * 1. QPS limit: a token bucket of `qpsLimit` tokens refilled at `qpsLimit` per second is
 *    taken from on arrival (the backfill's own bucket, shared/backfill/rate-limit.ts, so a
 *    client paced at exactly `qpsLimit` — a steady rate plus a burst under a second's worth —
 *    is never refused; arrivals bunched by a stall are absorbed by the second's burst); a
 *    request finding it empty is refused with 503 —
 *    MetaOperationQpsLimitExceeded for bucket-level requests, TotalQpsLimitExceeded for
 *    object-level ones (docs/oss-behaviour.md#limits) — and nothing is done.
 * 2. Latency: `latencyMs` plus a uniform jitter in [0, jitterMs).
 * 3. Faults: with the kind's rate, one of
 *    - `qps503`      503 TotalQpsLimitExceeded (object-level requests only),
 *    - `meta503`     503 MetaOperationQpsLimitExceeded (bucket-level requests only),
 *    - `internal500` 500 InternalError,
 *    - `reset`       the connection is reset (TCP RST) instead of answered,
 *    - `slow`        the answer comes after `slowMs` (past the client's timeout).
 *    A write (PUT, POST, DELETE) is faulted BEFORE or AFTER it is handled, at random: before,
 *    nothing is stored; after, the write happened entirely and only the answer is lost or
 *    replaced. The client cannot tell which from the error, as with a real network.
 *    Reads are always faulted before (for them the two are indistinguishable, and a large
 *    GET's body is never buffered).
 *
 * A faulted write is never partial: the store's own writes are atomic, and a fault only ever
 * replaces or withholds a complete answer. A request whose client has gone while the server
 * waited (latency, a slow fault) is dropped unhandled: it never lands later, behind the
 * client's retry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { TokenBucket } from '../../shared/backfill/rate-limit';
import { OssError } from './errors';

export const FAULT_KINDS = ['qps503', 'meta503', 'internal500', 'reset', 'slow'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultOptions {
  /** Added to every request before it is handled. Default 0. */
  latencyMs?: number;
  /** Uniform extra latency in [0, jitterMs). Default a fifth of latencyMs. */
  jitterMs?: number;
  /** Share of requests that fail, spread evenly over `faultKinds` (qps503 and meta503 share one slot: each fits one level). */
  faultRate?: number;
  /** The kinds `faultRate` is spread over. Default all. */
  faultKinds?: readonly FaultKind[];
  /** Per-kind rates, added to the kind's share of faultRate (e.g. `{ reset: 0.05 }`). */
  kinds?: Partial<Record<FaultKind, number>>;
  /** Requests per second beyond which requests get 503 (burst: one second's worth). Default unlimited. */
  qpsLimit?: number;
  /** How late a `slow` answer comes. Default 61 s: past ali-oss's and OssHttpClient's 60 s default timeouts. */
  slowMs?: number;
  /** Seed of the fault draws (the same seed and request order give the same faults). Default random. */
  seed?: number;
  /** Requests signed with these access key ids pass untouched (tests: a fault-free observer on the same store). */
  exemptAccessKeyIds?: readonly string[];
  /** Only requests this accepts are touched at all (tests: fault one exact request). Default all. */
  only?: (r: FaultRequest) => boolean;
  /** Fault writes always before or always after handling (tests). Default at random, half each. */
  phase?: FaultPhase;
}

export type FaultPhase = 'before' | 'after';

/** One injected fault, for tests to correlate with what a client saw. */
export interface FaultRecord {
  requestId: string;
  method: string;
  bucket?: string;
  key?: string;
  kind: FaultKind | 'qpsLimit' | 'dropped';
  /** before: nothing was done; after: the write happened, only its answer was lost or replaced. */
  phase: FaultPhase;
}

export interface FaultStats {
  /** Requests the injector saw (exempt ones not counted). */
  requests: number;
  /** Requests given latency. */
  delayed: number;
  /** Refused by the QPS limit. */
  qpsLimited: number;
  /** Dropped unhandled because the client had gone while the server waited. */
  dropped: number;
  /** Injected faults by kind (both phases). */
  injected: Record<FaultKind, number>;
  /** Of those, faults injected after the write was handled. */
  afterHandling: Record<FaultKind, number>;
}

/** One wall-clock second of the requests the injector saw (the QPS limit's own view). */
export interface TrafficSecond {
  /** Epoch seconds. */
  second: number;
  requests: number;
  /** Of those, refused by the QPS limit. */
  throttled: number;
}

/** What the server was asked, counted on its side: benchmarks read requests per object from it. */
export interface TrafficSnapshot {
  requests: number;
  throttled: number;
  /** By operation, e.g. `HEAD object`, `GET object?acl`, `PUT object`, `GET bucket`. */
  byOperation: Record<string, number>;
  /** The latest seconds (at most TRAFFIC_SECONDS_KEPT), oldest first; seconds without a request are left out. */
  perSecond: TrafficSecond[];
}

export const TRAFFIC_SECONDS_KEPT = 3600;

/** `HEAD object`, `GET object?acl`, `POST object?uploads`, `GET bucket`: method, level and valueless sub-resources. */
export function operationLabel(r: Pick<FaultRequest, 'method' | 'bucket' | 'key' | 'query'>): string {
  const level = r.key !== undefined ? 'object' : r.bucket ? 'bucket' : 'service';
  const subresources = Object.keys(r.query).filter((k) => r.query[k] === '');
  return `${r.method} ${level}${subresources.length > 0 ? `?${subresources.sort().join('&')}` : ''}`;
}

/** Per-second and per-operation request counts, bounded to the latest TRAFFIC_SECONDS_KEPT seconds. */
export class TrafficCounter {
  private requests = 0;
  private throttled = 0;
  private readonly byOperation = new Map<string, number>();
  private readonly seconds = new Map<number, TrafficSecond>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  count(operation: string, outcome: { throttled: boolean }): void {
    this.requests++;
    if (outcome.throttled) this.throttled++;
    this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1);
    const second = Math.floor(this.now() / 1000);
    let entry = this.seconds.get(second);
    if (!entry) {
      entry = { second, requests: 0, throttled: 0 };
      this.seconds.set(second, entry);
      // Maps iterate in insertion order: the first key is the oldest second.
      if (this.seconds.size > TRAFFIC_SECONDS_KEPT) this.seconds.delete(this.seconds.keys().next().value as number);
    }
    entry.requests++;
    if (outcome.throttled) entry.throttled++;
  }

  snapshot(): TrafficSnapshot {
    return {
      requests: this.requests,
      throttled: this.throttled,
      byOperation: Object.fromEntries(this.byOperation),
      perSecond: [...this.seconds.values()].map((s) => ({ ...s })),
    };
  }
}

export interface FaultRequest {
  method: string;
  /** Undefined or '' for service-level requests (ListBuckets). */
  bucket?: string;
  key?: string;
  /** Decoded query parameters ('' for valueless sub-resources: ?uploads, ?acl). */
  query: Readonly<Record<string, string>>;
  accessKeyId: string;
  requestId: string;
}

/** What a client got: an HTTP status, or no answer at all (connection reset, or the client was gone). */
export type Answered = number | 'no-answer';

/**
 * What the server does with a request: handle it (then, if `finish` is given, call it once
 * the handler has answered: it sends the faulted answer and says what was sent), or not, and
 * answer nothing (the connection was reset or the client is gone).
 */
export type Admission = { handle: true; finish?: () => Promise<Answered> } | { handle: false };

const HANDLE: Admission = { handle: true };
const JOURNAL_LIMIT = 20_000;
/** ali-oss and OssHttpClient both time out after 60 s by default; a `slow` answer must come later. */
export const DEFAULT_SLOW_MS = 61_000;

/** Throws a RangeError naming the first option that is out of range. */
export function validateFaultOptions(o: FaultOptions): void {
  const nonNegative = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a number ≥ 0, not ${v}`);
  };
  const rate = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1))
      throw new RangeError(`${name} must be a rate between 0 and 1, not ${v}`);
  };
  nonNegative('latencyMs', o.latencyMs);
  nonNegative('jitterMs', o.jitterMs);
  nonNegative('slowMs', o.slowMs);
  rate('faultRate', o.faultRate);
  for (const [k, v] of Object.entries(o.kinds ?? {})) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new RangeError(`unknown fault kind ${k} (kinds: ${FAULT_KINDS.join(', ')})`);
    rate(`the ${k} rate`, v);
  }
  for (const k of o.faultKinds ?? []) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new RangeError(`unknown fault kind ${k} (kinds: ${FAULT_KINDS.join(', ')})`);
  }
  if (o.faultKinds !== undefined && o.faultKinds.length === 0 && (o.faultRate ?? 0) > 0) {
    throw new RangeError('faultRate needs at least one fault kind');
  }
  if (o.qpsLimit !== undefined && !(Number.isFinite(o.qpsLimit) && o.qpsLimit > 0)) {
    throw new RangeError(`qpsLimit must be a number > 0, not ${o.qpsLimit}`);
  }
  if (o.phase !== undefined && o.phase !== 'before' && o.phase !== 'after')
    throw new RangeError(`phase must be before or after, not ${String(o.phase)}`);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw new RangeError(`seed must be an integer, not ${o.seed}`);
  const rates = effectiveRates(o);
  for (const level of ['object', 'bucket'] as const) {
    const total = applicableKinds(level).reduce((sum, k) => sum + rates[k], 0);
    if (total > 1 + 1e-9)
      throw new RangeError(`the fault rates of ${level}-level requests add up to ${Math.round(total * 1e6) / 1e6}, more than 1`);
  }
}

/** The rate of each kind: its share of faultRate plus its own rate. */
export function effectiveRates(o: FaultOptions): Record<FaultKind, number> {
  const listed = new Set<FaultKind>(o.faultKinds ?? FAULT_KINDS);
  // qps503 and meta503 each apply to one level only, so together they are one slot: every
  // request then fails with probability faultRate, whatever its level.
  const slots = listed.size - (listed.has('qps503') && listed.has('meta503') ? 1 : 0);
  const share = slots === 0 ? 0 : (o.faultRate ?? 0) / slots;
  const out = {} as Record<FaultKind, number>;
  for (const k of FAULT_KINDS) out[k] = (listed.has(k) ? share : 0) + (o.kinds?.[k] ?? 0);
  return out;
}

function applicableKinds(level: 'object' | 'bucket'): FaultKind[] {
  return FAULT_KINDS.filter((k) => (k === 'qps503' ? level === 'object' : k === 'meta503' ? level === 'bucket' : true));
}

/** mulberry32: a small seedable PRNG, uniform in [0, 1); the same sequence for the same seed (tests replay with it too). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const zeroCounts = (): Record<FaultKind, number> => ({ qps503: 0, meta503: 0, internal500: 0, reset: 0, slow: 0 });

function throttled(level: 'object' | 'bucket'): OssError {
  // Wording is the local stack's; the codes are OSS's. See docs/oss-behaviour.md#limits.
  return level === 'bucket'
    ? new OssError(503, 'MetaOperationQpsLimitExceeded', 'Please reduce your request rate of bucket-level operations.')
    : new OssError(503, 'TotalQpsLimitExceeded', 'Please reduce your request rate.');
}

function faultError(kind: 'qps503' | 'meta503' | 'internal500'): OssError {
  if (kind === 'internal500') return new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.');
  return throttled(kind === 'meta503' ? 'bucket' : 'object');
}

const isWrite = (method: string): boolean => method === 'PUT' || method === 'POST' || method === 'DELETE';

const gone = (req: IncomingMessage, res: ServerResponse): boolean => res.destroyed || req.socket.destroyed;

/** Waits `ms`, or less if the connection closes meanwhile (there is nothing left to wait for). */
function pause(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

/** A TCP RST rather than a FIN: the client sees ECONNRESET, as when a load balancer drops it. */
function resetConnection(req: IncomingMessage): void {
  const socket = req.socket;
  if (!socket.destroyed) socket.resetAndDestroy();
}

/**
 * Keeps a handler's answer from reaching the client until released (sent as written) or
 * discarded (so another answer, or none, can be sent). Only write answers are held: small
 * XML documents or empty bodies.
 */
function holdResponse(res: ServerResponse): { release(): Answered; discard(): void } {
  const original = { writeHead: res.writeHead, write: res.write, end: res.end };
  let head: unknown[] | undefined;
  const chunks: Buffer[] = [];
  let ended = false;
  const collect = (chunk: unknown, encoding: unknown): void => {
    if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
    else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
  };
  const callback = (args: unknown[]): void => {
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    if (cb) process.nextTick(cb);
  };
  // Instance properties shadow ServerResponse's methods until restore(); the casts are
  // needed because the overloaded signatures cannot be written as one implementation.
  res.writeHead = ((...args: unknown[]) => {
    head = args;
    if (typeof args[0] === 'number') res.statusCode = args[0];
    return res;
  }) as ServerResponse['writeHead'];
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    collect(chunk, rest[0]);
    callback(rest);
    return true;
  }) as ServerResponse['write'];
  res.end = ((...args: unknown[]) => {
    if (typeof args[0] !== 'function') collect(args[0], args[1]);
    ended = true;
    callback(args);
    return res;
  }) as ServerResponse['end'];
  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
  };
  return {
    release(): Answered {
      restore();
      if (res.destroyed) return 'no-answer';
      if (head) Reflect.apply(original.writeHead, res, head);
      if (ended) res.end(Buffer.concat(chunks));
      else if (chunks.length > 0) res.write(Buffer.concat(chunks));
      return res.statusCode;
    },
    discard(): void {
      restore();
      head = undefined;
      chunks.length = 0;
    },
  };
}

export class FaultInjector {
  readonly seed: number;
  readonly stats: FaultStats = {
    requests: 0,
    delayed: 0,
    qpsLimited: 0,
    dropped: 0,
    injected: zeroCounts(),
    afterHandling: zeroCounts(),
  };
  /** The latest injected faults (bounded), oldest first. */
  readonly journal: FaultRecord[] = [];
  private readonly random: () => number;
  private readonly rates: Record<FaultKind, number>;
  private readonly latencyMs: number;
  private readonly jitterMs: number;
  private readonly slowMs: number;
  private readonly exempt: ReadonlySet<string>;
  private readonly only: ((r: FaultRequest) => boolean) | undefined;
  private readonly phase: FaultPhase | undefined;
  /** The QPS limit's bucket: a burst of one second's worth, at least one request (a limit below 1/s still lets one through now and then). */
  private readonly qpsBucket: TokenBucket | undefined;
  /** What the server was asked, per second and per operation (exempt requests not counted). */
  readonly traffic = new TrafficCounter();

  constructor(options: FaultOptions) {
    validateFaultOptions(options);
    this.seed = options.seed ?? randomBytes(4).readUInt32BE(0);
    this.random = seededRandom(this.seed);
    this.rates = effectiveRates(options);
    this.latencyMs = options.latencyMs ?? 0;
    this.jitterMs = options.jitterMs ?? this.latencyMs / 5;
    this.slowMs = options.slowMs ?? DEFAULT_SLOW_MS;
    this.exempt = new Set(options.exemptAccessKeyIds ?? []);
    this.only = options.only;
    this.phase = options.phase;
    this.qpsBucket =
      options.qpsLimit === undefined ? undefined : new TokenBucket(options.qpsLimit, Math.max(1, options.qpsLimit), () => Date.now());
  }

  /** Total faults injected so far (all kinds, both phases; QPS refusals not included). */
  get injectedTotal(): number {
    return FAULT_KINDS.reduce((sum, k) => sum + this.stats.injected[k], 0);
  }

  /**
   * Called once per authenticated request before it is handled. Throws the OssError to
   * answer with when the request is refused before handling; `sendError` answers a write
   * faulted after handling.
   */
  async admit(req: IncomingMessage, res: ServerResponse, r: FaultRequest, sendError: (err: OssError) => void): Promise<Admission> {
    if (this.exempt.has(r.accessKeyId) || (this.only && !this.only(r))) return HANDLE;
    this.stats.requests++;
    const level = r.key === undefined ? 'bucket' : 'object';
    const overLimit = this.qpsBucket ? !this.qpsBucket.tryTake() : false;
    this.traffic.count(operationLabel(r), { throttled: overLimit });
    const latency = this.latencyMs + (this.jitterMs > 0 ? this.random() * this.jitterMs : 0);
    if (latency > 0) {
      this.stats.delayed++;
      await pause(latency, res);
      if (gone(req, res)) return this.drop(r);
    }
    if (overLimit) {
      this.stats.qpsLimited++;
      this.note(r, 'qpsLimit', 'before');
      throw throttled(level);
    }
    const kind = this.draw(level);
    if (kind === undefined) return HANDLE;
    const phase: FaultPhase =
      isWrite(r.method) && (this.phase ?? (this.random() < 0.5 ? 'after' : 'before')) === 'after' ? 'after' : 'before';
    this.stats.injected[kind]++;
    if (phase === 'after') this.stats.afterHandling[kind]++;
    this.note(r, kind, phase);
    if (phase === 'before') {
      switch (kind) {
        case 'reset':
          resetConnection(req);
          return { handle: false };
        case 'slow':
          await pause(this.slowMs, res);
          // A client that gave up never sees this request land later, behind its retry.
          return gone(req, res) ? this.drop(r) : HANDLE;
        default:
          throw faultError(kind);
      }
    }
    const held = holdResponse(res);
    return {
      handle: true,
      finish: async () => {
        try {
          return await this.finish(kind, held, req, res, sendError);
        } catch {
          // Answering a connection that broke meanwhile: nothing more can be sent.
          return 'no-answer';
        }
      },
    };
  }

  private async finish(
    kind: FaultKind,
    held: ReturnType<typeof holdResponse>,
    req: IncomingMessage,
    res: ServerResponse,
    sendError: (err: OssError) => void,
  ): Promise<Answered> {
    switch (kind) {
      case 'reset':
        held.discard();
        resetConnection(req);
        return 'no-answer';
      case 'slow':
        await pause(this.slowMs, res);
        if (gone(req, res)) {
          held.discard();
          return 'no-answer';
        }
        return held.release();
      default: {
        held.discard();
        const err = faultError(kind);
        sendError(err);
        return err.status;
      }
    }
  }

  private drop(r: FaultRequest): Admission {
    this.stats.dropped++;
    this.note(r, 'dropped', 'before');
    return { handle: false };
  }

  private draw(level: 'object' | 'bucket'): FaultKind | undefined {
    let x = this.random();
    for (const k of applicableKinds(level)) {
      if (x < this.rates[k]) return k;
      x -= this.rates[k];
    }
    return undefined;
  }

  private note(r: FaultRequest, kind: FaultRecord['kind'], phase: FaultPhase): void {
    if (this.journal.length >= JOURNAL_LIMIT) this.journal.splice(0, JOURNAL_LIMIT / 2);
    this.journal.push({
      requestId: r.requestId,
      method: r.method,
      ...(r.bucket ? { bucket: r.bucket } : {}),
      ...(r.key !== undefined ? { key: r.key } : {}),
      kind,
      phase,
    });
  }
}

/** `qps503,reset` → ['qps503', 'reset']; throws a RangeError naming an unknown kind. */
export function parseFaultKinds(list: string): FaultKind[] {
  const kinds = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const k of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new RangeError(`unknown fault kind ${k} (kinds: ${FAULT_KINDS.join(', ')})`);
  }
  if (kinds.length === 0) throw new RangeError(`no fault kind given (kinds: ${FAULT_KINDS.join(', ')})`);
  return kinds as FaultKind[];
}
