/** Object-level APIs of the local OSS server (multipart ones live in multipart.ts). */
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { crc64Combine } from '../../shared/crc64';
import { header, ownerXml, readSmallBody, send, sendXml, type ObjectContext, type RequestContext } from './context';
import { etagMatches, NotModified, resolveCopySource } from './copy-source';
import { Errors, OssError } from './errors';
import { checkContentMd5, checkKey, contentLength, emitObjectEvent, forbidOverwrite } from './object-common';
import { ARCHIVE_CLASSES, type ObjectVersion, type Segment } from './model';
import {
  assertDecryptable,
  assertReadable,
  checkTags,
  objectHeaders,
  quoteEtag,
  requestedAcl,
  requestedContentHeaders,
  requestedSse,
  requestedStorageClass,
  requestedTags,
  requestedUserMeta,
  sseHeaders,
} from './object-headers';
import { httpDate, isoDate, listOf, parseXmlBody, textOf, toXml } from './xml';

/** OSS's largest single PutObject/AppendObject body. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

const isVersioned = (ctx: RequestContext): boolean => ctx.store.bucket(ctx.oss.bucket).versioning !== undefined;

function versionHeader(ctx: RequestContext, v: ObjectVersion): OutgoingHttpHeaders {
  return isVersioned(ctx) ? { 'x-oss-version-id': v.versionId } : {};
}

/** The version a request addresses: ?versionId=… or the current one. */
function addressed(ctx: ObjectContext): ObjectVersion {
  const versionId = ctx.oss.query.versionId;
  if (versionId !== undefined) {
    const v = ctx.store.version(ctx.oss.bucket, ctx.oss.key, versionId);
    if (!v) throw Errors.noSuchVersion(ctx.oss.key, versionId);
    if (v.isDeleteMarker) {
      throw new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', {}, '0026-00000003');
    }
    return v;
  }
  const v = ctx.store.current(ctx.oss.bucket, ctx.oss.key);
  if (!v) throw Errors.noSuchKey(ctx.oss.key);
  return v;
}

function emitCreated(ctx: ObjectContext, name: string, v: ObjectVersion, previousSize: number | undefined): void {
  emitObjectEvent(ctx, name, {
    etag: v.etag,
    size: v.size,
    deltaSize: v.size - (previousSize ?? 0),
    contentType: v.contentHeaders['content-type'],
  });
}

// ---- PutObject / AppendObject -------------------------------------------------------------

export async function putObject(ctx: ObjectContext): Promise<void> {
  checkKey(ctx.oss.key);
  const bucket = ctx.store.bucket(ctx.oss.bucket);
  forbidOverwrite(ctx);
  const sse = requestedSse(ctx, bucket);
  const attrs = {
    contentHeaders: requestedContentHeaders(ctx),
    userMeta: requestedUserMeta(ctx),
    storageClass: requestedStorageClass(ctx, bucket.storageClass),
    acl: requestedAcl(ctx, 'default'),
    tags: requestedTags(ctx) ?? [],
  };
  const expected = contentLength(ctx);
  const data = await ctx.store.writeData(ctx.req, { encrypt: sse !== undefined, expectedSize: expected, maxSize: MAX_PUT_BYTES });
  try {
    checkContentMd5(ctx, data.md5);
  } catch (e) {
    await ctx.store.deleteSegments([data.segment]);
    throw e;
  }
  const previous = ctx.store.current(ctx.oss.bucket, ctx.oss.key);
  const v = await ctx.store.putVersion(ctx.oss.bucket, {
    key: ctx.oss.key,
    isDeleteMarker: false,
    lastModified: Date.now(),
    etag: quoteEtag(data.md5),
    size: data.size,
    crc64: data.crc64.toString(),
    objectType: 'Normal',
    ...attrs,
    ...(sse ? { sse } : {}),
    segments: [data.segment],
    owner: ctx.events.accountId,
  });
  send(ctx, 200, {
    etag: v.etag,
    'x-oss-hash-crc64ecma': v.crc64,
    'content-md5': data.md5.toString('base64'),
    ...sseHeaders(v.sse),
    ...versionHeader(ctx, v),
  });
  emitCreated(ctx, 'ObjectCreated:PutObject', v, previous?.size);
}

