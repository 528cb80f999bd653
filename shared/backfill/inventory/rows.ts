/**
 * An inventory data file's records as rows (docs: see manifest.ts):
 * - The data files carry no header row (one that repeats the schema is skipped).
 * - `Key` is URL-encoded ("you must decode the object name"); '+' is read as a space
 *   (unconfirmed for OSS; S3 inventories, same format, write a space so), as
 *   `encoding-type=url` listings are read. `keyEncoding: 'raw'` reads keys as written.
 * - `IsLatest`, `IsDeleteMarker`, `VersionId`: only when the rule exports all versions.
 *   Booleans are `True`/`False`; case is ignored.
 * - `EncryptionStatus`: see parseEncryptionStatus. A value not recognised, or an empty one,
 *   is "unknown": the row needs attention and the engine's HEAD decides (the stricter reading).
 * - Objects changed after `creationTimestamp` may be missing or stale: the report only picks
 *   candidates, HEAD before acting.
 */
import { normalizeEtag } from '../../etag';
import type { InventoryPosition } from './cursor';
import type { InventoryField, InventoryManifest } from './manifest';
import { InventoryError } from './source';

export interface InventoryRow {
  bucket: string;
  /** Decoded (unless keyEncoding is 'raw'). */
  key: string;
  versionId?: string;
  isLatest?: boolean;
  isDeleteMarker?: boolean;
  size?: number;
  /** Unquoted upper-case (normalizeEtag); quote it for `x-oss-copy-source-if-match`. */
  etag?: string;
  storageClass?: string;
  lastModified?: string;
  objectType?: string;
  isMultipartUploaded?: boolean;
  /** From EncryptionStatus; undefined when the column is absent, empty or not recognised. */
  encrypted: boolean | undefined;
  /** EncryptionStatus as written. */
  encryptionStatus?: string;
  /** Set for rows the engine must not re-encrypt: delete markers and noncurrent versions. */
  skip?: 'delete-marker' | 'noncurrent-version';
  position: InventoryPosition & { file: string; line: number };
}

/**
 * The row needs a look by the engine (HEAD, then maybe re-encryption pinned to its ETag):
 * the current version, not a delete marker, and not reported encrypted (or unknown).
 * Note: "encrypted" is all a report says; a policy that pins an algorithm or key (exact
 * mode) has to HEAD encrypted rows too.
 */
export function needsAttention(row: Pick<InventoryRow, 'isLatest' | 'isDeleteMarker' | 'encrypted'>): boolean {
  return row.isLatest !== false && row.isDeleteMarker !== true && row.encrypted !== true;
}

const NOT_ENCRYPTED = new Set(['FALSE', 'NOT-SSE', 'NONE']);
const ENCRYPTED = new Set(['TRUE', 'SSE-OSS', 'SSE-KMS', 'SSE-S3', 'SSE-C', 'AES256', 'KMS', 'SM4']);

/**
 * EncryptionStatus → encrypted. The docs document True/False; SSE-OSS and SSE-KMS (and the
 * algorithm names) mean encrypted, NOT-SSE (the S3 spelling) and NONE not. Anything else is
 * undefined: unknown, so the row is looked at rather than skipped.
 */
export function parseEncryptionStatus(value: string): boolean | undefined {
  const v = value.trim().toUpperCase();
  if (NOT_ENCRYPTED.has(v)) return false;
  if (ENCRYPTED.has(v)) return true;
  return undefined;
}

/** Where each column the backfill reads is, by index in the record. */
export interface Columns {
  count: number;
  names: string[];
  key: number;
  bucket?: number;
  versionId?: number;
  isLatest?: number;
  isDeleteMarker?: number;
  size?: number;
  etag?: number;
  storageClass?: number;
  lastModified?: number;
  objectType?: number;
  isMultipartUploaded?: number;
  encryption?: number;
}

export function planColumns(schema: readonly string[]): Columns {
  const at = (name: string): number | undefined => {
    const i = schema.findIndex((s) => s.toLowerCase() === name.toLowerCase());
    return i < 0 ? undefined : i;
  };
  const key = at('Key');
  if (key === undefined) throw new InventoryError(`the inventory's fileSchema has no Key column (${schema.join(', ')})`);
  const cols: Columns = { count: schema.length, names: [...schema], key };
  const optional: Array<[Exclude<keyof Columns, 'count' | 'names' | 'key'>, InventoryField]> = [
    ['bucket', 'Bucket'],
    ['versionId', 'VersionId'],
    ['isLatest', 'IsLatest'],
    ['isDeleteMarker', 'IsDeleteMarker'],
    ['size', 'Size'],
    ['etag', 'ETag'],
    ['storageClass', 'StorageClass'],
    ['lastModified', 'LastModifiedDate'],
    ['objectType', 'ObjectType'],
    ['isMultipartUploaded', 'IsMultipartUploaded'],
    ['encryption', 'EncryptionStatus'],
  ];
  for (const [prop, name] of optional) {
    const i = at(name);
    if (i !== undefined) cols[prop] = i;
  }
  return cols;
}

export interface BuildRowOptions {
  /** URL-decode Key (keyEncoding 'url'). */
  decodeKeys: boolean;
  position: InventoryRow['position'];
  /** The error for a problem with this row (it names the file and line). */
  rowError: (message: string) => InventoryError;
}

