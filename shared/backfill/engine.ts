/**
 * The backfill engine: streams work items (a bucket listing or an inventory report) through a
 * bounded window, decides and re-encrypts each with the shared routine at a fixed
 * concurrency, and keeps a low-water-mark checkpoint — the last position such that every item
 * up to it is finished — so a resumed run never skips an object and repeats at most the
 * in-flight window. Memory is bounded by the window, not by the bucket size.
 */
import type { Logger } from '../log';
import type { OssPort } from '../oss/port';
import { normalizeEtag } from '../etag';
import { bucketSelected, keyExcluded, type Policy } from '../policy';
import { reencryptObject, type ObjectOutcome } from '../reencrypt';
import {
  InventoryError,
  inventoryCursor,
  parseInventoryCursor,
  readInventoryRows,
  type FileRange,
  type InventoryManifest,
  type InventorySource,
} from './inventory';
import { inRange, type KeyRange } from './shards';

/** One object to look at. `cursor` orders items: the checkpoint stores the low-water cursor. */
export interface WorkItem {
  key: string;
  cursor: string;
  /** Inventory mode: already known to need no request (e.g. encrypted, delete marker). */
  known?: { action: 'compliant' | 'skipped'; reason?: string };
  /** Inventory mode: the ETag the report saw (reported when the object changed since). */
  etag?: string;
  size?: number;
}

export interface Checkpoint {
  bucket: string;
  /** Everything at or before this cursor is finished; undefined = nothing yet. */
  cursor?: string;
  done: boolean;
}

export interface FailureRecord {
  key: string;
  code: string;
  message: string;
  requestId?: string;
  retryable?: boolean;
}

export interface BackfillReport {
  bucket: string;
  dryRun: boolean;
  scanned: number;
  compliant: number;
  reencrypted: number;
  wouldReencrypt: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
  bytesReencrypted: number;
  requests: number;
  durationMs: number;
  /** The first failures (the full list goes to onFailure, e.g. an NDJSON file). */
  failures: FailureRecord[];
  /** Versioned buckets: plaintext versions left behind by re-encryption (not deleted). */
  plaintextVersionsKept: number;
  checkpoint: Checkpoint;
  stoppedBy?: 'deadline' | 'signal' | 'max-objects';
}

export interface EngineOptions {
  bucket: string;
  items: AsyncIterable<WorkItem>;
  /** A resumed run's starting cursor: the checkpoint stays there until an item after it finishes. */
  startCursor?: string;
  oss: OssPort;
  policy: Policy;
  log: Logger;
  dryRun?: boolean;
  concurrency?: number;
  maxObjects?: number;
  /** Epoch ms: take no new item after this. */
  deadline?: number;
  signal?: AbortSignal;
  resolvedKeyId?: string;
  /** Requests sent so far by the OSS client (for the report). */
  requestCount?: () => number;
  onFailure?: (f: FailureRecord) => void | Promise<void>;
  /** Called with the low-water checkpoint at most every checkpointEveryMs, and at the end. */
  onCheckpoint?: (c: Checkpoint, report: BackfillReport) => void | Promise<void>;
  checkpointEveryMs?: number;
  onProgress?: (report: BackfillReport) => void;
  /** Items listed but not finished at most (backpressure); default 4 × concurrency, ≥ 1000. */
  window?: number;
}

/** The counters of a report: what one invocation adds to a job's totals. */
export type Totals = Pick<
  BackfillReport,
  | 'scanned'
  | 'compliant'
  | 'reencrypted'
  | 'wouldReencrypt'
  | 'skipped'
  | 'failed'
  | 'bytesReencrypted'
  | 'requests'
  | 'durationMs'
  | 'plaintextVersionsKept'
>;

export const emptyTotals = (): Totals => ({
  scanned: 0,
  compliant: 0,
  reencrypted: 0,
  wouldReencrypt: 0,
  skipped: {},
  failed: {},
  bytesReencrypted: 0,
  requests: 0,
  durationMs: 0,
  plaintextVersionsKept: 0,
});

const addCounts = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
};

export function addTotals(a: Totals, b: Totals): Totals {
  return {
    scanned: a.scanned + b.scanned,
    compliant: a.compliant + b.compliant,
    reencrypted: a.reencrypted + b.reencrypted,
    wouldReencrypt: a.wouldReencrypt + b.wouldReencrypt,
    skipped: addCounts(a.skipped, b.skipped),
    failed: addCounts(a.failed, b.failed),
    bytesReencrypted: a.bytesReencrypted + b.bytesReencrypted,
    requests: a.requests + b.requests,
    durationMs: a.durationMs + b.durationMs,
    plaintextVersionsKept: a.plaintextVersionsKept + b.plaintextVersionsKept,
  };
}

