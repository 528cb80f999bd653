/**
 * Object attributes carried in HTTP headers: what a write request asks for (SSE, content
 * headers, user metadata, storage class, ACL, tags) and what GET/HEAD answer with.
 * Shared by PutObject, CopyObject, AppendObject and InitiateMultipartUpload.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { isSseAlgorithm, SSE_ALGORITHMS } from '../../shared/oss/port';
import { kmsSseAccesses } from '../../shared/ram/actions';
import { header, type KmsKeyLookup, type RequestContext } from './context';
import { Errors, OssError } from './errors';
import {
  ARCHIVE_CLASSES,
  CONTENT_HEADERS,
  OBJECT_ACLS,
  STORAGE_CLASSES,
  type BucketRecord,
  type ContentHeaders,
  type ObjectAcl,
  type ObjectVersion,
  type Sse,
  type StorageClass,
} from './model';
import { httpDate } from './xml';

/** Validates an SSE rule the way OSS does for both object headers and bucket rules. */
export function checkSse(algorithm: string, keyId: string | undefined, dataEncryption: string | undefined, defaultKmsKeyId: string): Sse {
  if (!isSseAlgorithm(algorithm)) {
    throw new OssError(
      400,
      'InvalidEncryptionAlgorithmError',
      `The Encryption request you specified is not valid. Supported value: ${SSE_ALGORITHMS.join('/')}`,
      {},
      '0016-00000803',
    );
  }
  if (algorithm !== 'KMS') {
    if (keyId)
      throw Errors.invalidArgument('KMS key id is only allowed with the KMS algorithm.', 'x-oss-server-side-encryption-key-id', keyId);
    if (dataEncryption)
      throw Errors.invalidArgument(
        'Data encryption is only allowed with the KMS algorithm.',
        'x-oss-server-side-data-encryption',
        dataEncryption,
      );
    return { algorithm };
  }
  if (dataEncryption !== undefined && dataEncryption !== 'SM4') {
    throw Errors.invalidArgument('Data encryption must be SM4.', 'x-oss-server-side-data-encryption', dataEncryption);
  }
  return {
    algorithm: 'KMS',
    keyId: keyId || defaultKmsKeyId,
    ...(dataEncryption ? { dataEncryption: 'SM4' as const } : {}),
  };
}

/** SSE for a new object: the request's headers, else the bucket's default rule. Never inherited from a copy source. */
export function requestedSse(ctx: RequestContext, bucket: BucketRecord): Sse | undefined {
  const algorithm = header(ctx, 'x-oss-server-side-encryption');
  const keyId = header(ctx, 'x-oss-server-side-encryption-key-id');
  const dataEncryption = header(ctx, 'x-oss-server-side-data-encryption');
  if (algorithm === undefined) {
    if (keyId !== undefined || dataEncryption !== undefined) {
      throw Errors.invalidArgument('x-oss-server-side-encryption is required with a KMS key id or data encryption.');
    }
    if (!bucket.encryption) return undefined;
    const rule = bucket.encryption;
    return withKmsKey(ctx, rule.algorithm === 'KMS' && !rule.keyId ? { ...rule, keyId: ctx.settings.defaultKmsKeyId } : rule);
  }
  return withKmsKey(ctx, checkSse(algorithm, keyId, dataEncryption, ctx.settings.defaultKmsKeyId));
}

// OSS's errors for an SSE-KMS write whose CMK KMS cannot use (the 404's EC is UNCONFIRMED: its page gives no status or code).
// See docs/oss-behaviour.md#objects-and-re-encryption.
const kmsKeyNotFound = () => new OssError(404, 'KeyNotFound', 'The specified parameter KMS keyId is not found', {}, '0005-00000208');
const kmsKeyDisabled = () =>
  new OssError(409, 'KeyDisabled', 'The request was rejected because the key state is Disabled', {}, '0005-00000214');
const kmsKeyPendingDeletion = () =>
  new OssError(409, 'KeyPendingDeletion', 'The request was rejected because the key state is PendingDeletion', {}, '0005-00000215');