export async function appendObject(ctx: ObjectContext): Promise<void> {
  checkKey(ctx.oss.key);
  const bucket = ctx.store.bucket(ctx.oss.bucket);
  const rawPosition = ctx.oss.query.position;
  if (rawPosition === undefined || !/^\d+$/.test(rawPosition))
    throw Errors.invalidArgument('position must be a non-negative integer', 'position', rawPosition ?? '');
  const position = Number(rawPosition);
  const existing = ctx.store.current(ctx.oss.bucket, ctx.oss.key);
  if (existing && existing.objectType !== 'Appendable') {
    throw new OssError(409, 'ObjectNotAppendable', 'The object is not appendable.', {}, '0026-00000016');
  }
  const length = existing?.size ?? 0;
  if (position !== length) {
    ctx.res.setHeader('x-oss-next-append-position', String(length));
    // Message and EC as OSS gives them. See docs/oss-behaviour.md#appendobject-position.
    throw new OssError(409, 'PositionNotEqualToLength', 'Position is not equal to file length', {}, '0026-00000016');
  }
  // Attributes and SSE come from the first append; later appends keep them.
  const sse = existing ? existing.sse : requestedSse(ctx, bucket);
  const data = await ctx.store.writeData(ctx.req, {
    encrypt: sse !== undefined,
    expectedSize: contentLength(ctx),
    maxSize: MAX_PUT_BYTES - length,
  });
  const crc = existing ? crc64Combine(BigInt(existing.crc64), data.crc64, data.size) : data.crc64;
  const size = length + data.size;
  const base = existing ?? {
    contentHeaders: requestedContentHeaders(ctx),
    userMeta: requestedUserMeta(ctx),
    storageClass: requestedStorageClass(ctx, bucket.storageClass),
    acl: requestedAcl(ctx, 'default'),
    tags: requestedTags(ctx) ?? [],
    ...(sse ? { sse } : {}),
  };
  const segments: Segment[] = [...(existing?.segments ?? []), data.segment];
  const v = await ctx.store.putAppended(ctx.oss.bucket, existing, {
    key: ctx.oss.key,
    isDeleteMarker: false,
    lastModified: Date.now(),
    // OSS derives an appendable object's ETag from its content, not a plain MD5; the CRC keeps it stable and cheap.
    etag: `"${crc.toString(16).toUpperCase().padStart(16, '0')}"`,
    size,
    crc64: crc.toString(),
    objectType: 'Appendable',
    contentHeaders: base.contentHeaders,
    userMeta: base.userMeta,
    storageClass: base.storageClass,
    acl: base.acl,
    tags: base.tags,
    ...(sse ? { sse } : {}),
    segments,
    owner: ctx.events.accountId,
  });
  send(ctx, 200, {
    etag: v.etag,
    'x-oss-next-append-position': String(size),
    'x-oss-hash-crc64ecma': v.crc64,
    ...sseHeaders(v.sse),
    ...versionHeader(ctx, v),
  });
  emitCreated(ctx, 'ObjectCreated:AppendObject', v, length);
}

// ---- GetObject / HeadObject -----------------------------------------------------------------

