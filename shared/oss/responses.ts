/** What each OSS answer means as OssPort values: a reply's headers and XML document, parsed. */
import { urlDecode } from './encoding';
import { header, type Reply } from './failures';
import {
  CONTENT_HEADER_NAMES,
  OBJECT_TYPES,
  recognise,
  STORAGE_CLASSES,
  isSseAlgorithm,
  type ContentHeaderName,
  type InventoryConfiguration,
  type ListedObject,
  type ListPage,
  type ObjectHead,
  type SseSpec,
  type WriteResult,
} from './port';
import { child, children, parseXml, plainLeafText, requireText, text } from './xml';

export function versionQuery(versionId: string | undefined): Record<string, string> {
  return versionId === undefined ? {} : { versionId };
}

/**
 * A write's answer. CopyObject and CompleteMultipartUpload answers also carry the new object's
 * encryption and CRC-64 (docs/oss-behaviour.md#objects-and-re-encryption), which lets the
 * re-encryption routine verify a copy without another HEAD.
 */
export function writeResult(etag: string, r: Reply): WriteResult {
  const versionId = header(r.headers, 'x-oss-version-id');
  const sourceVersionId = header(r.headers, 'x-oss-copy-source-version-id');
  const crc64 = header(r.headers, 'x-oss-hash-crc64ecma');
  const sse = parseSse(r.headers);
  return {
    etag,
    ...(versionId === undefined ? {} : { versionId }),
    ...(sourceVersionId === undefined ? {} : { sourceVersionId }),
    ...(crc64 === undefined ? {} : { crc64 }),
    ...(sse === undefined ? {} : { sse }),
    ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
  };
}

/**
 * The x-oss-server-side-encryption headers of an answer. An algorithm this code does not know
 * is left out: the policy then sees the object as not compliant and re-encrypts it, which is safe.
 */
function parseSse(h: Reply['headers']): SseSpec | undefined {
  const algorithm = header(h, 'x-oss-server-side-encryption');
  if (algorithm === undefined || !isSseAlgorithm(algorithm)) return undefined;
  return sseSpec(algorithm, header(h, 'x-oss-server-side-encryption-key-id'), header(h, 'x-oss-server-side-data-encryption'));
}

/** An SseSpec from the values OSS sent (an empty key id is none; a data encryption other than SM4 is left out). */
function sseSpec(algorithm: SseSpec['algorithm'], keyId: string | undefined, dataEncryption: string | undefined): SseSpec {
  return {
    algorithm,
    ...(keyId ? { keyId } : {}),
    ...(dataEncryption === 'SM4' ? { dataEncryption: 'SM4' as const } : {}),
  };
}

/**
 * Every header of a HEAD as an ObjectHead. Header values are kept as node decodes them
 * (latin1, one char per byte): sending them back on a copy writes the very same bytes, so
 * UTF-8 user metadata survives a re-encryption unchanged.
 */
export function parseHead(bucket: string, key: string, r: Reply): ObjectHead {
  const h = r.headers;
  const etag = header(h, 'etag');
  if (etag === undefined) throw new Error(`OSS HeadObject on oss://${bucket}/${key}: the response has no ETag`);
  const contentHeaders: Partial<Record<ContentHeaderName, string>> = {};
  for (const name of CONTENT_HEADER_NAMES) {
    const v = header(h, name);
    if (v !== undefined) contentHeaders[name] = v;
  }
  const userMeta: Record<string, string> = {};
  for (const name of Object.keys(h)) {
    if (!name.startsWith('x-oss-meta-')) continue;
    const v = header(h, name);
    if (v !== undefined) userMeta[name] = v;
  }
  const sse = parseSse(h);
  const opt = (name: string): string | undefined => header(h, name);
  const versionId = opt('x-oss-version-id');
  const crc64 = opt('x-oss-hash-crc64ecma');
  const lastModified = opt('last-modified');
  const restore = opt('x-oss-restore');
  return {
    bucket,
    key,
    ...(versionId === undefined ? {} : { versionId }),
    etag,
    size: Number(opt('content-length') ?? '0'),
    ...(crc64 === undefined ? {} : { crc64 }),
    ...(lastModified === undefined ? {} : { lastModified }),
    objectType: recognise(OBJECT_TYPES, opt('x-oss-object-type') ?? 'Normal'),
    storageClass: recognise(STORAGE_CLASSES, opt('x-oss-storage-class') ?? 'Standard'),
    ...(restore === undefined ? {} : { restore }),
    ...(sse === undefined ? {} : { sse }),
    contentHeaders,
    userMeta,
    taggingCount: Number(opt('x-oss-tagging-count') ?? '0') || 0,
    ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
  };
}

/** The ETag of a copy / part copy / completion: the result document's, else the header. */
export function resultEtag(op: string, r: Reply, root: string): string {
  const body = r.body.toString('utf8');
  const etag = plainLeafText(body, [root, 'ETag']) ?? text(child(parseXml(body), root), 'ETag') ?? header(r.headers, 'etag');
  if (etag === undefined) throw new Error(`OSS ${op}: the response has no ETag`);
  return etag;
}

