/** The pure parts of `oss-sse doctor`: which actions the probes show, how the canary is written, regions, the roles' needs. */
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../deploy/ram-policy';
import { checkRegion, regionOfEndpoint } from '../../shared/doctor/account';
import { planCanary } from '../../shared/doctor/canary';
import { configMismatch } from '../../shared/doctor/functions';
import { judgeActions, PERMISSION_PROBES, probeActions, type PermissionProbe, type ProbeOutcome } from '../../shared/doctor/probes';
import { DEPLOYED_FUNCTIONS, ROLE_POLICIES, rolesNeedingOssActions } from '../../shared/doctor/role-policies';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';

const probe = (op: PermissionProbe['op'], versioned = false): PermissionProbe => {
  const found = PERMISSION_PROBES.find((p) => p.op === op && p.versioned === versioned);
  if (!found) throw new Error(`no probe ${op}`);
  return found;
};
const allowed: ProbeOutcome = { kind: 'allowed', requestId: 'R-ok' };
const denied: ProbeOutcome = { kind: 'denied', code: 'AccessDenied', requestId: 'R-403' };

describe('judgeActions', () => {
  it('a refused copy is blamed on the one action no authorized probe covers', () => {
    const verdicts = judgeActions(
      ['oss:GetObject', 'oss:GetObjectTagging', 'oss:PutObject', 'oss:PutObjectTagging'],
      [
        { probe: probe('HeadObject'), outcome: allowed },
        { probe: probe('GetObjectTagging'), outcome: allowed },
        { probe: probe('CompleteMultipartUpload'), outcome: allowed },
        { probe: probe('CopyObject'), outcome: denied },
      ],
    );
    expect(verdicts.map((v) => [v.action, v.verdict])).toEqual([
      ['oss:GetObject', 'allowed'],
      ['oss:GetObjectTagging', 'allowed'],
      ['oss:PutObject', 'allowed'],
      ['oss:PutObjectTagging', 'denied'],
    ]);
    expect(verdicts[3]).toMatchObject({ via: { op: 'CopyObject', answer: '403 AccessDenied', requestId: 'R-403' } });
    expect(verdicts[3]?.alsoSuspect).toBeUndefined();
  });

  it('when several actions of a refused request are unproven, each is named with the others as suspects', () => {
    const [tagging] = judgeActions(
      ['oss:PutObjectTagging'],
      [
        { probe: probe('CopyObject'), outcome: denied },
        { probe: probe('HeadObject'), outcome: allowed },
      ],
    );
    expect(tagging).toMatchObject({ verdict: 'denied', alsoSuspect: ['oss:PutObject', 'oss:GetObjectTagging'] });
  });

  it('one missing action is blamed once: the other requests it refuses leave their own actions masked, not denied', () => {
    // As with oss:GetObject denied: every probe that reads the object is refused.
    const verdicts = judgeActions(
      ['oss:GetObject', 'oss:GetObjectVersion', 'oss:GetObjectTagging', 'oss:PutObject', 'oss:PutObjectTagging'],
      [
        { probe: probe('HeadObject'), outcome: denied },
        { probe: probe('HeadObject', true), outcome: denied },
        { probe: probe('GetObjectTagging'), outcome: allowed },
        { probe: probe('CompleteMultipartUpload'), outcome: allowed },
        { probe: probe('CopyObject'), outcome: denied },
      ],
    );
    expect(verdicts.map((v) => [v.action, v.verdict])).toEqual([
      ['oss:GetObject', 'denied'],
      ['oss:GetObjectVersion', 'masked'],
      ['oss:GetObjectTagging', 'allowed'],
      ['oss:PutObject', 'allowed'],
      ['oss:PutObjectTagging', 'masked'],
    ]);
    expect(verdicts[0]?.alsoSuspect).toBeUndefined();
  });

  it('an unexpected answer is inconclusive; an action no probe covers is not probed', () => {
    const verdicts = judgeActions(
      ['oss:GetObjectAcl', 'oss:RestoreObject'],
      [{ probe: probe('GetObjectAcl'), outcome: { kind: 'inconclusive', answer: '400 InvalidArgument' } }],
    );
    expect(verdicts.map((v) => v.verdict)).toEqual(['inconclusive', 'not-probed']);
  });

  it('every action the roles are granted on a bucket has a probe or its own check', () => {
    const needed = rolesNeedingOssActions(ROLE_POLICIES, { accountId: '1234567890123456', bucket: 'my-data-bucket', key: 'k' });
    const probed = new Set(PERMISSION_PROBES.flatMap(probeActions));
    const ownChecks = ['oss:GetBucketEncryption', 'oss:ListObjects', 'oss:ListBuckets'];
    expect([...needed.keys()].filter((a) => !probed.has(a) && !ownChecks.includes(a))).toEqual([]);
  });
});