/** GET/HEAD conditions: If-Match / If-Unmodified-Since → 412, If-None-Match / If-Modified-Since → 304. */
function checkReadConditions(ctx: RequestContext, v: ObjectVersion): void {
  const seconds = Math.floor(v.lastModified / 1000) * 1000;
  const ifMatch = header(ctx, 'if-match');
  if (ifMatch !== undefined && !etagMatches(ifMatch, v.etag)) throw Errors.preconditionFailed('If-Match');
  const ifUnmodified = header(ctx, 'if-unmodified-since');
  if (ifUnmodified !== undefined && ifMatch === undefined) {
    const t = Date.parse(ifUnmodified);
    if (!Number.isNaN(t) && seconds > t) throw Errors.preconditionFailed('If-Unmodified-Since');
  }
  const ifNoneMatch = header(ctx, 'if-none-match');
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, v.etag)) throw new NotModified();
  const ifModified = header(ctx, 'if-modified-since');
  if (ifModified !== undefined && ifNoneMatch === undefined) {
    const t = Date.parse(ifModified);
    if (!Number.isNaN(t) && seconds <= t) throw new NotModified();
  }
}

/** A symlink's target version, for reads through the link. */
function followSymlink(ctx: ObjectContext, link: ObjectVersion): ObjectVersion {
  const target = ctx.store.current(ctx.oss.bucket, link.symlinkTarget ?? '');
  if (target?.objectType === 'Symlink') {
    // A link to a link is refused with InvalidTargetType (status: not 404 or 412, 400 chosen).
    // See docs/oss-behaviour.md#symlink-to-a-symlink.
    throw new OssError(400, 'InvalidTargetType', 'The symlink target object type is not supported.', {
      TargetName: link.symlinkTarget ?? '',
    });
  }
  if (!target) {
    throw new OssError(
      404,
      'SymlinkTargetNotExist',
      'The symlink target object does not exist',
      { TargetName: link.symlinkTarget ?? '' },
      '0026-00000010',
    );
  }
  return target;
}

/**
 * Parses `Range: bytes=a-b | a- | -n`. OSS ignores a syntactically invalid or multi-part
 * range (whole object, 200); a well-formed range that starts past the end is 416
 * InvalidRange (OSS's "standard" range behaviour — the stricter of its two readings).
 */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0)
      throw new OssError(416, 'InvalidRange', 'The requested range cannot be satisfied', {
        RangeRequested: value,
        ActualObjectSize: String(size),
      });
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) {
    throw new OssError(
      416,
      'InvalidRange',
      'The requested range cannot be satisfied',
      { RangeRequested: value, ActualObjectSize: String(size) },
      '0003-00000001',
    );
  }
  return { start, end };
}

function responseOverrides(ctx: RequestContext): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {};
  for (const [param, name] of [
    ['response-content-type', 'content-type'],
    ['response-content-language', 'content-language'],
    ['response-expires', 'expires'],
    ['response-cache-control', 'cache-control'],
    ['response-content-disposition', 'content-disposition'],
    ['response-content-encoding', 'content-encoding'],
  ] as const) {
    const v = ctx.oss.query[param];
    if (v !== undefined) h[name] = v;
  }
  return h;
}

export async function headObject(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  const data = v.objectType === 'Symlink' ? followSymlink(ctx, v) : v;
  checkReadConditions(ctx, data);
  const headers = objectHeaders(v, { versioned: isVersioned(ctx) });
  if (v.objectType === 'Symlink') {
    // HEAD through a link describes the target's bytes but reports the link's type.
    Object.assign(headers, objectHeaders(data, { versioned: false }), { 'x-oss-object-type': 'Symlink' }, versionHeader(ctx, v));
  }
  headers['content-length'] = data.size;
  ctx.res.writeHead(200, headers);
  ctx.res.end();
}

/**
 * GetObjectMeta (HEAD ?objectMeta): only ETag, Content-Length and Last-Modified (and the version
 * id), none of the object's own headers. See docs/oss-behaviour.md#getobjectmeta.
 */
export async function getObjectMeta(ctx: ObjectContext): Promise<void> {
  // A symlink describes itself here, unlike HEAD: it is not followed.
  const v = addressed(ctx);
  ctx.res.writeHead(200, {
    etag: v.etag,
    'last-modified': httpDate(v.lastModified),
    'content-length': v.size,
    ...versionHeader(ctx, v),
  });
  ctx.res.end();
}