/**
 * With a KMS attached (settings.kms), an SSE-KMS write needs a key that KMS knows and has
 * Enabled; the object then records the key's real id, whatever alias named it (UNCONFIRMED: no
 * source shows what OSS echoes for an alias; see docs/oss-behaviour.md#objects-and-re-encryption).
 * One map lookup, and only for KMS writes: the hot path stays cheap.
 */
function withKmsKey(ctx: RequestContext, sse: Sse): Sse {
  const kms = ctx.settings.kms;
  if (kms === undefined || sse.algorithm !== 'KMS') return sse;
  const keyId = usableKmsKeyId(ctx, kms, sse.keyId || ctx.settings.defaultKmsKeyId, 'write');
  return keyId === sse.keyId ? sse : { ...sse, keyId };
}

/**
 * The real id of a KMS key OSS may use now, or the error OSS gives for it. OSS calls KMS with the
 * caller's identity, so under RAM the caller needs the KMS actions on the key too (kmsSseAccesses).
 */
function usableKmsKeyId(ctx: RequestContext, kms: KmsKeyLookup, keyId: string, use: 'write' | 'read'): string {
  const key = kms.lookup(keyId);
  if (key === undefined) throw kmsKeyNotFound();
  if (ctx.authorize && key.arn !== undefined) ctx.authorize(kmsSseAccesses(use, key.arn));
  if (!key.enabled) throw key.state === 'PendingDeletion' ? kmsKeyPendingDeletion() : kmsKeyDisabled();
  return key.keyId;
}

/**
 * Reading the bytes of an SSE-KMS object (GET, or a copy source) needs its CMK: a disabled
 * key gets 409 (EC page 0005-00000214: "a read, upload, or download request … and the
 * specified key is disabled"). HEAD and the ACL/tagging reads do not decrypt and are answered.
 */
export function assertDecryptable(ctx: RequestContext, v: ObjectVersion): void {
  const kms = ctx.settings.kms;
  if (kms !== undefined && v.sse?.algorithm === 'KMS' && v.sse.keyId) usableKmsKeyId(ctx, kms, v.sse.keyId, 'read');
}

export function sseHeaders(sse: Sse | undefined): OutgoingHttpHeaders {
  if (!sse) return {};
  const h: OutgoingHttpHeaders = { 'x-oss-server-side-encryption': sse.algorithm };
  if (sse.algorithm === 'KMS' && sse.keyId) h['x-oss-server-side-encryption-key-id'] = sse.keyId;
  if (sse.dataEncryption) h['x-oss-server-side-data-encryption'] = sse.dataEncryption;
  return h;
}

