/**
 * The one decision every part of oss-sse shares (DESIGN.md): from the policy and an
 * object's HEAD, is it compliant, to be re-encrypted, or skipped (and why); and from the
 * policy and a bucket's default rule, what to do with the bucket. Pure functions only.
 */
import type { ObjectHead, SseSpec, StorageClass, Unrecognised } from './oss/port';
import type { Config } from './validation/config';

export interface Policy {
  /** The encryption the policy demands for objects and bucket rules. */
  target: SseSpec;
  compliance: 'any' | 'exact';
  bucketInclude: readonly string[];
  bucketExclude: readonly string[];
  keyExcludePrefixes: readonly string[];
  overrideBucketRule: boolean;
  multipartThresholdBytes: number;
  partSizeBytes: number;
  partConcurrency: number;
  preserveAcl: boolean;
  deletePlaintextVersions: boolean;
  objectEvents: readonly string[];
  bucketReencryptLimit: number;
}

export function policyFromConfig(c: Config): Policy {
  return {
    target: {
      algorithm: c.SSE_ALGORITHM,
      ...(c.KMS_KEY_ID ? { keyId: c.KMS_KEY_ID } : {}),
      ...(c.KMS_DATA_ENCRYPTION ? { dataEncryption: c.KMS_DATA_ENCRYPTION } : {}),
    },
    compliance: c.COMPLIANCE,
    bucketInclude: c.BUCKET_INCLUDE,
    bucketExclude: c.BUCKET_EXCLUDE,
    keyExcludePrefixes: c.KEY_EXCLUDE_PREFIXES,
    overrideBucketRule: c.OVERRIDE_BUCKET_RULE,
    multipartThresholdBytes: c.MULTIPART_THRESHOLD_BYTES,
    partSizeBytes: c.PART_SIZE_BYTES,
    partConcurrency: c.PART_CONCURRENCY,
    preserveAcl: c.PRESERVE_ACL,
    deletePlaintextVersions: c.DELETE_PLAINTEXT_VERSIONS,
    objectEvents: c.OBJECT_EVENTS,
    bucketReencryptLimit: c.BUCKET_REENCRYPT_LIMIT,
  };
}

export type SkipReason = 'symlink' | 'appendable' | 'archived-not-restored' | 'excluded-bucket' | 'excluded-prefix' | 'not-found';
export type ReencryptReason = 'unencrypted' | 'wrong-algorithm' | 'wrong-key' | 'wrong-data-encryption';

export type Decision = { action: 'compliant' } | { action: 'reencrypt'; reason: ReencryptReason } | { action: 'skip'; reason: SkipReason };

/** Shell-style glob over a bucket name: `*` any run, `?` one character. */
export function globMatch(glob: string, name: string): boolean {
  let re = '^';
  for (const ch of glob) re += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\-]/g, '\\$&');
  return new RegExp(`${re}$`).test(name);
}

/** Include (empty = every bucket) then exclude. */
export function bucketSelected(policy: Policy, bucket: string): boolean {
  if (policy.bucketInclude.length > 0 && !policy.bucketInclude.some((g) => globMatch(g, bucket))) return false;
  return !policy.bucketExclude.some((g) => globMatch(g, bucket));
}

export function keyExcluded(policy: Policy, key: string): boolean {
  return policy.keyExcludePrefixes.some((p) => key.startsWith(p));
}

// An Unrecognised class is never in it: read as readable, as before the classes were typed.
const ARCHIVE_CLASSES: ReadonlySet<StorageClass | Unrecognised> = new Set<StorageClass>(['Archive', 'ColdArchive', 'DeepColdArchive']);

/** A restored archive object reads `ongoing-request="false", expiry-date=…`. */
export function isReadable(head: Pick<ObjectHead, 'storageClass' | 'restore'>): boolean {
  return !ARCHIVE_CLASSES.has(head.storageClass) || /ongoing-request="false"/.test(head.restore ?? '');
}

