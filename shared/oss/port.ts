/**
 * The OSS operations oss-sse uses, as a small typed port. The policy and the
 * re-encryption routine depend on this interface only; `OssHttpClient` implements it over
 * HTTP with our own signing (so exactly the headers we mean reach OSS), and tests can run
 * it against the local OSS server.
 */

/** The server-side encryption algorithms OSS knows (x-oss-server-side-encryption, SSEAlgorithm). */
export const SSE_ALGORITHMS = ['AES256', 'KMS', 'SM4'] as const;
export type SseAlgorithm = (typeof SSE_ALGORITHMS)[number];

export function isSseAlgorithm(s: string): s is SseAlgorithm {
  return (SSE_ALGORITHMS as readonly string[]).includes(s);
}

/** Server-side encryption of an object or a bucket's default rule. */
export interface SseSpec {
  algorithm: SseAlgorithm;
  keyId?: string;
  dataEncryption?: 'SM4';
}

/** Content headers OSS stores with an object (lower-case names). */
export const CONTENT_HEADER_NAMES = [
  'content-type',
  'content-encoding',
  'content-disposition',
  'content-language',
  'cache-control',
  'expires',
] as const;
export type ContentHeaderName = (typeof CONTENT_HEADER_NAMES)[number];

export const OBJECT_TYPES = ['Normal', 'Multipart', 'Appendable', 'Symlink'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

export const STORAGE_CLASSES = ['Standard', 'IA', 'Archive', 'ColdArchive', 'DeepColdArchive'] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/**
 * A value OSS sent that this code does not know (a storage class added after it was written,
 * say), kept as sent: it matches no known value in a decision, and a copy sends it back unchanged.
 */
export interface Unrecognised {
  unrecognised: string;
}

/** `raw` as one of `known`, or Unrecognised. */
export function recognise<T extends string>(known: readonly T[], raw: string): T | Unrecognised {
  return (known as readonly string[]).includes(raw) ? (raw as T) : { unrecognised: raw };
}

/** The value as OSS sent it. */
export function asSent(value: string | Unrecognised): string {
  return typeof value === 'string' ? value : value.unrecognised;
}

export interface ObjectHead {
  bucket: string;
  key: string;
  /** Present in versioned buckets ('null' for null versions). */
  versionId?: string;
  /** As OSS returns it: quoted upper-case hex. */
  etag: string;
  size: number;
  /** Unsigned decimal, when OSS sent x-oss-hash-crc64ecma. */
  crc64?: string;
  lastModified?: string;
  objectType: ObjectType | Unrecognised;
  storageClass: StorageClass | Unrecognised;
  /** x-oss-restore, raw. */
  restore?: string;
  sse?: SseSpec;
  contentHeaders: Partial<Record<ContentHeaderName, string>>;
  /** Full header names (`x-oss-meta-…`, lower-case) → values. */
  userMeta: Record<string, string>;
  taggingCount: number;
  requestId?: string;
}

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
  storageClass: StorageClass | Unrecognised;
  lastModified: string;
  type: ObjectType | Unrecognised;
}