export function parseObjectAcl(r: Reply): string {
  const body = r.body.toString('utf8');
  return (
    plainLeafText(body, ['AccessControlPolicy', 'AccessControlList', 'Grant']) ??
    requireText(child(child(parseXml(body), 'AccessControlPolicy'), 'AccessControlList'), 'Grant', 'GetObjectAcl')
  );
}

export function parseTagging(r: Reply): Array<[string, string]> {
  const tagSet = child(child(parseXml(r.body), 'Tagging'), 'TagSet');
  return children(tagSet, 'Tag').map((t) => [requireText(t, 'Key', 'GetObjectTagging'), text(t, 'Value') ?? '']);
}

export function parseUploadId(r: Reply): string {
  return requireText(child(parseXml(r.body), 'InitiateMultipartUploadResult'), 'UploadId', 'InitiateMultipartUpload');
}

export function parseListObjects(r: Reply): ListPage {
  const result = child(parseXml(r.body), 'ListBucketResult');
  const decode = text(result, 'EncodingType') === 'url' ? urlDecode : (s: string) => s;
  const objects: ListedObject[] = children(result, 'Contents').map((c) => ({
    key: decode(requireText(c, 'Key', 'ListObjectsV2')),
    etag: text(c, 'ETag') ?? '',
    size: Number(text(c, 'Size') ?? '0'),
    storageClass: recognise(STORAGE_CLASSES, text(c, 'StorageClass') ?? 'Standard'),
    lastModified: text(c, 'LastModified') ?? '',
    type: recognise(OBJECT_TYPES, text(c, 'Type') ?? 'Normal'),
  }));
  const commonPrefixes = children(result, 'CommonPrefixes').map((p) => decode(requireText(p, 'Prefix', 'ListObjectsV2')));
  const isTruncated = text(result, 'IsTruncated') === 'true';
  const next = text(result, 'NextContinuationToken');
  return { objects, commonPrefixes, isTruncated, ...(isTruncated && next ? { nextContinuationToken: next } : {}) };
}

export function parseListBuckets(r: Reply): { buckets: string[]; nextMarker?: string } {
  const result = child(parseXml(r.body), 'ListAllMyBucketsResult');
  const buckets = children(child(result, 'Buckets'), 'Bucket').map((b) => requireText(b, 'Name', 'ListBuckets'));
  const next = text(result, 'NextMarker');
  return text(result, 'IsTruncated') === 'true' && next ? { buckets, nextMarker: next } : { buckets };
}

export function parseBucketEncryption(r: Reply): SseSpec {
  const rule = child(child(parseXml(r.body), 'ServerSideEncryptionRule'), 'ApplyServerSideEncryptionByDefault');
  const algorithm = requireText(rule, 'SSEAlgorithm', 'GetBucketEncryption');
  if (!isSseAlgorithm(algorithm)) {
    throw new Error(`OSS GetBucketEncryption: unknown SSEAlgorithm ${JSON.stringify(algorithm)}`);
  }
  return sseSpec(algorithm, text(rule, 'KMSMasterKeyID'), text(rule, 'KMSDataEncryption'));
}

export function parseVersioning(r: Reply): 'Enabled' | 'Suspended' | undefined {
  const status = text(child(parseXml(r.body), 'VersioningConfiguration'), 'Status');
  return status === 'Enabled' || status === 'Suspended' ? status : undefined;
}

/** ListBucketInventory: `<ListInventoryConfigurationsResult>` with `<InventoryConfiguration>` elements. */
export function parseInventoryConfigurations(r: Reply): { configurations: InventoryConfiguration[]; nextContinuationToken?: string } {
  const result = child(parseXml(r.body), 'ListInventoryConfigurationsResult');
  const configurations = children(result, 'InventoryConfiguration').map((c): InventoryConfiguration => {
    const dest = child(child(c, 'Destination'), 'OSSBucketDestination');
    // <Bucket> repeats in ListBuckets, so the parser always gives an array of it.
    const bucketNode: unknown = dest.Bucket;
    const bucketArn = Array.isArray(bucketNode) ? bucketNode[0] : bucketNode;
    if (typeof bucketArn !== 'string') throw new Error('OSS ListBucketInventory: an inventory rule has no destination <Bucket>');
    const versions = text(c, 'IncludedObjectVersions');
    const fields: unknown = child(c, 'OptionalFields').Field;
    return {
      id: requireText(c, 'Id', 'ListBucketInventory'),
      enabled: text(c, 'IsEnabled') === 'true',
      destinationBucket: bucketArn.replace(/^acs:oss:[^:]*:[^:]*:/, ''),
      destinationPrefix: text(dest, 'Prefix') ?? '',
      filterPrefix: text(child(c, 'Filter'), 'Prefix') ?? '',
      ...(versions ? { includedObjectVersions: versions } : {}),
      optionalFields: Array.isArray(fields) ? fields.filter((f): f is string => typeof f === 'string') : [],
    };
  });
  const next = text(result, 'NextContinuationToken');
  return text(result, 'IsTruncated') === 'true' && next ? { configurations, nextContinuationToken: next } : { configurations };
}
