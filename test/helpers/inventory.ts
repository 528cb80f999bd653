/**
 * Generates OSS bucket inventory reports in the real layout (see shared/backfill/inventory.ts):
 * gzipped CSV data files under `<prefix>/<source>/<id>/data/`, and `manifest.json` plus
 * `manifest.checksum` under `<prefix>/<source>/<id>/<YYYY-MM-DDTHH-MMZ>/`. Column order comes
 * from `schema` (shuffle it with shuffledSchema). Used by the inventory, backfill and bench
 * code; built in memory with one gzip per data file, so 20,000 rows take milliseconds.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { INVENTORY_FIELDS, type InventoryBody, type InventorySource } from '../../shared/backfill/inventory';
import type { OssTestClient } from './oss';
import { seededRandom } from './seeded-random';

export type EncryptionStatusValue = 'false' | 'true' | 'SSE-OSS' | 'SSE-KMS' | (string & {});

export interface InventoryObject {
  key: string;
  size: number;
  /** Any spelling (quotes are dropped, as in the real reports). */
  etag: string;
  encrypted: EncryptionStatusValue;
  versionId?: string;
  isLatest?: boolean;
  isDeleteMarker?: boolean;
  storageClass?: string;
  lastModified?: string;
  isMultipartUploaded?: boolean;
  objectType?: string;
  objectAcl?: string;
  taggingCount?: number;
  crc64?: string;
  /** Values for columns that are not documented fields (extra columns in `schema`). */
  extra?: Record<string, string>;
}

export interface InventoryReportOptions {
  destBucket: string;
  /** Report prefix in the destination bucket ('' or undefined: none). */
  prefix?: string;
  sourceBucket: string;
  inventoryId?: string;
  /** Default 2024-05-17T16-00Z. */
  date?: string;
  objects: Iterable<InventoryObject>;
  /** Column order; default the documented order (INVENTORY_FIELDS). */
  schema?: readonly string[];
  /** Default 10,000 (OSS splits large reports the same way). */
  rowsPerFile?: number;
  /** 'url' (default): encodeURIComponent with space as '+', like S3/OSS; 'url-percent': space as %20; 'raw'. */
  keyEncoding?: 'url' | 'url-percent' | 'raw';
  lineEnding?: '\n' | '\r\n';
  /** Write the schema as a first row of every file (real reports do not). */
  headerRow?: boolean;
  /** Written as destinationBucket; default the plain bucket name. */
  destinationBucketField?: string;
  /** Omit MD5checksum / size from the manifest's file entries. */
  omitChecksums?: boolean;
  /** Write a gzip of nothing for a report without objects (default: no data file at all). */
  emptyFileWhenNoObjects?: boolean;
}

export interface BuiltInventoryReport {
  manifestKey: string;
  manifest: Record<string, unknown>;
  /** Every object to store, data files first, manifest.json and manifest.checksum last. */
  objects: Array<{ key: string; body: Buffer }>;
  dataKeys: string[];
}

/** A CSV field, always quoted: `"` doubled. */
export function csvField(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** The inventory's Key encoding: encodeURIComponent, every reserved char escaped, space as '+'. */
export function encodeInventoryKey(key: string, spaceAs: '+' | '%20' = '+'): string {
  const encoded = encodeURIComponent(key).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return spaceAs === '+' ? encoded.replace(/%20/g, '+') : encoded;
}

/** A deterministic shuffle (mulberry32) of the documented fields, optionally a subset. */
export function shuffledSchema(seed: number, fields: readonly string[] = INVENTORY_FIELDS): string[] {
  const rand = seededRandom(seed);
  const out = [...fields];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as string, out[i] as string];
  }
  return out;
}

