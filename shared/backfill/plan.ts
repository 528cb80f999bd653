/**
 * One backfill run, assembled the same way for the CLI and for a job's shard: the rate limit,
 * then the work items — an inventory report's rows (manifest, items, change tracking) or a
 * bucket listing — and the engine options that go with them. The caller adds its own
 * callbacks (checkpoint, progress, failures) and calls runBackfill.
 */
import type { OssPort } from '../oss/port';
import type { Policy } from '../policy';
import { listingItems, type EngineOptions } from './engine';
import {
  inventoryDataBucket,
  inventoryItems,
  loadManifestOfBucket,
  ossInventorySource,
  type FileRange,
  type InventoryItems,
  type InventoryManifest,
  type ManifestRef,
} from './inventory';
import { concurrencyUnderCap, rateLimited, TokenBucket } from './rate-limit';
import type { KeyRange } from './shards';

/** Where a run's objects come from. */
export type RunSource =
  | { mode: 'listing'; range?: KeyRange }
  | {
      mode: 'inventory';
      report: ManifestRef;
      /** The bucket holding the data files, when given (see inventoryDataBucket). */
      dataBucket?: string;
      /** Only these data files (a shard's part of the report). */
      files?: FileRange;
    };

export interface RunPlanInput {
  oss: OssPort;
  policy: Policy;
  bucket: string;
  prefix?: string;
  source: RunSource;
  /** A checkpoint cursor to resume after: a key (listing) or an inventory cursor. */
  resumeAfter?: string;
  /** Requests per second for this run; undefined: no cap. */
  qps?: number;
  /** Objects in flight (at most); under a cap, default what fills it (concurrencyUnderCap). */
  concurrency?: number;
  /**
   * Aborts the run: the caller's (Ctrl-C, a deadline's stop) and, in inventory mode, a report
   * error (inventoryItems' stopOnError: objects in flight finish, the checkpoint is kept).
   */
  stop: AbortController;
  /** Inventory mode: the run's self-copy probe said `keeps` (inventoryItems' copyWithoutHead). */
  copyWithoutHead?: boolean;
}

export interface RunPlan {
  /** What runBackfill needs besides the caller's callbacks. */
  engine: Pick<EngineOptions, 'bucket' | 'items' | 'oss' | 'policy' | 'signal' | 'startCursor' | 'concurrency'>;
  /** Inventory mode: the report's counters and the error that ended it. */
  inventory?: { items: InventoryItems; manifest: InventoryManifest };
}

/**
 * Throws InventoryError (InventoryOfAnotherBucketError for a report of another bucket) or
 * OssRequestError when the inventory manifest cannot be used; a listing run throws nothing here.
 */
export async function planBackfillRun(input: RunPlanInput): Promise<RunPlan> {
  const { bucket, policy, prefix, resumeAfter, qps, stop } = input;
  const limited = qps ? rateLimited(input.oss, new TokenBucket(qps)) : input.oss;
  const concurrency = qps ? concurrencyUnderCap(input.concurrency, qps) : input.concurrency;
  const common = {
    bucket,
    policy,
    signal: stop.signal,
    ...(resumeAfter !== undefined ? { startCursor: resumeAfter } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
  };
  const { source } = input;
  if (source.mode === 'listing') {
    const startAfter = resumeAfter ?? source.range?.startAfter;
    const items = listingItems(limited, bucket, {
      ...(prefix ? { prefix } : {}),
      ...(startAfter !== undefined ? { startAfter } : {}),
      ...(source.range?.endAt !== undefined ? { endAt: source.range.endAt } : {}),
      ...(source.range?.endBefore !== undefined ? { endBefore: source.range.endBefore } : {}),
    });
    return { engine: { ...common, items, oss: limited } };
  }
  const reportSource = ossInventorySource(limited);
  const manifest = await loadManifestOfBucket(reportSource, source.report, bucket);
  const items = inventoryItems(reportSource, manifest, {
    bucket,
    policy,
    reportBucket: inventoryDataBucket(manifest, source.dataBucket, bucket),
    ...(prefix ? { prefix } : {}),
    ...(resumeAfter !== undefined ? { resumeAfter } : {}),
    ...(source.files ? { files: source.files } : {}),
    stopOnError: stop,
    ...(input.copyWithoutHead ? { copyWithoutHead: true } : {}),
  });
  return { engine: { ...common, items, oss: items.trackChanges(limited) }, inventory: { items, manifest } };
}