describe('rolesNeedingOssActions', () => {
  it('reads the generated policies: the object function only where its triggers watch, the others everywhere', () => {
    const watched = rolesNeedingOssActions(ROLE_POLICIES, { accountId: '1', bucket: 'my-data-bucket', key: 'x' });
    expect(watched.get('oss:GetObjectAcl')).toEqual(['oss-sse-bucket-encryption', 'oss-sse-object-encryption', 'oss-sse-backfill']);
    expect(watched.get('oss:PutBucketEncryption')).toEqual(['oss-sse-bucket-encryption']);
    const other = rolesNeedingOssActions(ROLE_POLICIES, { accountId: '1', bucket: 'photos', key: 'x' });
    expect(other.get('oss:GetObjectAcl')).toEqual(['oss-sse-bucket-encryption', 'oss-sse-backfill']);
  });

  it('names the functions s.yaml deploys, as deploy/ knows them', () => {
    expect([...DEPLOYED_FUNCTIONS].sort()).toEqual(Object.values(FUNCTIONS).sort());
  });
});

describe('planCanary', () => {
  const policy = (env: Record<string, string>) => policyFromConfig(loadConfig(env));
  it('plaintext when the bucket has no rule, or one the policy does not accept', () => {
    expect(planCanary(policy({}), undefined)).toMatchObject({ headers: {}, exercisesFunction: true, writtenAs: 'plaintext' });
    expect(planCanary(policy({ COMPLIANCE: 'exact' }), { algorithm: 'SM4' })).toMatchObject({ headers: {}, exercisesFunction: true });
  });
  it('under COMPLIANCE=exact with an accepted rule: another algorithm, explicitly', () => {
    expect(planCanary(policy({ COMPLIANCE: 'exact' }), { algorithm: 'AES256' }).headers).toEqual({ 'x-oss-server-side-encryption': 'SM4' });
    expect(planCanary(policy({ COMPLIANCE: 'exact', SSE_ALGORITHM: 'SM4' }), { algorithm: 'SM4' }).headers).toEqual({
      'x-oss-server-side-encryption': 'AES256',
    });
  });
  it('under COMPLIANCE=any with a rule, nothing can make the function act, and the plan says so', () => {
    expect(planCanary(policy({}), { algorithm: 'SM4' })).toMatchObject({ headers: {}, exercisesFunction: false });
  });
});

describe('regions', () => {
  it('reads the region of Alibaba Cloud endpoints, none of custom ones', () => {
    expect(regionOfEndpoint('oss', 'https://oss-cn-shanghai-internal.aliyuncs.com')).toBe('cn-shanghai');
    expect(regionOfEndpoint('kms', 'https://kms.ap-southeast-1.aliyuncs.com')).toBe('ap-southeast-1');
    expect(regionOfEndpoint('fc', 'https://123.cn-hangzhou.fc.aliyuncs.com')).toBe('cn-hangzhou');
    expect(regionOfEndpoint('oss', 'http://127.0.0.1:9000')).toBeUndefined();
  });
  it('an endpoint in another region fails the region check', () => {
    const check = checkRegion('cn-hangzhou', {
      oss: 'oss-cn-shanghai.aliyuncs.com',
      kms: 'https://kms.cn-hangzhou.aliyuncs.com',
      fc: 'http://127.0.0.1:1',
    });
    expect(check).toMatchObject({
      ok: false,
      detail: expect.stringContaining('the OSS endpoint oss-cn-shanghai.aliyuncs.com is in cn-shanghai'),
    });
  });
});

describe('configMismatch', () => {
  it('names each variable a function has set otherwise', () => {
    const p = policyFromConfig(loadConfig({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/a' }));
    expect(
      configMismatch({ pong: true, function: 'f', version: '1', algorithm: 'KMS', kmsKeyId: 'alias/a', compliance: 'any' }, p),
    ).toEqual([]);
    expect(configMismatch({ pong: true, function: 'f', version: '1', algorithm: 'AES256', compliance: 'exact' }, p)).toEqual([
      'SSE_ALGORITHM',
      'KMS_KEY_ID',
      'COMPLIANCE',
    ]);
  });
});
