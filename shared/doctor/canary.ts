/**
 * `--canary <bucket>`: the whole path end to end. One small object is written under a scratch
 * prefix in a form the policy does not accept, the object function must re-encrypt it through
 * the real trigger within the timeout, HEAD verifies the policy's encryption, and the object
 * (every version the run made) is deleted. When the function does not act in time, doctor
 * invokes it directly with the event the trigger would have sent, to tell a missing trigger
 * from a function that fails.
 */
import * as z from 'zod';
import { OssRequestError, type ObjectHead, type SseAlgorithm, type SseSpec } from '../oss/port';
import { sseRequestHeaders, sseShortfall, type Policy } from '../policy';
import { fail, pass, type DoctorCheck } from './check';
import { describeSse } from './bucket';
import { CANARY_PREFIX, type DoctorDeps } from './deps';
import { answerOf, grantFix } from './fixes';

export interface CanaryPlan {
  /** SSE headers of the canary's PutObject (none: the bucket's rule, if any, applies). */
  headers: Record<string, string>;
  /** Whether the object function has to act on it (otherwise it is compliant as written). */
  exercisesFunction: boolean;
  /** How it is written, for the report. */
  writtenAs: string;
}

/**
 * How to write the canary so that the object function must re-encrypt it. Under
 * COMPLIANCE=any a bucket rule the policy accepts makes every write compliant: then nothing
 * can make the function act, and the plan says so. Pure.
 */
export function planCanary(policy: Policy, rule: SseSpec | undefined, resolvedKeyId?: string): CanaryPlan {
  if (sseShortfall(policy, rule, resolvedKeyId) !== undefined) {
    return {
      headers: {},
      exercisesFunction: true,
      writtenAs: rule ? `under the bucket's rule ${describeSse(rule)}, which the policy does not accept` : 'plaintext',
    };
  }
  if (policy.compliance === 'exact') {
    const other: SseAlgorithm = policy.target.algorithm === 'AES256' ? 'SM4' : 'AES256';
    return {
      headers: sseRequestHeaders({ algorithm: other }),
      exercisesFunction: true,
      writtenAs: `with ${other}, which COMPLIANCE=exact does not accept`,
    };
  }
  return {
    headers: {},
    exercisesFunction: false,
    writtenAs: `plaintext, encrypted on write by the bucket's rule ${rule ? describeSse(rule) : ''}`,
  };
}

const POLL_MS = 250;
const CANARY_BODY = Buffer.from('oss-sse doctor canary: safe to delete\n');

/** What the object function answers an event with (shared/object-encryption.ts ObjectEventSummary), as far as doctor reads it. */
const ObjectAnswerSchema = z.looseObject({
  records: z.array(
    z.looseObject({
      action: z.string(),
      reason: z.string().optional(),
      error: z.looseObject({ code: z.string(), message: z.string(), requestId: z.string().optional() }).optional(),
    }),
  ),
});

