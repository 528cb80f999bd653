/**
 * An OSS bucket inventory report's manifest (Alibaba Cloud OSS docs, "Bucket inventory" /
 * 存储空间清单, doc 163489):
 * - A report is `<prefix>/<source-bucket>/<inventory-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json`
 *   (+ `manifest.checksum`, the MD5 of manifest.json) in the destination bucket; the data
 *   files are gzipped CSV objects under `<prefix>/<source-bucket>/<inventory-id>/data/`,
 *   listed with their full keys in the manifest's `files` (split as `uuid.csv.gz`,
 *   `uuid-1.csv.gz`, …; a record appears in exactly one file).
 * - manifest.json: `creationTimestamp`, `destinationBucket`, `fileFormat`, `fileSchema` (the
 *   column names, comma-separated, in column order), `files: [{ key, size, MD5checksum }]`,
 *   `sourceBucket`, `version`. The column order comes from `fileSchema`, never from a list
 *   kept here.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { OssPort } from '../../oss/port';
import { formatZodIssues } from '../../validation/issues';
import { InventoryError, readAll, type InventorySource } from './source';

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
 * possibly with a trailing newline — is UNCONFIRMED: no public sample shows it, hence opt-in).
 * See docs/oss-behaviour.md#bucket-inventory.
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

/** The manifest is of another bucket than the one being backfilled. */
export class InventoryOfAnotherBucketError extends InventoryError {
  override readonly name = 'InventoryOfAnotherBucketError';
}

/** Which report a backfill reads: where its manifest.json is. */
export interface ManifestRef {
  bucket: string;
  manifestKey: string;
}

/** loadInventoryManifest of a report that must be an inventory of `sourceBucket`. */
export async function loadManifestOfBucket(source: InventorySource, ref: ManifestRef, sourceBucket: string): Promise<InventoryManifest> {
  const manifest = await loadInventoryManifest(source, ref.bucket, ref.manifestKey);
  if (manifest.sourceBucket !== sourceBucket) {
    throw new InventoryOfAnotherBucketError(
      `oss://${ref.bucket}/${ref.manifestKey} is an inventory of bucket ${manifest.sourceBucket}, not ${sourceBucket}`,
    );
  }
  return manifest;
}

/** Where the data files are: the bucket given, else where the manifest says it wrote them, else the bucket backfilled. */
export const inventoryDataBucket = (manifest: InventoryManifest, given: string | undefined, sourceBucket: string): string =>
  given ?? manifest.destinationBucket ?? sourceBucket;
