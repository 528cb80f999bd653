/**
 * The backfill engine: streams work items (a bucket listing or an inventory report) through a
 * bounded window, decides and re-encrypts each with the shared routine at a fixed
 * concurrency, and keeps a low-water-mark checkpoint — the last position such that every item
 * up to it is finished — so a resumed run never skips an object and repeats at most the
 * in-flight window. Memory is bounded by the window, not by the bucket size.
 */
import type { Logger } from '../log';
import type { OssPort } from '../oss/port';
import type { Policy } from '../policy';
import { reencryptObject, VerificationSampler, type ObjectOutcome, type ReportedObject } from '../reencrypt';
import type { Checkpoint, Totals } from './records';
import { inRange, type KeyRange } from './shards';

export type { Checkpoint, Totals } from './records';

/** One object to look at. `cursor` orders items: the checkpoint stores the low-water cursor. */
export interface WorkItem {
  key: string;
  cursor: string;
  /** Inventory mode: already known to need no request (e.g. encrypted, delete marker). */
  known?: { action: 'compliant' | 'skipped'; reason?: string };
  /** Inventory mode: the ETag the report saw (reported when the object changed since). */
  etag?: string;
  size?: number;
  /** Inventory mode: copy with no HEAD, as the report describes it (reportedCopyOf); a changed object is HEADed. */
  reported?: ReportedObject;
}

export interface FailureRecord {
  key: string;
  code: string;
  message: string;
  requestId?: string;
  retryable?: boolean;
}

/** A run's report: its counters (Totals), where it got to, and why it stopped. */
export interface BackfillReport extends Totals {
  bucket: string;
  dryRun: boolean;
  /** The first failures (the full list goes to onFailure, e.g. an NDJSON file). */
  failures: FailureRecord[];
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
  /** Of the copies whose answer lacks a field, the first and every n-th get a verifying HEAD (default DEFAULT_VERIFY_SAMPLE_EVERY). */
  verifySampleEvery?: number;
  /** Of the copies decided on a report whose answer proves the encryption, the first and every n-th get a verifying HEAD (default REPORT_COPY_VERIFY_SAMPLE_EVERY). */
  verifyReportSampleEvery?: number;
}

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
  verified: { answer: 0, head: 0, unsampled: 0 },
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
    verified: {
      answer: a.verified.answer + b.verified.answer,
      head: a.verified.head + b.verified.head,
      unsampled: a.verified.unsampled + b.verified.unsampled,
    },
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
  const verification = new VerificationSampler(opts.verifySampleEvery, opts.verifyReportSampleEvery);
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
    outcome: Pick<ObjectOutcome, 'action' | 'reason' | 'bytes' | 'error' | 'retryable' | 'plaintextVersion' | 'verifiedBy'>,
  ): Promise<void> => {
    switch (outcome.action) {
      case 'compliant':
        report.compliant++;
        break;
      case 'reencrypted':
        report.reencrypted++;
        report.bytesReencrypted += outcome.bytes;
        if (outcome.plaintextVersion && !outcome.plaintextVersion.deleted) report.plaintextVersionsKept++;
        if (outcome.verifiedBy) report.verified[outcome.verifiedBy]++;
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
        ...(item.reported ? { reported: item.reported } : {}),
        verification,
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
