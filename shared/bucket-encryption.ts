/**
 * The bucket function's work: make a bucket's default encryption follow the policy (on
 * creation, on drift, or by hand), then re-encrypt the objects that raced in before the
 * rule existed. Idempotent: a second event for the same bucket changes nothing.
 */
import { parseBucketEvent, type BucketEvent } from './events';
import { KmsError } from './kms';
import type { Logger } from './log';
import type { OssPort, SseSpec } from './oss/port';
import { bucketSelected, decideBucketRule, type BucketRuleDecision, type Policy } from './policy';
import { reencryptObject, type ObjectOutcome } from './reencrypt';
import { isTransientOssError } from './retry';

export interface BucketOutcome {
  bucket: string;
  action: 'excluded' | 'compliant' | 'set' | 'reported' | 'failed';
  reason?: string;
  before?: SseSpec | null;
  after?: SseSpec | null;
  /** Who triggered the change we reacted to (drift events), never a credential. */
  actor?: Record<string, string | undefined>;
  objects?: { checked: number; reencrypted: number; failed: number; retryable: number; truncated: boolean };
  error?: { code: string; message: string; requestId?: string };
  /** True when the failure is transient (throttling, 5xx, network): FC should retry the event. */
  retryable?: boolean;
}

export interface BucketDeps {
  oss: OssPort;
  policy: Policy;
  log: Logger;
  /**
   * Validates the policy's KMS key (exists, Enabled, ENCRYPT/DECRYPT, symmetric, SM4 when
   * asked) and returns its key id; throws a clear error otherwise. Absent for AES256/SM4.
   */
  resolveKmsKey?: () => Promise<string | undefined>;
}

/** What the rule to write is: the policy's, with the resolved KMS key id. */
function ruleFor(policy: Policy, keyId: string | undefined): SseSpec {
  return {
    algorithm: policy.target.algorithm,
    ...(policy.target.algorithm === 'KMS' && (keyId ?? policy.target.keyId) ? { keyId: keyId ?? policy.target.keyId } : {}),
    ...(policy.target.dataEncryption ? { dataEncryption: policy.target.dataEncryption } : {}),
  };
}

const sameRule = (a: SseSpec | undefined, b: SseSpec): boolean =>
  a !== undefined &&
  a.algorithm === b.algorithm &&
  (a.keyId ?? '') === (b.keyId ?? '') &&
  (a.dataEncryption ?? '') === (b.dataEncryption ?? '');

export async function applyBucketPolicy(
  bucket: string,
  deps: BucketDeps,
  actor?: Record<string, string | undefined>,
): Promise<BucketOutcome> {
  const { oss, policy, log } = deps;
  const result = (o: Omit<BucketOutcome, 'bucket'>): BucketOutcome => {
    const out = { bucket, ...o, ...(actor ? { actor } : {}) };
    log.log(o.action === 'failed' ? 'error' : 'info', 'bucket decision', { ...out });
    return out;
  };
  if (!bucketSelected(policy, bucket)) return result({ action: 'excluded', reason: 'bucket is excluded by BUCKET_INCLUDE/BUCKET_EXCLUDE' });
  try {
    const before = await oss.getBucketEncryption(bucket);
    let keyId: string | undefined;
    // Resolve first: a KMS key that is missing or disabled must leave the bucket unchanged.
    if (policy.target.algorithm === 'KMS' && deps.resolveKmsKey) keyId = await deps.resolveKmsKey();
    const decision: BucketRuleDecision = decideBucketRule(policy, before, keyId);
    if (decision.action === 'report') {
      return result({
        action: 'reported',
        reason: `bucket owner chose another rule (${describe(before)}); OVERRIDE_BUCKET_RULE=false`,
        before: before ?? null,
      });
    }
    let after = before;
    if (decision.action === 'set') {
      const rule = ruleFor(policy, keyId);
      await oss.putBucketEncryption(bucket, rule);
      after = await oss.getBucketEncryption(bucket);
      if (!sameRule(after, rule)) {
        return result({
          action: 'failed',
          reason: 'read-back-mismatch',
          before: before ?? null,
          after: after ?? null,
          error: { code: 'VerificationFailed', message: `rule read back as ${describe(after)}, expected ${describe(rule)}` },
        });
      }
    }
    // Only a rule just set can have missed objects; a compliant bucket costs no listing.
    const objects = decision.action === 'set' ? await reencryptRacedObjects(bucket, deps, keyId) : undefined;
    return result({
      action: decision.action === 'set' ? 'set' : 'compliant',
      ...(decision.action === 'set' ? { reason: decision.reason } : {}),
      before: before ?? null,
      after: after ?? null,
      ...(objects ? { objects } : {}),
      // Objects that failed transiently are worth the event being retried (the rule step is idempotent).
      ...(objects && objects.retryable > 0 ? { retryable: true } : {}),
    });
  } catch (err) {
    const e = err as { code?: string; message?: string; requestId?: string; name?: string };
    return result({
      action: 'failed',
      reason: e.code ?? e.name ?? 'Error',
      error: { code: e.code ?? e.name ?? 'Error', message: e.message ?? String(err), ...(e.requestId ? { requestId: e.requestId } : {}) },
      retryable: isTransientOssError(err) || (err instanceof KmsError && err.transient),
    });
  }
}