const MAX_FAILURES_IN_REPORT = 100;
/** Objects in flight when the caller does not say (the design's default). */
export const DEFAULT_CONCURRENCY = 64;

interface Slot {
  item: WorkItem;
  done: boolean;
}

export async function runBackfill(opts: EngineOptions): Promise<BackfillReport> {
  const started = Date.now();
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const windowSize = opts.window ?? Math.max(1000, concurrency * 4);
  const requestsAtStart = opts.requestCount?.() ?? 0;
  const report: BackfillReport = {
    bucket: opts.bucket,
    dryRun: opts.dryRun ?? false,
    ...emptyTotals(),
    failures: [],
    checkpoint: { bucket: opts.bucket, done: false, ...(opts.startCursor !== undefined ? { cursor: opts.startCursor } : {}) },
  };

  // The window: items in listing order; the head advances over finished items.
  const window: Slot[] = [];
  let windowHead = 0; // index of the first unfinished slot in `window`
  const ready: Slot[] = []; // listed, not yet taken by a worker
  let listingDone = false;
  let stopped: BackfillReport['stoppedBy'];
  let wake: (() => void) | undefined; // a worker or the lister waiting for a change
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForChange = () =>
    new Promise<void>((resolve) => {
      const prev = wake;
      wake = () => {
        prev?.();
        resolve();
      };
    });

  const advance = (): void => {
    while (windowHead < window.length && (window[windowHead] as Slot).done) {
      report.checkpoint.cursor = (window[windowHead] as Slot).item.cursor;
      windowHead++;
    }
    // Drop finished slots now and then so the array does not grow with the bucket.
    if (windowHead > 1024) {
      window.splice(0, windowHead);
      windowHead = 0;
    }
  };

  const shouldStop = (): BackfillReport['stoppedBy'] => {
    if (opts.signal?.aborted) return 'signal';
    if (opts.deadline !== undefined && Date.now() >= opts.deadline) return 'deadline';
    if (opts.maxObjects !== undefined && report.scanned >= opts.maxObjects) return 'max-objects';
    return undefined;
  };

  const record = async (
    item: WorkItem,
    outcome: Pick<ObjectOutcome, 'action' | 'reason' | 'bytes' | 'error' | 'retryable' | 'plaintextVersion'>,
  ): Promise<void> => {
    switch (outcome.action) {
      case 'compliant':
        report.compliant++;
        break;
      case 'reencrypted':
        report.reencrypted++;
        report.bytesReencrypted += outcome.bytes;
        if (outcome.plaintextVersion && !outcome.plaintextVersion.deleted) report.plaintextVersionsKept++;
        break;
      case 'would-reencrypt':
        report.wouldReencrypt++;
        break;
      case 'skipped':
        report.skipped[outcome.reason ?? 'other'] = (report.skipped[outcome.reason ?? 'other'] ?? 0) + 1;
        break;
      case 'failed': {
        const code = outcome.error?.code ?? 'Error';
        report.failed[code] = (report.failed[code] ?? 0) + 1;
        const f: FailureRecord = {
          key: item.key,
          code,
          message: outcome.error?.message ?? '',
          ...(outcome.error?.requestId ? { requestId: outcome.error.requestId } : {}),
          ...(outcome.retryable !== undefined ? { retryable: outcome.retryable } : {}),
        };
        if (report.failures.length < MAX_FAILURES_IN_REPORT) report.failures.push(f);
        await opts.onFailure?.(f);
        break;
      }
    }
  };

  const processItem = async (slot: Slot): Promise<void> => {
    const { item } = slot;
    if (item.known) {
      await record(item, { action: item.known.action, ...(item.known.reason ? { reason: item.known.reason } : {}), bytes: 0 });
      return;
    }
    const outcome = await reencryptObject(
      opts.oss,
      opts.policy,
      opts.log,
      { bucket: opts.bucket, key: item.key },
      {
        ...(opts.dryRun ? { dryRun: true } : {}),
        ...(opts.resolvedKeyId ? { resolvedKeyId: opts.resolvedKeyId } : {}),
      },
    );
    await record(item, outcome);
  };

  let lastCheckpointAt = Date.now();
  const checkpointEvery = opts.checkpointEveryMs ?? 5_000;
  let checkpointing: Promise<void> | undefined;
  const maybeCheckpoint = (): void => {
    if (!opts.onCheckpoint || checkpointing || Date.now() - lastCheckpointAt < checkpointEvery) return;
    lastCheckpointAt = Date.now();
    report.requests = (opts.requestCount?.() ?? 0) - requestsAtStart;
    report.durationMs = Date.now() - started;
    checkpointing = Promise.resolve(opts.onCheckpoint({ ...report.checkpoint }, report)).finally(() => {
      checkpointing = undefined;
    });
  };

  const worker = async (): Promise<void> => {
    while (true) {
      // Out of time or interrupted: take nothing new. Unstarted items stay after the
      // low-water mark, so a resumed run does them.
      const halt = opts.signal?.aborted ? 'signal' : opts.deadline !== undefined && Date.now() >= opts.deadline ? 'deadline' : undefined;
      if (halt) {
        stopped ??= halt;
        notify();
        return;
      }
      const slot = ready.shift();
      if (!slot) {
        if (listingDone) return;
        await waitForChange();
        continue;
      }
      try {
        await processItem(slot);
      } catch (err) {
        // reencryptObject reports failures itself; anything else is a bug worth surfacing in the report.
        await record(slot.item, {
          action: 'failed',
          bytes: 0,
          error: { code: 'InternalError', message: err instanceof Error ? err.message : String(err) },
        });
      }
      slot.done = true;
      advance();
      opts.onProgress?.(report);
      maybeCheckpoint();
      notify();
    }
  };

  const lister = async (): Promise<void> => {
    try {
      for await (const item of opts.items) {
        stopped ??= shouldStop();
        if (stopped) break;
        while (window.length - windowHead >= windowSize && !stopped) await waitForChange();
        if (stopped) break;
        const slot: Slot = { item, done: false };
        window.push(slot);
        ready.push(slot);
        report.scanned++;
        notify();
      }
    } finally {
      listingDone = true;
      notify();
    }
  };

  const workers = Array.from({ length: concurrency }, () => worker());
  await lister();
  await Promise.all(workers);
  await checkpointing;
  if (stopped) report.stoppedBy = stopped;
  report.checkpoint.done = stopped === undefined;
  report.requests = (opts.requestCount?.() ?? 0) - requestsAtStart;
  report.durationMs = Date.now() - started;
  await opts.onCheckpoint?.({ ...report.checkpoint }, report);
  return report;
}

