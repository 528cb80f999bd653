/**
 * Which inventory rows may be re-encrypted without a HEAD (issue 13): a plaintext row whose
 * report gives all a copy needs and whose copy cannot need what only a HEAD tells. The copy
 * is pinned to the report's ETag, so an object changed since is never judged by the report
 * (shared/reencrypt.ts copyAsReported falls back to a HEAD). Used only when the run's probe
 * found that a self-copy keeps the metadata (self-copy-probe.ts).
 */
import type { ReportedObject } from '../../reencrypt';
import type { InventoryRow } from './rows';

/** Storage classes a copy can read without a restore (Archive, ColdArchive, DeepColdArchive need one). */
const READABLE_CLASSES: ReadonlyArray<ReportedObject['storageClass']> = ['Standard', 'IA'];
/** Object types a CopyObject copies as data (a symlink copies the link; an appendable object cannot be copied). */
const COPYABLE_TYPES = ['Normal', 'Multipart'];

/**
 * What the report says of `row` when it may be copied without a HEAD, else undefined (the row
 * is HEADed and decided as before). `copyLimitBytes`: the largest object the engine copies with
 * one CopyObject (policy.multipartThresholdBytes); larger ones go multipart, which needs the
 * metadata in hand.
 */
export function reportedCopyOf(
  row: Pick<InventoryRow, 'encrypted' | 'etag' | 'size' | 'storageClass' | 'objectType' | 'skip' | 'isLatest' | 'isDeleteMarker'>,
  copyLimitBytes: number,
): ReportedObject | undefined {
  if (row.skip !== undefined || row.isLatest === false || row.isDeleteMarker === true) return undefined;
  // Only what the report calls plaintext: another encryption may need an exact-mode check of its key.
  if (row.encrypted !== false) return undefined;
  if (row.etag === undefined || row.size === undefined || row.storageClass === undefined) return undefined;
  if (row.size > copyLimitBytes) return undefined;
  if (row.objectType !== undefined && !COPYABLE_TYPES.includes(row.objectType)) return undefined;
  const storageClass = READABLE_CLASSES.find((c) => c === row.storageClass);
  if (storageClass === undefined) return undefined;
  return { etag: row.etag, size: row.size, storageClass };
}
