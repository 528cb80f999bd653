/**
 * Multipart upload APIs of the local OSS server: Initiate, UploadPart, UploadPartCopy,
 * Complete, Abort, ListParts and ListMultipartUploads. The re-encryption path depends on
 * these for objects above the CopyObject limit, so they follow OSS and what ali-oss 6.23.0
 * parses (lib/common/multipart.js, multipart-copy.js, managed-upload.js).
 * See docs/oss-behaviour.md#objects-and-re-encryption.
 */
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { crc64Combine } from '../../shared/crc64';
import { compareKeys } from '../../shared/key-order';
import { encoder, header, intParam, readSmallBody, send, sendXml, type ObjectContext, type RequestContext } from './context';
import { resolveCopySource } from './copy-source';
import { Errors, OssError } from './errors';
import { checkContentMd5, checkKey, contentLength, emitObjectEvent, forbidOverwrite } from './object-common';
import type { MultipartUpload, ObjectVersion, UploadPart } from './model';
import {
  quoteEtag,
  requestedAcl,
  requestedContentHeaders,
  requestedSse,
  requestedStorageClass,
  requestedTags,
  requestedUserMeta,
  sseHeaders,
} from './object-headers';
import { isoDate, listOf, parseXmlBody, textOf, toXml } from './xml';

/** OSS limits: part numbers 1–10,000, parts ≤ 5 GiB, every part but the last ≥ 100 KB. */
const MAX_PART_NUMBER = 10_000;
const MAX_PART_BYTES = 5 * 1024 ** 3;
const MIN_PART_BYTES = 100 * 1024;

/**
 * Uploads whose CompleteMultipartUpload is between validation and endUpload. While an
 * upload is here its parts' segments are about to belong to an object, so an Abort, a
 * second Complete or a part replacing one of them must not touch them (it would free data
 * the new object points at).
 */
const completing = new WeakSet<MultipartUpload>();

// ---- helpers --------------------------------------------------------------------------------

/** The upload the request's ?uploadId names, after checking the bucket (404 NoSuchBucket comes first). */
function addressedUpload(ctx: ObjectContext): MultipartUpload {
  ctx.store.bucket(ctx.oss.bucket);
  const uploadId = ctx.oss.query.uploadId;
  if (uploadId === undefined || uploadId === '') throw Errors.invalidArgument('uploadId is required', 'uploadId', '');
  const upload = ctx.store.upload(ctx.oss.bucket, ctx.oss.key, uploadId);
  if (completing.has(upload)) throw Errors.noSuchUpload(uploadId);
  return upload;
}