export async function getObject(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  const data = v.objectType === 'Symlink' ? followSymlink(ctx, v) : v;
  assertReadable(data);
  checkReadConditions(ctx, data);
  assertDecryptable(ctx, data);
  const headers = { ...objectHeaders(data, { versioned: false }), ...versionHeader(ctx, v), ...responseOverrides(ctx) };
  if (v.objectType === 'Symlink') headers['x-oss-object-type'] = 'Symlink';
  const range = parseRange(header(ctx, 'range'), data.size);
  let start = 0;
  let end = data.size; // exclusive
  let status = 200;
  if (range) {
    start = range.start;
    end = range.end + 1;
    status = 206;
    headers['content-range'] = `bytes ${range.start}-${range.end}/${data.size}`;
  }
  headers['content-length'] = end - start;
  ctx.res.writeHead(status, headers);
  for await (const chunk of ctx.store.readData(data.segments, start, end)) {
    if (!ctx.res.write(chunk)) await new Promise((resolve) => ctx.res.once('drain', resolve));
  }
  ctx.res.end();
}

// ---- DeleteObject / DeleteMultipleObjects -----------------------------------------------------

export async function deleteObject(ctx: ObjectContext): Promise<void> {
  ctx.store.bucket(ctx.oss.bucket);
  const result = await ctx.store.deleteObject(ctx.oss.bucket, ctx.oss.key, ctx.oss.query.versionId, ctx.events.accountId);
  const h: OutgoingHttpHeaders = {};
  if (result.deleteMarker) h['x-oss-delete-marker'] = 'true';
  if (result.versionId !== undefined) h['x-oss-version-id'] = result.versionId;
  send(ctx, 204, h);
  const removed =
    result.deleteMarker && ctx.oss.query.versionId === undefined ? 'ObjectRemoved:DeleteMarkerCreated' : 'ObjectRemoved:DeleteObject';
  emitObjectEvent(ctx, removed, { etag: '', size: 0, deltaSize: 0 });
}

export async function deleteMultipleObjects(ctx: RequestContext): Promise<void> {
  ctx.store.bucket(ctx.oss.bucket);
  const body = await readSmallBody(ctx, 2 * 1024 * 1024);
  const md5 = header(ctx, 'content-md5');
  if (md5 === undefined) throw Errors.invalidArgument('Missing required header for this request: Content-MD5', 'Content-MD5', '');
  if (md5 !== createHash('md5').update(body).digest('base64')) {
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': md5 });
  }
  const doc = parseXmlBody(body, 'Delete');
  const quiet = textOf(doc, 'Quiet') === 'true';
  const objects = listOf(doc, 'Object');
  if (objects.length === 0 || objects.length > 1000) throw Errors.malformedXml('Delete must name 1 to 1000 objects.');
  const encode = ctx.oss.query['encoding-type'] === 'url';
  const requests = objects.map((o) => {
    const key = textOf(o, 'Key');
    if (key === undefined) throw Errors.malformedXml('Every Object needs a Key.');
    checkKey(key);
    return { key, versionId: textOf(o, 'VersionId') };
  });
  const deleted: Record<string, unknown>[] = [];
  for (const r of requests) {
    const result = await ctx.store.deleteObject(ctx.oss.bucket, r.key, r.versionId, ctx.events.accountId);
    if (quiet) continue;
    deleted.push({
      Key: encode ? encodeURIComponent(r.key) : r.key,
      ...(r.versionId !== undefined ? { VersionId: r.versionId } : {}),
      ...(result.deleteMarker ? { DeleteMarker: true } : {}),
      ...(result.deleteMarker && r.versionId === undefined ? { DeleteMarkerVersionId: result.versionId } : {}),
    });
  }
  sendXml(ctx, toXml('DeleteResult', { ...(encode ? { EncodingType: 'url' } : {}), Deleted: deleted }));
}