/** Work items from ListObjectsV2 pages over a prefix and a key range (see KeyRange). */
export async function* listingItems(oss: OssPort, bucket: string, range: KeyRange & { prefix?: string }): AsyncGenerator<WorkItem> {
  let token: string | undefined;
  let first = true;
  do {
    const page = await oss.listObjectsV2(bucket, {
      maxKeys: 1000,
      ...(range.prefix ? { prefix: range.prefix } : {}),
      ...(first && range.startAfter ? { startAfter: range.startAfter } : {}),
      ...(token ? { continuationToken: token } : {}),
    });
    first = false;
    for (const o of page.objects) {
      // Keys come in order: the first one past the end ends the range.
      if (!inRange(o.key, { endAt: range.endAt, endBefore: range.endBefore })) return;
      yield { key: o.key, cursor: o.key, etag: o.etag, size: o.size };
    }
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
}

// ---- inventory mode ----------------------------------------------------------------------------

/** InventorySource over OssPort.getObjectStream: data files are streamed, never held whole. */
export function ossInventorySource(oss: Pick<OssPort, 'getObjectStream'>): InventorySource {
  return { getObject: async (bucket, key) => (await oss.getObjectStream(bucket, key)).body };
}

export interface InventoryItemsOptions {
  /** The bucket being backfilled: the manifest's sourceBucket and every row's Bucket must be it. */
  bucket: string;
  policy: Policy;
  /** A checkpoint cursor (inventoryCursor): rows at or before it are not yielded. */
  resumeAfter?: string;
  /** The bucket holding the data files; default the manifest's destinationBucket. */
  reportBucket?: string;
  /** Only rows whose key starts with this (the others are not yielded, as a listing would not list them). */
  prefix?: string;
  keyEncoding?: 'url' | 'raw';
  /** Only these data files (a shard's part of the report). */
  files?: FileRange;
  /**
   * Pass the engine's abort controller: a report error (a data file's MD5 or size, a fetch,
   * a malformed row) then aborts it with the error and ends the items, so the engine
   * finishes the objects in flight, takes nothing more and ends with checkpoint.done false;
   * the error is in stats.error. Without it the error is thrown out of the iteration (and
   * so out of runBackfill, while objects in flight may still be finishing).
   */
  stopOnError?: AbortController;
}

export interface InventoryStats {
  /** Rows yielded. */
  rows: number;
  /** Rows finished without any request: reported encrypted (compliance any), delete markers, noncurrent versions, excluded. */
  known: number;
  /** Rows handed to the shared routine (HEAD, decide, maybe re-encrypt). */
  headed: number;
  /** HEADs (through trackChanges) whose ETag differs from the report's: the object changed since; it was decided on the HEAD. */
  changedSinceReport: number;
  /** The error that ended the report early (with stopOnError). */
  error?: Error;
}

export interface InventoryItems extends AsyncIterable<WorkItem> {
  readonly stats: InventoryStats;
  /** The port to hand the engine so that changedSinceReport is counted (every call is passed through). */
  trackChanges(oss: OssPort): OssPort;
}

/**
 * Work items from an inventory report (see inventory.ts), in report order, with cursor
 * inventoryCursor(row.position). What the report already settles costs no request: delete
 * markers and noncurrent versions are skipped with that reason, and rows reported encrypted
 * are compliant when any SSE is (compliance 'any'; 'exact' must see the algorithm and key,
 * so they are HEADed). Everything else — not encrypted, or a status not understood — goes to
 * the shared routine, which HEADs, decides on what is there now and pins its copy to that
 * HEAD's ETag: a report is a snapshot, and an object changed since is never judged by it.
 *
 * The reader verifies a data file's MD5 only after its rows went by; the checkpoint may
 * then sit inside that file, and a resumed run re-reads (and re-verifies) the file holding
 * the cursor, so rows of a file that failed are never passed for good.
 */
export function inventoryItems(source: InventorySource, manifest: InventoryManifest, opts: InventoryItemsOptions): InventoryItems {
  const stats: InventoryStats = { rows: 0, known: 0, headed: 0, changedSinceReport: 0 };
  // Report ETags of the rows in flight, by key, until their first HEAD (bounded by the engine's window).
  const expected = new Map<string, string>();
  const resumeAfter = opts.resumeAfter === undefined ? undefined : parseInventoryCursor(opts.resumeAfter);
  const excluded = (key: string): string | undefined =>
    !bucketSelected(opts.policy, opts.bucket) ? 'excluded-bucket' : keyExcluded(opts.policy, key) ? 'excluded-prefix' : undefined;

  async function* rows(): AsyncGenerator<WorkItem> {
    if (manifest.sourceBucket !== opts.bucket) {
      throw new InventoryError(`the inventory report is of bucket ${manifest.sourceBucket}, not ${opts.bucket}`);
    }
    const reader = readInventoryRows(source, manifest, {
      ...(opts.reportBucket ? { bucket: opts.reportBucket } : {}),
      ...(opts.keyEncoding ? { keyEncoding: opts.keyEncoding } : {}),
      ...(resumeAfter ? { resumeAfter } : {}),
      ...(opts.files ? { files: opts.files } : {}),
    });
    for await (const row of reader) {
      if (row.bucket !== opts.bucket) {
        throw new InventoryError(
          `inventory data file ${row.position.file}, line ${row.position.line}: a row of bucket ${row.bucket}, not ${opts.bucket}`,
          row.position.file,
          row.position.line,
        );
      }
      if (opts.prefix && !row.key.startsWith(opts.prefix)) continue;
      const item: WorkItem = {
        key: row.key,
        cursor: inventoryCursor(row.position),
        ...(row.etag === undefined ? {} : { etag: row.etag }),
        ...(row.size === undefined ? {} : { size: row.size }),
      };
      const skip = excluded(row.key) ?? row.skip;
      stats.rows++;
      if (skip !== undefined) {
        stats.known++;
        yield { ...item, known: { action: 'skipped', reason: skip } };
      } else if (row.encrypted === true && opts.policy.compliance === 'any') {
        stats.known++;
        yield { ...item, known: { action: 'compliant' } };
      } else {
        stats.headed++;
        if (row.etag !== undefined) expected.set(row.key, row.etag);
        yield item;
      }
    }
  }

  async function* guarded(): AsyncGenerator<WorkItem> {
    try {
      yield* rows();
    } catch (e) {
      if (!opts.stopOnError) throw e;
      stats.error = e instanceof Error ? e : new Error(String(e));
      opts.stopOnError.abort(stats.error);
    }
  }

  return {
    stats,
    [Symbol.asyncIterator]: () => guarded(),
    trackChanges(oss: OssPort): OssPort {
      return new Proxy(oss, {
        get(target, prop, receiver) {
          if (prop === 'headObject') {
            return async (bucket: string, key: string, versionId?: string) => {
              const head = await target.headObject(bucket, key, versionId);
              const etag = bucket === opts.bucket && versionId === undefined ? expected.get(key) : undefined;
              if (etag !== undefined) {
                // Only the first HEAD compares with the report; later ones (after a 412, the verification) are our own doing.
                expected.delete(key);
                if (head && normalizeEtag(head.etag) !== etag) stats.changedSinceReport++;
              }
              return head;
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
}
