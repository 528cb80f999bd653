/** The token bucket under a fake clock: exact grant times, no waiting on real time. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { concurrencyUnderCap, TokenBucket } from '../../shared/backfill/rate-limit';

describe('TokenBucket', () => {
  // The clock the bucket reads (performance.now) and the timer it waits on, both faked.
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  /** Takes `n` tokens at once; returns the fake time at which each was granted. */
  function grantTimes(bucket: TokenBucket, n: number): number[] {
    const start = performance.now();
    const times: number[] = [];
    for (let i = 0; i < n; i++) void bucket.take().then(() => times.push(performance.now() - start));
    return times;
  }

  it('grants the burst at once, then one token per 1/rate seconds, in order', async () => {
    const times = grantTimes(new TokenBucket(10, 2), 5);
    await vi.advanceTimersByTimeAsync(0);
    expect(times).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(99);
    expect(times).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(times).toEqual([0, 0, 100]);
    await vi.advanceTimersByTimeAsync(200);
    expect(times).toEqual([0, 0, 100, 200, 300]);
  });

  it('in any second, grants at most rate + burst tokens', async () => {
    const times = grantTimes(new TokenBucket(20, 1), 100);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(times).toHaveLength(100);
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 1000) j++;
      expect(i - j + 1).toBeLessThanOrEqual(21);
    }
  });

  it('an idle bucket refills only up to its burst', async () => {
    const bucket = new TokenBucket(10, 3);
    await vi.advanceTimersByTimeAsync(10_000);
    const times = grantTimes(bucket, 4);
    await vi.advanceTimersByTimeAsync(100);
    expect(times).toEqual([0, 0, 0, 100]);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
  });
});

describe('concurrencyUnderCap', () => {
  it('keeps no more in flight than a second of requests under the cap', () => {
    expect(concurrencyUnderCap(64, undefined)).toBe(64);
    expect(concurrencyUnderCap(64, 10)).toBe(10);
    expect(concurrencyUnderCap(4, 10)).toBe(4);
    expect(concurrencyUnderCap(8, 0.5)).toBe(1);
  });
});
