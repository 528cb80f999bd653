/**
 * OSS bucket inventory reports as a stream of rows for the backfill.
 *
 * Format (Alibaba Cloud OSS docs, "Bucket inventory" / 存储空间清单, doc 163489):
 * - A report is `<prefix>/<source-bucket>/<inventory-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json`
 *   (+ `manifest.checksum`, the MD5 of manifest.json) in the destination bucket; the data
 *   files are gzipped CSV objects under `<prefix>/<source-bucket>/<inventory-id>/data/`,
 *   listed with their full keys in the manifest's `files` (split as `uuid.csv.gz`,
 *   `uuid-1.csv.gz`, …; a record appears in exactly one file).
 * - manifest.json: `creationTimestamp`, `destinationBucket`, `fileFormat`, `fileSchema` (the
 *   column names, comma-separated, in column order), `files: [{ key, size, MD5checksum }]`,
 *   `sourceBucket`, `version`. The column order comes from `fileSchema`, never from a list
 *   kept here. The data files carry no header row (one that repeats the schema is skipped).
 * - `Key` is URL-encoded ("you must decode the object name"). How a space is written is
 *   UNCONFIRMED for OSS; S3 inventories (same format) write it as '+' and '+' as %2B
 *   (cloud-custodian #1997), so '+' decodes to a space — the same reading as
 *   shared/oss/http-client.ts applies to `encoding-type=url` listings. `keyEncoding: 'raw'`
 *   reads keys as written.
 * - `IsLatest`, `IsDeleteMarker`, `VersionId`: only when the rule exports all versions.
 *   Booleans are `True`/`False` in the docs; case is ignored here.
 * - `EncryptionStatus`: the docs say True/False; SSE-OSS / SSE-KMS / false are read too
 *   (see parseEncryptionStatus). A value not recognised, or an empty one, is "unknown": the
 *   row needs attention and the engine's HEAD decides (the stricter reading).
 * - The docs warn that objects changed after `creationTimestamp` may be missing or stale:
 *   the report only picks candidates, HEAD before acting.
 *
 * Streaming: each data file is fetched as a byte stream, MD5-hashed and gunzipped as it
 * arrives, split into records and parsed; memory is bounded by a few stream buffers and the
 * longest record (maxRecordChars), never by the file. The MD5/size check (and gzip's own
 * CRC) can only fail once the whole file went through, i.e. after its rows were yielded:
 * a consumer must treat that error as "the run did not complete" (no checkpoint past it).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as z from 'zod';
import { normalizeEtag } from '../etag';
import { formatZodIssues } from '../validation/issues';
import type { OssPort } from '../oss/port';

// ---- errors -----------------------------------------------------------------------------------

/** Every problem with a report: `file` and `line` (1-based) say where, when known. */
export class InventoryError extends Error {
  override readonly name = 'InventoryError';
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

// ---- the source -------------------------------------------------------------------------------

/** An object body: a byte stream (an HTTP response, a Readable) or bytes already in memory. */
export type InventoryBody = AsyncIterable<Uint8Array> | Uint8Array;

/**
 * What the reader needs from OSS: GetObject of a whole object, streamed. Not part of OssPort
 * yet; OssHttpClient can implement it with a streaming GET (see the module's report).
 */
export interface InventorySource {
  getObject(bucket: string, key: string): Promise<InventoryBody>;
}

// ---- the manifest -----------------------------------------------------------------------------

/** Column names OSS documents (any subset, any order; others are ignored). */
export const INVENTORY_FIELDS = [
  'Bucket',
  'Key',
  'VersionId',
  'IsLatest',
  'IsDeleteMarker',
  'Size',
  'StorageClass',
  'LastModifiedDate',
  'ETag',
  'IsMultipartUploaded',
  'EncryptionStatus',
  'ObjectAcl',
  'TaggingCount',
  'ObjectType',
  'Crc64',
] as const;
export type InventoryField = (typeof INVENTORY_FIELDS)[number];

export interface InventoryDataFile {
  /** Full object key in the destination bucket. */
  key: string;
  /** Bytes of the (gzipped) object, when the manifest says. */
  size?: number;
  /** MD5 of the (gzipped) object as lower-case hex, when the manifest says. */
  md5?: string;
}

export interface InventoryManifest {
  sourceBucket: string;
  /** Bucket name (an `acs:oss:::` ARN prefix is removed), when the manifest says. */
  destinationBucket?: string;
  fileFormat: 'CSV';
  /** Column names in column order, trimmed. */
  fileSchema: string[];
  files: InventoryDataFile[];
  creationTimestamp?: string;
  version?: string;
}

const MD5_HEX_RE = /^[0-9a-fA-F]{32}$/;
const MD5_BASE64_RE = /^[A-Za-z0-9+/]{22}==$/;

/** A file entry's keys, matched case-insensitively (`MD5checksum`, `md5Checksum`, …). */
function canonicalFileEntry(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(v)) {
    const lower = name.toLowerCase();
    const canonical = lower === 'key' ? 'key' : lower === 'size' ? 'size' : lower === 'md5checksum' ? 'MD5checksum' : name;
    out[canonical] = value;
  }
  return out;
}

