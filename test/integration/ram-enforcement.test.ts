/**
 * RAM policies enforced by the local stack, seen through the real SDKs: ali-oss, the KMS
 * client (@alicloud/kms20160120) and the FC client (@alicloud/fc2) get each service's own
 * refusal — OSS 403 AccessDenied with its EC and AccessDeniedDetail, KMS 403
 * Forbidden.NoPermission, FC 403 AccessDenied — while what the policy allows works. Also: SSE-KMS
 * through OSS needs the KMS actions on the key; STS credentials need their own token; the
 * functions run with their role's STS credentials, not the printed key.
 */
import OSS from 'ali-oss';
import Kms, * as $Kms from '@alicloud/kms20160120';
import Fc2 from '@alicloud/fc2';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRamPolicy } from '../../shared/ram/policy';
import { signOssRequest, type OssRequest } from '../../shared/signing';
import { startLocalStack, type LocalStack } from '../../local/stack';
import type { RamDenial } from '../../local/ram/authority';
import { rejectionOf } from '../helpers/rejection';

const REGION = 'cn-hangzhou';
const AK = 'LTAI5tRamEnforcementKey';
const SK = 'RamEnforcementSecretThatMustNeverBeLogged';

/** What the printed key may do: a data bucket, reads but not of secret/, KMS only to describe keys, no FC. */
const POLICY = loadRamPolicy(
  {
    Version: '1',
    Statement: [
      { Effect: 'Allow', Action: ['oss:PutBucket', 'oss:ListObjects'], Resource: 'acs:oss:*:*:ram-*' },
      { Effect: 'Allow', Action: ['oss:PutObject', 'oss:GetObject'], Resource: 'acs:oss:*:*:ram-data/*' },
      { Effect: 'Deny', Action: 'oss:GetObject', Resource: 'acs:oss:*:*:ram-data/secret/*' },
      { Effect: 'Allow', Action: 'kms:DescribeKey', Resource: 'acs:kms:*:*:key/*' },
    ],
  },
  'the test policy',
);

let stack: LocalStack;
const denials: RamDenial[] = [];
beforeAll(async () => {
  stack = await startLocalStack({
    region: REGION,
    accessKeyId: AK,
    accessKeySecret: SK,
    functionsDir: join(__dirname, '..', '..', 'dist', 'functions'),
    policy: POLICY,
    onDenied: (d) => denials.push(d),
  });
  await oss().putBucket('ram-data');
}, 60_000);
afterAll(async () => stack.close());

const oss = (creds: { accessKeyId?: string; accessKeySecret?: string; stsToken?: string } = {}) =>
  new OSS({
    endpoint: stack.oss.url,
    region: `oss-${REGION}`,
    accessKeyId: creds.accessKeyId ?? AK,
    accessKeySecret: creds.accessKeySecret ?? SK,
    ...(creds.stsToken ? { stsToken: creds.stsToken } : {}),
    bucket: 'ram-data',
  });

interface OssSdkError {
  status: number;
  code: string;
  ecCode?: string;
  message: string;
}

/** The raw error document of a GET, signed as ali-oss signs it (ali-oss does not expose AccessDeniedDetail). */
async function rawGet(bucket: string, key: string): Promise<{ status: number; body: string }> {
  const req: OssRequest = { method: 'GET', bucket, key, query: {}, headers: {} };
  signOssRequest(req, { accessKeyId: AK, accessKeySecret: SK }, { version: 'v1' });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = String(value);
  const res = await fetch(`${stack.oss.url}/${bucket}/${key}`, { headers });
  return { status: res.status, body: await res.text() };
}