export interface ListPage {
  objects: ListedObject[];
  commonPrefixes: string[];
  nextContinuationToken?: string;
  isTruncated: boolean;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface WriteResult {
  etag: string;
  versionId?: string;
  /** CopyObject in a versioned bucket: the version that was copied (x-oss-copy-source-version-id). */
  sourceVersionId?: string;
  /** The new object's CRC-64 (x-oss-hash-crc64ecma), when the answer carries it. */
  crc64?: string;
  /** The new object's encryption, when the answer carries it. */
  sse?: SseSpec;
  requestId?: string;
}

/** A GetObject whose body arrives as it is read (see OssPort.getObjectStream). */
export interface ObjectStream {
  /**
   * The bytes, readable once. Stopping early (break, return()) closes the connection; a
   * body that is never iterated holds its connection until the server gives up, so always
   * iterate it (or call its iterator's return()).
   */
  body: AsyncIterable<Buffer>;
  /** As OSS returns it: quoted upper-case hex. */
  etag: string;
  /** Content-Length: the bytes the body will hold (absent when OSS sent none, e.g. chunked). */
  size?: number;
  requestId?: string;
}

/** A bucket's inventory rule (ListBucketInventory), as far as reading its reports needs. */
export interface InventoryConfiguration {
  id: string;
  enabled: boolean;
  /** Where the reports are written: the bucket name (the `acs:oss:::` ARN prefix removed). */
  destinationBucket: string;
  /** The report prefix in the destination bucket ('' when none). */
  destinationPrefix: string;
  /** Only objects under this prefix are listed in the reports ('' when all). */
  filterPrefix: string;
  /** Current or All. */
  includedObjectVersions?: string;
  /** The optional fields (columns) the reports carry. */
  optionalFields: string[];
}

export interface CopyObjectArgs {
  bucket: string;
  key: string;
  sourceBucket: string;
  sourceKey: string;
  sourceVersionId?: string;
  headers: Record<string, string>;
}

export interface UploadPartCopyArgs {
  bucket: string;
  key: string;
  uploadId: string;
  partNumber: number;
  sourceBucket: string;
  sourceKey: string;
  sourceVersionId?: string;
  range: [number, number];
  ifMatch: string;
}

export interface OssPort {
  /** HEAD; undefined when the object (or version) does not exist. */
  headObject(bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined>;
  /** The object's ACL grant: default | private | public-read | public-read-write. */
  getObjectAcl(bucket: string, key: string, versionId?: string): Promise<string>;
  getObjectTagging(bucket: string, key: string, versionId?: string): Promise<Array<[string, string]>>;
  /**
   * CopyObject with `x-oss-copy-source: /<sourceBucket>/<sourceKey>[?versionId=]` plus
   * exactly `headers` (lower-case names) — nothing else is added but signing headers.
   */
  copyObject(args: CopyObjectArgs): Promise<WriteResult>;
  initiateMultipartUpload(bucket: string, key: string, headers: Record<string, string>): Promise<{ uploadId: string; requestId?: string }>;
  /** UploadPartCopy of bytes [range[0], range[1]] inclusive, pinned with x-oss-copy-source-if-match. */
  uploadPartCopy(args: UploadPartCopyArgs): Promise<CompletedPart>;
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: CompletedPart[]): Promise<WriteResult>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  deleteObject(bucket: string, key: string, versionId?: string): Promise<void>;
  /** PutObject of a small body (job state, reports); `headers` sent as given (e.g. SSE). */
  putObject(bucket: string, key: string, body: Buffer, headers?: Record<string, string>): Promise<WriteResult>;
  /** GetObject of a small object (job state, inventory manifests), or undefined when it does not exist. */
  getObject(bucket: string, key: string): Promise<Buffer | undefined>;
  /**
   * GetObject of any size, streamed (inventory data files): nothing is buffered beyond the
   * socket's own. Retried like every call until the response headers arrive, never after
   * (bytes already handed out cannot be taken back); a stalled body fails after an idle
   * timeout per chunk, a short one with a NetworkError. A missing object is an
   * OssRequestError 404 NoSuchKey (the caller asked for a specific file).
   */
  getObjectStream(bucket: string, key: string, opts?: { idleTimeoutMs?: number }): Promise<ObjectStream>;
  /** ListObjectsV2; keys are returned decoded. */
  listObjectsV2(
    bucket: string,
    opts: { prefix?: string; startAfter?: string; continuationToken?: string; maxKeys?: number; delimiter?: string },
  ): Promise<ListPage>;
  listBuckets(opts: { marker?: string; maxKeys?: number; prefix?: string }): Promise<{ buckets: string[]; nextMarker?: string }>;
  /** The bucket's default encryption rule, or undefined on 404 NoSuchServerSideEncryptionRule. */
  getBucketEncryption(bucket: string): Promise<SseSpec | undefined>;
  /** Sends KMSDataEncryption too (which ali-oss cannot). */
  putBucketEncryption(bucket: string, rule: SseSpec): Promise<void>;
  deleteBucketEncryption(bucket: string): Promise<void>;
  getBucketVersioning(bucket: string): Promise<'Enabled' | 'Suspended' | undefined>;
  /** One page of the bucket's inventory rules (ListBucketInventory, `GET /?inventory`). */
  listBucketInventory(
    bucket: string,
    opts?: { continuationToken?: string },
  ): Promise<{ configurations: InventoryConfiguration[]; nextContinuationToken?: string }>;
}

/** Why a request has no (complete) answer: the connection failed, or the client's timer ran out. */
export type OssNoAnswer = 'network-error' | 'timeout';

/** An error answered by OSS (status: its HTTP status), or a request without an answer. */
export class OssRequestError extends Error {
  override readonly name = 'OssRequestError';
  constructor(
    readonly status: number | OssNoAnswer,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly ec?: string,
  ) {
    super(message);
  }
}
