/**
 * Splitting a bucket's key space into shards that Function Compute runs in parallel. A shard
 * is the half-open range (startAfter, endAt] — exclusive start like ListObjectsV2's
 * start-after, inclusive end — so consecutive shards meet at a boundary key without a gap or
 * an overlap. The first shard starts where the job starts; the last ends where it ends.
 */
import { compareKeys } from '../key-order';
import type { OssPort } from '../oss/port';

export interface KeyRange {
  /** Exclusive lower bound (undefined: from the start of the prefix). */
  startAfter?: string;
  /** Inclusive upper bound. */
  endAt?: string;
  /** Exclusive upper bound (the job's own `endBefore`). */
  endBefore?: string;
}

export function inRange(key: string, r: KeyRange): boolean {
  if (r.startAfter !== undefined && compareKeys(key, r.startAfter) <= 0) return false;
  if (r.endAt !== undefined && compareKeys(key, r.endAt) > 0) return false;
  if (r.endBefore !== undefined && compareKeys(key, r.endBefore) >= 0) return false;
  return true;
}

/**
 * Splits `job` at up to `shards - 1` boundaries chosen evenly from `candidates` (sample keys
 * or common prefixes; only those strictly inside the job's range are used).
 */
export function planShards(job: KeyRange, candidates: readonly string[], shards: number): KeyRange[] {
  const inside = [...new Set(candidates)].filter((k) => inRange(k, { ...job, endAt: undefined })).sort(compareKeys);
  const want = Math.min(shards - 1, inside.length);
  const boundaries: string[] = [];
  for (let i = 1; i <= want; i++) {
    const b = inside[Math.floor((i * inside.length) / (want + 1)) - 1] ?? inside[0];
    if (b !== undefined && (boundaries.length === 0 || compareKeys(b, boundaries[boundaries.length - 1] as string) > 0)) boundaries.push(b);
  }
  const ranges: KeyRange[] = [];
  let start = job.startAfter;
  for (const b of boundaries) {
    ranges.push({ ...(start !== undefined ? { startAfter: start } : {}), endAt: b });
    start = b;
  }
  ranges.push({
    ...(start !== undefined ? { startAfter: start } : {}),
    ...(job.endAt !== undefined ? { endAt: job.endAt } : {}),
    ...(job.endBefore !== undefined ? { endBefore: job.endBefore } : {}),
  });
  return ranges;
}

/**
 * Boundary candidates from the bucket itself: the top-level "directories" under the prefix
 * when there are enough of them, otherwise keys sampled from the first pages of the listing.
 */
export async function sampleBoundaries(
  oss: OssPort,
  bucket: string,
  job: KeyRange & { prefix?: string },
  shards: number,
  maxPages = 10,
): Promise<string[]> {
  const prefixed = { ...(job.prefix ? { prefix: job.prefix } : {}) };
  const dirs = await oss.listObjectsV2(bucket, {
    ...prefixed,
    delimiter: '/',
    maxKeys: 1000,
    ...(job.startAfter ? { startAfter: job.startAfter } : {}),
  });
  // A common prefix "a/" sorts before every key under it, so it is itself a clean boundary.
  if (dirs.commonPrefixes.length >= shards) return dirs.commonPrefixes;
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const res = await oss.listObjectsV2(bucket, {
      ...prefixed,
      maxKeys: 1000,
      ...(token ? { continuationToken: token } : job.startAfter ? { startAfter: job.startAfter } : {}),
    });
    keys.push(...res.objects.map((o) => o.key));
    token = res.isTruncated ? res.nextContinuationToken : undefined;
    if (!token) break;
  }
  return keys;
}
