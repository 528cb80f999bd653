/**
 * `oss-sse doctor`: a preflight of an account, read-only unless `--canary` asks for one
 * object. Each check is a small function over the project's ports (deps.ts) returning
 * `{ name, ok, detail, fix?, requestId? }`; this runs them in order.
 */
import { OssRequestError } from '../oss/port';
import { checkOssAccess, checkRegion, selectedBuckets } from './account';
import { checkBucket } from './bucket';
import { runCanary } from './canary';
import { fail, pass, type DoctorCheck } from './check';
import type { DoctorDeps, DoctorOptions } from './deps';
import { answerOf } from './fixes';
import { checkFunctions } from './functions';
import { checkKmsKey } from './kms';

export { DoctorCheckSchema, DoctorReportSchema, formatCheck, type DoctorCheck, type DoctorReport } from './check';
export { CANARY_PREFIX, DOCTOR_PREFIX, type DoctorDeps, type DoctorOptions } from './deps';
export { DEPLOYED_FUNCTIONS, ROLE_POLICIES } from './role-policies';

/** The object function, whose trigger the canary exercises. */
const OBJECT_FUNCTION = 'oss-sse-object-encryption';

async function bucketsToCheck(deps: DoctorDeps, options: DoctorOptions): Promise<{ buckets: string[]; checks: DoctorCheck[] }> {
  if (options.buckets.length > 0) return { buckets: [...options.buckets], checks: [] };
  const selection =
    deps.policy.bucketInclude.length > 0 ? `BUCKET_INCLUDE ${deps.policy.bucketInclude.join(',')}` : 'the policy (every bucket)';
  try {
    const { buckets, total } = await selectedBuckets(deps, options.maxBuckets);
    if (total === 0)
      return {
        buckets,
        checks: [
          fail('buckets', `none of the account's buckets is selected by ${selection}`, 'name one with --bucket, or set BUCKET_INCLUDE'),
        ],
      };
    const more = total > buckets.length ? `; the first ${buckets.length} checked, name others with --bucket` : '';
    return { buckets, checks: [pass('buckets', `${total} selected by ${selection}${more}`, deps.lastOssRequestId())] };
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    return { buckets: [], checks: [fail('buckets', `ListBuckets answered ${answerOf(e)}`, 'name the buckets with --bucket', e.requestId)] };
  }
}

export async function runDoctor(deps: DoctorDeps, options: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [checkRegion(deps.region, deps.endpoints)];
  const access = await checkOssAccess(deps);
  checks.push(...access);
  const ossUsable = access.find((c) => c.name === 'credentials')?.ok === true;
  const kms = await checkKmsKey(deps);
  checks.push(...kms.checks);
  if (ossUsable) {
    const selected = await bucketsToCheck(deps, options);
    checks.push(...selected.checks);
    for (const bucket of selected.buckets) checks.push(...(await checkBucket(deps, bucket, kms.resolvedKeyId)).checks);
  }
  checks.push(...(await checkFunctions(deps, options.functions)));
  if (options.canary && ossUsable) {
    checks.push(
      await runCanary(deps, {
        bucket: options.canary.bucket,
        timeoutMs: options.canary.timeoutMs,
        resolvedKeyId: kms.resolvedKeyId,
        objectFunction: options.functions.find((f) => f.endsWith('object-encryption')) ?? OBJECT_FUNCTION,
      }),
    );
  }
  return checks;
}
