/**
 * Every row of an inventory report, streamed: each data file is fetched as a byte stream,
 * MD5-hashed and gunzipped as it arrives, split into records and parsed; memory is bounded
 * by a few stream buffers and the longest record (maxRecordChars), never by the file. The
 * MD5/size check (and gzip's own CRC) can only fail once the whole file went through, i.e.
 * after its rows were yielded: a consumer must treat that error as "the run did not
 * complete" (no checkpoint past it).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FileRange, InventoryPosition } from './cursor';
import type { InventoryDataFile, InventoryManifest } from './manifest';
import { buildRow, parseCsvRecord, planColumns, type Columns, type InventoryRow } from './rows';
import { InventoryError, type InventoryBody, type InventorySource } from './source';

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
    yield* readDataFile(source, manifest, cols, opts, {
      bucket,
      file,
      fileIndex,
      ...(resume && fileIndex === resume.fileIndex ? { resumeAfterRecord: resume.record } : {}),
    });
  }
}

/** One data file of the report, and where to resume in it. */
interface DataFileRead {
  /** The bucket holding the data file. */
  bucket: string;
  file: InventoryDataFile;
  fileIndex: number;
  /** Resume: records up to and including this index are not yielded. */
  resumeAfterRecord?: number;
}

async function* readDataFile(
  source: InventorySource,
  manifest: InventoryManifest,
  cols: Columns,
  opts: ReadInventoryOptions,
  { bucket, file, fileIndex, resumeAfterRecord }: DataFileRead,
): AsyncGenerator<InventoryRow> {
  const name = file.key;
  const fileError = (message: string, line?: number): InventoryError =>
    new InventoryError(`inventory data file ${name}${line === undefined ? '' : `, line ${line}`}: ${message}`, name, line);
  const maxRecord = opts.maxRecordChars ?? DEFAULT_MAX_RECORD_CHARS;
  const multiline = opts.keyEncoding === 'raw'; // URL-encoded keys hold no line breaks: a record is one line
  const decodeKeys = opts.keyEncoding !== 'raw';

  let body: InventoryBody;
  try {
    body = await source.getObject(bucket, name);
  } catch (e) {
    throw fileError(`cannot be read: ${e instanceof Error ? e.message : String(e)}`);
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
      throw fileError(`expected ${cols.count} fields (as fileSchema lists), found ${fields.length}`, startLine);
    }
    const record = records++;
    if (resumeAfterRecord !== undefined && record <= resumeAfterRecord) return undefined;
    return buildRow(fields, cols, manifest, {
      decodeKeys,
      position: { fileIndex, record, file: name, line: startLine },
      rowError: (m) => fileError(m, startLine),
    });
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
      throw fileError(`a record longer than ${maxRecord} characters (an unbalanced quote?)`, startLine);
    }
    if (recordText === '' || recordText === '\r' || (recordText.trim() === '' && !recordText.includes('"'))) return undefined;
    let fields: string[] | undefined;
    try {
      fields = parseCsvRecord(recordText);
    } catch (e) {
      throw fileError(e instanceof Error ? e.message : String(e), startLine);
    }
    if (fields === undefined) {
      if (!multiline) throw fileError('unbalanced quote: a quoted field is not closed on its line', startLine);
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
    if (s.length > maxRecord) throw fileError(`a line longer than ${maxRecord} characters`, line + 1);
    carry = s;
  }

  try {
    try {
      for await (const chunk of gunzip) {
        let decoded: string;
        try {
          decoded = text.decode(chunk as Buffer, { stream: true });
        } catch {
          throw fileError('is not valid UTF-8', line + 1);
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
        throw fileError(`cannot be read as gzip: ${reason}`);
      }
    }
    let tail: string;
    try {
      tail = text.decode();
    } catch {
      throw fileError('is not valid UTF-8 (truncated character at the end)', line + 1);
    }
    yield* lines(tail);
    if (carry !== '') {
      const last = carry;
      carry = '';
      const row = onLine(last);
      if (row) yield row;
    }
    if (pending) throw fileError('unterminated quoted field', pending.line);
    if (file.size !== undefined && rawBytes !== file.size) {
      throw fileError(`is ${rawBytes} bytes, the manifest says ${file.size}`);
    }
    if (file.md5 !== undefined) {
      const got = hash.digest('hex');
      if (got !== file.md5) throw fileError(`MD5 ${got} does not match the manifest's MD5checksum ${file.md5}`);
    }
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}