const FileEntrySchema = z.preprocess(
  canonicalFileEntry,
  z.object({
    key: z.string().min(1, { error: 'must be a non-empty object key' }),
    size: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/, { error: 'must be a byte count' })]).optional(),
    MD5checksum: z
      .string()
      .refine((s) => MD5_HEX_RE.test(s) || MD5_BASE64_RE.test(s), { error: 'must be an MD5 (32 hex digits)' })
      .optional(),
  }),
);

const ManifestSchema = z.object({
  sourceBucket: z.string().min(1, { error: 'must be a non-empty bucket name' }),
  destinationBucket: z.string().optional(),
  fileFormat: z.string({ error: 'must be a string (CSV)' }),
  fileSchema: z.union([z.string().min(1, { error: 'must list the columns' }), z.array(z.string()).min(1)]),
  files: z.array(FileEntrySchema),
  creationTimestamp: z.union([z.string(), z.number()]).optional(),
  version: z.string().optional(),
});

/**
 * Validates a parsed manifest.json. Throws InventoryError naming the field: a missing or
 * ill-typed field, a fileFormat other than CSV, a fileSchema without Key, an empty or
 * repeated column name.
 */
export function parseManifest(json: unknown): InventoryManifest {
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const issues = formatZodIssues(r.error.issues);
    throw new InventoryError(`invalid inventory manifest: ${issues.slice(0, 5).join('; ')}`);
  }
  const m = r.data;
  if (m.fileFormat.trim().toUpperCase() !== 'CSV') {
    throw new InventoryError(
      `invalid inventory manifest: fileFormat: unsupported format ${JSON.stringify(m.fileFormat)} (only CSV can be read)`,
    );
  }
  const fileSchema = (typeof m.fileSchema === 'string' ? m.fileSchema.split(',') : m.fileSchema).map((s) => s.trim());
  const seen = new Set<string>();
  fileSchema.forEach((name, i) => {
    if (name === '') throw new InventoryError(`invalid inventory manifest: fileSchema: column ${i + 1} has no name`);
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new InventoryError(`invalid inventory manifest: fileSchema: column ${JSON.stringify(name)} appears twice`);
    seen.add(lower);
  });
  if (!seen.has('key')) {
    throw new InventoryError(`invalid inventory manifest: fileSchema has no Key column (${fileSchema.join(', ')})`);
  }
  const files: InventoryDataFile[] = m.files.map((f) => ({
    key: f.key,
    ...(f.size === undefined ? {} : { size: Number(f.size) }),
    ...(f.MD5checksum === undefined ? {} : { md5: md5Hex(f.MD5checksum) }),
  }));
  const destinationBucket = m.destinationBucket?.replace(/^acs:oss:[^:]*:[^:]*:/, '').trim();
  return {
    sourceBucket: m.sourceBucket,
    ...(destinationBucket ? { destinationBucket } : {}),
    fileFormat: 'CSV',
    fileSchema,
    files,
    ...(m.creationTimestamp === undefined ? {} : { creationTimestamp: String(m.creationTimestamp) }),
    ...(m.version === undefined ? {} : { version: m.version }),
  };
}

function md5Hex(s: string): string {
  return MD5_HEX_RE.test(s) ? s.toLowerCase() : Buffer.from(s, 'base64').toString('hex');
}

/** `<prefix>/<source-bucket>/<inventory-id>/`: where a rule's dated report folders live. */
export function inventoryReportPrefix(opts: { prefix?: string; sourceBucket: string; inventoryId: string }): string {
  const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
  return [prefix, opts.sourceBucket, opts.inventoryId].filter((p) => p !== '').join('/') + '/';
}

const REPORT_DIR_RE = /(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z)\/$/;

