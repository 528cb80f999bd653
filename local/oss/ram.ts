/**
 * RAM enforcement in the local OSS server: which API a routed request is, the accesses it
 * needs (from the one table, shared/ram/actions.ts), and OSS's refusal when a policy denies
 * one. SSE-KMS adds the KMS actions on the key (object-headers.ts asks them through
 * `ctx.authorize`, where the key is known: kmsSseAccesses). See docs/oss-behaviour.md#ram-policy-evaluation.
 */
import type { OssRequest } from '../../shared/signing';
import { OSS_OP_RAM, type OssApiName } from '../../shared/ram/actions';
import type { RamAccess } from '../../shared/ram/policy';
import type { RamAuthority, RamCaller } from '../ram/authority';
import * as bucketApi from './bucket';
import type { RequestContext } from './context';
import { parseCopySource } from './copy-source';
import { OssError } from './errors';
import * as inventoryApi from './inventory';
import * as listApi from './list';
import * as multipartApi from './multipart';
import * as objectApi from './object';

/** Every handler route() can return, by the API it serves: the router stays the one place that parses requests. */
const HANDLER_API: ReadonlyMap<unknown, OssApiName> = new Map<unknown, OssApiName>([
  [bucketApi.putBucket, 'PutBucket'],
  [bucketApi.deleteBucket, 'DeleteBucket'],
  [bucketApi.getBucketInfo, 'GetBucketInfo'],
  [bucketApi.getBucketLocation, 'GetBucketLocation'],
  [bucketApi.getBucketAcl, 'GetBucketAcl'],
  [bucketApi.putBucketAcl, 'PutBucketAcl'],
  [bucketApi.getBucketVersioning, 'GetBucketVersioning'],
  [bucketApi.putBucketVersioning, 'PutBucketVersioning'],
  [bucketApi.getBucketEncryption, 'GetBucketEncryption'],
  [bucketApi.putBucketEncryption, 'PutBucketEncryption'],
  [bucketApi.deleteBucketEncryption, 'DeleteBucketEncryption'],
  [bucketApi.listBuckets, 'ListBuckets'],
  [inventoryApi.putBucketInventory, 'PutBucketInventory'],
  [inventoryApi.getBucketInventory, 'GetBucketInventory'],
  [inventoryApi.listBucketInventory, 'ListBucketInventory'],
  [inventoryApi.deleteBucketInventory, 'DeleteBucketInventory'],
  [listApi.listObjects, 'ListObjects'],
  [listApi.listObjectsV2, 'ListObjectsV2'],
  [listApi.listObjectVersions, 'ListObjectVersions'],
  [multipartApi.listMultipartUploads, 'ListMultipartUploads'],
  [multipartApi.initiateMultipartUpload, 'InitiateMultipartUpload'],
  [multipartApi.uploadPart, 'UploadPart'],
  [multipartApi.uploadPartCopy, 'UploadPartCopy'],
  [multipartApi.completeMultipartUpload, 'CompleteMultipartUpload'],
  [multipartApi.abortMultipartUpload, 'AbortMultipartUpload'],
  [multipartApi.listParts, 'ListParts'],
  [objectApi.putObject, 'PutObject'],
  [objectApi.copyObject, 'CopyObject'],
  [objectApi.appendObject, 'AppendObject'],
  [objectApi.getObject, 'GetObject'],
  [objectApi.headObject, 'HeadObject'],
  [objectApi.getObjectMeta, 'GetObjectMeta'],
  [objectApi.deleteObject, 'DeleteObject'],
  [objectApi.deleteMultipleObjects, 'DeleteMultipleObjects'],
  [objectApi.getObjectAcl, 'GetObjectAcl'],
  [objectApi.putObjectAcl, 'PutObjectAcl'],
  [objectApi.getObjectTagging, 'GetObjectTagging'],
  [objectApi.putObjectTagging, 'PutObjectTagging'],
  [objectApi.deleteObjectTagging, 'DeleteObjectTagging'],
  [objectApi.putSymlink, 'PutSymlink'],
  [objectApi.getSymlink, 'GetSymlink'],
  [objectApi.restoreObject, 'RestoreObject'],
]);

