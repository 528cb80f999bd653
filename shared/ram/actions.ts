/**
 * The one table from an API call to the RAM actions it needs: deploy/ generates the
 * functions' policies from it, and the local stack (local/ram/) evaluates every request
 * against them with it, so the two cannot drift.
 *
 * Keys of OSS_OP_RAM: every OSS API of the client's operation table (shared/oss/operations.ts;
 * the compiler checks each has a row), and every other API the local OSS server serves (what a
 * user's client may send it). KMS_PORT_RAM and FC_PORT_RAM: one name per method of KmsPort
 * (shared/kms/port.ts) and FcInvoker (shared/fc-invoke/port.ts). deploy/reachable-ops.ts finds
 * which ops each function's bundle can reach; deploy/ram-policy.ts turns that into a policy
 * document; the tests check that every op the clients define has a row here.
 *
 * Sources: the "Permissions" table of each OSS API page (OSS API reference and ossutil
 * `api` commands), the FC 3.0 and KMS RAM authorization pages. OSS names object reads
 * `oss:GetObject` whatever the API (HeadObject included), and asks for the `…Version…` variant
 * when a request names a versionId.
 */
import type { OssOperationName } from '../oss/operations';

/** Where an OSS action applies: an object ARN, a bucket ARN, or the account (ListBuckets). */
export type OssResourceLevel = 'object' | 'bucket' | 'service';

export interface OssOpRam {
  level: OssResourceLevel;
  /** Needed on every call, as oss-sse makes it (the local stack asks them of every such call). */
  actions: readonly string[];
  /**
   * The request names a copy source (CopyObject, UploadPartCopy): its `oss:Get…` actions are
   * asked on the source object, the others on the target.
   */
  copySource?: true;
  /** Needed too when the call names a version (`versionId`, `sourceVersionId`). */
  versioned?: readonly string[];
  /**
   * SSE-KMS (OSS calls KMS with the caller's identity), any of: `write` — the request stores data under
   * the policy's KMS key (kms:GenerateDataKey + kms:Decrypt on that key); `read` — it reads an
   * object oss-sse wrote under that key (kms:Decrypt); `copy-source` — it reads an object that
   * may be under any KMS key (kms:Decrypt), which happens only when COMPLIANCE=exact re-encrypts
   * objects under another key (under `any`, an SSE-KMS object is compliant and never copied).
   */
  kms?: readonly ('write' | 'read' | 'copy-source')[];
  /** Why the row looks as it does, when that is not just the API's name. */
  why?: string;
}

/** The APIs oss-sse's own client calls. */
const CLIENT_OPS = {
  HeadObject: { level: 'object', actions: ['oss:GetObject'], versioned: ['oss:GetObjectVersion'] },
  GetObjectAcl: { level: 'object', actions: ['oss:GetObjectAcl'], versioned: ['oss:GetObjectVersionAcl'] },
  GetObjectTagging: { level: 'object', actions: ['oss:GetObjectTagging'], versioned: ['oss:GetObjectVersionTagging'] },
  CopyObject: {
    level: 'object',
    actions: ['oss:GetObject', 'oss:PutObject', 'oss:GetObjectTagging', 'oss:PutObjectTagging'],
    versioned: ['oss:GetObjectVersion', 'oss:GetObjectVersionTagging'],
    kms: ['write', 'copy-source'],
    copySource: true,
    why:
      'reads the source and writes the copy; the copy carries the source tags (x-oss-tagging-directive: Copy), which the API page lists ' +
      'Get/PutObjectTagging for. It also sends x-oss-object-acl: the page lists no oss:PutObjectAcl for that (UNCONFIRMED: if OSS ' +
      'answers AccessDenied only for objects with their own ACL, add it here)',
  },
  InitiateMultipartUpload: {
    level: 'object',
    actions: ['oss:PutObject', 'oss:PutObjectTagging'],
    kms: ['write'],
    why: 'the encrypted copy is initiated with the SSE headers and, for a tagged object, x-oss-tagging',
  },
  UploadPartCopy: {
    level: 'object',
    actions: ['oss:GetObject', 'oss:PutObject'],
    versioned: ['oss:GetObjectVersion'],
    kms: ['copy-source'],
    copySource: true,
  },
  CompleteMultipartUpload: { level: 'object', actions: ['oss:PutObject'] },
  AbortMultipartUpload: { level: 'object', actions: ['oss:AbortMultipartUpload'] },
  DeleteObject: { level: 'object', actions: ['oss:DeleteObject'], versioned: ['oss:DeleteObjectVersion'] },
  PutObject: { level: 'object', actions: ['oss:PutObject'], kms: ['write'], why: 'job state and reports, written encrypted' },
  GetObject: { level: 'object', actions: ['oss:GetObject'], kms: ['read'], why: 'job state (and inventory reports) written by oss-sse' },
  ListObjectsV2: { level: 'bucket', actions: ['oss:ListObjects'] },
  ListBuckets: { level: 'service', actions: ['oss:ListBuckets'] },
  GetBucketEncryption: { level: 'bucket', actions: ['oss:GetBucketEncryption'] },
  PutBucketEncryption: { level: 'bucket', actions: ['oss:PutBucketEncryption'] },
  DeleteBucketEncryption: { level: 'bucket', actions: ['oss:DeleteBucketEncryption'] },
  GetBucketVersioning: { level: 'bucket', actions: ['oss:GetBucketVersioning'] },
  ListBucketInventory: { level: 'bucket', actions: ['oss:GetBucketInventory'], why: 'oss-sse report --inventory finds the latest report' },
} satisfies Record<OssOperationName, OssOpRam>;

