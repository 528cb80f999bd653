/**
 * The account-wide checks: the OSS endpoint answers, OSS accepts the credentials, the region
 * agrees with the endpoints; and the buckets to check when none is named.
 */
import { OssRequestError } from '../oss/port';
import { bucketSelected } from '../policy';
import { fail, pass, type DoctorCheck } from './check';
import type { DoctorDeps } from './deps';
import { answerOf, grantFix } from './fixes';
import { rolesGranted } from './role-policies';

/** OSS's refusals of the credentials themselves (not of a permission). */
const CREDENTIAL_REFUSALS: Readonly<Record<string, string>> = {
  InvalidAccessKeyId: 'set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET to an active AccessKey of the account',
  SignatureDoesNotMatch: 'set ALIBABA_CLOUD_ACCESS_KEY_SECRET to the secret of ALIBABA_CLOUD_ACCESS_KEY_ID',
  InvalidSecurityToken: 'set ALIBABA_CLOUD_SECURITY_TOKEN to the token issued with these STS credentials, or unset it for an AccessKey',
  SecurityTokenExpired: 'get new STS credentials (the token has expired)',
  AccessKeyIdAndSecurityTokenNotMatch: 'set ALIBABA_CLOUD_SECURITY_TOKEN to the token issued with this STS AccessKey',
  RequestTimeTooSkewed: "set this machine's clock right (OSS refuses requests more than 15 minutes off)",
};

const noAnswer = (e: OssRequestError): boolean => typeof e.status !== 'number';

/** One ListBuckets (max-keys 1): whether OSS answers, accepts the credentials, and lets them list buckets. */
export async function checkOssAccess(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const endpoint = `OSS endpoint`;
  try {
    await deps.oss.listBuckets({ maxKeys: 1 });
    const requestId = deps.lastOssRequestId();
    return [
      pass(endpoint, `${deps.endpoints.oss} answered`, requestId),
      pass(
        'credentials',
        'accepted by OSS (ListBuckets answered); whose they are is not shown: oss-sse has no STS client to ask GetCallerIdentity',
        requestId,
      ),
    ];
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    if (noAnswer(e)) {
      return [
        fail(
          endpoint,
          `${deps.endpoints.oss} did not answer (${e.code}: ${e.message})`,
          `check --endpoint / OSS_ENDPOINT and the network (the region's public endpoint is oss-${deps.region}.aliyuncs.com)`,
        ),
        fail('credentials', 'not checked: OSS did not answer', 'fix the OSS endpoint first'),
      ];
    }
    const reached = pass(endpoint, `${deps.endpoints.oss} answered (${answerOf(e)})`, e.requestId);
    const refusal = CREDENTIAL_REFUSALS[e.code];
    if (refusal) return [reached, fail('credentials', `refused by OSS: ${answerOf(e)}`, refusal, e.requestId)];
    if (e.status === 403) {
      // OSS checks the signature before the permission: an AccessDenied proves the key.
      const roles = rolesGranted(deps.rolePolicies, 'oss:ListBuckets');
      return [
        reached,
        pass(
          'credentials',
          `accepted by OSS (it answered ListBuckets with ${answerOf(e)}, a permission refusal, after checking the signature)`,
          e.requestId,
        ),
        fail(
          'oss:ListBuckets',
          `denied (${answerOf(e)})`,
          grantFix('oss:ListBuckets', `acs:oss:*:${deps.accountId}:*`, roles),
          e.requestId,
        ),
      ];
    }
    return [
      reached,
      fail(
        'credentials',
        `OSS answered ListBuckets with ${answerOf(e)}: ${e.message}`,
        'check the credentials and the endpoint',
        e.requestId,
      ),
    ];
  }
}

/** The region a service endpoint's host names, when it is one of Alibaba Cloud's (custom hosts name none). */
export function regionOfEndpoint(service: 'oss' | 'kms' | 'fc', url: string): string | undefined {
  let host: string;
  try {
    host = new URL(/^[a-z]+:\/\//i.test(url) ? url : `https://${url}`).hostname;
  } catch {
    return undefined;
  }
  const patterns = {
    oss: /^(?:[^.]+\.)?oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com$/,
    kms: /^kms(?:-vpc)?\.([a-z0-9-]+)\.aliyuncs\.com$/,
    fc: /^[^.]+\.([a-z0-9-]+?)(?:-internal)?\.fc\.aliyuncs\.com$/,
  } as const;
  return patterns[service].exec(host)?.[1];
}

/** The region, and whether every endpoint is in it. Pure. */
export function checkRegion(region: string, endpoints: DoctorDeps['endpoints']): DoctorCheck {
  const elsewhere = (['oss', 'kms', 'fc'] as const)
    .map((service) => ({ service, url: endpoints[service], in: regionOfEndpoint(service, endpoints[service]) }))
    .filter((e) => e.in !== undefined && e.in !== region);
  const where = `OSS ${endpoints.oss}, KMS ${endpoints.kms}, FC ${endpoints.fc}`;
  if (elsewhere.length === 0) return pass('region', `${region} (${where})`);
  return fail(
    'region',
    `${region}, but ${elsewhere.map((e) => `the ${e.service.toUpperCase()} endpoint ${e.url} is in ${e.in}`).join('; ')}`,
    'use one region: set --region / ALIBABA_CLOUD_REGION_ID and the *_ENDPOINT variables alike',
  );
}

/** The buckets ListBuckets shows that the policy selects, at most `max`; and how many there were. */
export async function selectedBuckets(deps: DoctorDeps, max: number): Promise<{ buckets: string[]; total: number }> {
  const selected: string[] = [];
  let marker: string | undefined;
  do {
    const page = await deps.oss.listBuckets({ maxKeys: 1000, ...(marker ? { marker } : {}) });
    selected.push(...page.buckets.filter((b) => bucketSelected(deps.policy, b)));
    marker = page.nextMarker;
  } while (marker);
  return { buckets: selected.slice(0, max), total: selected.length };
}
