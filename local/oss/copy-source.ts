/** The source of CopyObject and UploadPartCopy: `x-oss-copy-source` and its conditions. */
import { isValidBucketName } from '../../shared/validation/names';
import { header, type RequestContext } from './context';
import { Errors, OssError } from './errors';
import type { ObjectVersion } from './model';
import { assertDecryptable, assertReadable } from './object-headers';

export interface CopySource {
  bucket: string;
  version: ObjectVersion;
  /** True when the request named a version (then x-oss-copy-source-version-id is echoed). */
  explicitVersion: boolean;
}

/** `x-oss-copy-source: /<bucket>/<url-encoded key>[?versionId=<id>]`, parsed; malformed is 400 InvalidArgument. */
export function parseCopySource(raw: string | undefined): { bucket: string; key: string; versionId?: string } {
  if (raw === undefined) throw Errors.invalidArgument('x-oss-copy-source is required');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  let versionId: string | undefined;
  if (q >= 0) {
    const params = new URLSearchParams(raw.slice(q + 1));
    versionId = params.get('versionId') ?? undefined;
    if (versionId === '') throw Errors.invalidArgument('versionId must not be empty', 'x-oss-copy-source', raw);
  }
  const m = /^\/?([^/]+)\/(.+)$/.exec(path);
  if (!m)
    throw Errors.invalidArgument('Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.', 'x-oss-copy-source', raw);
  const bucket = m[1] as string;
  let key: string;
  try {
    key = decodeURIComponent(m[2] as string);
  } catch {
    throw Errors.invalidArgument('x-oss-copy-source is not valid URL-encoded text', 'x-oss-copy-source', raw);
  }
  return versionId === undefined ? { bucket, key } : { bucket, key, versionId };
}

/**
 * Resolves `x-oss-copy-source: /<bucket>/<url-encoded key>[?versionId=<id>]`, then applies
 * the x-oss-copy-source-if-* conditions the way OSS does: a failed if-match or
 * if-unmodified-since is 412, a matching if-none-match or an unchanged if-modified-since is
 * 304. Other x-oss-copy-source-* headers (ali-oss sends copies of every header) are ignored.
 */
export function resolveCopySource(ctx: RequestContext): CopySource {
  const { bucket, key, versionId } = parseCopySource(header(ctx, 'x-oss-copy-source'));
  if (!isValidBucketName(bucket))
    throw new OssError(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: bucket });
  ctx.store.bucket(bucket); // 404 NoSuchBucket
  let version: ObjectVersion | undefined;
  if (versionId !== undefined) {
    version = ctx.store.version(bucket, key, versionId);
    if (!version) throw Errors.noSuchVersion(key, versionId);
    if (version.isDeleteMarker)
      throw new OssError(
        400,
        'InvalidRequest',
        'The source of a copy request may not specifically refer to a delete marker by version id.',
      );
  } else {
    version = ctx.store.current(bucket, key);
    if (!version) throw Errors.noSuchKey(key);
  }
  checkCopyConditions(ctx, version);
  if (version.objectType === 'Appendable') {
    // Stricter reading: appendable objects cannot be copied at all. See docs/oss-behaviour.md#objects-and-re-encryption.
    throw new OssError(
      400,
      'OperationNotSupported',
      'The source object is an appendable object and cannot be copied.',
      {},
      '0017-00000208',
    );
  }
  assertReadable(version);
  assertDecryptable(ctx, version);
  return { bucket, version, explicitVersion: versionId !== undefined };
}

// A failed source condition names the plain HTTP header (If-Match, If-Unmodified-Since), as OSS
// does. See docs/oss-behaviour.md#copy-preconditions. If-Match and If-Unmodified-Since each must
// hold: the CopyObject page states each on its own ("only if"), with no exception when both are
// sent (S3 lets a matching If-Match override a failed If-Unmodified-Since; OSS documents no such rule).
function checkCopyConditions(ctx: RequestContext, v: ObjectVersion): void {
  const ifMatch = header(ctx, 'x-oss-copy-source-if-match');
  if (ifMatch !== undefined && !etagMatches(ifMatch, v.etag)) throw Errors.preconditionFailed('If-Match');
  const ifUnmodified = header(ctx, 'x-oss-copy-source-if-unmodified-since');
  if (ifUnmodified !== undefined) {
    const t = Date.parse(ifUnmodified);
    if (!Number.isNaN(t) && Math.floor(v.lastModified / 1000) * 1000 > t) throw Errors.preconditionFailed('If-Unmodified-Since');
  }
  const ifNoneMatch = header(ctx, 'x-oss-copy-source-if-none-match');
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, v.etag)) throw new NotModified();
  const ifModified = header(ctx, 'x-oss-copy-source-if-modified-since');
  if (ifModified !== undefined && ifNoneMatch === undefined) {
    const t = Date.parse(ifModified);
    if (!Number.isNaN(t) && Math.floor(v.lastModified / 1000) * 1000 <= t) throw new NotModified();
  }
}

/** ETag comparison as OSS does it: quotes optional, hex case-insensitive, `*` matches anything. */
export function etagMatches(condition: string, etag: string): boolean {
  const norm = (s: string) => s.trim().replace(/^W\//, '').replace(/"/g, '').toUpperCase();
  const want = norm(etag);
  return condition.split(',').some((c) => norm(c) === '*' || norm(c) === want);
}

/** 304 Not Modified; thrown so every handler treats it like any other early answer. */
export class NotModified extends OssError {
  constructor() {
    super(304, 'NotModified', 'Not Modified');
  }
}
