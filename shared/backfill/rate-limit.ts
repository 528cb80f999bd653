/**
 * A token bucket over the OSS port: every OSS request waits for a token, so a backfill stays
 * under a QPS cap; it shares OSS's per-account request budget with production traffic.
 * See docs/oss-behaviour.md#limits.
 */
import type { OssPort } from '../oss/port';
import { decorateOssPort } from './oss-hooks';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst = Math.max(1, Math.ceil(ratePerSec / 10)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSec > 0)) throw new RangeError('rate must be positive');
    this.tokens = this.burst;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSec);
    this.last = t;
  }

  take(): Promise<void> {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
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

/**
 * Under a cap of `qps` requests per second, no more requests in flight than a second's worth:
 * when a run stops (deadline, Ctrl-C), those waiting for a token still finish within a second.
 */
export function concurrencyUnderCap(concurrency: number, qps: number | undefined): number {
  return qps === undefined ? concurrency : Math.max(1, Math.min(concurrency, Math.ceil(qps)));
}