function partNumberParam(ctx: RequestContext): number {
  const raw = ctx.oss.query.partNumber;
  if (raw === undefined || !/^\d{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_PART_NUMBER) {
    throw Errors.invalidArgument(`Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, 'partNumber', raw ?? '');
  }
  return Number(raw);
}

/** Real OSS refuses SSE headers on UploadPart / UploadPartCopy: encryption is fixed at Initiate. See docs/oss-behaviour.md#ali-oss-quirks. */
function refuseSseHeaders(ctx: RequestContext): void {
  for (const name of Object.keys(ctx.oss.headers)) {
    if (name.startsWith('x-oss-server-side-encryption') || name.startsWith('x-oss-server-side-data-encryption')) {
      throw Errors.invalidArgument(
        'Server-side encryption headers are not allowed on UploadPart; set them on InitiateMultipartUpload.',
        name,
        header(ctx, name) ?? '',
      );
    }
  }
}

/** `"ABC…"`, `abc…` and `"abc…"` name the same part: quotes optional, hex case-insensitive. */
const normEtag = (etag: string): string => etag.trim().replace(/"/g, '').toUpperCase();

/** Stores a finished part unless the upload started completing meanwhile (then its data is dropped). */
async function storePart(ctx: ObjectContext, upload: MultipartUpload, part: UploadPart): Promise<void> {
  if (completing.has(upload)) {
    await ctx.store.deleteSegments([part.segment]);
    throw Errors.noSuchUpload(upload.uploadId);
  }
  // putPart sets the part synchronously before its first await, so no Complete can slip in between.
  await ctx.store.putPart(upload, part);
}

// ---- InitiateMultipartUpload -------------------------------------------------------------------

export async function initiateMultipartUpload(ctx: ObjectContext): Promise<void> {
  checkKey(ctx.oss.key);
  const bucket = ctx.store.bucket(ctx.oss.bucket);
  const encode = encoder(ctx);
  forbidOverwrite(ctx);
  const sse = requestedSse(ctx, bucket);
  const upload = await ctx.store.createUpload({
    bucket: ctx.oss.bucket,
    key: ctx.oss.key,
    template: {
      storageClass: requestedStorageClass(ctx, bucket.storageClass),
      contentHeaders: requestedContentHeaders(ctx),
      userMeta: requestedUserMeta(ctx),
      acl: requestedAcl(ctx, 'default'),
      tags: requestedTags(ctx) ?? [],
      ...(sse ? { sse } : {}),
    },
    owner: ctx.events.accountId,
  });
  const urlEncoded = ctx.oss.query['encoding-type'] === 'url';
  sendXml(
    ctx,
    toXml('InitiateMultipartUploadResult', {
      ...(urlEncoded ? { EncodingType: 'url' } : {}),
      Bucket: ctx.oss.bucket,
      Key: encode(ctx.oss.key),
      UploadId: upload.uploadId,
    }),
    sseHeaders(upload.template.sse),
  );
  emitObjectEvent(ctx, 'ObjectCreated:InitiateMultipartUpload', {
    etag: '',
    size: 0,
    deltaSize: 0,
    contentType: upload.template.contentHeaders['content-type'],
  });
}

// ---- UploadPart / UploadPartCopy ---------------------------------------------------------------

export async function uploadPart(ctx: ObjectContext): Promise<void> {
  const partNumber = partNumberParam(ctx);
  refuseSseHeaders(ctx);
  const upload = addressedUpload(ctx);
  const expected = contentLength(ctx);
  if (expected !== undefined && expected > MAX_PART_BYTES) {
    throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed part size.');
  }
  const data = await ctx.store.writeData(ctx.req, {
    encrypt: upload.template.sse !== undefined,
    expectedSize: expected,
    maxSize: MAX_PART_BYTES,
  });
  try {
    checkContentMd5(ctx, data.md5);
  } catch (e) {
    await ctx.store.deleteSegments([data.segment]);
    throw e;
  }
  const part: UploadPart = {
    partNumber,
    etag: quoteEtag(data.md5),
    size: data.size,
    crc64: data.crc64.toString(),
    lastModified: Date.now(),
    segment: data.segment,
  };
  await storePart(ctx, upload, part);
  send(ctx, 200, {
    etag: part.etag,
    'content-md5': data.md5.toString('base64'),
    'x-oss-hash-crc64ecma': part.crc64,
    ...sseHeaders(upload.template.sse),
  });
  emitObjectEvent(ctx, 'ObjectCreated:UploadPart', { etag: part.etag, size: part.size, deltaSize: 0 });
}

/** `x-oss-copy-source-range: bytes=a-b`, inclusive, within the source; anything else is 400 InvalidArgument. */
function copyRange(ctx: RequestContext, size: number): { start: number; end: number } {
  const raw = header(ctx, 'x-oss-copy-source-range');
  if (raw === undefined) return { start: 0, end: size };
  const m = /^bytes=(\d{1,16})-(\d{1,16})$/.exec(raw.trim());
  const a = m ? Number(m[1]) : NaN;
  const b = m ? Number(m[2]) : NaN;
  // Stricter reading: open-ended or suffix ranges are refused too, not silently widened.
  if (!m || a > b || b >= size)
    throw Errors.invalidArgument('The x-oss-copy-source-range is not valid for the source object.', 'x-oss-copy-source-range', raw);
  return { start: a, end: b + 1 };
}

export async function uploadPartCopy(ctx: ObjectContext): Promise<void> {
  const partNumber = partNumberParam(ctx);
  refuseSseHeaders(ctx);
  const upload = addressedUpload(ctx);
  const source = resolveCopySource(ctx);
  const src = source.version;
  if (src.objectType === 'Symlink') {
    // A part cannot be a link: OSS refuses it (EC 0042-00000308). See docs/oss-behaviour.md#objects-and-re-encryption.
    throw new OssError(
      400,
      'OperationNotSupported',
      'The source object is a symlink and cannot be copied into a part.',
      {},
      '0042-00000308',
    );
  }
  const { start, end } = copyRange(ctx, src.size);
  if (end - start > MAX_PART_BYTES) {
    throw Errors.invalidArgument(
      'A part may not be larger than 5 GiB.',
      'x-oss-copy-source-range',
      header(ctx, 'x-oss-copy-source-range') ?? '',
    );
  }
  const data = await ctx.store.writeData(ctx.store.readData(src.segments, start, end), {
    encrypt: upload.template.sse !== undefined,
    expectedSize: end - start,
    maxSize: MAX_PART_BYTES,
  });
  const part: UploadPart = {
    partNumber,
    etag: quoteEtag(data.md5),
    size: data.size,
    crc64: data.crc64.toString(),
    lastModified: Date.now(),
    segment: data.segment,
  };
  await storePart(ctx, upload, part);
  const h: OutgoingHttpHeaders = { etag: part.etag, 'x-oss-hash-crc64ecma': part.crc64, ...sseHeaders(upload.template.sse) };
  if (ctx.store.bucket(source.bucket).versioning !== undefined) h['x-oss-copy-source-version-id'] = src.versionId;
  sendXml(ctx, toXml('CopyPartResult', { LastModified: isoDate(part.lastModified), ETag: part.etag }), h);
  emitObjectEvent(ctx, 'ObjectCreated:UploadPartCopy', { etag: part.etag, size: part.size, deltaSize: 0 });
}

// ---- CompleteMultipartUpload ---------------------------------------------------------------------

/** The parts a Complete request names, in request order: from the XML body or, with x-oss-complete-all, all of them. */
async function requestedParts(ctx: ObjectContext, upload: MultipartUpload): Promise<Array<{ partNumber: number; etag?: string }>> {
  const body = await readSmallBody(ctx);
  const all = header(ctx, 'x-oss-complete-all');
  if (all !== undefined) {
    if (all !== 'yes') throw Errors.invalidArgument('x-oss-complete-all must be yes', 'x-oss-complete-all', all);
    if (body.length > 0)
      throw Errors.invalidArgument('The request body must be empty with x-oss-complete-all: yes.', 'x-oss-complete-all', all);
    return [...upload.parts.keys()].sort((a, b) => a - b).map((partNumber) => ({ partNumber }));
  }
  checkContentMd5(ctx, createHash('md5').update(body).digest());
  const doc = parseXmlBody(body, 'CompleteMultipartUpload');
  return listOf(doc, 'Part').map((p) => {
    const num = textOf(p, 'PartNumber');
    const etag = textOf(p, 'ETag');
    if (num === undefined || !/^\d{1,10}$/.test(num) || etag === undefined) {
      throw Errors.malformedXml('Every Part needs an integer PartNumber and an ETag.');
    }
    return { partNumber: Number(num), etag };
  });
}

function invalidPart(partNumber: number, message: string): OssError {
  return new OssError(400, 'InvalidPart', message, { PartNumber: String(partNumber) }, '0042-00000003');
}

/** Checks the requested list against the uploaded parts (order, existence, ETag, minimum size) and returns them. */
function chosenParts(upload: MultipartUpload, requested: ReadonlyArray<{ partNumber: number; etag?: string }>): UploadPart[] {
  if (requested.length === 0) {
    // S3 answers a part-less Complete with MalformedXML; OSS's code is unconfirmed, so take S3's.
    throw Errors.malformedXml('You must specify at least one part.');
  }
  const parts: UploadPart[] = [];
  let previous = 0;
  for (const r of requested) {
    if (r.partNumber <= previous) {
      throw new OssError(
        400,
        'InvalidPartOrder',
        'The list of parts was not in ascending order. Parts must be ordered by part number.',
        {},
        '0042-00000004',
      );
    }
    previous = r.partNumber;
    const part = upload.parts.get(r.partNumber);
    if (!part)
      throw invalidPart(
        r.partNumber,
        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
      );
    if (r.etag !== undefined && normEtag(r.etag) !== normEtag(part.etag)) {
      throw invalidPart(
        r.partNumber,
        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
      );
    }
    parts.push(part);
  }
  for (const p of parts.slice(0, -1)) {
    if (p.size < MIN_PART_BYTES) {
      throw new OssError(
        400,
        'EntityTooSmall',
        'Your proposed upload is smaller than the minimum allowed size.',
        {
          PartNumber: String(p.partNumber),
          MinSizeAllowed: String(MIN_PART_BYTES),
          ProposedSize: String(p.size),
        },
        '0042-00000005',
      );
    }
  }
  return parts;
}

/** OSS's multipart ETag: MD5 over the parts' binary MD5s, upper-case hex, then `-<part count>`. */
function multipartEtag(parts: readonly UploadPart[]): string {
  const h = createHash('md5');
  for (const p of parts) h.update(Buffer.from(normEtag(p.etag), 'hex'));
  return `"${h.digest('hex').toUpperCase()}-${parts.length}"`;
}

/** The object's CRC-64 from its parts' CRCs, without reading any data. */
function combinedCrc(parts: readonly UploadPart[]): bigint {
  let crc = 0n;
  parts.forEach((p, i) => {
    crc = i === 0 ? BigInt(p.crc64) : crc64Combine(crc, BigInt(p.crc64), p.size);
  });
  return crc;
}

/** `http://<bucket>.<endpoint host>/<key>` like OSS's Location (the Host already names the bucket for virtual-host requests). */
function location(ctx: ObjectContext): string {
  const host = ctx.req.headers.host ?? `oss-${ctx.settings.region}.aliyuncs.com`;
  const bucketHost = host.startsWith(`${ctx.oss.bucket}.`) ? host : `${ctx.oss.bucket}.${host}`;
  return `http://${bucketHost}/${ctx.oss.key.split('/').map(encodeURIComponent).join('/')}`;
}

export async function completeMultipartUpload(ctx: ObjectContext): Promise<void> {
  const upload = addressedUpload(ctx);
  const encode = encoder(ctx);
  if (header(ctx, 'x-oss-callback') !== undefined) throw Errors.notImplemented('Upload callback (x-oss-callback)');
  const requested = await requestedParts(ctx, upload);
  // Re-check after reading the body: the upload may have been aborted or completed meanwhile.
  if (ctx.store.upload(ctx.oss.bucket, ctx.oss.key, upload.uploadId) !== upload || completing.has(upload)) {
    throw Errors.noSuchUpload(upload.uploadId);
  }
  const parts = chosenParts(upload, requested);
  forbidOverwrite(ctx);
  completing.add(upload);
  let v: ObjectVersion;
  let previous: ObjectVersion | undefined;
  try {
    previous = ctx.store.current(ctx.oss.bucket, ctx.oss.key);
    const t = upload.template;
    v = await ctx.store.putVersion(ctx.oss.bucket, {
      key: ctx.oss.key,
      isDeleteMarker: false,
      lastModified: Date.now(),
      etag: multipartEtag(parts),
      size: parts.reduce((n, p) => n + p.size, 0),
      crc64: combinedCrc(parts).toString(),
      objectType: 'Multipart',
      storageClass: t.storageClass,
      contentHeaders: t.contentHeaders,
      userMeta: t.userMeta,
      acl: t.acl,
      tags: t.tags,
      ...(t.sse ? { sse: t.sse } : {}),
      segments: parts.map((p) => p.segment),
      // Same owner as PutObject/CopyObject give (object.ts), so listings agree whatever wrote the object.
      owner: ctx.events.accountId,
    });
    await ctx.store.endUpload(upload, new Set(parts.map((p) => p.segment.blobId)));
  } finally {
    completing.delete(upload);
  }
  const h: OutgoingHttpHeaders = { etag: v.etag, 'x-oss-hash-crc64ecma': v.crc64, ...sseHeaders(v.sse) };
  if (ctx.store.bucket(ctx.oss.bucket).versioning !== undefined) h['x-oss-version-id'] = v.versionId;
  const urlEncoded = ctx.oss.query['encoding-type'] === 'url';
  sendXml(
    ctx,
    toXml('CompleteMultipartUploadResult', {
      ...(urlEncoded ? { EncodingType: 'url' } : {}),
      Location: location(ctx),
      Bucket: ctx.oss.bucket,
      Key: encode(ctx.oss.key),
      ETag: v.etag,
    }),
    h,
  );
  emitObjectEvent(ctx, 'ObjectCreated:CompleteMultipartUpload', {
    etag: v.etag,
    size: v.size,
    deltaSize: v.size - (previous?.size ?? 0),
    contentType: v.contentHeaders['content-type'],
  });
}

// ---- AbortMultipartUpload ------------------------------------------------------------------------

export async function abortMultipartUpload(ctx: ObjectContext): Promise<void> {
  const upload = addressedUpload(ctx);
  await ctx.store.endUpload(upload, new Set());
  send(ctx, 204, {});
}

// ---- ListParts / ListMultipartUploads ------------------------------------------------------------

export async function listParts(ctx: ObjectContext): Promise<void> {
  const upload = addressedUpload(ctx);
  const encode = encoder(ctx);
  const maxParts = intParam(ctx, 'max-parts', 1, 1000, 1000);
  const marker = intParam(ctx, 'part-number-marker', 0, MAX_PART_NUMBER, 0);
  const after = [...upload.parts.values()].filter((p) => p.partNumber > marker).sort((a, b) => a.partNumber - b.partNumber);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  sendXml(
    ctx,
    toXml('ListPartsResult', {
      ...(ctx.oss.query['encoding-type'] === 'url' ? { EncodingType: 'url' } : {}),
      Bucket: ctx.oss.bucket,
      Key: encode(ctx.oss.key),
      UploadId: upload.uploadId,
      PartNumberMarker: marker,
      NextPartNumberMarker: page.at(-1)?.partNumber ?? marker,
      MaxParts: maxParts,
      IsTruncated: truncated,
      Part: page.map((p) => ({
        PartNumber: p.partNumber,
        LastModified: isoDate(p.lastModified),
        ETag: p.etag,
        HashCrc64ecma: p.crc64,
        Size: p.size,
      })),
    }),
  );
}

export async function listMultipartUploads(ctx: RequestContext): Promise<void> {
  const uploads = ctx.store.uploadsOf(ctx.oss.bucket);
  const encode = encoder(ctx);
  const q = ctx.oss.query;
  const prefix = q.prefix ?? '';
  const delimiter = q.delimiter ?? '';
  const keyMarker = q['key-marker'] ?? '';
  // upload-id-marker only means something together with key-marker (S3's documented rule, which OSS mirrors).
  const uploadIdMarker = keyMarker === '' ? '' : (q['upload-id-marker'] ?? '');
  const maxUploads = intParam(ctx, 'max-uploads', 1, 1000, 1000);

  // One key's uploads are in upload-ID order, which is initiation order for the IDs this server
  // makes. See docs/oss-behaviour.md#multipart-upload-listing.
  uploads.sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.uploadId, b.uploadId));
  // With an upload-id-marker, the marker key's uploads with a greater ID stay in; otherwise the whole key is done.
  const afterMarker = (u: MultipartUpload): boolean => {
    if (keyMarker === '') return true;
    const c = compareKeys(u.key, keyMarker);
    if (c !== 0) return c > 0;
    return uploadIdMarker !== '' && compareKeys(u.uploadId, uploadIdMarker) > 0;
  };

  const entries: Array<{ upload: MultipartUpload } | { prefix: string }> = [];
  const seenPrefixes = new Set<string>();
  let truncated = false;
  let nextKeyMarker = '';
  let nextUploadIdMarker = '';
  for (const u of uploads) {
    if (!u.key.startsWith(prefix) || !afterMarker(u)) continue;
    let commonPrefix: string | undefined;
    if (delimiter !== '') {
      const d = u.key.indexOf(delimiter, prefix.length);
      if (d >= 0) commonPrefix = u.key.slice(0, d + delimiter.length);
    }
    // A common prefix already returned (or given back as the key-marker) is not repeated.
    if (commonPrefix !== undefined && (seenPrefixes.has(commonPrefix) || commonPrefix === keyMarker)) continue;
    if (entries.length === maxUploads) {
      truncated = true;
      break;
    }
    if (commonPrefix !== undefined) {
      seenPrefixes.add(commonPrefix);
      entries.push({ prefix: commonPrefix });
      nextKeyMarker = commonPrefix;
      nextUploadIdMarker = '';
    } else {
      entries.push({ upload: u });
      nextKeyMarker = u.key;
      nextUploadIdMarker = u.uploadId;
    }
  }

  sendXml(
    ctx,
    toXml('ListMultipartUploadsResult', {
      ...(q['encoding-type'] === 'url' ? { EncodingType: 'url' } : {}),
      Bucket: ctx.oss.bucket,
      KeyMarker: encode(keyMarker),
      UploadIdMarker: uploadIdMarker,
      NextKeyMarker: truncated ? encode(nextKeyMarker) : '',
      NextUploadIdMarker: truncated ? nextUploadIdMarker : '',
      Delimiter: encode(delimiter),
      Prefix: encode(prefix),
      MaxUploads: maxUploads,
      IsTruncated: truncated,
      Upload: entries.flatMap((e) =>
        'upload' in e ? [{ Key: encode(e.upload.key), UploadId: e.upload.uploadId, Initiated: isoDate(e.upload.initiated) }] : [],
      ),
      CommonPrefixes: entries.flatMap((e) => ('prefix' in e ? [{ Prefix: encode(e.prefix) }] : [])),
    }),
  );
}
