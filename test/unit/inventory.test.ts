/** OSS inventory reports: manifest validation, the streaming CSV reader, the generator. */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INVENTORY_FIELDS,
  InventoryError,
  inventoryCursor,
  inventoryReportPrefix,
  latestManifestKey,
  loadInventoryManifest,
  needsAttention,
  parseCsvRecord,
  parseEncryptionStatus,
  parseInventoryCursor,
  parseManifest,
  readInventoryRows,
  type InventoryManifest,
  type InventoryRow,
  type ReadInventoryOptions,
} from '../../shared/backfill/inventory';
import { thrownBy } from '../helpers/rejection';
import type { ListPage } from '../../shared/oss/port';
import {
  buildInventoryReport,
  csvField,
  encodeInventoryKey,
  inventoryCsvRow,
  memoryInventorySource,
  shuffledSchema,
  type InventoryObject,
  type InventoryReportOptions,
} from '../helpers/inventory';

const DEST = 'inventory-dest';
const SRC = 'source-bucket';

async function collect(it: AsyncIterable<InventoryRow>): Promise<InventoryRow[]> {
  const out: InventoryRow[] = [];
  for await (const r of it) out.push(r);
  return out;
}

async function failure(p: Promise<unknown>): Promise<InventoryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InventoryError);
    return e as InventoryError;
  }
  throw new Error('expected an InventoryError');
}

function syncFailure(f: () => unknown): InventoryError {
  return thrownBy(InventoryError, f);
}

/** A report built by the generator, read back through an in-memory source. */
async function roundTrip(
  opts: Omit<InventoryReportOptions, 'destBucket' | 'sourceBucket'>,
  read: ReadInventoryOptions = {},
  sourceOpts: { chunkBytes?: number; asBuffer?: boolean } = {},
) {
  const built = buildInventoryReport({ destBucket: DEST, sourceBucket: SRC, ...opts });
  const source = memoryInventorySource(built.objects, sourceOpts);
  const manifest = await loadInventoryManifest(source, DEST, built.manifestKey, { verifyChecksum: true });
  const rows = await collect(readInventoryRows(source, manifest, read));
  return { built, source, manifest, rows };
}

/** A report from hand-written CSV texts (one per data file), schema as given. */
function handReport(schema: string, csvTexts: Array<string | Buffer>, extra: Record<string, unknown> = {}) {
  const files = csvTexts.map((t, i) => ({
    key: `p/${SRC}/inv/data/file-${i}.csv.gz`,
    body: Buffer.isBuffer(t) ? t : gzipSync(t),
  }));
  const manifest = parseManifest({
    sourceBucket: SRC,
    destinationBucket: DEST,
    fileFormat: 'CSV',
    fileSchema: schema,
    files: files.map((f) => ({ key: f.key, size: f.body.length, MD5checksum: createHash('md5').update(f.body).digest('hex') })),
    ...extra,
  });
  return { manifest, source: memoryInventorySource(files), files };
}

const obj = (i: number, over: Partial<InventoryObject> = {}): InventoryObject => ({
  key: `dir/object-${i}.bin`,
  size: i * 10,
  etag: `"${createHash('md5').update(String(i)).digest('hex').toUpperCase()}"`,
  encrypted: i % 3 === 0 ? 'false' : i % 3 === 1 ? 'SSE-OSS' : 'SSE-KMS',
  ...over,
});