/**
 * KMS key ids can be configured as an alias or an ARN while OSS reports the key id. The
 * caller passes the resolved id (from KMS DescribeKey) when it has one; an ARN's trailing
 * `key/<id>` also matches.
 */
function sameKey(configured: string, resolved: string | undefined, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  if (actual === configured || actual === resolved) return true;
  const arnKey = /:key\/(.+)$/.exec(configured)?.[1];
  return arnKey !== undefined && arnKey === actual;
}

/** Why `sse` does not satisfy the policy, or undefined when it does. */
export function sseShortfall(policy: Policy, sse: SseSpec | undefined, resolvedKeyId?: string): ReencryptReason | undefined {
  if (!sse) return 'unencrypted';
  if (policy.compliance === 'any') return undefined;
  const t = policy.target;
  if (sse.algorithm !== t.algorithm) return 'wrong-algorithm';
  if (t.algorithm === 'KMS' && t.keyId !== undefined && !sameKey(t.keyId, resolvedKeyId, sse.keyId)) return 'wrong-key';
  if ((sse.dataEncryption ?? undefined) !== (t.dataEncryption ?? undefined)) return 'wrong-data-encryption';
  return undefined;
}

/**
 * The decision for one object. `head` undefined means the object is gone (404). Order
 * matters: exclusions first (never even look), then what cannot or need not be copied.
 */
export function decideObject(policy: Policy, bucket: string, key: string, head: ObjectHead | undefined, resolvedKeyId?: string): Decision {
  if (!bucketSelected(policy, bucket)) return { action: 'skip', reason: 'excluded-bucket' };
  if (keyExcluded(policy, key)) return { action: 'skip', reason: 'excluded-prefix' };
  if (!head) return { action: 'skip', reason: 'not-found' };
  // A symlink holds no data of its own (HEAD describes its target, which is handled on its own).
  if (head.objectType === 'Symlink') return { action: 'skip', reason: 'symlink' };
  const shortfall = sseShortfall(policy, head.sse, resolvedKeyId);
  if (shortfall === undefined) return { action: 'compliant' };
  if (head.objectType === 'Appendable') return { action: 'skip', reason: 'appendable' };
  if (!isReadable(head)) return { action: 'skip', reason: 'archived-not-restored' };
  return { action: 'reencrypt', reason: shortfall };
}

export type BucketRuleDecision =
  { action: 'compliant' } | { action: 'set'; reason: 'missing' | 'replace' } | { action: 'report'; reason: 'different-rule' };

/**
 * What to do with a bucket's default encryption rule. No rule: set ours. A rule that
 * satisfies the policy: leave it. A different rule chosen by the bucket's owner is only
 * reported — unless COMPLIANCE=exact or OVERRIDE_BUCKET_RULE=true, which replace it.
 */
export function decideBucketRule(policy: Policy, rule: SseSpec | undefined, resolvedKeyId?: string): BucketRuleDecision {
  if (!rule) return { action: 'set', reason: 'missing' };
  const exact = { ...policy, compliance: 'exact' as const };
  if (sseShortfall(exact, rule, resolvedKeyId) === undefined) return { action: 'compliant' };
  if (policy.compliance === 'exact' || policy.overrideBucketRule) return { action: 'set', reason: 'replace' };
  return { action: 'report', reason: 'different-rule' };
}

/** The x-oss-server-side-encryption headers that ask OSS for the policy's encryption. */
export function sseRequestHeaders(target: SseSpec, resolvedKeyId?: string): Record<string, string> {
  const h: Record<string, string> = { 'x-oss-server-side-encryption': target.algorithm };
  const keyId = resolvedKeyId ?? target.keyId;
  if (target.algorithm === 'KMS' && keyId) h['x-oss-server-side-encryption-key-id'] = keyId;
  if (target.algorithm === 'KMS' && target.dataEncryption) h['x-oss-server-side-data-encryption'] = target.dataEncryption;
  return h;
}
