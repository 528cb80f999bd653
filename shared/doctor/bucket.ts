/**
 * One bucket: its default encryption rule against the policy (the bucket function's own
 * decision, decideBucketRule), its versioning, a one-key listing, and the permissions the
 * functions need there, probed with harmless requests (probes.ts).
 */
import { PROBE_PREFIX } from '../backfill/self-copy-probe';
import { OSS_OP_RAM } from '../ram/actions';
import { OssRequestError, type SseSpec } from '../oss/port';
import { decideBucketRule } from '../policy';
import { fail, pass, type DoctorCheck } from './check';
import { DOCTOR_PREFIX, type DoctorDeps } from './deps';
import { answerOf, grantFix } from './fixes';
import { judgeActions, PERMISSION_PROBES, probeActions, sendProbe, SERVICE_LEVEL_ACTIONS, type ProbeOutcome } from './probes';
import { bucketArn, objectArn, rolesGranted, rolesNeedingOssActions } from './role-policies';

export const describeSse = (sse: SseSpec): string => [sse.algorithm, sse.keyId, sse.dataEncryption].filter(Boolean).join(' ');

/** A bucket read that failed, as a check. Pure. */
function readFailure(
  read: { deps: DoctorDeps; bucket: string; name: string; what: string; action: string },
  e: OssRequestError,
): DoctorCheck {
  if (e.status === 403) {
    return fail(
      read.name,
      `${read.what}: denied (${answerOf(e)})`,
      grantFix(read.action, bucketArn(read.deps.accountId, read.bucket), rolesGranted(read.deps.rolePolicies, read.action)),
      e.requestId,
    );
  }
  return fail(read.name, `${read.what}: ${answerOf(e)}: ${e.message}`, 'see the error; the request id is for OSS support', e.requestId);
}

export interface BucketChecks {
  checks: DoctorCheck[];
  rule?: SseSpec;
  versioning?: 'Enabled' | 'Suspended';
  exists: boolean;
}

async function checkRule(
  deps: DoctorDeps,
  bucket: string,
  resolvedKeyId: string | undefined,
): Promise<{ check: DoctorCheck; rule?: SseSpec; exists: boolean }> {
  const name = `bucket ${bucket} rule`;
  let rule: SseSpec | undefined;
  try {
    rule = await deps.oss.getBucketEncryption(bucket);
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    if (e.code === 'NoSuchBucket') {
      return {
        exists: false,
        check: fail(
          `bucket ${bucket}`,
          `does not exist (${answerOf(e)})`,
          `create it in ${deps.region}, or correct --bucket / BUCKET_INCLUDE`,
          e.requestId,
        ),
      };
    }
    return { exists: true, check: readFailure({ deps, bucket, name, what: 'GetBucketEncryption', action: 'oss:GetBucketEncryption' }, e) };
  }
  const requestId = deps.lastOssRequestId();
  const wanted = describeSse(deps.policy.target);
  const decision = decideBucketRule(deps.policy, rule, resolvedKeyId);
  const set = `set it: oss-sse invoke oss-sse-bucket-encryption --payload '{"bucket":"${bucket}"}' (or oss-sse bucket put ${bucket})`;
  const found = rule ? describeSse(rule) : undefined;
  const withRule = rule ? { rule } : {};
  switch (decision.action) {
    case 'compliant':
      return { exists: true, ...withRule, check: pass(name, `default encryption ${found} satisfies the policy (${wanted})`, requestId) };
    case 'report':
      return {
        exists: true,
        ...withRule,
        check: pass(
          name,
          `default encryption ${found} differs from the policy's ${wanted}; COMPLIANCE=any accepts it, the functions leave it (OVERRIDE_BUCKET_RULE=true would replace it)`,
          requestId,
        ),
      };
    case 'set':
      return {
        exists: true,
        ...withRule,
        check: fail(
          name,
          found
            ? `default encryption ${found}, the policy demands ${wanted} (COMPLIANCE=${deps.policy.compliance})`
            : `no default encryption rule (the policy demands ${wanted})`,
          set,
          requestId,
        ),
      };
  }
}

async function checkVersioning(deps: DoctorDeps, bucket: string): Promise<{ check: DoctorCheck; versioning?: 'Enabled' | 'Suspended' }> {
  const name = `bucket ${bucket} versioning`;
  try {
    const versioning = await deps.oss.getBucketVersioning(bucket);
    const requestId = deps.lastOssRequestId();
    const kept = deps.policy.deletePlaintextVersions
      ? 'deleted after the copy verified (DELETE_PLAINTEXT_VERSIONS=true)'
      : 'kept (DELETE_PLAINTEXT_VERSIONS=false)';
    const detail =
      versioning === 'Enabled'
        ? `Enabled: each re-encrypted copy is a new version; plaintext versions are ${kept}`
        : versioning === 'Suspended'
          ? `Suspended: copies replace the null version; older versions are ${kept}`
          : 'not enabled: copies replace the object';
    return { ...(versioning ? { versioning } : {}), check: pass(name, detail, requestId) };
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    return {
      check: readFailure(
        {
          deps,
          bucket,
          name,
          what: 'GetBucketVersioning (doctor reads it; the functions do not need it)',
          action: 'oss:GetBucketVersioning',
        },
        e,
      ),
    };
  }
}

