/** withRetry (full-jitter exponential backoff, deadline) and the transient-error classification. */
import { describe, expect, it } from 'vitest';
import { OssRequestError } from '../../shared/oss/port';
import { isTransientOssError, withRetry, type RetryOptions } from '../../shared/retry';

const throttled = () => new OssRequestError(503, 'TotalQpsLimitExceeded', 'slow down');

/** A fake clock: sleep advances it and records each wait. */
function fakeTime(start = 1_000_000) {
  let now = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => now,
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
  };
}

/** fn that fails with the given errors in order, then resolves 'ok'. */
function failing(errors: unknown[]) {
  const attempts: number[] = [];
  const fn = async (attempt: number) => {
    attempts.push(attempt);
    const e = errors[attempts.length - 1];
    if (e !== undefined) throw e;
    return 'ok';
  };
  return { fn, attempts };
}

describe('withRetry', () => {
  it('returns the first success and passes 0-based attempt numbers', async () => {
    const time = fakeTime();
    const { fn, attempts } = failing([throttled(), throttled()]);
    await expect(withRetry(fn, { sleep: time.sleep, now: time.now, random: () => 0.5 })).resolves.toBe('ok');
    expect(attempts).toEqual([0, 1, 2]);
    expect(time.waits).toHaveLength(2);
  });

  it('waits random() * min(cap, base * 2^attempt): full jitter', async () => {
    const time = fakeTime();
    const errors = Array.from({ length: 7 }, throttled);
    const { fn } = failing(errors);
    const opts: RetryOptions = { sleep: time.sleep, now: time.now, random: () => 0.999, baseMs: 100, capMs: 1000, maxAttempts: 8 };
    await withRetry(fn, opts);
    // windows: 100, 200, 400, 800, then capped at 1000
    expect(time.waits.map((w) => Math.round(w / 0.999))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);

    const low = fakeTime();
    await withRetry(failing([throttled(), throttled()]).fn, { sleep: low.sleep, now: low.now, random: () => 0 });
    expect(low.waits).toEqual([0, 0]);
  });

  it('every wait stays inside [0, window) whatever random() returns', async () => {
    const time = fakeTime();
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    await withRetry(failing(Array.from({ length: 7 }, throttled)).fn, { sleep: time.sleep, now: time.now, random, baseMs: 50, capMs: 500 });
    expect(time.waits).toHaveLength(7);
    time.waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThan(Math.min(500, 50 * 2 ** i));
    });
  });

  it('stops after maxAttempts tries (default 8) and rethrows the last error itself', async () => {
    const time = fakeTime();
    const errors = Array.from({ length: 20 }, (_, i) => new OssRequestError(503, 'SlowDown', `try ${i}`));
    const { fn, attempts } = failing(errors);
    const err = await withRetry(fn, { sleep: time.sleep, now: time.now, random: () => 0 }).catch((e: unknown) => e);
    expect(attempts).toHaveLength(8);
    expect(err).toBe(errors[7]);

    const three = failing(errors);
    await expect(withRetry(three.fn, { sleep: time.sleep, now: time.now, maxAttempts: 3 })).rejects.toBe(errors[2]);
    expect(three.attempts).toEqual([0, 1, 2]);
  });

  it('never starts a wait that would end after the deadline', async () => {
    const time = fakeTime(0);
    const errors = Array.from({ length: 20 }, throttled);
    const { fn, attempts } = failing(errors);
    // random 1 → waits 100, 200, 400, 800 … ; deadline 750 allows 100 + 200 + 400 = 700 but not + 800
    const err = await withRetry(fn, { sleep: time.sleep, now: time.now, random: () => 1, deadline: 750 }).catch((e: unknown) => e);
    expect(time.waits).toEqual([100, 200, 400]);
    expect(time.now()).toBeLessThanOrEqual(750);
    expect(attempts).toHaveLength(4);
    expect(err).toBe(errors[3]);
  });

  it('a deadline already passed means one try and no wait', async () => {
    const time = fakeTime(10_000);
    const { fn, attempts } = failing([throttled(), throttled()]);
    await expect(withRetry(fn, { sleep: time.sleep, now: time.now, deadline: 9_000, random: () => 0.1 })).rejects.toBeInstanceOf(
      OssRequestError,
    );
    expect(attempts).toEqual([0]);
    expect(time.waits).toEqual([]);
  });

  it('does not retry permanent errors', async () => {
    for (const e of [
      new OssRequestError(403, 'AccessDenied', 'no'),
      new OssRequestError(412, 'PreconditionFailed', 'changed'),
      new TypeError('bug'),
    ]) {
      const time = fakeTime();
      const { fn, attempts } = failing([e, e]);
      await expect(withRetry(fn, { sleep: time.sleep, now: time.now })).rejects.toBe(e);
      expect(attempts).toEqual([0]);
      expect(time.waits).toEqual([]);
    }
  });

  it('honours a custom isRetryable and reports each retry to onRetry', async () => {
    const time = fakeTime();
    const flaky = new Error('flaky');
    const { fn, attempts } = failing([flaky, flaky]);
    const seen: Array<[unknown, number, number]> = [];
    await expect(
      withRetry(fn, {
        sleep: time.sleep,
        now: time.now,
        random: () => 0.5,
        isRetryable: (e) => e === flaky,
        onRetry: (e, attempt, waitMs) => seen.push([e, attempt, waitMs]),
      }),
    ).resolves.toBe('ok');
    expect(attempts).toEqual([0, 1, 2]);
    expect(seen).toEqual([
      [flaky, 0, 50],
      [flaky, 1, 100],
    ]);
  });
});

describe('isTransientOssError', () => {
  it.each([
    [503, 'TotalQpsLimitExceeded'],
    [503, 'MetaOperationQpsLimitExceeded'],
    [503, 'SlowDown'],
    [503, 'ServiceUnavailable'],
    [500, 'InternalError'],
    [502, 'UnknownError'],
    [504, 'GatewayTimeout'],
    [429, 'TooManyRequests'],
    ['network-error', 'NetworkError'],
    ['timeout', 'ClientTimeout'],
  ] as const)('%s %s is transient', (status, code) => {
    expect(isTransientOssError(new OssRequestError(status, code, 'm'))).toBe(true);
  });

  it.each([
    [403, 'AccessDenied'],
    [403, 'InvalidObjectState'],
    [409, 'FileImmutable'],
    [404, 'NoSuchKey'],
    [412, 'PreconditionFailed'],
    [400, 'InvalidArgument'],
    [403, 'SignatureDoesNotMatch'],
  ])('%i %s is permanent', (status, code) => {
    expect(isTransientOssError(new OssRequestError(status, code, 'm'))).toBe(false);
  });

  it('classifies ali-oss-shaped errors by status/code and rejects anything else', () => {
    expect(isTransientOssError(Object.assign(new Error('x'), { status: 503, code: 'TotalQpsLimitExceeded' }))).toBe(true);
    expect(isTransientOssError(Object.assign(new Error('x'), { status: -2, code: 'ResponseTimeoutError' }))).toBe(true);
    expect(isTransientOssError(Object.assign(new Error('x'), { status: -1, code: 'ECONNRESET' }))).toBe(true);
    expect(isTransientOssError(Object.assign(new Error('x'), { status: 'unknown-failure', code: 'X' }))).toBe(false);
    expect(isTransientOssError(Object.assign(new Error('x'), { status: 404, code: 'NoSuchKey' }))).toBe(false);
    expect(isTransientOssError(new Error('plain'))).toBe(false);
    expect(isTransientOssError(undefined)).toBe(false);
    expect(isTransientOssError('503')).toBe(false);
  });
});