/**
 * The newest `…/<YYYY-MM-DDTHH-MMZ>/manifest.json` of an inventory rule, found by listing
 * the dated folders (the timestamps sort as text); undefined when there is none yet.
 */
export async function latestManifestKey(
  oss: Pick<OssPort, 'listObjectsV2'>,
  destinationBucket: string,
  rule: { prefix?: string; sourceBucket: string; inventoryId: string },
): Promise<string | undefined> {
  const prefix = inventoryReportPrefix(rule);
  let best: string | undefined;
  let token: string | undefined;
  do {
    const page = await oss.listObjectsV2(destinationBucket, {
      prefix,
      delimiter: '/',
      maxKeys: 1000,
      ...(token ? { continuationToken: token } : {}),
    });
    for (const cp of page.commonPrefixes) {
      if (REPORT_DIR_RE.test(cp) && (best === undefined || cp > best)) best = cp;
    }
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return best === undefined ? undefined : `${best}manifest.json`;
}

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/**
 * Reads and validates manifest.json. With verifyChecksum, also reads the sibling
 * manifest.checksum and compares it with the MD5 of the bytes read (its format — hex MD5,
 * possibly with a trailing newline — is UNCONFIRMED, hence opt-in).
 */
export async function loadInventoryManifest(
  source: InventorySource,
  bucket: string,
  manifestKey: string,
  opts: { verifyChecksum?: boolean } = {},
): Promise<InventoryManifest> {
  const where = `oss://${bucket}/${manifestKey}`;
  const bytes = await readAll(await source.getObject(bucket, manifestKey), MAX_MANIFEST_BYTES, where);
  if (opts.verifyChecksum) {
    const checksumKey = manifestKey.replace(/[^/]*$/, 'manifest.checksum');
    const expected = Buffer.from(await readAll(await source.getObject(bucket, checksumKey), 1024, `oss://${bucket}/${checksumKey}`))
      .toString('utf8')
      .trim();
    const digest = createHash('md5').update(bytes).digest();
    if (expected.toLowerCase() !== digest.toString('hex') && expected !== digest.toString('base64')) {
      throw new InventoryError(
        `${where}: MD5 ${digest.toString('hex')} does not match manifest.checksum (${JSON.stringify(expected.slice(0, 64))})`,
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new InventoryError(`${where} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return parseManifest(json);
  } catch (e) {
    if (e instanceof InventoryError) throw new InventoryError(`${where}: ${e.message}`);
    throw e;
  }
}

async function readAll(body: InventoryBody, limit: number, where: string): Promise<Uint8Array> {
  if (body instanceof Uint8Array) {
    if (body.length > limit) throw new InventoryError(`${where} is larger than ${limit} bytes`);
    return body;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new InventoryError(`${where} is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

// ---- rows -------------------------------------------------------------------------------------

/** Where a row is: file index in manifest.files, data record index in that file (0-based). */
export interface InventoryPosition {
  fileIndex: number;
  record: number;
}

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

export interface ReadInventoryOptions {
  /** The bucket holding the data files; default the manifest's destinationBucket. */
  bucket?: string;
  /** 'url' (default, as the docs say) decodes Key; 'raw' takes it as written. */
  keyEncoding?: 'url' | 'raw';
  /**
   * Default true: a report without an EncryptionStatus column is refused (every row would
   * need a HEAD, which is what a listing does anyway). false: rows come with encrypted
   * undefined.
   */
  requireEncryptionStatus?: boolean;
  /** Longest record accepted, in characters (an unbalanced quote is caught by this). Default 256 KiB. */
  maxRecordChars?: number;
  /** Resume: skip every row at or before this position (files before it are not fetched). */
  resumeAfter?: InventoryPosition;
  /** Only the data files with index in [from, to) (a shard's part of the report). */
  files?: FileRange;
}

/** Data files [from, to) of a manifest, by index. */
export interface FileRange {
  from: number;
  to: number;
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

/** A resumable cursor string for the engine's checkpoint; sorts like positions. */
export function inventoryCursor(p: InventoryPosition): string {
  return `${String(p.fileIndex).padStart(6, '0')}:${String(p.record).padStart(12, '0')}`;
}

export function parseInventoryCursor(cursor: string): InventoryPosition {
  const m = /^(\d{1,9}):(\d{1,15})$/.exec(cursor);
  if (!m) throw new InventoryError(`not an inventory cursor: ${JSON.stringify(cursor.slice(0, 40))}`);
  return { fileIndex: Number(m[1]), record: Number(m[2]) };
}

interface Columns {
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

function planColumns(schema: readonly string[]): Columns {
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

const DEFAULT_MAX_RECORD_CHARS = 256 * 1024;
// Compressed bytes read ahead of the gunzip stream (zlib works in 16 KiB chunks anyway).
const READ_AHEAD_BYTES = 16 * 1024;

/**
 * Every row of every data file, in manifest order, streamed (see the module comment).
 * Throws InventoryError naming the file (and line) on a fetch, gzip, UTF-8, CSV, MD5 or size
 * problem, and before reading anything when a required column is missing.
 */
export async function* readInventoryRows(
  source: InventorySource,
  manifest: InventoryManifest,
  opts: ReadInventoryOptions = {},
): AsyncGenerator<InventoryRow> {
  const cols = planColumns(manifest.fileSchema);
  if ((opts.requireEncryptionStatus ?? true) && cols.encryption === undefined) {
    throw new InventoryError(
      `the inventory has no EncryptionStatus column (fileSchema: ${manifest.fileSchema.join(', ')}): ` +
        'add the EncryptionStatus optional field to the inventory rule, or read with requireEncryptionStatus: false (every object is then HEADed)',
    );
  }
  const bucket = opts.bucket ?? manifest.destinationBucket;
  if (bucket === undefined || bucket === '') {
    throw new InventoryError('the manifest names no destinationBucket: pass the bucket holding the data files');
  }
  const resume = opts.resumeAfter;
  const end = Math.min(opts.files?.to ?? manifest.files.length, manifest.files.length);
  for (let fileIndex = opts.files?.from ?? 0; fileIndex < end; fileIndex++) {
    if (resume && fileIndex < resume.fileIndex) continue;
    const file = manifest.files[fileIndex] as InventoryDataFile;
    const skipThrough = resume && fileIndex === resume.fileIndex ? resume.record : -1;
    yield* readDataFile(source, bucket, file, fileIndex, manifest, cols, opts, skipThrough);
  }
}

async function* readDataFile(
  source: InventorySource,
  bucket: string,
  file: InventoryDataFile,
  fileIndex: number,
  manifest: InventoryManifest,
  cols: Columns,
  opts: ReadInventoryOptions,
  skipThrough: number,
): AsyncGenerator<InventoryRow> {
  const name = file.key;
  const fail = (message: string, line?: number): InventoryError =>
    new InventoryError(`inventory data file ${name}${line === undefined ? '' : `, line ${line}`}: ${message}`, name, line);
  const maxRecord = opts.maxRecordChars ?? DEFAULT_MAX_RECORD_CHARS;
  const multiline = opts.keyEncoding === 'raw'; // URL-encoded keys hold no line breaks: a record is one line
  const decodeKeys = opts.keyEncoding !== 'raw';

  let body: InventoryBody;
  try {
    body = await source.getObject(bucket, name);
  } catch (e) {
    throw fail(`cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }

  const hash = createHash('md5');
  let rawBytes = 0;
  async function* tapped(): AsyncGenerator<Uint8Array> {
    if (body instanceof Uint8Array) {
      hash.update(body);
      rawBytes += body.length;
      if (body.length > 0) yield body;
      return;
    }
    for await (const chunk of body) {
      hash.update(chunk);
      rawBytes += chunk.length;
      yield chunk;
    }
  }
  const input = Readable.from(tapped(), { objectMode: false, highWaterMark: READ_AHEAD_BYTES });
  const gunzip = createGunzip();
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);

  const text = new TextDecoder('utf-8', { fatal: true });
  let line = 0; // physical lines seen
  let carry = ''; // text after the last line break
  let pending: { text: string; line: number } | undefined; // a multi-line record so far
  let records = 0; // data records of this file
  let first = true;

  // Returns a row, or undefined for a blank line, a header row, a skipped (resumed) row.
  const onRecord = (fields: string[], startLine: number): InventoryRow | undefined => {
    if (first) {
      first = false;
      if (fields.length === cols.count && fields.every((f, i) => f.trim().toLowerCase() === (cols.names[i] ?? '').toLowerCase())) {
        return undefined;
      }
    }
    if (fields.length !== cols.count) {
      throw fail(`expected ${cols.count} fields (as fileSchema lists), found ${fields.length}`, startLine);
    }
    const record = records++;
    if (record <= skipThrough) return undefined;
    return buildRow(fields, cols, manifest, decodeKeys, { fileIndex, record, file: name, line: startLine }, (m) => fail(m, startLine));
  };

  const onLine = (raw: string): InventoryRow | undefined => {
    line++;
    let recordText = raw;
    let startLine = line;
    if (pending) {
      recordText = `${pending.text}\n${raw}`;
      startLine = pending.line;
      pending = undefined;
    }
    if (recordText.length > maxRecord) {
      throw fail(`a record longer than ${maxRecord} characters (an unbalanced quote?)`, startLine);
    }
    if (recordText === '' || recordText === '\r' || (recordText.trim() === '' && !recordText.includes('"'))) return undefined;
    let fields: string[] | undefined;
    try {
      fields = parseCsvRecord(recordText);
    } catch (e) {
      throw fail(e instanceof Error ? e.message : String(e), startLine);
    }
    if (fields === undefined) {
      if (!multiline) throw fail('unbalanced quote: a quoted field is not closed on its line', startLine);
      pending = { text: recordText, line: startLine };
      return undefined;
    }
    return onRecord(fields, startLine);
  };

  function* lines(chunk: string): Generator<InventoryRow> {
    let s = carry + chunk;
    let from = 0;
    for (;;) {
      const nl = s.indexOf('\n', from);
      if (nl < 0) break;
      const row = onLine(s.slice(from, nl));
      if (row) yield row;
      from = nl + 1;
    }
    s = s.slice(from);
    if (s.length > maxRecord) throw fail(`a line longer than ${maxRecord} characters`, line + 1);
    carry = s;
  }

  try {
    try {
      for await (const chunk of gunzip) {
        let decoded: string;
        try {
          decoded = text.decode(chunk as Buffer, { stream: true });
        } catch {
          throw fail('is not valid UTF-8', line + 1);
        }
        yield* lines(decoded);
      }
    } catch (e) {
      if (e instanceof InventoryError) throw e;
      // An empty object is an empty file, not a broken gzip stream.
      if (rawBytes === 0 && (e as { code?: string }).code === 'Z_BUF_ERROR') {
        // fall through to the checks below
      } else {
        const reason = e instanceof Error ? e.message : String(e);
        throw fail(`cannot be read as gzip: ${reason}`);
      }
    }
    let tail: string;
    try {
      tail = text.decode();
    } catch {
      throw fail('is not valid UTF-8 (truncated character at the end)', line + 1);
    }
    yield* lines(tail);
    if (carry !== '') {
      const last = carry;
      carry = '';
      const row = onLine(last);
      if (row) yield row;
    }
    if (pending) throw fail('unterminated quoted field', pending.line);
    if (file.size !== undefined && rawBytes !== file.size) {
      throw fail(`is ${rawBytes} bytes, the manifest says ${file.size}`);
    }
    if (file.md5 !== undefined) {
      const got = hash.digest('hex');
      if (got !== file.md5) throw fail(`MD5 ${got} does not match the manifest's MD5checksum ${file.md5}`);
    }
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}

function buildRow(
  fields: readonly string[],
  cols: Columns,
  manifest: InventoryManifest,
  decodeKeys: boolean,
  position: InventoryRow['position'],
  fail: (message: string) => InventoryError,
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
    throw fail(`${what} is ${JSON.stringify(v.slice(0, 20))}, not True or False`);
  };

  const rawKey = get(cols.key) ?? '';
  let key = rawKey;
  if (decodeKeys) {
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      throw fail(
        `Key ${JSON.stringify(rawKey.slice(0, 80))} is not valid URL encoding (read with keyEncoding 'raw' if the report is not encoded)`,
      );
    }
  }
  if (key === '') throw fail('Key is empty');

  const bucket = opt(cols.bucket) ?? manifest.sourceBucket;
  if (bucket !== manifest.sourceBucket) {
    throw fail(`Bucket is ${JSON.stringify(bucket)}, the manifest's sourceBucket is ${JSON.stringify(manifest.sourceBucket)}`);
  }

  let size: number | undefined;
  const sizeText = opt(cols.size);
  if (sizeText !== undefined) {
    size = /^\d+$/.test(sizeText) ? Number(sizeText) : NaN;
    if (!Number.isSafeInteger(size)) throw fail(`Size is ${JSON.stringify(sizeText.slice(0, 20))}, not a byte count`);
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

// ---- CSV --------------------------------------------------------------------------------------

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
