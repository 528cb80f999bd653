/** Shards cover the key space exactly once, whatever the keys and the boundaries. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inRange, planShards } from '../../shared/backfill/shards';
import { compareKeys } from '../../shared/key-order';

// Keys over a small alphabet (so boundaries often equal keys) plus characters whose UTF-16 and UTF-8 orders differ.
const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', '/', ' ', '+', '%', 'é', '\uE000', '😀', 'z'), minLength: 1, maxLength: 6 });

describe('planShards', () => {
  it('puts every key in exactly one shard (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { maxLength: 60 }),
        fc.array(keyArb, { maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.option(keyArb, { nil: undefined }),
        fc.option(keyArb, { nil: undefined }),
        (keys, candidates, n, startAfter, endBefore) => {
          const job = { ...(startAfter !== undefined ? { startAfter } : {}), ...(endBefore !== undefined ? { endBefore } : {}) };
          const shards = planShards(job, candidates, n);
          expect(shards.length).toBeGreaterThanOrEqual(1);
          expect(shards.length).toBeLessThanOrEqual(n);
          for (const key of keys) {
            const inJob = inRange(key, job);
            const owners = shards.filter((s) => inRange(key, s)).length;
            expect(owners).toBe(inJob ? 1 : 0);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('uses boundaries in order and splits roughly evenly', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    const shards = planShards({}, keys, 4);
    expect(shards).toHaveLength(4);
    const sizes = shards.map((s) => keys.filter((k) => inRange(k, s)).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(2);
    const ends = shards.slice(0, -1).map((s) => s.endAt as string);
    expect([...ends].sort(compareKeys)).toEqual(ends);
  });
});