/**
 * The other APIs the local OSS server serves, which oss-sse never calls: only the local stack
 * evaluates these rows (a user's client under `oss-sse local --policy`). Sources: the OSS API
 * pages' Permissions tables and the OSS RAM action list (docs/oss-behaviour.md#ram-policy-evaluation).
 */
const SERVER_ONLY_OPS = {
  PutBucket: { level: 'bucket', actions: ['oss:PutBucket'] },
  DeleteBucket: { level: 'bucket', actions: ['oss:DeleteBucket'] },
  GetBucketInfo: { level: 'bucket', actions: ['oss:GetBucketInfo'] },
  GetBucketLocation: { level: 'bucket', actions: ['oss:GetBucketLocation'] },
  GetBucketAcl: { level: 'bucket', actions: ['oss:GetBucketAcl'] },
  PutBucketAcl: { level: 'bucket', actions: ['oss:PutBucketAcl'] },
  PutBucketVersioning: { level: 'bucket', actions: ['oss:PutBucketVersioning'] },
  ListObjects: { level: 'bucket', actions: ['oss:ListObjects'] },
  ListObjectVersions: { level: 'bucket', actions: ['oss:ListObjectVersions'] },
  ListMultipartUploads: { level: 'bucket', actions: ['oss:ListMultipartUploads'] },
  PutBucketInventory: { level: 'bucket', actions: ['oss:PutBucketInventory'] },
  GetBucketInventory: { level: 'bucket', actions: ['oss:GetBucketInventory'] },
  DeleteBucketInventory: { level: 'bucket', actions: ['oss:DeleteBucketInventory'] },
  DeleteMultipleObjects: {
    level: 'object',
    actions: ['oss:DeleteObject'],
    versioned: ['oss:DeleteObjectVersion'],
    why: 'OSS asks it per key; the local stack asks it on bucket/* (the keys are in the body): the stricter reading',
  },
  PutObjectAcl: { level: 'object', actions: ['oss:PutObjectAcl'], versioned: ['oss:PutObjectVersionAcl'] },
  PutObjectTagging: { level: 'object', actions: ['oss:PutObjectTagging'], versioned: ['oss:PutObjectVersionTagging'] },
  DeleteObjectTagging: { level: 'object', actions: ['oss:DeleteObjectTagging'], versioned: ['oss:DeleteObjectVersionTagging'] },
  PutSymlink: { level: 'object', actions: ['oss:PutObject'] },
  GetSymlink: { level: 'object', actions: ['oss:GetObject'], versioned: ['oss:GetObjectVersion'] },
  GetObjectMeta: { level: 'object', actions: ['oss:GetObject'], versioned: ['oss:GetObjectVersion'] },
  AppendObject: { level: 'object', actions: ['oss:PutObject'], kms: ['write'] },
  RestoreObject: { level: 'object', actions: ['oss:RestoreObject'] },
  UploadPart: { level: 'object', actions: ['oss:PutObject'] },
  ListParts: { level: 'object', actions: ['oss:ListParts'] },
} satisfies Record<string, OssOpRam>;

export type OssApiName = keyof typeof CLIENT_OPS | keyof typeof SERVER_ONLY_OPS;

/** Every OSS API: what oss-sse calls and what else the local server serves. */
export const OSS_OP_RAM: Readonly<Record<OssApiName, OssOpRam>> = { ...CLIENT_OPS, ...SERVER_ONLY_OPS };

/** The row of an op name from deploy/reachable-ops.ts (a string), if there is one. */
export function ossOpRam(op: string): OssOpRam | undefined {
  return Object.hasOwn(OSS_OP_RAM, op) ? OSS_OP_RAM[op as OssApiName] : undefined;
}

/** KmsPort method → KMS API and its action. Called only when the policy names a key (shared/fc.ts resolveKmsKey). */
export const KMS_PORT_RAM: Readonly<Record<string, { op: string; actions: readonly string[] }>> = {
  describeKey: { op: 'DescribeKey', actions: ['kms:DescribeKey'] },
  // Only `oss-sse doctor` calls it (a harmless proof that the key encrypts); no function bundle reaches it.
  generateDataKey: { op: 'GenerateDataKey', actions: ['kms:GenerateDataKey'] },
};

/** What SSE-KMS needs from KMS for requests that write data under a key (the OSS API pages' Permissions tables). */
export const KMS_SSE_WRITE_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;
export const KMS_SSE_READ_ACTIONS = ['kms:Decrypt'] as const;

/** What OSS asks of KMS, with the caller's identity, for SSE-KMS: writing data under a key, or reading (decrypting) it. */
export function kmsSseAccesses(use: 'write' | 'read', keyArn: string): Array<{ action: string; resource: string }> {
  return (use === 'write' ? KMS_SSE_WRITE_ACTIONS : KMS_SSE_READ_ACTIONS).map((action) => ({ action, resource: keyArn }));
}

/**
 * FcInvoker method → FC 3.0 API and its action. The deployed code invokes only its own function
 * (the backfill continuing itself and fanning out shards: `context.function.name`).
 */
export const FC_PORT_RAM: Readonly<Record<string, { op: string; actions: readonly string[] }>> = {
  invoke: { op: 'InvokeFunction', actions: ['fc:InvokeFunction'] },
};