async function checkListing(deps: DoctorDeps, bucket: string): Promise<DoctorCheck> {
  const name = `bucket ${bucket} listing`;
  try {
    const page = await deps.oss.listObjectsV2(bucket, { maxKeys: 1 });
    return pass(
      name,
      page.objects.length > 0 ? 'ListObjects (max-keys 1) answered with a key' : 'ListObjects (max-keys 1) answered: the bucket is empty',
      deps.lastOssRequestId(),
    );
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    return readFailure({ deps, bucket, name, what: 'ListObjects', action: 'oss:ListObjects' }, e);
  }
}

/** Actions the rule, versioning and listing checks report on their own. */
const READ_CHECK_ACTIONS: ReadonlySet<string> = new Set(
  (['GetBucketEncryption', 'GetBucketVersioning', 'ListObjectsV2'] as const).flatMap((op) => OSS_OP_RAM[op]?.actions ?? []),
);

async function checkPermissions(deps: DoctorDeps, bucket: string): Promise<DoctorCheck[]> {
  const id = deps.randomId();
  const key = `${DOCTOR_PREFIX}${id}`;
  // An action a role holds only under oss-sse's scratch prefix (the backfill's self-copy probe
  // deletes its own object there, nothing else) is probed on a key under that prefix.
  const scratchKey = `${PROBE_PREFIX}doctor-${id}`;
  const where = { accountId: deps.accountId, bucket };
  const needed = rolesNeedingOssActions(deps.rolePolicies, { ...where, key });
  const scratchOnly = new Map(
    [...rolesNeedingOssActions(deps.rolePolicies, { ...where, key: scratchKey })].filter(([a]) => !needed.has(a)),
  );
  for (const [action, roles] of scratchOnly) needed.set(action, roles);
  const actions = [...needed.keys()].filter((a) => !SERVICE_LEVEL_ACTIONS.has(a) && !READ_CHECK_ACTIONS.has(a)).sort();
  if (actions.length === 0) {
    return [
      fail(
        `bucket ${bucket} permissions`,
        "no function's policy (deploy/ram/) covers this bucket",
        "add it to s.yaml (the object function's OSS triggers, BUCKET_INCLUDE), re-render deploy/ram/ and update the roles' policies",
      ),
    ];
  }
  const results: Array<{ probe: (typeof PERMISSION_PROBES)[number]; outcome: ProbeOutcome }> = [];
  for (const probe of PERMISSION_PROBES) {
    if (!probeActions(probe).some((a) => actions.includes(a))) continue;
    const at = probeActions(probe).every((a) => scratchOnly.has(a) || !actions.includes(a)) ? scratchKey : key;
    results.push({ probe, outcome: await sendProbe(probe, deps.oss, { bucket, key: at, lastRequestId: deps.lastOssRequestId }) });
  }
  const verdicts = judgeActions(actions, results);
  const problems = verdicts.filter((v) => v.verdict === 'denied' || v.verdict === 'inconclusive');
  const masked = verdicts.filter((v) => v.verdict === 'masked').map((v) => v.action);
  const firstDenied = problems.find((v) => v.verdict === 'denied');
  if (problems.length === 0) {
    const allowed = verdicts.filter((v) => v.verdict === 'allowed').map((v) => v.action);
    const unprobed = verdicts.filter((v) => v.verdict === 'not-probed').map((v) => v.action);
    return [
      pass(
        `bucket ${bucket} permissions`,
        `allowed: ${allowed.join(', ')}${unprobed.length > 0 ? `; not probed (no harmless request): ${unprobed.join(', ')}` : ''}`,
      ),
    ];
  }
  return problems.map((v) => {
    const name = `bucket ${bucket} ${v.action}`;
    const resource =
      OSS_OP_RAM_LEVEL.get(v.action) === 'bucket'
        ? bucketArn(deps.accountId, bucket)
        : objectArn(deps.accountId, bucket, scratchOnly.has(v.action) ? `${PROBE_PREFIX}*` : '*');
    const roles = needed.get(v.action) ?? [];
    const via = v.via ? `${v.via.op} on ${scratchOnly.has(v.action) ? scratchKey : key}: ${v.via.answer}` : '';
    if (v.verdict === 'inconclusive') {
      return fail(
        name,
        `unknown: ${via}, not the answer the probe expects`,
        'see the error; the request id is for OSS support',
        v.via?.requestId,
      );
    }
    const others = v.alsoSuspect ? ` (or one of ${v.alsoSuspect.join(', ')}, which the same request needs)` : '';
    // Actions whose probes this refusal blocked are probed again once it is fixed.
    const blocked = masked.length > 0 && v === firstDenied ? `; not probed until this is fixed: ${masked.join(', ')}` : '';
    return fail(name, `denied${others}: ${via}${blocked}`, grantFix(v.action, resource, roles), v.via?.requestId);
  });
}

/** RAM action → where OSS grants it (object or bucket ARN), from shared/ram/actions.ts. */
const OSS_OP_RAM_LEVEL: ReadonlyMap<string, string> = new Map(
  Object.values(OSS_OP_RAM).flatMap((row) => [...row.actions, ...(row.versioned ?? [])].map((a) => [a, row.level] as const)),
);

export async function checkBucket(deps: DoctorDeps, bucket: string, resolvedKeyId: string | undefined): Promise<BucketChecks> {
  const rule = await checkRule(deps, bucket, resolvedKeyId);
  if (!rule.exists) return { checks: [rule.check], exists: false };
  const versioning = await checkVersioning(deps, bucket);
  const listing = await checkListing(deps, bucket);
  const permissions = await checkPermissions(deps, bucket);
  return {
    checks: [rule.check, versioning.check, listing, ...permissions],
    exists: true,
    ...(rule.rule ? { rule: rule.rule } : {}),
    ...(versioning.versioning ? { versioning: versioning.versioning } : {}),
  };
}