/** What a row should say about an object written by the generator. */
function expectedRow(o: InventoryObject) {
  return {
    bucket: SRC,
    key: o.key,
    size: o.size,
    etag: o.etag.replace(/"/g, '').toUpperCase(),
    encrypted: parseEncryptionStatus(o.encrypted),
    encryptionStatus: o.encrypted,
  };
}

const pick = (r: InventoryRow) => ({
  bucket: r.bucket,
  key: r.key,
  size: r.size,
  etag: r.etag,
  encrypted: r.encrypted,
  encryptionStatus: r.encryptionStatus,
});

// ---- manifest -----------------------------------------------------------------------------------

describe('parseManifest', () => {
  const valid = () => ({
    creationTimestamp: '1715961600',
    destinationBucket: 'acs:oss:::inventory-dest',
    fileFormat: 'CSV',
    fileSchema: 'Bucket, Key, Size, EncryptionStatus',
    files: [
      { key: 'p/src/inv/data/a.csv.gz', size: 120, MD5checksum: 'D41D8CD98F00B204E9800998ECF8427E' },
      { key: 'p/src/inv/data/a-1.csv.gz', size: '77' },
    ],
    sourceBucket: 'src',
    version: '2019-09-01',
    somethingNew: { ignored: true },
  });

  it('reads every documented field, trims the schema, lower-cases MD5s, strips the ARN prefix', () => {
    const m = parseManifest(valid());
    expect(m).toEqual({
      sourceBucket: 'src',
      destinationBucket: 'inventory-dest',
      fileFormat: 'CSV',
      fileSchema: ['Bucket', 'Key', 'Size', 'EncryptionStatus'],
      files: [
        { key: 'p/src/inv/data/a.csv.gz', size: 120, md5: 'd41d8cd98f00b204e9800998ecf8427e' },
        { key: 'p/src/inv/data/a-1.csv.gz', size: 77 },
      ],
      creationTimestamp: '1715961600',
      version: '2019-09-01',
    });
  });

  it('accepts a schema array, lower-case csv, other MD5checksum spellings and base64 MD5s', () => {
    const md5 = createHash('md5').update('x').digest();
    const m = parseManifest({
      ...valid(),
      fileFormat: 'csv',
      fileSchema: ['Key', ' EncryptionStatus '],
      files: [{ Key: 'k.csv.gz', md5Checksum: md5.toString('base64') }],
    });
    expect(m.fileSchema).toEqual(['Key', 'EncryptionStatus']);
    expect(m.files).toEqual([{ key: 'k.csv.gz', md5: md5.toString('hex') }]);
  });

  it.each([
    ['no sourceBucket', { sourceBucket: undefined }, /sourceBucket/],
    ['an empty sourceBucket', { sourceBucket: '' }, /sourceBucket: must not be empty/],
    ['files not an array', { files: 'a.csv.gz' }, /files/],
    ['a file key of the wrong type', { files: [{ key: 'a' }, { key: 5 }] }, /files\[1\]\.key/],
    ['a negative size', { files: [{ key: 'a', size: -1 }] }, /files\[0\]\.size/],
    ['a bad MD5', { files: [{ key: 'a', MD5checksum: 'not-an-md5' }] }, /files\[0\]\.MD5checksum: must be an MD5/],
    ['no fileSchema', { fileSchema: undefined }, /fileSchema/],
    ['no fileFormat', { fileFormat: undefined }, /fileFormat/],
  ])('names the field for %s', (_name, patch, re) => {
    const e = syncFailure(() => parseManifest({ ...valid(), ...patch }));
    expect(e.message).toMatch(/^invalid inventory manifest/);
    expect(e.message).toMatch(re);
  });

  it.each([
    ['ORC', /fileFormat: unsupported format "ORC" \(only CSV/],
    ['Parquet', /unsupported format "Parquet"/],
  ])('refuses fileFormat %s', (fileFormat, re) => {
    expect(syncFailure(() => parseManifest({ ...valid(), fileFormat })).message).toMatch(re);
  });

  it('refuses a schema without Key, with an empty column name or a repeated column', () => {
    expect(syncFailure(() => parseManifest({ ...valid(), fileSchema: 'Bucket, Size, EncryptionStatus' })).message).toMatch(
      /fileSchema has no Key column \(Bucket, Size, EncryptionStatus\)/,
    );
    expect(syncFailure(() => parseManifest({ ...valid(), fileSchema: 'Bucket,,Key' })).message).toMatch(/column 2 has no name/);
    expect(syncFailure(() => parseManifest({ ...valid(), fileSchema: 'Key, Size, key' })).message).toMatch(/"key" appears twice/);
  });

  it.each([null, [], 'manifest', 42])('refuses %j', (json) => {
    expect(syncFailure(() => parseManifest(json)).message).toMatch(/invalid inventory manifest/);
  });

  it('takes the generator output as is (the generator writes the real format)', () => {
    const built = buildInventoryReport({
      destBucket: DEST,
      sourceBucket: SRC,
      prefix: 'reports/',
      objects: [obj(1), obj(2)],
      rowsPerFile: 1,
    });
    expect(built.manifestKey).toBe(`reports/${SRC}/inventory-1/2024-05-17T16-00Z/manifest.json`);
    expect(built.dataKeys).toHaveLength(2);
    expect(built.dataKeys[0]).toMatch(new RegExp(`^reports/${SRC}/inventory-1/data/[0-9a-f-]{36}\\.csv\\.gz$`));
    expect(built.dataKeys[1]).toBe(built.dataKeys[0]?.replace('.csv.gz', '-1.csv.gz'));
    const m = parseManifest(built.manifest);
    expect(m.fileSchema).toEqual([...INVENTORY_FIELDS]);
    expect(m.files.map((f) => f.key)).toEqual(built.dataKeys);
  });
});

describe('loadInventoryManifest', () => {
  const built = buildInventoryReport({ destBucket: DEST, sourceBucket: SRC, objects: [obj(1)] });

  it('verifies manifest.checksum and refuses a manifest that does not match it', async () => {
    const good = memoryInventorySource(built.objects);
    await expect(loadInventoryManifest(good, DEST, built.manifestKey, { verifyChecksum: true })).resolves.toMatchObject({
      sourceBucket: SRC,
    });
    const tampered = built.objects.map((o) =>
      o.key === built.manifestKey
        ? { key: o.key, body: Buffer.from(o.body.toString().replace(`"sourceBucket": "${SRC}"`, '"sourceBucket": "other-bucket"')) }
        : o,
    );
    const e = await failure(loadInventoryManifest(memoryInventorySource(tampered), DEST, built.manifestKey, { verifyChecksum: true }));
    expect(e.message).toMatch(/manifest\.json: MD5 [0-9a-f]{32} does not match manifest\.checksum/);
    // Without verification the tampered manifest is read (the checksum is opt-in).
    await expect(loadInventoryManifest(memoryInventorySource(tampered), DEST, built.manifestKey)).resolves.toMatchObject({
      sourceBucket: 'other-bucket',
    });
  });

  it('names the object when manifest.json is not JSON or not a manifest', async () => {
    const notJson = memoryInventorySource([{ key: 'm/manifest.json', body: Buffer.from('{"sourceBucket": ') }]);
    expect((await failure(loadInventoryManifest(notJson, DEST, 'm/manifest.json'))).message).toMatch(
      /^oss:\/\/inventory-dest\/m\/manifest\.json is not JSON/,
    );
    const wrong = memoryInventorySource([{ key: 'm/manifest.json', body: Buffer.from('{"sourceBucket":"s"}') }]);
    expect((await failure(loadInventoryManifest(wrong, DEST, 'm/manifest.json'))).message).toMatch(
      /^oss:\/\/inventory-dest\/m\/manifest\.json: invalid inventory manifest: .*fileFormat/,
    );
  });
});

describe('locating reports', () => {
  it('builds the rule prefix with and without a report prefix', () => {
    expect(inventoryReportPrefix({ prefix: '/reports/', sourceBucket: 'src', inventoryId: 'daily' })).toBe('reports/src/daily/');
    expect(inventoryReportPrefix({ sourceBucket: 'src', inventoryId: 'daily' })).toBe('src/daily/');
  });

  it('finds the newest dated manifest across listing pages, ignoring data/ and other folders', async () => {
    const pages: ListPage[] = [
      {
        objects: [],
        commonPrefixes: ['r/src/daily/2024-05-17T16-00Z/', 'r/src/daily/data/'],
        isTruncated: true,
        nextContinuationToken: 't1',
      },
      {
        objects: [],
        commonPrefixes: ['r/src/daily/2024-06-01T16-00Z/', 'r/src/daily/2024-05-30T16-00Z/', 'r/src/daily/zzz/'],
        isTruncated: false,
      },
    ];
    const calls: Array<Record<string, unknown>> = [];
    const lister = {
      async listObjectsV2(_bucket: string, opts: Record<string, unknown>): Promise<ListPage> {
        calls.push(opts);
        return pages[calls.length - 1] as ListPage;
      },
    };
    expect(await latestManifestKey(lister, 'dest', { prefix: 'r', sourceBucket: 'src', inventoryId: 'daily' })).toBe(
      'r/src/daily/2024-06-01T16-00Z/manifest.json',
    );
    expect(calls).toEqual([
      { prefix: 'r/src/daily/', delimiter: '/', maxKeys: 1000 },
      { prefix: 'r/src/daily/', delimiter: '/', maxKeys: 1000, continuationToken: 't1' },
    ]);
    const empty = {
      listObjectsV2: async (): Promise<ListPage> => ({ objects: [], commonPrefixes: ['r/src/daily/data/'], isTruncated: false }),
    };
    expect(await latestManifestKey(empty, 'dest', { prefix: 'r', sourceBucket: 'src', inventoryId: 'daily' })).toBeUndefined();
  });
});

// ---- CSV ----------------------------------------------------------------------------------------

describe('parseCsvRecord', () => {
  it.each([
    ['a,b,c', ['a', 'b', 'c']],
    ['a,b,c\r', ['a', 'b', 'c']],
    ['"a","b","c"', ['a', 'b', 'c']],
    ['"a","b","c"\r', ['a', 'b', 'c']],
    ['"a,b","say ""hi""",""', ['a,b', 'say "hi"', '']],
    [',,', ['', '', '']],
    ['"x" , "y"', ['x', 'y']],
    ['"line\nbreak","cr\r\nlf"', ['line\nbreak', 'cr\r\nlf']],
    ['"ends with cr\r"', ['ends with cr\r']],
    ['plain,"quoted"', ['plain', 'quoted']],
  ])('%j', (text, fields) => {
    expect(parseCsvRecord(text)).toEqual(fields);
  });

  it('says "more input" for a quoted field still open', () => {
    expect(parseCsvRecord('"a","b')).toBeUndefined();
    expect(parseCsvRecord('"a ""quoted')).toBeUndefined();
  });

  it('throws on a quote inside an unquoted field and on text after a closing quote', () => {
    expect(() => parseCsvRecord('ab"c,d')).toThrow(/a quote inside unquoted field 1/);
    expect(() => parseCsvRecord('"a"b,c')).toThrow(/"b" after the closing quote of field 1/);
    expect(() => parseCsvRecord('"a","b"x')).toThrow(/"x" after the closing quote of field 2/);
  });

  it('writer and parser agree on any field values (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { minLength: 1, maxLength: 8 }), (values) => {
        expect(parseCsvRecord(values.map(csvField).join(','))).toEqual(values);
      }),
    );
  });
});

