/**
 * The policy's KMS key: it exists, is Enabled and fit for SSE-KMS (DescribeKey and the
 * functions' own rule, validateKeyForSse), and encrypts for us (GenerateDataKey of a few
 * bytes, which creates nothing).
 */
import { KMS_NOT_FOUND_CODES, KmsError, validateKeyForSse, type KeyInfo, type SseKeyProblem } from '../kms/port';
import { fail, pass, type DoctorCheck } from './check';
import type { DoctorDeps } from './deps';
import { grantFix } from './fixes';
import { rolesGranted } from './role-policies';

export interface KmsCheckResult {
  checks: DoctorCheck[];
  /** The key's real id, for comparing bucket rules (an alias or ARN resolved). */
  resolvedKeyId?: string;
}

const NAME = 'KMS key';
const ENDPOINT = 'KMS endpoint';

function keyFix(problem: SseKeyProblem, info: KeyInfo | undefined, region: string, dataEncryption: 'SM4' | undefined): string {
  switch (problem) {
    case 'not-found':
      return `create the key in ${region}, or set KMS_KEY_ID to a key that exists there`;
    case 'not-enabled':
      return info?.state === 'PendingDeletion'
        ? `cancel its deletion (aliyun kms CancelKeyDeletion --KeyId ${info.keyId}) and enable it, or set KMS_KEY_ID to an Enabled key`
        : `enable it (aliyun kms EnableKey --KeyId ${info?.keyId ?? '<key id>'}), or set KMS_KEY_ID to an Enabled key`;
    default:
      return `set KMS_KEY_ID to a symmetric ENCRYPT/DECRYPT key${dataEncryption === 'SM4' ? ' with spec Aliyun_SM4' : ''}`;
  }
}

function kmsFailure(deps: DoctorDeps, keyRef: string, call: string, e: KmsError): DoctorCheck[] {
  if (e.status === undefined) {
    return [
      fail(
        ENDPOINT,
        `${deps.endpoints.kms} did not answer (${e.code}: ${e.message})`,
        `check KMS_ENDPOINT and the network (the region's public endpoint is kms.${deps.region}.aliyuncs.com)`,
      ),
      fail(NAME, `${keyRef}: not checked, KMS did not answer`, 'fix the KMS endpoint first'),
    ];
  }
  const reached = pass(ENDPOINT, `${deps.endpoints.kms} answered`, e.requestId);
  if (e.status === 403 && !KMS_NOT_FOUND_CODES.has(e.code)) {
    const action = call === 'DescribeKey' ? 'kms:DescribeKey' : 'kms:GenerateDataKey';
    const roles = rolesGranted(deps.rolePolicies, action);
    return [
      reached,
      fail(
        NAME,
        `${keyRef}: ${call} refused (${e.status} ${e.code})`,
        grantFix(action, `acs:kms:${deps.region}:${deps.accountId}:key/*`, roles),
        e.requestId,
      ),
    ];
  }
  return [
    reached,
    fail(
      NAME,
      `${keyRef}: ${call} answered ${e.status} ${e.code}: ${e.message}`,
      `set KMS_KEY_ID to an Enabled symmetric key in ${deps.region}`,
      e.requestId,
    ),
  ];
}

export async function checkKmsKey(deps: DoctorDeps): Promise<KmsCheckResult> {
  const target = deps.policy.target;
  if (target.algorithm !== 'KMS') {
    return {
      checks: [pass(NAME, `none needed: the policy is SSE-OSS ${target.algorithm}, and the functions call KMS only under SSE-KMS`)],
    };
  }
  const keyRef = target.keyId;
  if (keyRef === undefined) return { checks: [pass(NAME, "OSS's managed KMS key (no KMS_KEY_ID): nothing to check")] };
  let info: KeyInfo | undefined;
  try {
    info = await deps.kms.describeKey(keyRef);
  } catch (e) {
    if (!(e instanceof KmsError)) throw e;
    if (!KMS_NOT_FOUND_CODES.has(e.code)) return { checks: kmsFailure(deps, keyRef, 'DescribeKey', e) };
    const reached = pass(ENDPOINT, `${deps.endpoints.kms} answered`, e.requestId);
    const missing = validateKeyForSse(undefined, { keyRef });
    return {
      checks: [
        reached,
        fail(NAME, missing.ok ? keyRef : missing.message, keyFix('not-found', undefined, deps.region, undefined), e.requestId),
      ],
    };
  }
  const reached = pass(ENDPOINT, `${deps.endpoints.kms} answered`, info.requestId);
  const verdict = validateKeyForSse(info, { keyRef, ...(target.dataEncryption ? { dataEncryption: target.dataEncryption } : {}) });
  if (!verdict.ok)
    return {
      checks: [reached, fail(NAME, verdict.message, keyFix(verdict.reason, info, deps.region, target.dataEncryption), info.requestId)],
    };
  try {
    const proof = await deps.kms.generateDataKey(verdict.keyId, 16);
    const named = keyRef === verdict.keyId ? keyRef : `${keyRef} (key ${verdict.keyId})`;
    return {
      checks: [
        reached,
        pass(NAME, `${named}: ${info.state}, ${info.spec}, ${info.usage}; GenerateDataKey under it succeeded`, proof.requestId),
      ],
      resolvedKeyId: verdict.keyId,
    };
  } catch (e) {
    if (!(e instanceof KmsError)) throw e;
    return { checks: kmsFailure(deps, keyRef, 'GenerateDataKey', e), resolvedKeyId: verdict.keyId };
  }
}
