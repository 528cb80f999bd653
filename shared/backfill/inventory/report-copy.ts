/**
 * Which inventory rows may be re-encrypted without a HEAD (issue 13): a plaintext row whose
 * report gives all a copy needs and whose copy cannot need what only a HEAD tells. The copy
 * is pinned to the report's ETag and LastModifiedDate, so an object changed since — a
 * self-copy that kept the ETag included — is never judged by the report (shared/reencrypt.ts
 * copyAsReported falls back to a HEAD). Used only when the run's probe found that a self-copy
 * keeps the metadata (self-copy-probe.ts).
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
  row: Pick<
    InventoryRow,
    'encrypted' | 'etag' | 'size' | 'storageClass' | 'objectType' | 'skip' | 'isLatest' | 'isDeleteMarker' | 'lastModified' | 'versionId'
  >,
  copyLimitBytes: number,
): ReportedObject | undefined {
  if (row.skip !== undefined || row.isLatest === false || row.isDeleteMarker === true) return undefined;
  // Only what the report calls plaintext: another encryption may need an exact-mode check of its key.
  if (row.encrypted !== false) return undefined;
  if (row.etag === undefined || row.size === undefined || row.storageClass === undefined) return undefined;
  // The time pin: a self-copy (an encryption since the report) may keep the ETag but moves Last-Modified.
  const unmodifiedSince = row.lastModified === undefined ? undefined : reportedHttpDate(row.lastModified);
  if (unmodifiedSince === undefined) return undefined;
  if (row.size > copyLimitBytes) return undefined;
  if (row.objectType !== undefined && !COPYABLE_TYPES.includes(row.objectType)) return undefined;
  const storageClass = READABLE_CLASSES.find((c) => c === row.storageClass);
  if (storageClass === undefined) return undefined;
  return {
    etag: row.etag,
    size: row.size,
    storageClass,
    unmodifiedSince,
    ...(row.versionId === undefined ? {} : { versionId: row.versionId }),
  };
}

/** `2024-05-17T08:00:00.000Z`, `2024-05-17T08:00:00Z`, or with hyphens in the time (`2024-05-17T08-00-00Z`); UTC only. */
const REPORT_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})[:-](\d{2})[:-](\d{2})(?:\.\d{1,9})?Z$/;

/**
 * A report's LastModifiedDate as an HTTP date (`x-oss-copy-source-if-unmodified-since`), or
 * undefined when it is not a UTC time this code reads (the row is then HEADed). Written ISO 8601
 * by the docs' examples; a third-party reader of real reports parsed hyphens in the time. The
 * fraction of a second is dropped: an HTTP date has whole seconds, and OSS compares at that
 * grain (a stricter server would answer 412, and the row is HEADed: never a wrong copy).
 */
export function reportedHttpDate(text: string): string | undefined {
  const m = REPORT_TIME.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  const date = new Date(t);
  // Date.UTC rolls over (month 13, second 61): only a real calendar time is read.
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  if (date.getUTCHours() !== h || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== s) return undefined;
  return date.toUTCString();
}