describe('EncryptionStatus and needsAttention', () => {
  it.each([
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['NOT-SSE', false],
    ['true', true],
    ['True', true],
    ['SSE-OSS', true],
    ['SSE-KMS', true],
    ['sse-kms', true],
    [' SSE-OSS ', true],
    ['', undefined],
    ['Pending', undefined],
  ])('%j → %s', (value, encrypted) => {
    expect(parseEncryptionStatus(value)).toBe(encrypted);
  });

  it('only the current, non-deleted, not known-encrypted rows need attention', () => {
    expect(needsAttention({ encrypted: false })).toBe(true);
    expect(needsAttention({ encrypted: undefined })).toBe(true);
    expect(needsAttention({ encrypted: true })).toBe(false);
    expect(needsAttention({ encrypted: false, isLatest: true, isDeleteMarker: false })).toBe(true);
    expect(needsAttention({ encrypted: false, isLatest: false })).toBe(false);
    expect(needsAttention({ encrypted: undefined, isDeleteMarker: true })).toBe(false);
  });
});

// ---- reading rows -------------------------------------------------------------------------------

describe('readInventoryRows', () => {
  const objects = Array.from({ length: 25 }, (_, i) => obj(i));

  it('reads every row of every file in order, with positions, verified against the manifest', async () => {
    const { rows, manifest } = await roundTrip({ objects, rowsPerFile: 10 });
    expect(manifest.files).toHaveLength(3);
    expect(rows.map(pick)).toEqual(objects.map(expectedRow));
    expect(rows[0]).toMatchObject({
      storageClass: 'Standard',
      objectType: 'Normal',
      isLatest: true,
      isDeleteMarker: false,
      isMultipartUploaded: false,
    });
    expect(rows[0]?.skip).toBeUndefined();
    expect(rows[12]?.position).toEqual({ fileIndex: 1, record: 2, file: manifest.files[1]?.key, line: 3 });
    expect(rows.filter(needsAttention).map((r) => r.key)).toEqual(objects.filter((o) => o.encrypted === 'false').map((o) => o.key));
  });

  it('takes the column order from fileSchema, whatever it is', async () => {
    const baseline = (await roundTrip({ objects })).rows.map(pick);
    for (const seed of [1, 2, 3, 42, 1234]) {
      const schema = shuffledSchema(seed);
      expect(schema).not.toEqual([...INVENTORY_FIELDS]);
      const { rows } = await roundTrip({ objects, schema });
      expect(rows.map(pick)).toEqual(baseline);
    }
  });

  it('ignores columns it does not know', async () => {
    const schema = ['Owner', 'Key', 'x-custom', 'EncryptionStatus', 'Size', 'ETag'];
    const withExtra = objects.map((o) => ({ ...o, extra: { Owner: 'o,"1"', 'x-custom': 'zz' } }));
    const { rows } = await roundTrip({ objects: withExtra, schema });
    expect(rows.map(pick)).toEqual(objects.map(expectedRow));
    expect(Object.keys(rows[0] as object).sort()).toEqual(['bucket', 'encrypted', 'encryptionStatus', 'etag', 'key', 'position', 'size']);
  });

  it('without a Bucket column, rows carry the manifest sourceBucket', async () => {
    const { rows } = await roundTrip({ objects: objects.slice(0, 2), schema: ['Key', 'EncryptionStatus'] });
    expect(rows.map((r) => [r.bucket, r.key, r.encrypted])).toEqual([
      [SRC, 'dir/object-0.bin', false],
      [SRC, 'dir/object-1.bin', true],
    ]);
  });

  it('refuses a report without EncryptionStatus before fetching anything, unless told to HEAD every object', async () => {
    const built = buildInventoryReport({ destBucket: DEST, sourceBucket: SRC, objects, schema: ['Bucket', 'Key', 'Size', 'ETag'] });
    const source = memoryInventorySource(built.objects);
    const manifest = parseManifest(built.manifest);
    const e = await failure(collect(readInventoryRows(source, manifest)));
    expect(e.message).toMatch(/no EncryptionStatus column \(fileSchema: Bucket, Key, Size, ETag\)/);
    expect(source.reads).toEqual([]);
    const rows = await collect(readInventoryRows(source, manifest, { requireEncryptionStatus: false }));
    expect(rows).toHaveLength(objects.length);
    expect(rows.every((r) => r.encrypted === undefined && r.encryptionStatus === undefined && needsAttention(r))).toBe(true);
  });

  it('refuses a manifest object without Key even when it bypassed parseManifest', async () => {
    const manifest: InventoryManifest = {
      sourceBucket: SRC,
      destinationBucket: DEST,
      fileFormat: 'CSV',
      fileSchema: ['Bucket', 'EncryptionStatus'],
      files: [],
    };
    expect((await failure(collect(readInventoryRows(memoryInventorySource([]), manifest)))).message).toMatch(/no Key column/);
  });

  it('needs the data files bucket from the manifest or the caller', async () => {
    const { manifest, source } = handReport('Key, EncryptionStatus', ['"a","false"\n']);
    const { destinationBucket: _dropped, ...noDest } = manifest;
    expect((await failure(collect(readInventoryRows(source, noDest)))).message).toMatch(/names no destinationBucket/);
    expect(await collect(readInventoryRows(source, noDest, { bucket: DEST }))).toHaveLength(1);
  });

  it('maps every EncryptionStatus spelling, and an empty or unknown one to undefined', async () => {
    const values = ['false', 'SSE-OSS', 'SSE-KMS', 'True', 'FALSE', '', 'Pending'];
    const { rows } = await roundTrip({ objects: values.map((v, i) => obj(i, { encrypted: v })) });
    expect(rows.map((r) => r.encrypted)).toEqual([false, true, true, true, false, undefined, undefined]);
    expect(rows.map((r) => r.encryptionStatus)).toEqual(values);
    expect(rows.map(needsAttention)).toEqual([true, false, false, false, true, true, true]);
  });

  it('yields delete markers and noncurrent versions, flagged so the engine skips them', async () => {
    const versions: InventoryObject[] = [
      obj(1, { key: 'a', versionId: 'v3', isLatest: true, isDeleteMarker: true, encrypted: 'false', size: 0 }),
      obj(2, { key: 'a', versionId: 'v2', isLatest: false, encrypted: 'false' }),
      obj(3, { key: 'b', versionId: 'v9', isLatest: true, encrypted: 'false' }),
      obj(4, { key: 'c', versionId: 'null', isLatest: true, encrypted: 'SSE-KMS' }),
    ];
    const { rows } = await roundTrip({ objects: versions, schema: shuffledSchema(7) });
    expect(rows.map((r) => [r.key, r.versionId, r.isLatest, r.isDeleteMarker, r.skip, needsAttention(r)])).toEqual([
      ['a', 'v3', true, true, 'delete-marker', false],
      ['a', 'v2', false, false, 'noncurrent-version', false],
      ['b', 'v9', true, false, undefined, true],
      ['c', 'null', true, false, undefined, false],
    ]);
  });

  const oddKeys = [
    'with space.txt',
    'plus+sign',
    'percent%20literal%',
    'comma,and"quote"',
    '数据/文件 名.csv',
    'emoji 🎉/é',
    'line\nbreak',
    'cr\r\nlf',
    ' leading and trailing ',
    'a+b c%2B',
    "it's (x)*!~",
  ];

  it.each(['url', 'url-percent'] as const)('decodes URL-encoded keys (%s, the documented form)', async (keyEncoding) => {
    const { rows, built } = await roundTrip({ objects: oddKeys.map((key, i) => obj(i, { key })), keyEncoding });
    expect(rows.map((r) => r.key)).toEqual(oddKeys);
    // Encoded, every record is one line: line numbers are record numbers.
    expect(rows.map((r) => r.position.line)).toEqual(oddKeys.map((_, i) => i + 1));
    expect(encodeInventoryKey('a b+c')).toBe('a+b%2Bc');
    expect(built.objects.length).toBe(3);
  });

  it("reads a '+' as a space and %2B as a plus in encoded keys", async () => {
    const { manifest, source } = handReport('Key, EncryptionStatus', ['"a+b%2Bc","false"\n"x%20y","false"\n']);
    expect((await collect(readInventoryRows(source, manifest))).map((r) => r.key)).toEqual(['a b+c', 'x y']);
  });

  it("reads raw keys as written with keyEncoding 'raw', including line breaks inside quotes", async () => {
    const { rows } = await roundTrip({ objects: oddKeys.map((key, i) => obj(i, { key })), keyEncoding: 'raw' }, { keyEncoding: 'raw' });
    expect(rows.map((r) => r.key)).toEqual(oddKeys);
    // 'line\nbreak' spans lines 7-8, 'cr\r\nlf' lines 9-10: the next record starts on line 11.
    expect(rows.map((r) => r.position.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13]);
    expect(rows.map((r) => r.position.record)).toEqual(oddKeys.map((_, i) => i));
  });

  it('names the file and line of a key that is not valid URL encoding, and points at keyEncoding raw', async () => {
    const { manifest, source, files } = handReport('Key, EncryptionStatus', ['"ok","false"\n"100%","false"\n']);
    const e = await failure(collect(readInventoryRows(source, manifest)));
    expect(e.file).toBe(files[0]?.key);
    expect(e.line).toBe(2);
    expect(e.message).toMatch(
      /^inventory data file p\/source-bucket\/inv\/data\/file-0\.csv\.gz, line 2: Key "100%" is not valid URL encoding .*keyEncoding 'raw'/,
    );
    const raw = await collect(readInventoryRows(source, manifest, { keyEncoding: 'raw' }));
    expect(raw.map((r) => r.key)).toEqual(['ok', '100%']);
  });

  it('reads CRLF files like LF files', async () => {
    const lf = await roundTrip({ objects, schema: shuffledSchema(3) });
    const crlf = await roundTrip({ objects, schema: shuffledSchema(3), lineEnding: '\r\n' });
    expect(crlf.rows.map(pick)).toEqual(lf.rows.map(pick));
    const raw = await roundTrip(
      { objects: [obj(1, { key: 'ends with cr\r' })], lineEnding: '\r\n', keyEncoding: 'raw' },
      { keyEncoding: 'raw' },
    );
    expect(raw.rows.map((r) => r.key)).toEqual(['ends with cr\r']);
  });

  it('reads unquoted values, blank lines, a last line without a line break and a header row', async () => {
    const { manifest, source } = handReport('Bucket, Key, Size, EncryptionStatus', [
      `"Bucket","Key","Size","EncryptionStatus"\n\n${SRC},plain,5,false\r\n  \n"${SRC}","quoted","6","SSE-OSS"`,
    ]);
    const rows = await collect(readInventoryRows(source, manifest));
    expect(rows.map((r) => [r.key, r.size, r.encrypted, r.position.line, r.position.record])).toEqual([
      ['plain', 5, false, 3, 0],
      ['quoted', 6, true, 5, 1],
    ]);
  });

  it('reads empty data files: a gzip of nothing and a zero-byte object', async () => {
    const { manifest, source } = handReport('Key, EncryptionStatus', [gzipSync(''), Buffer.alloc(0), '"k","false"\n']);
    expect((await collect(readInventoryRows(source, manifest))).map((r) => [r.key, r.position.fileIndex])).toEqual([['k', 2]]);
    const none = await roundTrip({ objects: [], emptyFileWhenNoObjects: true });
    expect(none.manifest.files).toHaveLength(1);
    expect(none.rows).toEqual([]);
  });

  it('accepts a body handed over as one buffer', async () => {
    const { rows } = await roundTrip({ objects }, {}, { asBuffer: true });
    expect(rows.map(pick)).toEqual(objects.map(expectedRow));
  });

  describe('malformed files: the error names the file and the line', () => {
    const schema = 'Bucket, Key, IsLatest, Size, EncryptionStatus';
    const ok = `"${SRC}","a","true","1","false"\n`;

    it.each([
      ['an unbalanced quote', `${ok}${ok}"${SRC}","b,true,1,false\n${ok}`, 3, /unbalanced quote: a quoted field is not closed on its line/],
      ['a stray quote', `${ok}${ok}"${SRC}","b,"true","1","false"\n${ok}`, 3, /"t" after the closing quote of field 2/],
      ['text after a closing quote', `${ok}"${SRC}","b"x,"true","1","false"\n`, 2, /"x" after the closing quote of field 2/],
      ['a quote inside an unquoted field', `${ok}${SRC},b"c,true,1,false\n`, 2, /a quote inside unquoted field 2/],
      ['a missing field', `${ok}${ok}${ok}"${SRC}","b","true","false"\n`, 4, /expected 5 fields \(as fileSchema lists\), found 4/],
      ['an extra field', `"${SRC}","b","true","1","false","x"\n`, 1, /expected 5 fields .* found 6/],
      ['a bad boolean', `${ok}"${SRC}","b","yes","1","false"\n`, 2, /IsLatest is "yes", not True or False/],
      ['a bad size', `${ok}"${SRC}","b","true","1.5","false"\n`, 2, /Size is "1\.5", not a byte count/],
      ['an empty key', `"${SRC}","","true","1","false"\n`, 1, /Key is empty/],
      ['another bucket', `"other","b","true","1","false"\n`, 1, /Bucket is "other", the manifest's sourceBucket is "source-bucket"/],
    ])('%s', async (_name, csv, line, re) => {
      const { manifest, source, files } = handReport(schema, [gzipSync(ok), csv]);
      const e = await failure(collect(readInventoryRows(source, manifest)));
      expect(e.file).toBe(files[1]?.key);
      expect(e.line).toBe(line);
      expect(e.message).toContain(`inventory data file ${files[1]?.key}, line ${line}: `);
      expect(e.message).toMatch(re);
    });

    it('an unterminated quote in raw mode is reported at the line it opened on', async () => {
      const { manifest, source } = handReport(schema, [`${ok}"${SRC}","multi\nline","true","1","false"\n"${SRC}","open\n${ok}`]);
      const rows: InventoryRow[] = [];
      const e = await failure(
        (async () => {
          for await (const r of readInventoryRows(source, manifest, { keyEncoding: 'raw' })) rows.push(r);
        })(),
      );
      expect(rows.map((r) => r.key)).toEqual(['a', 'multi\nline']);
      expect(e.line).toBe(4);
      expect(e.message).toMatch(/line 4: .*(unterminated quoted field|after the closing quote)/);
    });

    it('a record longer than maxRecordChars (an unbalanced quote in raw mode) stops early', async () => {
      const long = `"${SRC}","open` + '\nmore text'.repeat(200);
      const { manifest, source } = handReport(schema, [`${ok}${long}`]);
      const e = await failure(collect(readInventoryRows(source, manifest, { keyEncoding: 'raw', maxRecordChars: 1000 })));
      expect(e.line).toBe(2);
      expect(e.message).toMatch(/a record longer than 1000 characters \(an unbalanced quote\?\)/);
      const noBreak = handReport(schema, ['x'.repeat(5000)]);
      expect((await failure(collect(readInventoryRows(noBreak.source, noBreak.manifest, { maxRecordChars: 1000 })))).message).toMatch(
        /line 1: a line longer than 1000 characters/,
      );
    });

    it('a file whose bytes do not match the manifest MD5 or size', async () => {
      const { manifest, source, files } = handReport(schema, [ok, ok]);
      const badMd5: InventoryManifest = { ...manifest, files: manifest.files.map((f, i) => (i === 1 ? { ...f, md5: '0'.repeat(32) } : f)) };
      const rows: InventoryRow[] = [];
      const e = await failure(
        (async () => {
          for await (const r of readInventoryRows(source, badMd5)) rows.push(r);
        })(),
      );
      expect(e.file).toBe(files[1]?.key);
      expect(e.message).toMatch(/MD5 [0-9a-f]{32} does not match the manifest's MD5checksum 0{32}/);
      // Streaming: the file's rows came before its checksum could be known.
      expect(rows).toHaveLength(2);
      const badSize: InventoryManifest = { ...manifest, files: manifest.files.map((f) => ({ ...f, size: (f.size ?? 0) + 1 })) };
      expect((await failure(collect(readInventoryRows(source, badSize)))).message).toMatch(
        new RegExp(`${files[0]?.key}: is \\d+ bytes, the manifest says \\d+`),
      );
    });

    it('a file that is not gzip, is truncated, or is not UTF-8', async () => {
      const gz = gzipSync(ok.repeat(50));
      for (const [body, re] of [
        [Buffer.from(ok), /cannot be read as gzip: incorrect header check/],
        [gz.subarray(0, gz.length - 10), /cannot be read as gzip: unexpected end of file/],
        [
          gzipSync(Buffer.concat([Buffer.from(`"${SRC}","`), Buffer.from([0xff, 0xfe]), Buffer.from('","true","1","false"\n')])),
          /line 1: is not valid UTF-8/,
        ],
      ] as const) {
        const { manifest, source, files } = handReport(schema, [body]);
        const e = await failure(collect(readInventoryRows(source, manifest)));
        expect(e.file).toBe(files[0]?.key);
        expect(e.message).toMatch(re);
      }
    });

    it('a data file that cannot be fetched', async () => {
      const { manifest } = handReport(schema, [ok]);
      const e = await failure(collect(readInventoryRows(memoryInventorySource([]), manifest)));
      expect(e.message).toMatch(/^inventory data file .*file-0\.csv\.gz: cannot be read: NoSuchKey/);
    });
  });

  it('resumes after a position: earlier files are not fetched, earlier records not yielded', async () => {
    const { built, rows: all } = await roundTrip({ objects, rowsPerFile: 10 });
    const source = memoryInventorySource(built.objects);
    const manifest = parseManifest(built.manifest);
    const at = all[13] as InventoryRow;
    const cursor = inventoryCursor(at.position);
    expect(cursor).toBe('000001:000000000003');
    const rest = await collect(readInventoryRows(source, manifest, { resumeAfter: parseInventoryCursor(cursor) }));
    expect(rest.map((r) => r.key)).toEqual(all.slice(14).map((r) => r.key));
    expect(source.reads).toEqual(built.dataKeys.slice(1));
    // Cursor strings sort like positions.
    const cursors = all.map((r) => inventoryCursor(r.position));
    expect([...cursors].sort()).toEqual(cursors);
    expect(() => parseInventoryCursor('dir/object-3.bin')).toThrow(InventoryError);
  });

  it('streams: the first rows come before a large file has been fetched, and stopping early stops fetching', async () => {
    const many = Array.from({ length: 30_000 }, (_, i) => obj(i, { key: `k/${createHash('sha1').update(String(i)).digest('hex')}` }));
    const built = buildInventoryReport({ destBucket: DEST, sourceBucket: SRC, objects: many, rowsPerFile: 30_000 });
    const size = built.objects[0]?.body.length ?? 0;
    expect(size).toBeGreaterThan(1024 * 1024);
    let pulled = 0;
    const source = {
      async getObject(_b: string, key: string) {
        const body = built.objects.find((o) => o.key === key)?.body ?? Buffer.alloc(0);
        return (async function* () {
          for (let i = 0; i < body.length; i += 8192) {
            pulled += Math.min(8192, body.length - i);
            yield body.subarray(i, i + 8192);
          }
        })();
      },
    };
    const manifest = parseManifest(built.manifest);
    let n = 0;
    for await (const row of readInventoryRows(source, manifest)) {
      if (n === 0) expect(pulled).toBeLessThan(size / 4);
      expect(row.key).toBe(many[n]?.key);
      if (++n === 100) break;
    }
    expect(pulled).toBeLessThan(size / 4);
  });

  it('round-trips any rows written by the generator (fast-check)', async () => {
    const keyPiece = fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
      fc.constantFrom(' ', '+', '%', '%20', '%2B', ',', '"', '""', '\n', '\r', '\r\n', '/', '数据', '🎉', 'é'),
    );
    const key = fc.array(keyPiece, { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
    const object = fc.record({
      key,
      size: fc.nat(),
      etag: fc.stringMatching(/^[0-9A-F]{32}(-[1-9][0-9]?)?$/),
      encrypted: fc.constantFrom('false', 'true', 'SSE-OSS', 'SSE-KMS', 'False', ''),
      isLatest: fc.boolean(),
      isDeleteMarker: fc.boolean(),
      versionId: fc.stringMatching(/^[A-Za-z0-9+/=]{1,20}$/),
      storageClass: fc.constantFrom('Standard', 'IA', 'Archive', 'ColdArchive'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(object, { maxLength: 40 }),
        fc.nat(),
        fc.integer({ min: 1, max: 15 }),
        fc.constantFrom('url', 'url-percent', 'raw'),
        fc.constantFrom('\n', '\r\n'),
        fc.integer({ min: 1, max: 64 }),
        async (objs, seed, rowsPerFile, keyEncoding, lineEnding, chunkBytes) => {
          const { rows } = await roundTrip(
            { objects: objs, schema: shuffledSchema(seed), rowsPerFile, keyEncoding, lineEnding },
            { keyEncoding: keyEncoding === 'raw' ? 'raw' : 'url' },
            { chunkBytes },
          );
          expect(
            rows.map((r) => ({
              ...pick(r),
              isLatest: r.isLatest,
              isDeleteMarker: r.isDeleteMarker,
              versionId: r.versionId,
              storageClass: r.storageClass,
            })),
          ).toEqual(
            objs.map((o) => ({
              ...expectedRow(o),
              encryptionStatus: o.encrypted,
              isLatest: o.isLatest,
              isDeleteMarker: o.isDeleteMarker,
              versionId: o.versionId,
              storageClass: o.storageClass,
            })),
          );
          expect(rows.map((r) => r.position.record)).toEqual(objs.map((_, i) => i % rowsPerFile));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the generator writes one quoted record per object in schema order', () => {
    const row = inventoryCsvRow(obj(1, { key: 'a b,"c"' }), ['Key', 'EncryptionStatus', 'Size'], SRC);
    expect(row).toBe('"a+b%2C%22c%22","SSE-OSS","10"\n');
    expect(inventoryCsvRow(obj(1, { key: 'a b,"c"' }), ['Key'], SRC, { keyEncoding: 'raw', lineEnding: '\r\n' })).toBe('"a b,""c"""\r\n');
  });
});