function fieldValue(o: InventoryObject, field: string, sourceBucket: string, keyEncoding: InventoryReportOptions['keyEncoding']): string {
  const bool = (b: boolean) => (b ? 'true' : 'false');
  switch (field) {
    case 'Bucket':
      return sourceBucket;
    case 'Key':
      return keyEncoding === 'raw' ? o.key : encodeInventoryKey(o.key, keyEncoding === 'url-percent' ? '%20' : '+');
    case 'VersionId':
      return o.versionId ?? '';
    case 'IsLatest':
      return bool(o.isLatest ?? true);
    case 'IsDeleteMarker':
      return bool(o.isDeleteMarker ?? false);
    case 'Size':
      return String(o.size);
    case 'StorageClass':
      return o.storageClass ?? 'Standard';
    case 'LastModifiedDate':
      return o.lastModified ?? '2024-05-17T08:00:00.000Z';
    case 'ETag':
      return o.etag.replace(/"/g, '');
    case 'IsMultipartUploaded':
      return bool(o.isMultipartUploaded ?? false);
    case 'EncryptionStatus':
      return o.encrypted;
    case 'ObjectAcl':
      return o.objectAcl ?? 'default';
    case 'TaggingCount':
      return String(o.taggingCount ?? 0);
    case 'ObjectType':
      return o.objectType ?? 'Normal';
    case 'Crc64':
      return o.crc64 ?? '';
    default:
      return o.extra?.[field] ?? 'extra';
  }
}

/** One CSV record for `o` in `schema` order (with the line ending). */
export function inventoryCsvRow(
  o: InventoryObject,
  schema: readonly string[],
  sourceBucket: string,
  opts: Pick<InventoryReportOptions, 'keyEncoding' | 'lineEnding'> = {},
): string {
  return schema.map((f) => csvField(fieldValue(o, f, sourceBucket, opts.keyEncoding))).join(',') + (opts.lineEnding ?? '\n');
}

/** The whole report in memory: what writeInventoryReport stores. */
export function buildInventoryReport(opts: InventoryReportOptions): BuiltInventoryReport {
  const schema = opts.schema ?? INVENTORY_FIELDS;
  const rowsPerFile = Math.max(1, opts.rowsPerFile ?? 10_000);
  const inventoryId = opts.inventoryId ?? 'inventory-1';
  const date = opts.date ?? '2024-05-17T16-00Z';
  const base = [opts.prefix?.replace(/^\/+|\/+$/g, '') ?? '', opts.sourceBucket, inventoryId].filter((p) => p !== '').join('/');
  // A stable uuid per report (keys must be reproducible across runs of a test).
  const uuid = createHash('md5').update(`${opts.destBucket}/${base}/${date}`).digest('hex');
  const uuidText = `${uuid.slice(0, 8)}-${uuid.slice(8, 12)}-${uuid.slice(12, 16)}-${uuid.slice(16, 20)}-${uuid.slice(20, 32)}`;
  const header = opts.headerRow ? schema.map(csvField).join(',') + (opts.lineEnding ?? '\n') : '';

  const dataFiles: Array<{ key: string; body: Buffer }> = [];
  let rows: string[] = [];
  const flush = () => {
    const n = dataFiles.length;
    const key = `${base}/data/${uuidText}${n === 0 ? '' : `-${n}`}.csv.gz`;
    dataFiles.push({ key, body: gzipSync(header + rows.join(''), { level: 1 }) });
    rows = [];
  };
  for (const o of opts.objects) {
    rows.push(inventoryCsvRow(o, schema, opts.sourceBucket, opts));
    if (rows.length >= rowsPerFile) flush();
  }
  if (rows.length > 0 || (dataFiles.length === 0 && opts.emptyFileWhenNoObjects)) flush();

  const manifest: Record<string, unknown> = {
    creationTimestamp: '1715961600',
    destinationBucket: opts.destinationBucketField ?? opts.destBucket,
    fileFormat: 'CSV',
    fileSchema: schema.join(', '),
    files: dataFiles.map((f) =>
      opts.omitChecksums
        ? { key: f.key }
        : { key: f.key, size: f.body.length, MD5checksum: createHash('md5').update(f.body).digest('hex') },
    ),
    sourceBucket: opts.sourceBucket,
    version: '2019-09-01',
  };
  const manifestBody = Buffer.from(JSON.stringify(manifest, null, 2));
  const manifestKey = `${base}/${date}/manifest.json`;
  return {
    manifestKey,
    manifest,
    dataKeys: dataFiles.map((f) => f.key),
    objects: [
      ...dataFiles,
      { key: manifestKey, body: manifestBody },
      { key: `${base}/${date}/manifest.checksum`, body: Buffer.from(createHash('md5').update(manifestBody).digest('hex')) },
    ],
  };
}

/** Anything that stores bytes: an in-memory map, an OssPort-based writer, … */
export interface InventoryStore {
  putObject(bucket: string, key: string, body: Buffer): Promise<void>;
}

/**
 * Writes a report into a bucket (that must exist) with the real ali-oss client (or a store)
 * and returns the manifest key.
 */
export async function writeInventoryReport(target: OssTestClient | InventoryStore, opts: InventoryReportOptions): Promise<string> {
  const built = buildInventoryReport(opts);
  const store: InventoryStore =
    typeof (target as Partial<InventoryStore>).putObject === 'function' ? (target as InventoryStore) : aliOssStore(target as OssTestClient);
  // Data files in parallel, then the manifest (as OSS does: a manifest means a complete report).
  const data = built.objects.slice(0, -2);
  await Promise.all(data.map((o) => store.putObject(opts.destBucket, o.key, o.body)));
  for (const o of built.objects.slice(-2)) await store.putObject(opts.destBucket, o.key, o.body);
  return built.manifestKey;
}

/** ali-oss has no per-call bucket: useBucket() right before each call, which reads it synchronously. */
function aliOssStore(client: OssTestClient): InventoryStore {
  return {
    async putObject(bucket, key, body) {
      client.useBucket(bucket);
      await client.put(key, body, { headers: { 'Content-Type': 'application/octet-stream' } });
    },
  };
}

/**
 * InventorySource over the real ali-oss client: GetObject as a stream (getStream), re-cut
 * into `chunkBytes` pieces so a reader's read-ahead can be measured. `pulled` counts the bytes
 * handed out per key.
 */
export function aliOssInventorySource(
  client: OssTestClient,
  opts: { chunkBytes?: number } = {},
): InventorySource & { pulled: Map<string, number> } {
  const pulled = new Map<string, number>();
  const chunkBytes = opts.chunkBytes ?? 16 * 1024;
  return {
    pulled,
    async getObject(bucket: string, key: string): Promise<InventoryBody> {
      client.useBucket(bucket);
      const r = (await client.getStream(key)) as { stream: AsyncIterable<Buffer> };
      pulled.set(key, 0);
      return (async function* () {
        for await (const chunk of r.stream) {
          for (let i = 0; i < chunk.length; i += chunkBytes) {
            const piece = chunk.subarray(i, i + chunkBytes);
            pulled.set(key, (pulled.get(key) ?? 0) + piece.length);
            yield piece;
          }
        }
      })();
    },
  };
}

/** InventorySource over a built report in memory, streaming `chunkBytes` pieces. */
export function memoryInventorySource(
  objects: Iterable<{ key: string; body: Buffer }>,
  opts: { chunkBytes?: number; asBuffer?: boolean } = {},
): InventorySource & { reads: string[] } {
  const byKey = new Map<string, Buffer>();
  for (const o of objects) byKey.set(o.key, o.body);
  const reads: string[] = [];
  const chunkBytes = opts.chunkBytes ?? 4096;
  return {
    reads,
    async getObject(_bucket: string, key: string): Promise<InventoryBody> {
      reads.push(key);
      const body = byKey.get(key);
      if (body === undefined) throw new Error(`NoSuchKey: ${key}`);
      if (opts.asBuffer) return body;
      return (async function* () {
        for (let i = 0; i < body.length; i += chunkBytes) yield body.subarray(i, i + chunkBytes);
      })();
    },
  };
}