// ---- CopyObject -------------------------------------------------------------------------

/**
 * CopyObject. SSE comes from the request headers or the bucket default, never from the
 * source. The ACL becomes `default` unless sent, except on a metadata-only self-copy, which
 * keeps it; storage class is not carried over unless sent (UNCONFIRMED: the stricter reading).
 * Metadata and content headers follow x-oss-metadata-directive, or on a self-copy under
 * settings.selfCopyMetadata 'replace' always come from the request (UNCONFIRMED either way).
 * See docs/oss-behaviour.md#objects-and-re-encryption.
 */
export async function copyObject(ctx: ObjectContext): Promise<void> {
  checkKey(ctx.oss.key);
  const bucket = ctx.store.bucket(ctx.oss.bucket);
  const source = resolveCopySource(ctx);
  const src = source.version;
  forbidOverwrite(ctx);
  const directive = header(ctx, 'x-oss-metadata-directive') ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw Errors.invalidArgument('Unknown metadata directive', 'x-oss-metadata-directive', directive);
  const tagDirective = header(ctx, 'x-oss-tagging-directive') ?? 'Copy';
  if (tagDirective !== 'Copy' && tagDirective !== 'Replace')
    throw Errors.invalidArgument('Unknown tagging directive', 'x-oss-tagging-directive', tagDirective);
  const sse = requestedSse(ctx, bucket);
  const storageClass = requestedStorageClass(ctx, bucket.storageClass);
  const sameObject = source.bucket === ctx.oss.bucket && src.key === ctx.oss.key;
  const changesData =
    !sameObject || sse?.algorithm !== src.sse?.algorithm || sse?.keyId !== src.sse?.keyId || storageClass !== src.storageClass;
  // The `replace` reading of a self-copy ignores the directive (ServerSettings.selfCopyMetadata).
  const replacesMeta = directive === 'REPLACE' || (sameObject && ctx.settings.selfCopyMetadata === 'replace');
  if (changesData && src.size > ctx.settings.copyObjectLimitBytes) {
    throw new OssError(
      400,
      'EntityTooLarge',
      `CopyObject cannot change an object larger than ${ctx.settings.copyObjectLimitBytes} bytes; use UploadPartCopy.`,
      {},
      '0017-00000802',
    );
  }
  const previous = ctx.store.current(ctx.oss.bucket, ctx.oss.key);
  const isLink = src.objectType === 'Symlink';
  let segments: Segment[] = [];
  if (!isLink) {
    const data = await ctx.store.writeData(ctx.store.readData(src.segments, 0, src.size), {
      encrypt: sse !== undefined,
      expectedSize: src.size,
      maxSize: Number.MAX_SAFE_INTEGER,
    });
    if (data.crc64.toString() !== src.crc64) {
      await ctx.store.deleteSegments([data.segment]);
      throw new OssError(500, 'InternalError', 'Copy verification failed.');
    }
    segments = [data.segment];
  }
  const v = await ctx.store.putVersion(ctx.oss.bucket, {
    key: ctx.oss.key,
    isDeleteMarker: false,
    lastModified: Date.now(),
    etag: src.etag,
    size: src.size,
    crc64: src.crc64,
    objectType: isLink ? 'Symlink' : src.objectType === 'Multipart' ? 'Multipart' : 'Normal',
    storageClass,
    contentHeaders: replacesMeta ? requestedContentHeaders(ctx) : src.contentHeaders,
    userMeta: replacesMeta ? requestedUserMeta(ctx) : src.userMeta,
    acl: requestedAcl(ctx, changesData ? 'default' : src.acl),
    tags: tagDirective === 'Replace' ? (requestedTags(ctx) ?? []) : src.tags,
    ...(sse ? { sse } : {}),
    ...(isLink ? { symlinkTarget: src.symlinkTarget } : {}),
    segments,
    owner: ctx.events.accountId,
  });
  const h: OutgoingHttpHeaders = { ...sseHeaders(v.sse), ...versionHeader(ctx, v), 'x-oss-hash-crc64ecma': v.crc64 };
  if (ctx.store.bucket(source.bucket).versioning !== undefined) h['x-oss-copy-source-version-id'] = src.versionId;
  sendXml(ctx, toXml('CopyObjectResult', { ETag: v.etag, LastModified: isoDate(v.lastModified) }), h);
  emitCreated(ctx, 'ObjectCreated:CopyObject', v, previous?.size);
}

