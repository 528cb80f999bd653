/**
 * A token bucket over the OSS port: every OSS request waits for a token, so a backfill stays
 * under a QPS cap; it shares OSS's per-account request budget with production traffic.
 * The bucket paces request *starts*; how many objects are in flight is set apart
 * (concurrencyUnderCap), large enough that latency never leaves the budget unused.
 * The local OSS server's `--qps-limit` refuses requests with the same bucket (tryTake).
 * See docs/oss-behaviour.md#limits.
 *
 * Hand-written rather than a library: p-throttle (ESM only) either releases its whole limit
 * at the start of each interval or keeps a sliding log it shifts on every call, with a timer
 * per waiting call; bottleneck has had no release since 2019; neither offers the synchronous
 * take the server's limit needs. This bucket releases every waiter a token allows from one
 * timer, in order.
 */
import type { OssPort } from '../oss/port';
import { decorateOssPort } from './oss-hooks';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param ratePerSec tokens added per second
   * @param burst the most tokens kept (default a tenth of a second's worth, at least 1); the
   *   bucket starts full
   * @param now the clock in ms (default performance.now; the server's limit reads Date.now,
   *   which tests can fake)
   */
  constructor(
    private readonly ratePerSec: number,
    private readonly burst = Math.max(1, Math.ceil(ratePerSec / 10)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSec > 0)) throw new RangeError('rate must be positive');
    if (!(burst >= 1)) throw new RangeError('burst must be at least 1');
    this.tokens = this.burst;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSec);
    this.last = t;
  }

  /** Takes a token now if one is there and nobody waits for one; false otherwise (nothing taken). */
  tryTake(): boolean {
    this.refill();
    if (this.queue.length > 0 || this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Resolves when a token is granted; waiters are served in the order they asked. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => {
      this.queue.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(1, ((1 - this.tokens) / this.ratePerSec) * 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.queue.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        this.queue.shift()?.();
      }
      if (this.queue.length > 0) this.schedule();
    }, wait);
  }
}

/** The same port, each call first taking a token. */
export function rateLimited(oss: OssPort, bucket: TokenBucket): OssPort {
  return decorateOssPort(oss, { before: () => bucket.take() });
}

/** The most objects a capped run keeps in flight when not told otherwise (the CLI's own ceiling for --concurrency). */
export const MAX_OBJECTS_IN_FLIGHT_UNDER_CAP = 1024;

/**
 * Objects in flight under a cap of `qps` requests per second: `concurrency` when given, else
 * MAX_OBJECTS_IN_FLIGHT_UNDER_CAP; never more than a second's worth of requests.
 *
 * Each object in flight has about one request out at a time, so filling Q at latency L takes
 * Q × L objects (Little's law): a second's worth fills the cap at any latency below a second,
 * the bucket pacing the starts. More would only wait for tokens, and a run told to stop
 * (deadline, Ctrl-C) has to finish what it holds: with at most a second's worth, a few
 * seconds. Whatever the number, requests in flight are bounded by the bucket, not by it.
 */
export function concurrencyUnderCap(concurrency: number | undefined, qps: number): number {
  return Math.max(1, Math.min(concurrency ?? MAX_OBJECTS_IN_FLIGHT_UNDER_CAP, Math.ceil(qps)));
}
