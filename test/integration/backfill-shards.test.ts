/**
 * Planning a backfill's shards from the bucket itself (shared/backfill/shards.ts), against
 * the local OSS server: the sample spreads over the whole key space, the shards hold similar
 * numbers of objects, and a job without `shards` gets more than one only for a large bucket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTO_SHARDS,
  autoShardCount,
  inRange,
  planInventoryShards,
  planJobShards,
  sampleKeySpace,
  type KeyRange,
} from '../../shared/backfill/shards';
import { compareKeys } from '../../shared/key-order';
import { OssHttpClient } from '../../shared/oss/http-client';
import { startTestOssWithClient, type TestOss } from '../helpers/oss';

let t: TestOss;
let oss: OssHttpClient;
beforeAll(async () => ({ t, oss } = await startTestOssWithClient()));
afterAll(async () => t.close());

async function seed(bucket: string, keys: string[]): Promise<void> {
  await t.client().putBucket(bucket);
  const body = Buffer.from('x');
  for (let i = 0; i < keys.length; i += 200) await Promise.all(keys.slice(i, i + 200).map((k) => oss.putObject(bucket, k, body)));
}

const numbered = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
const sizes = (shards: KeyRange[], keys: string[]) => shards.map((s) => keys.filter((k) => inRange(k, s)).length);

describe('sampleKeySpace', () => {
  // 30 "directories" of 1,000 keys: reading pages from the start, 12 pages would end in p11/.
  const keys = Array.from({ length: 30 }, (_, d) => numbered(`p${String(d).padStart(2, '0')}/`, 1000)).flat();
  beforeAll(() => seed('sample-spread', keys));

  it('spreads a small budget over the whole key space instead of its first pages', async () => {
    const sample = await sampleKeySpace(oss, 'sample-spread', {}, 12);
    expect(sample.requests).toBe(12);
    expect(sample.complete).toBe(false);
    const dirs = new Set(sample.keys.map((k) => k.slice(0, 3)));
    expect([...dirs].some((d) => d >= 'p20')).toBe(true);
    expect(sample.keys).toEqual([...sample.keys].sort(compareKeys));
    for (const k of sample.keys) expect(keys).toContain(k);
  });

  it('keys too long to skip past (1023 bytes): sampled, but the count is never called exact', async () => {
    const prefix = 'L'.repeat(1020);
    const long = Array.from(
      { length: 1100 },
      (_, i) => `${prefix}${String.fromCharCode(65 + Math.floor(i / 100))}${String(i % 100).padStart(2, '0')}`,
    );
    await seed('sample-long-keys', long);
    const sample = await sampleKeySpace(oss, 'sample-long-keys', { prefix }, 200);
    expect(sample.complete).toBe(false);
    expect(sample.objects).toBe(1000);
    expect(sample.keys.length).toBeGreaterThan(50);
    for (const k of sample.keys) expect(long).toContain(k);
  });

  it('reads a range that fits the budget whole, and counts it exactly', async () => {
    const sample = await sampleKeySpace(oss, 'sample-spread', {}, 200);
    expect(sample).toMatchObject({ complete: true, objects: 30_000 });
    // Within the job's range only.
    const ranged = await sampleKeySpace(oss, 'sample-spread', { prefix: 'p1', startAfter: 'p12/000499', endBefore: 'p14/' }, 200);
    expect(ranged).toMatchObject({ complete: true, objects: 1500 });
    expect(ranged.keys.every((k) => k > 'p12/000499' && k < 'p14/')).toBe(true);
  });
});

describe('planJobShards', () => {
  // Skewed: few keys early, a large flat run, a nested tail.
  const keys = [...numbered('a/', 300), ...numbered('logs/2026/', 10_000), ...numbered('z/x/', 2000)];
  beforeAll(() => seed('shards-skewed', keys));

  it('splits a skewed bucket into shards of similar size, covering every key once', async () => {
    const shards = await planJobShards(oss, { bucket: 'shards-skewed', shards: 4 }, {});
    expect(shards).toHaveLength(4);
    const n = sizes(shards, keys);
    expect(n.reduce((a, b) => a + b, 0)).toBe(keys.length);
    const ideal = keys.length / 4;
    for (const size of n) expect(Math.abs(size - ideal) / ideal, `shard sizes ${n.join(', ')}`).toBeLessThan(0.1);
  });

  it('without shards: one for a bucket the sample counts under objectsPerShard, more as it grows, max when it cannot count', async () => {
    const auto = { ...AUTO_SHARDS, sampleRequests: 200, objectsPerShard: 50_000, max: 8 };
    expect(await planJobShards(oss, { bucket: 'shards-skewed' }, {}, auto)).toHaveLength(1);
    const five = await planJobShards(oss, { bucket: 'shards-skewed' }, {}, { ...auto, objectsPerShard: 2_500 });
    expect(five).toHaveLength(5);
    expect(Math.max(...sizes(five, keys))).toBeLessThan((keys.length / 5) * 1.1);
    // A budget too small to read the bucket: it is large, so it gets the most shards.
    expect(await planJobShards(oss, { bucket: 'shards-skewed' }, {}, { ...auto, sampleRequests: 3 })).toHaveLength(8);
    // One shard on request, without reading anything.
    const before = oss.requestCount;
    expect(await planJobShards(oss, { bucket: 'shards-skewed', shards: 1 }, {})).toHaveLength(1);
    expect(oss.requestCount).toBe(before);
  });

  it('an unknown bucket fails the plan with NoSuchBucket (before any job state exists)', async () => {
    await expect(planJobShards(oss, { bucket: 'no-such-bucket-here', shards: 4 }, {})).rejects.toMatchObject({ code: 'NoSuchBucket' });
  });
});

describe('planInventoryShards', () => {
  const MiB = 1024 * 1024;
  const files = (n: number, size?: number) => Array.from({ length: n }, () => (size === undefined ? {} : { size }));

  it('splits the data files into consecutive runs covering each file once', () => {
    for (const [n, shards] of [
      [5, 3],
      [7, 7],
      [2, 8],
      [10, 4],
      [1, 1],
      [0, 3],
    ] as const) {
      const ranges = planInventoryShards(files(n), shards);
      expect(ranges).toHaveLength(Math.max(1, Math.min(shards, n)));
      expect(ranges[0]?.from).toBe(0);
      expect(ranges.at(-1)?.to).toBe(n);
      ranges.forEach((r, i) => {
        if (i > 0) expect(r.from).toBe(ranges[i - 1]?.to);
        if (n > 0) expect(r.to - r.from).toBeGreaterThanOrEqual(Math.floor(n / ranges.length));
      });
    }
  });

  it('without shards: one per 64 MiB of gzipped report, at most 8; one when the manifest gives no sizes', () => {
    expect(planInventoryShards(files(3, 1 * MiB))).toHaveLength(1);
    expect(planInventoryShards(files(10, 20 * MiB))).toHaveLength(4);
    expect(planInventoryShards(files(40, 100 * MiB))).toHaveLength(8);
    expect(planInventoryShards(files(40))).toHaveLength(1);
  });
});

describe('autoShardCount', () => {
  it.each([
    [{ complete: true, objects: 0 }, 1],
    [{ complete: true, objects: 100_000 }, 1],
    [{ complete: true, objects: 100_001 }, 2],
    [{ complete: true, objects: 10_000_000 }, 8],
    [{ complete: false, objects: 1_000 }, 8],
  ])('%j → %i', (s, n) => {
    expect(autoShardCount({ ...s, keys: [], requests: 1 })).toBe(n);
  });
});
