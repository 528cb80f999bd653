/**
 * The operation table: for every OssPort method, the OSS API it calls, its HTTP method and
 * the valueless sub-resource (`?acl`) that names it. The compiler proves every port method has
 * a row (`satisfies`); OssHttpClient sends through these rows, and deploy/reachable-ops.ts
 * reads them to know which OSS API (hence which RAM action) a port call needs.
 */
import type { OssPort } from './port';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';

export interface OssOperation {
  /** The OSS API name, as the API reference and RAM policies (shared/ram/actions.ts) spell it. */
  op: string;
  method: HttpMethod;
  /** The valueless query parameter naming the sub-resource, first in the query (`?acl`, `?uploads`). */
  subresource?: string;
}

export const OSS_OPERATIONS = {
  headObject: { op: 'HeadObject', method: 'HEAD' },
  getObjectAcl: { op: 'GetObjectAcl', method: 'GET', subresource: 'acl' },
  getObjectTagging: { op: 'GetObjectTagging', method: 'GET', subresource: 'tagging' },
  copyObject: { op: 'CopyObject', method: 'PUT' },
  initiateMultipartUpload: { op: 'InitiateMultipartUpload', method: 'POST', subresource: 'uploads' },
  uploadPartCopy: { op: 'UploadPartCopy', method: 'PUT' },
  completeMultipartUpload: { op: 'CompleteMultipartUpload', method: 'POST' },
  abortMultipartUpload: { op: 'AbortMultipartUpload', method: 'DELETE' },
  deleteObject: { op: 'DeleteObject', method: 'DELETE' },
  putObject: { op: 'PutObject', method: 'PUT' },
  getObject: { op: 'GetObject', method: 'GET' },
  getObjectStream: { op: 'GetObject', method: 'GET' },
  listObjectsV2: { op: 'ListObjectsV2', method: 'GET' },
  listBuckets: { op: 'ListBuckets', method: 'GET' },
  getBucketEncryption: { op: 'GetBucketEncryption', method: 'GET', subresource: 'encryption' },
  putBucketEncryption: { op: 'PutBucketEncryption', method: 'PUT', subresource: 'encryption' },
  deleteBucketEncryption: { op: 'DeleteBucketEncryption', method: 'DELETE', subresource: 'encryption' },
  getBucketVersioning: { op: 'GetBucketVersioning', method: 'GET', subresource: 'versioning' },
  listBucketInventory: { op: 'ListBucketInventory', method: 'GET', subresource: 'inventory' },
} as const satisfies Record<keyof OssPort, OssOperation>;

/** Every OSS API the client can call. */
export type OssOperationName = (typeof OSS_OPERATIONS)[keyof OssPort]['op'];
