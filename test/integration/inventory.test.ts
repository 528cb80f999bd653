/**
 * Inventory reports end to end: written into the local OSS server with the real ali-oss
 * client (test/helpers/inventory.ts), located with OssHttpClient's listing, and read back
 * through an InventorySource over ali-oss getStream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  latestManifestKey,
  loadInventoryManifest,
  needsAttention,
  readInventoryRows,
  type InventoryRow,
} from '../../shared/backfill/inventory';
import { OssHttpClient } from '../../shared/oss/http-client';
import { aliOssInventorySource, shuffledSchema, writeInventoryReport, type InventoryObject } from '../helpers/inventory';
import { startTestOss, type TestOss } from '../helpers/oss';

const DEST = 'inventory-reports';
const SRC = 'big-source';
const COUNT = 20_000;

let t: TestOss;
let oss: OssHttpClient;
beforeAll(async () => {
  t = await startTestOss();
  oss = t.httpClient();
  await t.client().putBucket(DEST);
});
afterAll(async () => t.close());

/** 20,000 objects, 1% (every 100th) not encrypted; awkward keys sprinkled in. */
function objects(): InventoryObject[] {
  return Array.from({ length: COUNT }, (_, i) => {
    const odd = i % 997 === 0 ? ` space+plus%/数据 "q",${i}` : '';
    return {
      key: `photos/${String(i).padStart(6, '0')}/${(i * 2654435761) >>> 0}.jpg${odd}`,
      size: (i * 7919) % 5_000_000,
      etag: `"${((i * 2654435761) >>> 0).toString(16).toUpperCase().padStart(8, '0').repeat(4)}"`,
      encrypted: i % 100 === 0 ? 'false' : i % 2 === 0 ? 'SSE-KMS' : 'SSE-OSS',
    };
  });
}

describe('an inventory report in the local OSS server', () => {
  const objs = objects();
  const schema = shuffledSchema(2024);
  let manifestKey = '';

  beforeAll(async () => {
    // An older report of the same rule, which must not be picked.
    await writeInventoryReport(t.client(), {
      destBucket: DEST,
      prefix: 'reports',
      sourceBucket: SRC,
      inventoryId: 'daily',
      date: '2024-05-16T16-00Z',
      objects: objs.slice(0, 10),
    });
    manifestKey = await writeInventoryReport(t.client(), {
      destBucket: DEST,
      prefix: 'reports',
      sourceBucket: SRC,
      inventoryId: 'daily',
      date: '2024-05-17T16-00Z',
      objects: objs,
      schema,
      rowsPerFile: 7_000,
    });
  });

  it('is found as the newest manifest of the rule by listing the destination bucket', async () => {
    expect(await latestManifestKey(oss, DEST, { prefix: 'reports', sourceBucket: SRC, inventoryId: 'daily' })).toBe(manifestKey);
    expect(manifestKey).toBe(`reports/${SRC}/daily/2024-05-17T16-00Z/manifest.json`);
    expect(await latestManifestKey(oss, DEST, { prefix: 'reports', sourceBucket: SRC, inventoryId: 'weekly' })).toBeUndefined();
  });

  it('reads back every row in order, 1% needing attention, streaming each file with bounded read-ahead', async () => {
    const source = aliOssInventorySource(t.client(), { chunkBytes: 8 * 1024 });
    const manifest = await loadInventoryManifest(source, DEST, manifestKey, { verifyChecksum: true });
    expect(manifest.fileSchema).toEqual(schema);
    expect(manifest.files).toHaveLength(3); // 7,000 + 7,000 + 6,000
    const sizes = new Map(manifest.files.map((f) => [f.key, f.size ?? 0]));

    let n = 0;
    const attention: InventoryRow[] = [];
    const pulledAtFirstRow = new Map<string, number>();
    let maxAhead = 0;
    for await (const row of readInventoryRows(source, manifest)) {
      const expected = objs[n] as InventoryObject;
      if (row.key !== expected.key || row.etag !== expected.etag.replace(/"/g, '') || row.size !== expected.size) {
        throw new Error(`row ${n}: ${JSON.stringify(row)} is not ${JSON.stringify(expected)}`);
      }
      const file = row.position.file;
      const pulled = source.pulled.get(file) ?? 0;
      if (!pulledAtFirstRow.has(file)) pulledAtFirstRow.set(file, pulled);
      // Compressed bytes fetched beyond what the rows so far account for (rows are spread
      // evenly over the file, so the fraction of records read ≈ the fraction of bytes needed).
      const fileSize = sizes.get(file) ?? 0;
      const rowsInFile = row.position.fileIndex === 2 ? 6_000 : 7_000;
      maxAhead = Math.max(maxAhead, pulled - (fileSize * (row.position.record + 1)) / rowsInFile);
      if (needsAttention(row)) attention.push(row);
      n++;
    }
    expect(n).toBe(COUNT);
    expect(attention).toHaveLength(COUNT / 100);
    expect(attention.every((r) => r.encrypted === false && r.encryptionStatus === 'false')).toBe(true);
    expect(attention.map((r) => r.key)).toEqual(objs.filter((o) => o.encrypted === 'false').map((o) => o.key));

    // Each file was fetched whole, but its first row came after a small part of it.
    for (const f of manifest.files) {
      expect(source.pulled.get(f.key)).toBe(f.size);
      expect(f.size).toBeGreaterThan(140 * 1024);
      expect(pulledAtFirstRow.get(f.key)).toBeLessThan((f.size ?? 0) / 3);
    }
    // Read-ahead stays at stream-buffer scale, not file scale.
    expect(maxAhead).toBeLessThan(96 * 1024);
  });

  it('keeps keys with spaces, plus signs, percent signs, quotes, commas and unicode', async () => {
    const source = aliOssInventorySource(t.client());
    const manifest = await loadInventoryManifest(source, DEST, manifestKey);
    const odd: string[] = [];
    for await (const row of readInventoryRows(source, manifest)) if (row.key.includes(' space+plus%')) odd.push(row.key);
    expect(odd).toEqual(objs.filter((o) => o.key.includes(' space+plus%')).map((o) => o.key));
    expect(odd.length).toBe(Math.ceil(COUNT / 997));
  });

  it('stopping early closes the download of the current file', async () => {
    const source = aliOssInventorySource(t.client(), { chunkBytes: 8 * 1024 });
    const manifest = await loadInventoryManifest(source, DEST, manifestKey);
    let n = 0;
    for await (const _row of readInventoryRows(source, manifest)) if (++n === 50) break;
    const first = manifest.files[0];
    expect(source.pulled.get(first?.key ?? '')).toBeLessThan((first?.size ?? 0) / 3);
    expect(source.pulled.has(manifest.files[1]?.key ?? '')).toBe(false);
  });
});
