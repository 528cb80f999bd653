/** The token bucket under a fake clock: exact grant times, no waiting on real time. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { concurrencyUnderCap, MAX_OBJECTS_IN_FLIGHT_UNDER_CAP, TokenBucket } from '../../shared/backfill/rate-limit';
import { operationLabel, TRAFFIC_SECONDS_KEPT, TrafficCounter } from '../../local/oss/faults';

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

describe("TokenBucket.tryTake (the local server's QPS limit)", () => {
  it('takes the burst at once, refuses when empty without taking, refills with the clock', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, true, false]);
    now = 99;
    expect(bucket.tryTake()).toBe(false);
    now = 100;
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it('never jumps the queue of those waiting in take()', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const bucket = new TokenBucket(10, 1);
      await bucket.take();
      let granted = false;
      void bucket.take().then(() => (granted = true));
      await vi.advanceTimersByTimeAsync(50);
      expect(bucket.tryTake()).toBe(false);
      await vi.advanceTimersByTimeAsync(50);
      expect(granted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  /**
   * A client paced by take() at exactly Q against a server limited to Q with tryTake: every
   * arrival finds a token, whatever the start and however the network delays arrivals (here by
   * up to `maxDelayMs`, reordering them), as long as the delay stays under the second's burst.
   */
  it.each([
    [100, 0],
    [100, 250],
    [1000, 400],
    [7, 900],
  ])('a client at exactly Q=%d is never refused by a server limited to Q (arrivals delayed up to %d ms)', async (q, maxDelayMs) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const client = new TokenBucket(q);
      const grants: number[] = [];
      const total = q * 5;
      for (let i = 0; i < total; i++) void client.take().then(() => grants.push(performance.now()));
      await vi.advanceTimersByTimeAsync(6_000);
      expect(grants).toHaveLength(total);
      // Deterministic delays (a fixed pseudo-random sequence), then the server sees arrivals in time order.
      let x = 12345;
      const arrivals = grants
        .map((t) => {
          x = (x * 1103515245 + 12345) % 2 ** 31;
          return t + (x / 2 ** 31) * maxDelayMs;
        })
        .sort((a, b) => a - b);
      let now = 0;
      const server = new TokenBucket(q, Math.max(1, q), () => now);
      const refused = arrivals.filter((t) => {
        now = t;
        return !server.tryTake();
      });
      expect(refused).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a client over Q is refused the excess', () => {
    let now = 0;
    const server = new TokenBucket(100, 100, () => now);
    let refused = 0;
    // 150 requests per second for 10 s, evenly spaced.
    for (let i = 0; i < 1500; i++) {
      now = (i * 1000) / 150;
      if (!server.tryTake()) refused++;
    }
    // 10 s at 100/s plus the one second's burst get through.
    expect(1500 - refused).toBeGreaterThanOrEqual(1099);
    expect(1500 - refused).toBeLessThanOrEqual(1101);
  });
});

describe('concurrencyUnderCap', () => {
  it('keeps no more in flight than a second of requests under the cap', () => {
    expect(concurrencyUnderCap(64, 10)).toBe(10);
    expect(concurrencyUnderCap(4, 10)).toBe(4);
    expect(concurrencyUnderCap(8, 0.5)).toBe(1);
    expect(concurrencyUnderCap(100, 2.5)).toBe(3);
  });

  it('by default, as many as fill the cap at any latency under a second, up to the ceiling', () => {
    expect(concurrencyUnderCap(undefined, 200)).toBe(200);
    expect(concurrencyUnderCap(undefined, 5000)).toBe(MAX_OBJECTS_IN_FLIGHT_UNDER_CAP);
  });
});

describe('TrafficCounter', () => {
  it('counts per wall-clock second and per operation, throttled apart', () => {
    let now = 10_500;
    const counter = new TrafficCounter(() => now);
    counter.count('HEAD object', { throttled: false });
    counter.count('HEAD object', { throttled: true });
    now = 11_000;
    counter.count('PUT object', { throttled: false });
    expect(counter.snapshot()).toEqual({
      requests: 3,
      throttled: 1,
      byOperation: { 'HEAD object': 2, 'PUT object': 1 },
      perSecond: [
        { second: 10, requests: 2, throttled: 1 },
        { second: 11, requests: 1, throttled: 0 },
      ],
    });
  });

  it('keeps only the latest seconds', () => {
    let now = 0;
    const counter = new TrafficCounter(() => now);
    for (let s = 0; s < TRAFFIC_SECONDS_KEPT + 5; s++) {
      now = s * 1000;
      counter.count('GET bucket', { throttled: false });
    }
    const { perSecond, requests } = counter.snapshot();
    expect(requests).toBe(TRAFFIC_SECONDS_KEPT + 5);
    expect(perSecond).toHaveLength(TRAFFIC_SECONDS_KEPT);
    expect(perSecond[0]?.second).toBe(5);
  });

  it.each([
    [{ method: 'HEAD', bucket: 'b', key: 'k', query: {} }, 'HEAD object'],
    [{ method: 'GET', bucket: 'b', key: 'k', query: { acl: '' } }, 'GET object?acl'],
    [{ method: 'PUT', bucket: 'b', key: 'k', query: { partNumber: '1', uploadId: 'u' } }, 'PUT object'],
    [{ method: 'GET', bucket: 'b', query: { 'list-type': '2', 'max-keys': '1000' } }, 'GET bucket'],
    [{ method: 'GET', bucket: '', query: {} }, 'GET service'],
  ])('operationLabel(%j) = %s', (request, label) => {
    expect(operationLabel(request)).toBe(label);
  });
});