/** A record's fields as a row; a field that cannot be read throws rowError. */
export function buildRow(
  fields: readonly string[],
  cols: Columns,
  manifest: InventoryManifest,
  { decodeKeys, position, rowError }: BuildRowOptions,
): InventoryRow {
  const get = (i: number | undefined): string | undefined => {
    if (i === undefined) return undefined;
    return fields[i];
  };
  const opt = (i: number | undefined): string | undefined => {
    const v = get(i)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const bool = (i: number | undefined, what: string): boolean | undefined => {
    const v = opt(i);
    if (v === undefined) return undefined;
    const u = v.toUpperCase();
    if (u === 'TRUE') return true;
    if (u === 'FALSE') return false;
    throw rowError(`${what} is ${JSON.stringify(v.slice(0, 20))}, not True or False`);
  };

  const rawKey = get(cols.key) ?? '';
  let key = rawKey;
  if (decodeKeys) {
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      throw rowError(
        `Key ${JSON.stringify(rawKey.slice(0, 80))} is not valid URL encoding (read with keyEncoding 'raw' if the report is not encoded)`,
      );
    }
  }
  if (key === '') throw rowError('Key is empty');

  const bucket = opt(cols.bucket) ?? manifest.sourceBucket;
  if (bucket !== manifest.sourceBucket) {
    throw rowError(`Bucket is ${JSON.stringify(bucket)}, the manifest's sourceBucket is ${JSON.stringify(manifest.sourceBucket)}`);
  }

  let size: number | undefined;
  const sizeText = opt(cols.size);
  if (sizeText !== undefined) {
    size = /^\d+$/.test(sizeText) ? Number(sizeText) : NaN;
    if (!Number.isSafeInteger(size)) throw rowError(`Size is ${JSON.stringify(sizeText.slice(0, 20))}, not a byte count`);
  }

  const encryptionStatus = get(cols.encryption);
  const isLatest = bool(cols.isLatest, 'IsLatest');
  const isDeleteMarker = bool(cols.isDeleteMarker, 'IsDeleteMarker');
  const isMultipartUploaded = bool(cols.isMultipartUploaded, 'IsMultipartUploaded');
  const versionId = opt(cols.versionId);
  const etag = opt(cols.etag);
  const storageClass = opt(cols.storageClass);
  const lastModified = opt(cols.lastModified);
  const objectType = opt(cols.objectType);
  const skip = isDeleteMarker === true ? 'delete-marker' : isLatest === false ? 'noncurrent-version' : undefined;

  return {
    bucket,
    key,
    ...(versionId === undefined ? {} : { versionId }),
    ...(isLatest === undefined ? {} : { isLatest }),
    ...(isDeleteMarker === undefined ? {} : { isDeleteMarker }),
    ...(size === undefined ? {} : { size }),
    ...(etag === undefined ? {} : { etag: normalizeEtag(etag) }),
    ...(storageClass === undefined ? {} : { storageClass }),
    ...(lastModified === undefined ? {} : { lastModified }),
    ...(objectType === undefined ? {} : { objectType }),
    ...(isMultipartUploaded === undefined ? {} : { isMultipartUploaded }),
    encrypted: encryptionStatus === undefined ? undefined : parseEncryptionStatus(encryptionStatus),
    ...(encryptionStatus === undefined ? {} : { encryptionStatus }),
    ...(skip === undefined ? {} : { skip }),
    position,
  };
}

// ---- CSV ---------------------------------------------------------------------------------------

const describeChar = (c: string): string => (c === '\r' ? 'a carriage return' : c === '\n' ? 'a line break' : JSON.stringify(c));

/**
 * The fields of one CSV record (RFC 4180: `"` quotes a field, `""` is a quote inside it,
 * quoted fields may hold commas and line breaks), or undefined when a quoted field is still
 * open at the end of `record`. One trailing carriage return (CRLF files) is dropped; spaces
 * around a quoted field are allowed. Throws on a quote inside an unquoted field or text
 * after a closing quote.
 */
export function parseCsvRecord(record: string): string[] | undefined {
  const n = record.length;
  if (record.indexOf('"') < 0) {
    return (record.endsWith('\r') ? record.slice(0, -1) : record).split(',');
  }
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let j = i;
    while (j < n && (record[j] === ' ' || record[j] === '\t')) j++;
    if (record[j] === '"') {
      let value = '';
      let k = j + 1;
      for (;;) {
        const q = record.indexOf('"', k);
        if (q < 0) return undefined;
        value += record.slice(k, q);
        if (record[q + 1] === '"') {
          value += '"';
          k = q + 2;
          continue;
        }
        k = q + 1;
        break;
      }
      while (k < n && (record[k] === ' ' || record[k] === '\t')) k++;
      fields.push(value);
      if (k === n || (k === n - 1 && record[k] === '\r')) return fields;
      if (record[k] === ',') {
        i = k + 1;
        continue;
      }
      throw new Error(`${describeChar(record[k] as string)} after the closing quote of field ${fields.length}`);
    }
    const comma = record.indexOf(',', i);
    let value = record.slice(i, comma < 0 ? n : comma);
    if (comma < 0 && value.endsWith('\r')) value = value.slice(0, -1);
    if (value.includes('"')) throw new Error(`a quote inside unquoted field ${fields.length + 1}`);
    fields.push(value);
    if (comma < 0) return fields;
    i = comma + 1;
  }
}