export interface OssArnScope {
  region: string;
  /** The bucket owner's account (the local stack has one). */
  accountId: string;
}

/** `acs:oss:<region>:<account>:<bucket>[/<key>]`, `…:*` for the account (ListBuckets). */
function ossArn(scope: OssArnScope, bucket: string, key?: string): string {
  return `acs:oss:${scope.region}:${scope.accountId}:${bucket}${key === undefined ? '' : `/${key}`}`;
}

/** The RAM accesses an OSS request needs, by its API's row in the table. */
export function ossAccesses(api: OssApiName, req: OssRequest, scope: OssArnScope): RamAccess[] {
  const row = OSS_OP_RAM[api];
  const bucket = req.bucket ?? '';
  // DeleteMultipleObjects names its keys in the body: asked on every object (see the row's why).
  const target =
    row.level === 'service' ? ossArn(scope, '*') : row.level === 'bucket' ? ossArn(scope, bucket) : ossArn(scope, bucket, req.key ?? '*');
  if (row.copySource) {
    const source = parseCopySource(headerOf(req, 'x-oss-copy-source'));
    const sourceArn = ossArn(scope, source.bucket, source.key);
    const actions = [...row.actions, ...(source.versionId !== undefined ? (row.versioned ?? []) : [])];
    return actions.map((action) => ({ action, resource: action.startsWith('oss:Get') ? sourceArn : target }));
  }
  const versioned = req.query.versionId !== undefined && req.query.versionId !== '';
  return [...row.actions, ...(versioned ? (row.versioned ?? []) : [])].map((action) => ({ action, resource: target }));
}

function headerOf(req: OssRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The API a handler serves; undefined only for a handler missing from HANDLER_API (then the request is refused). */
export function ossApiOf(handler: unknown): OssApiName | undefined {
  return HANDLER_API.get(handler);
}

/**
 * The `authorize` function a request's context carries: throws OSS's refusal when the caller's
 * policies do not allow every access. OSS's words: 403 AccessDenied with AccessDeniedDetail,
 * EC 0003-00000001 (no Allow) or 0003-00000201 (a Deny); STS credentials without their token
 * are InvalidAccessKeyId.
 */
export function ossAuthorizer(authority: RamAuthority, caller: RamCaller): (accesses: readonly RamAccess[]) => void {
  return (accesses) => {
    const verdict = authority.authorize('oss', caller, accesses);
    if (verdict.allowed) return;
    if (verdict.reason === 'InvalidSecurityToken') {
      throw new OssError(403, 'InvalidAccessKeyId', 'The security token you provided is invalid.');
    }
    const explicit = verdict.reason === 'ExplicitDeny';
    throw new OssError(
      403,
      'AccessDenied',
      explicit ? 'Access denied by bucket policy.' : 'You have no right to access this object because of bucket acl.',
      {
        AccessDeniedDetail: {
          AuthAction: verdict.access.action,
          AuthPrincipalType: verdict.principal.type,
          AuthPrincipalDisplayName: verdict.principal.name,
          NoPermissionType: verdict.reason,
          PolicyType: 'AccountLevelIdentityBasedPolicy',
        },
      },
      explicit ? '0003-00000201' : '0003-00000001',
    );
  };
}

/** Checks a routed request against the caller's policies (before the handler runs). */
export function authorizeOssRequest(ctx: Pick<RequestContext, 'oss' | 'authorize'>, handler: unknown, scope: OssArnScope): void {
  if (ctx.authorize === undefined) return;
  const api = ossApiOf(handler);
  if (api === undefined) throw new OssError(500, 'InternalError', 'The local server knows no RAM action for this request.');
  ctx.authorize(ossAccesses(api, ctx.oss, scope));
}