// ---- Symlink, ACL, tagging, restore ---------------------------------------------------------

export async function putSymlink(ctx: ObjectContext): Promise<void> {
  checkKey(ctx.oss.key);
  const bucket = ctx.store.bucket(ctx.oss.bucket);
  const raw = header(ctx, 'x-oss-symlink-target');
  if (raw === undefined) throw Errors.invalidArgument('x-oss-symlink-target is required', 'x-oss-symlink-target', '');
  let target: string;
  try {
    target = decodeURIComponent(raw);
  } catch {
    throw Errors.invalidArgument('x-oss-symlink-target is not valid URL-encoded text', 'x-oss-symlink-target', raw);
  }
  checkKey(target);
  forbidOverwrite(ctx);
  const previous = ctx.store.current(ctx.oss.bucket, ctx.oss.key);
  const etag = quoteEtag(createHash('md5').update(target).digest());
  const v = await ctx.store.putVersion(ctx.oss.bucket, {
    key: ctx.oss.key,
    isDeleteMarker: false,
    lastModified: Date.now(),
    etag,
    size: 0,
    crc64: '0',
    objectType: 'Symlink',
    storageClass: requestedStorageClass(ctx, bucket.storageClass),
    contentHeaders: requestedContentHeaders(ctx),
    userMeta: requestedUserMeta(ctx),
    acl: requestedAcl(ctx, 'default'),
    tags: requestedTags(ctx) ?? [],
    symlinkTarget: target,
    segments: [],
    owner: ctx.events.accountId,
  });
  send(ctx, 200, { etag: v.etag, ...versionHeader(ctx, v) });
  emitCreated(ctx, 'ObjectCreated:PutSymlink', v, previous?.size);
}

export async function getSymlink(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  if (v.objectType !== 'Symlink') throw new OssError(400, 'NotSymlink', 'The specified object is not a symlink.', {}, '0026-00000007');
  send(ctx, 200, {
    'x-oss-symlink-target': encodeURIComponent(v.symlinkTarget ?? ''),
    etag: v.etag,
    'last-modified': new Date(v.lastModified).toUTCString(),
    ...versionHeader(ctx, v),
    ...Object.fromEntries(Object.entries(v.userMeta).map(([k, value]) => [`x-oss-meta-${k}`, value])),
  });
}

export async function getObjectAcl(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  sendXml(ctx, toXml('AccessControlPolicy', { Owner: ownerXml(v.owner), AccessControlList: { Grant: v.acl } }), versionHeader(ctx, v));
}

export async function putObjectAcl(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  if (header(ctx, 'x-oss-object-acl') === undefined) throw Errors.invalidArgument('x-oss-object-acl is required', 'x-oss-object-acl', '');
  const updated = await ctx.store.updateVersion(ctx.oss.bucket, v, { acl: requestedAcl(ctx, v.acl) });
  send(ctx, 200, versionHeader(ctx, updated));
}

export async function getObjectTagging(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  sendXml(ctx, toXml('Tagging', { TagSet: { Tag: v.tags.map(([Key, Value]) => ({ Key, Value })) } }), versionHeader(ctx, v));
}

