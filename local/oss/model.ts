/** The local OSS server's data model: what a bucket, an object version and an upload are. */
import type { ContentHeaderName, ObjectType, SseAlgorithm, StorageClass } from '../../shared/oss/port';

// The same value lists as the client's: one source for what OSS can answer.
export { STORAGE_CLASSES, type ObjectType, type StorageClass } from '../../shared/oss/port';

/** Server-side encryption of one object, or a bucket's default rule. */
export interface Sse {
  algorithm: SseAlgorithm;
  keyId?: string; // KMS only
  dataEncryption?: 'SM4'; // KMS only
}

export const ARCHIVE_CLASSES: ReadonlySet<string> = new Set<StorageClass>(['Archive', 'ColdArchive', 'DeepColdArchive']);

export type ObjectAcl = 'default' | 'private' | 'public-read' | 'public-read-write';
export const OBJECT_ACLS: readonly ObjectAcl[] = ['default', 'private', 'public-read', 'public-read-write'];
export type BucketAcl = Exclude<ObjectAcl, 'default'>;

/** The HTTP headers OSS stores with an object and returns on GET/HEAD (the same list the functions preserve). */
export { CONTENT_HEADER_NAMES as CONTENT_HEADERS } from '../../shared/oss/port';
export type ContentHeaders = Partial<Record<ContentHeaderName, string>>;

/** A stored byte range of an object; an object is the concatenation of its segments. */
export interface Segment {
  blobId: string;
  size: number;
  /** Present when the segment is encrypted at rest: the data key wrapped by the stack's master key. */
  wrappedKey?: string;
}

export interface ObjectVersion {
  bucket: string;
  key: string;
  /** 'null' for objects written while versioning was never enabled or suspended, like OSS. */
  versionId: string;
  isDeleteMarker: boolean;
  lastModified: number; // ms since epoch
  etag: string; // quoted upper-case hex, as OSS returns it
  size: number;
  crc64: string; // unsigned decimal
  objectType: ObjectType;
  storageClass: StorageClass;
  contentHeaders: ContentHeaders;
  userMeta: Record<string, string>; // lower-case names without the x-oss-meta- prefix
  sse?: Sse;
  acl: ObjectAcl;
  tags: Array<[string, string]>;
  symlinkTarget?: string;
  /** Archive classes: when a restore was requested and until when the restored copy is readable. */
  restore?: { ongoingUntil: number; expiresAt: number };
  segments: Segment[];
  /** Owner shown in listings and ACLs: the account that owns it, as real OSS shows it. */
  owner: string;
}

export interface BucketRecord {
  name: string;
  region: string;
  creationDate: number;
  storageClass: StorageClass;
  acl: BucketAcl;
  versioning?: 'Enabled' | 'Suspended';
  encryption?: Sse;
  owner: string;
  /** Inventory rules (PutBucketInventory), in Id order. */
  inventory?: InventoryRule[];
}

export interface InventoryRule {
  id: string;
  enabled: boolean;
  filterPrefix: string;
  /** Bucket as an ARN (`acs:oss:::name`), as OSS takes and returns it. */
  destination: { bucketArn: string; prefix: string; accountId: string; roleArn: string };
  frequency: 'Daily' | 'Weekly';
  includedObjectVersions: 'All' | 'Current';
  optionalFields: string[];
}

export interface UploadPart {
  partNumber: number;
  etag: string;
  size: number;
  crc64: string;
  lastModified: number;
  segment: Segment;
}

export interface MultipartUpload {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: number;
  /** Everything the final object takes from InitiateMultipartUpload. */
  template: Pick<ObjectVersion, 'storageClass' | 'contentHeaders' | 'userMeta' | 'sse' | 'acl' | 'tags'>;
  parts: Map<number, UploadPart>;
  owner: string;
}
