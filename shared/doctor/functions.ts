/**
 * Each deployed function answers `{"ping": true}` with its configuration summary: that
 * proves the FC endpoint, the invoke permission, the function's cold start (its
 * configuration validated) and which policy it enforces — without touching OSS or KMS.
 */
import { PingAnswerSchema, type PingAnswer } from '../events/ping';
import { FcInvokeError } from '../fc-invoke/port';
import type { Policy } from '../policy';
import { OSS_SSE_VERSION } from '../version';
import { fail, pass, type DoctorCheck } from './check';
import type { DoctorDeps } from './deps';
import { grantFix } from './fixes';

/** `AES256` / `KMS alias/x SM4`, `compliance any`: the policy a function or this shell sets. */
function describePolicy(p: { algorithm: string; kmsKeyId?: string; dataEncryption?: string; compliance: string }): string {
  return `${[p.algorithm, p.kmsKeyId, p.dataEncryption].filter(Boolean).join(' ')}, compliance ${p.compliance}`;
}

/** Where a function's configuration differs from the policy doctor checks against. Pure. */
export function configMismatch(answer: PingAnswer, policy: Policy): string[] {
  const t = policy.target;
  const differs: string[] = [];
  if (answer.algorithm !== t.algorithm) differs.push('SSE_ALGORITHM');
  if ((answer.kmsKeyId ?? '') !== (t.keyId ?? '')) differs.push('KMS_KEY_ID');
  if ((answer.dataEncryption ?? '') !== (t.dataEncryption ?? '')) differs.push('KMS_DATA_ENCRYPTION');
  if (answer.compliance !== policy.compliance) differs.push('COMPLIANCE');
  return differs;
}

export interface FunctionPing {
  check: DoctorCheck;
  /** FC answered at all (the endpoint is reachable). */
  answered: boolean;
}

export async function pingFunction(deps: DoctorDeps, name: string): Promise<FunctionPing> {
  const check = `function ${name}`;
  let res: { requestId: string; result?: unknown };
  try {
    res = await deps.fc.invoke(name, { ping: true }, { async: false });
  } catch (e) {
    if (!(e instanceof FcInvokeError)) throw e;
    const answered = e.status !== undefined;
    const detail = `${e.status ?? 'no answer'} ${e.code}: ${e.message}`;
    if (!answered) return { answered, check: fail(check, `not reached: ${detail}`, 'fix the FC endpoint first') };
    if (e.code === 'FunctionNotFound') {
      return {
        answered,
        check: fail(
          check,
          `not deployed (${detail})`,
          `deploy it (npx s deploy -y), or name the deployed function with --function`,
          e.requestId,
        ),
      };
    }
    if (e.status === 403) {
      return {
        answered,
        check: fail(
          check,
          `invoke refused (${detail})`,
          `${grantFix('fc:InvokeFunction', `acs:fc:${deps.region}:${deps.accountId}:functions/${name}`, [])}, and check that ${deps.accountId} (--account-id / ALIBABA_CLOUD_ACCOUNT_ID) is the id of the account that owns it`,
          e.requestId,
        ),
      };
    }
    if (e.detail !== undefined) {
      // The function ran and failed: at cold start, an invalid configuration names its variable.
      return {
        answered,
        check: fail(
          check,
          `failed: ${detail}`,
          `fix what the error names and redeploy; its log: npx s ${name.replace(/^oss-sse-/, '')} logs`,
          e.requestId,
        ),
      };
    }
    return { answered, check: fail(check, `invoke answered ${detail}`, 'check the FC endpoint and the function', e.requestId) };
  }
  const parsed = PingAnswerSchema.safeParse(res.result);
  if (!parsed.success) {
    const shown = JSON.stringify(res.result ?? null).slice(0, 160);
    return {
      answered: true,
      check: fail(
        check,
        `answered the ping without a configuration summary (${shown}): a version before oss-sse doctor`,
        'redeploy the current version: npx s deploy -y',
        res.requestId,
      ),
    };
  }
  const answer = parsed.data;
  const version =
    answer.version === OSS_SSE_VERSION ? `oss-sse ${answer.version}` : `oss-sse ${answer.version} (this CLI: ${OSS_SSE_VERSION})`;
  const differs = configMismatch(answer, deps.policy);
  if (differs.length > 0) {
    const t = deps.policy.target;
    const here = describePolicy({
      algorithm: t.algorithm,
      ...(t.keyId ? { kmsKeyId: t.keyId } : {}),
      ...(t.dataEncryption ? { dataEncryption: t.dataEncryption } : {}),
      compliance: deps.policy.compliance,
    });
    return {
      answered: true,
      check: fail(
        check,
        `enforces ${describePolicy(answer)}, but the policy checked here is ${here} (${version})`,
        `make ${differs.join(', ')} the same in s.yaml's vars.environment and this shell, then npx s deploy -y`,
        res.requestId,
      ),
    };
  }
  return { answered: true, check: pass(check, `answered ping: ${describePolicy(answer)}, ${version}`, res.requestId) };
}

/** Pings every function; the FC endpoint line says whether FC answered any. */
export async function checkFunctions(deps: DoctorDeps, names: readonly string[]): Promise<DoctorCheck[]> {
  const pings: FunctionPing[] = [];
  for (const name of names) pings.push(await pingFunction(deps, name));
  const reached = pings.some((p) => p.answered);
  const endpoint = reached
    ? pass('FC endpoint', `${deps.endpoints.fc} answered`)
    : fail(
        'FC endpoint',
        `${deps.endpoints.fc} did not answer`,
        'check --fc-endpoint / FC_ENDPOINT, the account id and the network (the endpoint is https://<account-id>.<region>.fc.aliyuncs.com)',
      );
  return [endpoint, ...pings.map((p) => p.check)];
}