export async function putObjectTagging(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  const doc = parseXmlBody(await readSmallBody(ctx, 64 * 1024), 'Tagging');
  const tagSet = doc.TagSet;
  const tagNodes =
    tagSet === undefined || tagSet === ''
      ? []
      : typeof tagSet === 'object' && tagSet !== null && !Array.isArray(tagSet)
        ? listOf(tagSet as Record<string, unknown>, 'Tag')
        : (() => {
            throw Errors.malformedXml();
          })();
  const tags = checkTags(
    tagNodes.map((t) => {
      const key = textOf(t, 'Key');
      if (key === undefined) throw Errors.malformedXml('Every Tag needs a Key.');
      return [key, textOf(t, 'Value') ?? ''] as [string, string];
    }),
  );
  const updated = await ctx.store.updateVersion(ctx.oss.bucket, v, { tags });
  send(ctx, 200, versionHeader(ctx, updated));
}

export async function deleteObjectTagging(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  const updated = await ctx.store.updateVersion(ctx.oss.bucket, v, { tags: [] });
  send(ctx, 204, versionHeader(ctx, updated));
}

/**
 * RestoreObject: 202 when a restore starts, 409 RestoreAlreadyInProgress while it runs,
 * 200 when the object is already restored (the restored copy's life is extended).
 */
export async function restoreObject(ctx: ObjectContext): Promise<void> {
  const v = addressed(ctx);
  if (!ARCHIVE_CLASSES.has(v.storageClass)) {
    throw new OssError(400, 'OperationNotSupported', 'The operation is not supported for this resource.', {}, '0016-00000702');
  }
  let days = 1;
  // Cold Archive and Deep Cold Archive restores have a priority (Tier); Archive ones take none.
  // See docs/oss-behaviour.md#restoreobject-tiers.
  const tiered = v.storageClass !== 'Archive';
  let tier: RestoreTier = 'Standard';
  const body = await readSmallBody(ctx, 64 * 1024);
  if (body.length > 0) {
    const doc = parseXmlBody(body, 'RestoreRequest');
    const d = textOf(doc, 'Days');
    if (d !== undefined) {
      if (!/^\d+$/.test(d) || Number(d) < 1 || Number(d) > 365) throw Errors.malformedXml('Days must be 1 to 365.');
      days = Number(d);
    }
    const job = doc.JobParameters;
    if (job !== undefined) {
      if (!tiered) throw Errors.malformedXml('JobParameters is not allowed when restoring an Archive object.');
      tier = restoreTier(typeof job === 'object' && job !== null ? textOf(job as Record<string, unknown>, 'Tier') : undefined);
    }
  }
  const now = Date.now();
  const expiresIn = days * 24 * 3600 * 1000;
  if (v.restore && now < v.restore.ongoingUntil) {
    throw new OssError(409, 'RestoreAlreadyInProgress', 'The restore operation is in progress.', {}, '0016-00000701');
  }
  const restored = v.restore !== undefined && now < v.restore.expiresAt;
  const restore = restored
    ? { ongoingUntil: v.restore?.ongoingUntil ?? now, expiresAt: now + expiresIn }
    : { ongoingUntil: now + ctx.settings.restoreDelayMs, expiresAt: now + ctx.settings.restoreDelayMs + expiresIn };
  const updated = await ctx.store.updateVersion(ctx.oss.bucket, v, { restore });
  send(ctx, restored ? 200 : 202, {
    ...versionHeader(ctx, updated),
    ...(tiered ? { 'x-oss-object-restore-priority': tier } : {}),
  });
}

const RESTORE_TIERS = ['Expedited', 'Standard', 'Bulk'] as const;
type RestoreTier = (typeof RESTORE_TIERS)[number];

function restoreTier(value: string | undefined): RestoreTier {
  const tier = RESTORE_TIERS.find((t) => t === value);
  if (tier === undefined) {
    throw new OssError(400, 'MalformedXML', 'Tier must be Expedited, Standard or Bulk.', {}, '0016-00000703');
  }
  return tier;
}
