/** The engine's work items from an inventory report: what the report settles costs no request. */
import { normalizeEtag } from '../../etag';
import type { OssPort } from '../../oss/port';
import { bucketSelected, keyExcluded, type Policy } from '../../policy';
import type { WorkItem } from '../engine';
import { decorateOssPort } from '../oss-hooks';
import { inventoryCursor, parseInventoryCursor, type FileRange } from './cursor';
import type { InventoryManifest } from './manifest';
import { readInventoryRows } from './reader';
import { reportedCopyOf } from './report-copy';
import { InventoryError, type InventorySource } from './source';

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
  /**
   * The run's probe found that a self-copy keeps the metadata (self-copy-probe.ts): plaintext
   * rows that reportedCopyOf accepts are copied with no HEAD. Otherwise every such row is HEADed.
   */
  copyWithoutHead?: boolean;
}

export interface InventoryStats {
  /** Rows yielded. */
  rows: number;
  /** Rows finished without any request: reported encrypted (compliance any), delete markers, noncurrent versions, excluded. */
  known: number;
  /** Rows handed to the shared routine (HEAD, decide, maybe re-encrypt). */
  headed: number;
  /** Rows handed to the shared routine to copy as the report describes them, with no HEAD (copyWithoutHead). */
  copiedAsReported: number;
  /**
   * HEADs (through trackChanges) whose ETag differs from the report's: the object changed since;
   * it was decided on the HEAD (for a row copied as reported: after its pinned copy failed).
   */
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
 * Work items from an inventory report, in report order, with cursor
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
  const stats: InventoryStats = { rows: 0, known: 0, headed: 0, copiedAsReported: 0, changedSinceReport: 0 };
  // Report ETags of the rows in flight, by key, until their first HEAD or their copy as reported (bounded by the engine's window).
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
        const reported = opts.copyWithoutHead ? reportedCopyOf(row, opts.policy.multipartThresholdBytes) : undefined;
        if (reported) stats.copiedAsReported++;
        else stats.headed++;
        if (row.etag !== undefined) expected.set(row.key, row.etag);
        yield reported ? { ...item, reported } : item;
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
      return decorateOssPort(oss, {
        after: {
          headObject: (head, [bucket, key, versionId]) => {
            const etag = bucket === opts.bucket && versionId === undefined ? expected.get(key) : undefined;
            if (etag === undefined) return;
            // Only the first HEAD compares with the report; later ones (after a 412, the verification) are our own doing.
            expected.delete(key);
            if (head && normalizeEtag(head.etag) !== etag) stats.changedSinceReport++;
          },
          // A row copied as reported whose pinned copy went through: it had not changed, and no HEAD follows.
          copyObject: (_written, [args]) => {
            if (args.bucket === opts.bucket && args.sourceKey === args.key && args.sourceVersionId === undefined) expected.delete(args.key);
          },
        },
      });
    },
  };
}