function describe(rule: SseSpec | undefined): string {
  if (!rule) return 'none';
  return [rule.algorithm, rule.keyId, rule.dataEncryption].filter(Boolean).join('/');
}

/**
 * Objects uploaded before the rule existed are not covered by it. Check up to
 * BUCKET_REENCRYPT_LIMIT of them (a new bucket holds few); the backfill covers the rest.
 */
async function reencryptRacedObjects(
  bucket: string,
  deps: BucketDeps,
  keyId: string | undefined,
): Promise<NonNullable<BucketOutcome['objects']>> {
  const limit = deps.policy.bucketReencryptLimit;
  const stats = { checked: 0, reencrypted: 0, failed: 0, retryable: 0, truncated: false };
  let token: string | undefined;
  do {
    if (stats.checked >= limit) {
      stats.truncated = true;
      break;
    }
    const page = await deps.oss.listObjectsV2(bucket, {
      maxKeys: Math.min(1000, limit - stats.checked),
      ...(token ? { continuationToken: token } : {}),
    });
    const outcomes: ObjectOutcome[] = [];
    // Bounded parallelism: a new bucket's objects are few, and bucket-level QPS is limited.
    const queue = [...page.objects];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let o = queue.shift(); o; o = queue.shift()) {
          outcomes.push(
            await reencryptObject(deps.oss, deps.policy, deps.log, { bucket, key: o.key }, keyId ? { resolvedKeyId: keyId } : {}),
          );
        }
      }),
    );
    stats.checked += page.objects.length;
    stats.reencrypted += outcomes.filter((o) => o.action === 'reencrypted').length;
    stats.failed += outcomes.filter((o) => o.action === 'failed').length;
    stats.retryable += outcomes.filter((o) => o.action === 'failed' && o.retryable).length;
    token = page.isTruncated ? page.nextContinuationToken : undefined;
    if (page.isTruncated && stats.checked >= limit) stats.truncated = true;
  } while (token);
  return stats;
}

export type BucketEventResult = { buckets: BucketOutcome[] };

/** Thrown after every bucket was handled, so FC retries the invocation: only for transient failures. */
export class TransientBucketFailure extends Error {
  override readonly name = 'TransientBucketFailure';
  constructor(readonly result: BucketEventResult) {
    super(`${result.buckets.filter((b) => b.retryable).length} bucket(s) failed transiently; the invocation should be retried`);
  }
}

/**
 * Handles every accepted shape (EventBridge BucketCreated, ActionTrail PutBucket /
 * PutBucketEncryption / DeleteBucketEncryption, `{ "bucket": … }`, `{ "allBuckets": true }`).
 * Throws EventValidationError, naming what it looked at, when no valid bucket is found.
 */
export async function handleBucketEvent(input: unknown, deps: BucketDeps): Promise<BucketEventResult> {
  const event = parseBucketEvent(input);
  const result: BucketEventResult =
    event.kind === 'all-buckets' ? { buckets: await applyToAllBuckets(deps) } : { buckets: [await applyOne(event, deps)] };
  if (result.buckets.some((b) => b.retryable)) throw new TransientBucketFailure(result);
  return result;
}

async function applyOne(event: Extract<BucketEvent, { kind: 'bucket' }>, deps: BucketDeps): Promise<BucketOutcome> {
  const actor = event.actor
    ? Object.fromEntries(Object.entries(event.actor).map(([k, v]) => [k, v === undefined ? undefined : String(v)]))
    : undefined;
  if (event.trigger === 'encryption-changed') {
    deps.log.warn('bucket encryption rule changed', { bucket: event.bucket, eventName: event.eventName, actor });
  }
  return applyBucketPolicy(event.bucket, deps, actor);
}

async function applyToAllBuckets(deps: BucketDeps): Promise<BucketOutcome[]> {
  const outcomes: BucketOutcome[] = [];
  let marker: string | undefined;
  do {
    const page = await deps.oss.listBuckets({ maxKeys: 1000, ...(marker ? { marker } : {}) });
    for (const bucket of page.buckets) outcomes.push(await applyBucketPolicy(bucket, deps));
    marker = page.nextMarker;
  } while (marker);
  return outcomes;
}