describe('OSS under the policy (ali-oss)', () => {
  it('allows what the policy allows', async () => {
    await oss().put('reports/a.txt', Buffer.from('a'));
    expect((await oss().get('reports/a.txt')).content.toString()).toBe('a');
    expect((await oss().list({ prefix: 'reports/', 'max-keys': 10 }, {})).objects?.map((o) => o.name)).toEqual(['reports/a.txt']);
  });

  it('an action nothing allows: 403 AccessDenied, EC 0003-00000001, the detail naming action and ImplicitDeny', async () => {
    await oss().put('reports/b.txt', Buffer.from('b'));
    const err = await rejectionOf<OssSdkError>(oss().delete('reports/b.txt'));
    expect(err).toMatchObject({ status: 403, code: 'AccessDenied', ecCode: '0003-00000001' });
    expect(err.message).toBe('You have no right to access this object because of bucket acl.');
    // The object is still there: the refusal came before the handler.
    expect((await oss().get('reports/b.txt')).content.toString()).toBe('b');
    expect(denials).toContainEqual({
      service: 'oss',
      principal: { type: 'SubUser', name: 'oss-sse-local' },
      action: 'oss:DeleteObject',
      resource: 'acs:oss:cn-hangzhou:1234567890123456:ram-data/reports/b.txt',
      reason: 'ImplicitDeny',
    });
  });

  it('an explicit Deny wins over the Allow: EC 0003-00000201, ExplicitDeny in AccessDeniedDetail; HEAD carries it in x-oss-err', async () => {
    await oss().put('secret/s.txt', Buffer.from('s'));
    const err = await rejectionOf<OssSdkError>(oss().get('secret/s.txt'));
    expect(err).toMatchObject({ status: 403, code: 'AccessDenied', ecCode: '0003-00000201' });
    const head = await rejectionOf<OssSdkError>(oss().head('secret/s.txt'));
    expect(head).toMatchObject({ status: 403, code: 'AccessDenied', ecCode: '0003-00000201' });
    const raw = await rawGet('ram-data', 'secret/s.txt');
    expect(raw.status).toBe(403);
    expect(raw.body).toMatch(/<AccessDeniedDetail>[\s\S]*<AuthAction>oss:GetObject<\/AuthAction>[\s\S]*<\/AccessDeniedDetail>/);
    expect(raw.body).toContain('<NoPermissionType>ExplicitDeny</NoPermissionType>');
    expect(raw.body).toContain('<AuthPrincipalType>SubUser</AuthPrincipalType>');
    expect(raw.body).not.toContain(SK);
  });

  it('resources outside the policy are refused: another bucket, a bucket-level action', async () => {
    await oss().putBucket('ram-other');
    const other = oss();
    other.useBucket('ram-other');
    const put = await rejectionOf<OssSdkError>(other.put('x', Buffer.from('x')));
    expect(put).toMatchObject({ status: 403, code: 'AccessDenied' });
    const rule = await rejectionOf<OssSdkError>(
      (oss() as unknown as { putBucketEncryption(b: string, r: object): Promise<unknown> }).putBucketEncryption('ram-data', {
        SSEAlgorithm: 'AES256',
      }),
    );
    expect(rule).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(denials.map((d) => d.action)).toContain('oss:PutBucketEncryption');
  });

  it('SSE-KMS through OSS needs kms:GenerateDataKey on the key, as on Alibaba Cloud', async () => {
    const err = await rejectionOf<OssSdkError>(
      oss().put('kms/a.txt', Buffer.from('k'), { headers: { 'x-oss-server-side-encryption': 'KMS' } }),
    );
    expect(err).toMatchObject({ status: 403, code: 'AccessDenied' });
    const denial = denials.find((d) => d.action.startsWith('kms:'));
    expect(denial).toMatchObject({ service: 'oss', action: 'kms:GenerateDataKey', reason: 'ImplicitDeny' });
    expect(denial?.resource).toMatch(/^acs:kms:cn-hangzhou:1234567890123456:key\/.+/);
    // Nothing was stored.
    expect(await rejectionOf<OssSdkError>(oss().head('kms/a.txt'))).toMatchObject({ status: 404 });
  });

  it('STS credentials need their own token: without it, or with another, InvalidAccessKeyId', async () => {
    const role = stack.ram.issueRoleCredentials('probe-role', [POLICY]);
    await oss({ ...role, stsToken: role.securityToken }).put('reports/sts.txt', Buffer.from('sts'));
    const other = await rejectionOf<OssSdkError>(oss({ ...role, stsToken: 'local-sts-not-the-one' }).get('reports/sts.txt'));
    expect(other).toMatchObject({ status: 403, code: 'InvalidAccessKeyId' });
    const none = await rejectionOf<OssSdkError>(
      oss({ accessKeyId: role.accessKeyId, accessKeySecret: role.accessKeySecret }).get('reports/sts.txt'),
    );
    expect(none).toMatchObject({ status: 403, code: 'InvalidAccessKeyId' });
  });
});

describe('KMS under the policy (@alicloud/kms20160120)', () => {
  const client = () => {
    const Ctor = ((Kms as unknown as { default?: typeof Kms }).default ?? Kms) as typeof Kms;
    return new Ctor({
      accessKeyId: AK,
      accessKeySecret: SK,
      endpoint: stack.kms.url.replace('http://', ''),
      protocol: 'http',
      regionId: REGION,
    } as ConstructorParameters<typeof Kms>[0]);
  };

  it('DescribeKey is allowed; GenerateDataKey is refused 403 Forbidden.NoPermission', async () => {
    const described = await client().describeKey(new $Kms.DescribeKeyRequest({ keyId: 'alias/oss-sse-default' }));
    expect(described.keyMetadata?.keyState).toBe('Enabled');
    const err = await rejectionOf<{ code: string; message: string; data: { Code: string } }>(
      client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: 'alias/oss-sse-default' })),
    );
    expect(err.data.Code).toBe('Forbidden.NoPermission');
    expect(err.code).toBe('Forbidden.NoPermissionError');
    expect(err.message).toContain('code: 403,');
    expect(err.message).toContain('kms:GenerateDataKey');
  });
});

describe('FC under the policy (@alicloud/fc2)', () => {
  it('invoking a function the policy does not name is 403 AccessDenied, naming action and resource', async () => {
    const Ctor = ((Fc2 as unknown as { default?: typeof Fc2 }).default ?? Fc2) as typeof Fc2;
    const fc = new Ctor(stack.oss.events.accountId, { accessKeyID: AK, accessKeySecret: SK, region: REGION, endpoint: stack.fc?.url });
    const err = await rejectionOf<{ name: string; code: string; message: string }>(
      fc.invokeFunction('any-service', 'oss-sse-backfill', '{"bucket":"ram-data","dryRun":true}', {}, 'LATEST'),
    );
    expect(err.name).toBe('FCAccessDeniedError');
    expect(err.message).toContain(
      "the caller is not authorized to perform 'fc:InvokeFunction' on resource 'acs:fc:cn-hangzhou:1234567890123456:functions/oss-sse-backfill'",
    );
  });
});

describe('the functions run as their own roles', () => {
  it('each gets STS credentials of its role, not the printed key', async () => {
    const denialsBefore = denials.length;
    // The object function re-encrypts an upload with its own rights: the printed key could not
    // (its policy has no oss:GetObjectAcl nor oss:PutObjectTagging, which the copy needs).
    await oss().put('reports/plain.txt', Buffer.from('plain'));
    await stack.idle();
    await expect
      .poll(async () => (await oss().head('reports/plain.txt')).res.headers as Record<string, string>)
      .toMatchObject({
        'x-oss-server-side-encryption': 'AES256',
      });
    expect(denials.slice(denialsBefore).filter((d) => d.principal.type === 'AssumedRoleUser')).toEqual([]);
  });
});