export function requestedContentHeaders(ctx: RequestContext): ContentHeaders {
  const out: ContentHeaders = {};
  for (const name of CONTENT_HEADERS) {
    const v = header(ctx, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function requestedUserMeta(ctx: RequestContext): Record<string, string> {
  const meta: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(ctx.oss.headers)) {
    if (!name.startsWith('x-oss-meta-') || value === undefined) continue;
    const v = Array.isArray(value) ? value.join(',') : value;
    meta[name.slice('x-oss-meta-'.length)] = v;
    bytes += name.length + v.length;
  }
  // OSS limits user metadata to 8 KB in total.
  if (bytes > 8 * 1024) throw new OssError(400, 'MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.');
  return meta;
}

export function requestedStorageClass(ctx: RequestContext, fallback: StorageClass): StorageClass {
  const v = header(ctx, 'x-oss-storage-class');
  if (v === undefined) return fallback;
  if (!STORAGE_CLASSES.includes(v as StorageClass)) throw Errors.invalidArgument('Invalid storage class', 'x-oss-storage-class', v);
  return v as StorageClass;
}

export function requestedAcl(ctx: RequestContext, fallback: ObjectAcl): ObjectAcl {
  const v = header(ctx, 'x-oss-object-acl');
  if (v === undefined) return fallback;
  if (!OBJECT_ACLS.includes(v as ObjectAcl)) throw Errors.invalidArgument('no such object access control exists', 'x-oss-object-acl', v);
  return v as ObjectAcl;
}

/** OSS tag rules: at most 10 tags, key 1–128 and value ≤256 characters, keys unique. */
export function checkTags(tags: Array<[string, string]>): Array<[string, string]> {
  const invalid = (m: string) => new OssError(400, 'InvalidTag', m);
  if (tags.length > 10) throw invalid('Object tags cannot be greater than 10');
  const seen = new Set<string>();
  for (const [k, v] of tags) {
    if (k.length === 0 || k.length > 128) throw invalid('The tag key must be 1 to 128 characters long');
    if (v.length > 256) throw invalid('The tag value must be at most 256 characters long');
    if (seen.has(k)) throw invalid('Cannot provide multiple Tags with the same key');
    seen.add(k);
  }
  return tags;
}

/** `x-oss-tagging: k1=v1&k2=v2` (URL-encoded), as on PutObject, CopyObject and Initiate. */
export function requestedTags(ctx: RequestContext): Array<[string, string]> | undefined {
  const v = header(ctx, 'x-oss-tagging');
  if (v === undefined) return undefined;
  if (v === '') return [];
  const tags: Array<[string, string]> = [];
  for (const pair of v.split('&')) {
    const eq = pair.indexOf('=');
    try {
      const k = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
      const val = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
      tags.push([k, val]);
    } catch {
      throw new OssError(400, 'InvalidTag', 'x-oss-tagging is not valid URL-encoded text');
    }
  }
  return checkTags(tags);
}

/** Whether an object's data can be read (GET, copy source) right now. */
export function assertReadable(v: ObjectVersion, now = Date.now()): void {
  if (!ARCHIVE_CLASSES.has(v.storageClass)) return;
  if (v.restore && v.restore.ongoingUntil <= now && now < v.restore.expiresAt) return;
  throw Errors.invalidObjectState(`The operation is not valid for the object's state (storage class ${v.storageClass}, not restored).`);
}

export function restoreHeader(v: ObjectVersion, now = Date.now()): string | undefined {
  if (!v.restore || now >= v.restore.expiresAt) return undefined;
  if (now < v.restore.ongoingUntil) return 'ongoing-request="true"';
  return `ongoing-request="false", expiry-date="${httpDate(v.restore.expiresAt)}"`;
}

/** The headers GET and HEAD return for an object version (without Content-Length/Range); the version id only in a versioned bucket. */
export function objectHeaders(v: ObjectVersion, opts: { versioned: boolean }): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {
    'content-type': v.contentHeaders['content-type'] ?? 'application/octet-stream',
    etag: v.etag,
    'last-modified': httpDate(v.lastModified),
    'accept-ranges': 'bytes',
    'x-oss-object-type': v.objectType,
    'x-oss-storage-class': v.storageClass,
    'x-oss-hash-crc64ecma': v.crc64,
    ...sseHeaders(v.sse),
  };
  for (const name of CONTENT_HEADERS) {
    const value = v.contentHeaders[name];
    if (name !== 'content-type' && value !== undefined) h[name] = value;
  }
  for (const [k, value] of Object.entries(v.userMeta)) h[`x-oss-meta-${k}`] = value;
  if (v.objectType === 'Normal' && !v.etag.includes('-')) {
    h['content-md5'] = Buffer.from(v.etag.slice(1, -1), 'hex').toString('base64');
  }
  if (v.tags.length > 0) h['x-oss-tagging-count'] = String(v.tags.length);
  if (opts.versioned) h['x-oss-version-id'] = v.versionId;
  const restore = restoreHeader(v);
  if (restore) h['x-oss-restore'] = restore;
  if (v.objectType === 'Appendable') h['x-oss-next-append-position'] = String(v.size);
  return h;
}

export const quoteEtag = (md5: Buffer): string => `"${md5.toString('hex').toUpperCase()}"`;