/** The OSS trigger event for the canary's PutObject, as Function Compute delivers it (docs/oss-behaviour.md#oss-trigger-events). */
function triggerEvent(deps: DoctorDeps, bucket: string, key: string, etag: string): unknown {
  return {
    events: [
      {
        eventName: 'ObjectCreated:PutObject',
        eventSource: 'acs:oss',
        eventTime: new Date(deps.now()).toISOString(),
        eventVersion: '1.0',
        oss: {
          bucket: { name: bucket, arn: `acs:oss:${deps.region}:${deps.accountId}:${bucket}`, ownerIdentity: deps.accountId },
          object: { key, size: CANARY_BODY.length, eTag: etag.replace(/"/g, '') },
          ossSchemaVersion: '1.0',
        },
        region: deps.region,
      },
    ],
  };
}

/** Invokes the object function with the canary's event: a failing function, or a trigger that never fired? */
async function diagnose(
  deps: DoctorDeps,
  c: { bucket: string; key: string; etag: string; objectFunction: string },
): Promise<{ detail: string; fix: string; requestId?: string }> {
  const logs = `npx s ${c.objectFunction.replace(/^oss-sse-/, '')} logs --search failed`;
  try {
    const res = await deps.fc.invoke(c.objectFunction, triggerEvent(deps, c.bucket, c.key, c.etag), { async: false });
    const record = ObjectAnswerSchema.safeParse(res.result).data?.records[0];
    if (record?.action === 'reencrypted' || record?.action === 'compliant') {
      return {
        detail: `invoked directly with the trigger's event, ${c.objectFunction} answered ${record.action}: the trigger did not deliver the upload`,
        fix: `give ${c.objectFunction} an OSS trigger on ${c.bucket} (s.yaml triggers) and deploy it: npx s object-encryption deploy -y`,
        requestId: res.requestId,
      };
    }
    const why = record?.error
      ? `${record.error.code}: ${record.error.message.slice(0, 200)}${record.error.requestId ? ` (OSS request ${record.error.requestId})` : ''}`
      : JSON.stringify(res.result ?? null).slice(0, 200);
    const denied = record?.error?.code === 'AccessDenied';
    return {
      detail: `invoked directly with the trigger's event, ${c.objectFunction} answered ${record?.action ?? 'something else'}: ${why}`,
      fix: denied
        ? `role ${c.objectFunction} lacks a permission on ${c.bucket}: give it the policy deploy/ram/${c.objectFunction}.json renders (its log names the refused request: ${logs})`
        : `see its log: ${logs}`,
      requestId: res.requestId,
    };
  } catch (e) {
    const err = e as { code?: string; message?: string; requestId?: string };
    return {
      detail: `invoking ${c.objectFunction} directly failed too (${err.code ?? 'Error'}: ${err.message ?? String(e)})`,
      fix: `see the function check above and its log: ${logs}`,
      ...(err.requestId ? { requestId: err.requestId } : {}),
    };
  }
}

/** Deletes what the canary left: each version it made (a versioned bucket), else the key. Never throws. */
async function cleanUp(
  deps: DoctorDeps,
  bucket: string,
  key: string,
  versions: ReadonlyArray<string | undefined>,
): Promise<string | undefined> {
  const ids = [...new Set(versions.filter((v): v is string => v !== undefined && v !== 'null'))];
  try {
    if (ids.length === 0) await deps.oss.deleteObject(bucket, key);
    for (const id of ids) await deps.oss.deleteObject(bucket, key, id);
    return undefined;
  } catch (e) {
    return e instanceof OssRequestError ? answerOf(e) : String(e);
  }
}

export async function runCanary(
  deps: DoctorDeps,
  c: { bucket: string; timeoutMs: number; resolvedKeyId: string | undefined; objectFunction: string },
): Promise<DoctorCheck> {
  const name = `canary ${c.bucket}`;
  const key = `${CANARY_PREFIX}${deps.randomId()}`;
  let rule: SseSpec | undefined;
  try {
    rule = await deps.oss.getBucketEncryption(c.bucket);
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    return fail(name, `not written: GetBucketEncryption answered ${answerOf(e)}`, 'fix the bucket checks first', e.requestId);
  }
  const plan = planCanary(deps.policy, rule, c.resolvedKeyId);
  let written: { etag: string; versionId?: string; requestId?: string };
  try {
    written = await deps.oss.putObject(c.bucket, key, CANARY_BODY, plan.headers);
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    // Under SSE-KMS (the bucket's rule or the canary's header) OSS also asks the caller's KMS rights on the key.
    const underKms = (plan.headers['x-oss-server-side-encryption'] ?? rule?.algorithm) === 'KMS';
    const grant = grantFix('oss:PutObject', `acs:oss:*:${deps.accountId}:${c.bucket}/${CANARY_PREFIX}*`, []);
    const fix = e.status !== 403 ? 'see the error' : underKms ? `${grant}, with kms:GenerateDataKey and kms:Decrypt on its KMS key` : grant;
    return fail(name, `${key} not written: ${answerOf(e)}: ${e.message}`, fix, e.requestId);
  }
  const started = deps.now();
  const compliant = (h: ObjectHead | undefined): boolean =>
    h !== undefined && sseShortfall(deps.policy, h.sse, c.resolvedKeyId) === undefined;
  let head = await deps.oss.headObject(c.bucket, key);
  while (head !== undefined && !compliant(head) && deps.now() - started < c.timeoutMs) {
    await deps.sleep(POLL_MS);
    head = await deps.oss.headObject(c.bucket, key);
  }
  const elapsedMs = deps.now() - started;
  const wrote = `wrote ${key} ${plan.writtenAs}`;
  if (head === undefined) {
    const left = await cleanUp(deps, c.bucket, key, [written.versionId]);
    return fail(
      name,
      `${wrote}; it was gone before it was verified${left ? `; cleaning up failed (${left})` : ''}`,
      `check what deletes objects under ${CANARY_PREFIX} in ${c.bucket}`,
      written.requestId,
    );
  }
  if (!compliant(head)) {
    const why = await diagnose(deps, { bucket: c.bucket, key, etag: written.etag, objectFunction: c.objectFunction });
    const after = await deps.oss.headObject(c.bucket, key);
    const left = await cleanUp(deps, c.bucket, key, [written.versionId, head.versionId, after?.versionId]);
    return fail(
      name,
      `${wrote}; still ${head.sse ? describeSse(head.sse) : 'plaintext'} after ${Math.round(c.timeoutMs / 1000)} s; ${why.detail}${left ? `; deleting it failed (${left}): delete oss://${c.bucket}/${key}` : ''}`,
      why.fix,
      why.requestId,
    );
  }
  const left = await cleanUp(deps, c.bucket, key, [written.versionId, head.versionId]);
  const sse = head.sse ? describeSse(head.sse) : 'plaintext';
  const verified = plan.exercisesFunction
    ? `the object function re-encrypted it to ${sse} through the trigger within ${elapsedMs} ms`
    : `HEAD shows ${sse}, which the policy accepts: the object function had nothing to re-encrypt, so its trigger was not exercised (a bucket without a rule, or COMPLIANCE=exact, exercises it)`;
  if (left)
    return fail(
      name,
      `${wrote}; ${verified}; deleting it failed (${left})`,
      grantFix('oss:DeleteObject', `acs:oss:*:${deps.accountId}:${c.bucket}/${CANARY_PREFIX}*`, []) +
        `, then delete oss://${c.bucket}/${key}`,
      head.requestId,
    );
  return pass(name, `${wrote}; ${verified}; deleted`, head.requestId);
}
