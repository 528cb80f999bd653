/**
 * Splitting a bucket's key space into shards that Function Compute runs in parallel. A shard
 * is the half-open range (startAfter, endAt] — exclusive start like ListObjectsV2's
 * start-after, inclusive end — so consecutive shards meet at a boundary key without a gap or
 * an overlap. The first shard starts where the job starts; the last ends where it ends.
 */
import { compareKeys } from '../key-order';
import type { OssPort } from '../oss/port';
import type { FileRange } from './inventory';
import type { BackfillPayload } from './payload';

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

/** What a probe of the key space saw. */
export interface KeySample {
  /** Keys spread over the whole range (sorted, deduplicated): shard boundary candidates. */
  keys: string[];
  /** Objects counted in the pages read (all of them when `complete`). */
  objects: number;
  /** Every part of the range was read: `objects` is the exact count. */
  complete: boolean;
  requests: number;
}

/** Sorts after every character: a start-after of `p + MAX_CHAR` skips every key under `p`. */
const MAX_CHAR = String.fromCodePoint(0x10ffff);
const MAX_START_AFTER_BYTES = 1023;
/** One in this many keys of a page is kept as a candidate (pages are 1,000 keys). */
const KEEP_EVERY = 10;

/**
 * Samples the key space of `job` with at most `maxRequests` ListObjectsV2 pages, spread over
 * the whole range rather than read from its start: when a page is full, the probe goes on both
 * inside the "directory" (next character) the page ended in and past it, breadth first. So a
 * billion-key bucket is sampled across all its prefixes, and keys far apart in the listing
 * still become boundaries. A range that fits in the budget is read whole (`complete`).
 */
export async function sampleKeySpace(
  oss: OssPort,
  bucket: string,
  job: KeyRange & { prefix?: string },
  maxRequests: number,
  concurrency = 8,
): Promise<KeySample> {
  const seen = new Set<string>();
  let objects = 0;
  let requests = 0;
  let unread = false;
  let queue: Array<{ prefix: string; startAfter?: string }> = [
    { prefix: job.prefix ?? '', ...(job.startAfter !== undefined ? { startAfter: job.startAfter } : {}) },
  ];
  while (queue.length > 0 && requests < maxRequests) {
    const batch = queue.splice(0, Math.min(concurrency, maxRequests - requests));
    requests += batch.length;
    const next: typeof queue = [];
    await Promise.all(
      batch.map(async (task) => {
        // Never before the job's own start (a continuation inside a shard may begin earlier).
        const startAfter =
          job.startAfter !== undefined && (task.startAfter === undefined || compareKeys(task.startAfter, job.startAfter) < 0)
            ? job.startAfter
            : task.startAfter;
        const page = await oss.listObjectsV2(bucket, {
          ...(task.prefix ? { prefix: task.prefix } : {}),
          ...(startAfter !== undefined ? { startAfter } : {}),
          maxKeys: 1000,
        });
        const keys = page.objects.map((o) => o.key).filter((k) => inRange(k, job));
        objects += keys.length;
        keys.forEach((k, i) => {
          if (i % KEEP_EVERY === 0) seen.add(k);
        });
        // A page past the job's end, or the last one: this part is read whole.
        const last = page.objects.at(-1)?.key;
        if (!page.isTruncated || last === undefined || keys.length < page.objects.length) return;
        const nextChar = last.codePointAt(task.prefix.length);
        const child = nextChar === undefined ? undefined : task.prefix + String.fromCodePoint(nextChar);
        if (child === undefined || Buffer.byteLength(child + MAX_CHAR) > MAX_START_AFTER_BYTES) {
          // Keys too long to skip past: this part is not read whole, so the count is not exact.
          unread = true;
          return;
        }
        next.push({ prefix: child, startAfter: last });
        next.push({ prefix: task.prefix, startAfter: child + MAX_CHAR });
      }),
    );
    queue = [...queue, ...next];
  }
  return { keys: [...seen].sort(compareKeys), objects, complete: queue.length === 0 && !unread, requests };
}

/** How many shards a job without `shards` gets: one, unless the bucket is large. */
export const AUTO_SHARDS = {
  /** Pages the first invocation may read to size the bucket and place the boundaries. */
  sampleRequests: 200,
  /** Objects per shard when the sample counted them all. */
  objectsPerShard: 100_000,
  /** Shards for a bucket larger than the sample could read (over ~200,000 objects). */
  max: 8,
  /** Inventory mode: gzipped report bytes per shard (about 1.5 million rows). */
  inventoryBytesPerShard: 64 * 1024 * 1024,
};
export type AutoShards = typeof AUTO_SHARDS;

export function autoShardCount(sample: KeySample, auto: AutoShards = AUTO_SHARDS): number {
  if (!sample.complete) return auto.max;
  return Math.min(auto.max, Math.max(1, Math.ceil(sample.objects / auto.objectsPerShard)));
}

/**
 * A listing job's shards: as many as the payload asks for, else one per `objectsPerShard`
 * objects up to `max` (AUTO_SHARDS). Boundaries come from a sample spread over the whole key
 * space, so the shards hold similar numbers of objects.
 */
export async function planJobShards(
  oss: OssPort,
  payload: Pick<BackfillPayload, 'bucket' | 'shards'>,
  range: KeyRange & { prefix?: string },
  auto: AutoShards = AUTO_SHARDS,
): Promise<KeyRange[]> {
  if (payload.shards === 1) return [range];
  const sample = await sampleKeySpace(oss, payload.bucket, range, Math.max(auto.sampleRequests, (payload.shards ?? 0) * 25));
  const count = payload.shards ?? autoShardCount(sample, auto);
  return count > 1 ? planShards(range, sample.keys, count) : [range];
}

/**
 * An inventory job's shards: the report's data files split into consecutive runs of nearly
 * equal length — as many as asked (at most one per file), else one per
 * `inventoryBytesPerShard` of gzipped report up to `max` (one when the manifest gives no sizes).
 */
export function planInventoryShards(files: ReadonlyArray<{ size?: number }>, shards?: number, auto: AutoShards = AUTO_SHARDS): FileRange[] {
  const bytes = files.reduce((sum, f) => sum + (f.size ?? 0), 0);
  const wanted = shards ?? Math.min(auto.max, Math.ceil(bytes / auto.inventoryBytesPerShard));
  const count = Math.max(1, Math.min(wanted, files.length));
  return Array.from({ length: count }, (_, i) => ({
    from: Math.floor((i * files.length) / count),
    to: Math.floor(((i + 1) * files.length) / count),
  }));
}
