/**
 * The OSS↔KMS hook: the local OSS server wired to the local KMS server's key ring refuses
 * SSE-KMS writes with keys KMS does not know (404 KeyNotFound) or has not Enabled (409
 * KeyDisabled / KeyPendingDeletion), through the real ali-oss client, and records the
 * key's real id on what it accepts. Without the hook any key id is accepted, as before.
 */
import Kms, * as $Kms from '@alicloud/kms20160120';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsServer, type KmsServer } from '../../local/kms/server';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { policyFromConfig } from '../../shared/policy';
import { reencryptObject } from '../../shared/reencrypt';
import { loadConfig } from '../../shared/validation/config';
import { startTestOss, TEST_AK, TEST_SECRET, type OssTestClient, type TestOss } from '../helpers/oss';
import { rejectionOf } from '../helpers/rejection';

const REGION = 'cn-hangzhou';
const ACCOUNT = '1234567890123456';
const KMS_AK = 'LTAI5tOssKmsTestKey';
const KMS_SECRET = 'OssKmsTestSecret0123456789';
const IDS = {
  dflt: '1b0c7d1e-0000-4000-8000-000000000001',
  main: '1b0c7d1e-0000-4000-8000-000000000002',
  off: '1b0c7d1e-0000-4000-8000-000000000003',
  going: '1b0c7d1e-0000-4000-8000-000000000004',
  sm4: '1b0c7d1e-0000-4000-8000-000000000005',
  toggled: '1b0c7d1e-0000-4000-8000-000000000006',
  later: '1b0c7d1e-0000-4000-8000-000000000007',
};
const UNKNOWN = '1b0c7d1e-0000-4000-8000-0000000000ff';

let kms: KmsServer;
let oss: TestOss;
let plain: TestOss;

beforeAll(async () => {
  kms = await startKmsServer({
    region: REGION,
    accountId: ACCOUNT,
    credentials: { [KMS_AK]: KMS_SECRET },
    keys: [
      { keyId: IDS.dflt, alias: 'alias/oss-sse-default' },
      { keyId: IDS.main, alias: 'alias/main' },
      { keyId: IDS.off, state: 'Disabled' },
      { keyId: IDS.going, state: 'PendingDeletion' },
      { keyId: IDS.sm4, alias: 'alias/oss-sse-sm4', spec: 'Aliyun_SM4' },
      { keyId: IDS.toggled },
      { keyId: IDS.later },
    ],
  });
  oss = await startTestOss({ region: REGION, accountId: ACCOUNT, kms: kms.keys });
  plain = await startTestOss({ region: REGION });
});
afterAll(async () => {
  await oss.close();
  await plain.close();
  await kms.close();
});

interface OssErr {
  code: string;
  status: number;
  ecCode?: string;
  requestId?: string;
}
const ossError = (p: Promise<unknown>) => rejectionOf<OssErr>(p);

const kmsHeaders = (keyId?: string, sm4 = false) => ({
  headers: {
    'x-oss-server-side-encryption': 'KMS',
    ...(keyId === undefined ? {} : { 'x-oss-server-side-encryption-key-id': keyId }),
    ...(sm4 ? { 'x-oss-server-side-data-encryption': 'SM4' } : {}),
  },
});

async function sse(c: OssTestClient, name: string): Promise<Record<string, string | undefined>> {
  const h = (await c.head(name)).res.headers as Record<string, string | undefined>;
  return {
    algorithm: h['x-oss-server-side-encryption'],
    keyId: h['x-oss-server-side-encryption-key-id'],
    data: h['x-oss-server-side-data-encryption'],
  };
}

async function expectMissing(c: OssTestClient, name: string): Promise<void> {
  expect((await ossError(c.head(name))).status).toBe(404);
}

const NOT_FOUND = { status: 404, code: 'KeyNotFound', ecCode: '0005-00000208' };
const DISABLED = { status: 409, code: 'KeyDisabled', ecCode: '0005-00000214' };
const PENDING = { status: 409, code: 'KeyPendingDeletion', ecCode: '0005-00000215' };

describe('object writes with SSE-KMS headers', () => {
  const bucket = 'oss-kms-objects';
  let c: OssTestClient;
  beforeAll(async () => {
    c = oss.client({ bucket });
    await c.putBucket(bucket);
  });

  it('PutObject with an Enabled key id is accepted and records it', async () => {
    await c.put('ok-id', Buffer.from('x'), kmsHeaders(IDS.main));
    expect(await sse(c, 'ok-id')).toEqual({ algorithm: 'KMS', keyId: IDS.main, data: undefined });
  });

  it('an alias or ARN is accepted and the object records the real key id', async () => {
    await c.put('ok-alias', Buffer.from('x'), kmsHeaders('alias/main'));
    expect((await sse(c, 'ok-alias')).keyId).toBe(IDS.main);
    await c.put('ok-arn', Buffer.from('x'), kmsHeaders(`acs:kms:${REGION}:${ACCOUNT}:key/${IDS.main}`));
    expect((await sse(c, 'ok-arn')).keyId).toBe(IDS.main);
    await c.put('ok-sm4', Buffer.from('x'), kmsHeaders('alias/oss-sse-sm4', true));
    expect(await sse(c, 'ok-sm4')).toEqual({ algorithm: 'KMS', keyId: IDS.sm4, data: 'SM4' });
  });

  it('KMS without a key id gets the KMS default key’s real id', async () => {
    await c.put('ok-default', Buffer.from('x'), kmsHeaders());
    expect((await sse(c, 'ok-default')).keyId).toBe(IDS.dflt);
  });

  it('an unknown key → 404 KeyNotFound, and nothing is written', async () => {
    expect(await ossError(c.put('bad-unknown', Buffer.from('x'), kmsHeaders(UNKNOWN)))).toMatchObject(NOT_FOUND);
    expect(await ossError(c.put('bad-alias', Buffer.from('x'), kmsHeaders('alias/nope')))).toMatchObject(NOT_FOUND);
    await expectMissing(c, 'bad-unknown');
    await expectMissing(c, 'bad-alias');
  });

  it('a Disabled key → 409 KeyDisabled; a key pending deletion → 409 KeyPendingDeletion', async () => {
    expect(await ossError(c.put('bad-off', Buffer.from('x'), kmsHeaders(IDS.off)))).toMatchObject(DISABLED);
    expect(await ossError(c.put('bad-going', Buffer.from('x'), kmsHeaders(IDS.going)))).toMatchObject(PENDING);
    await expectMissing(c, 'bad-off');
  });

  it('AES256 and SM4 writes do not consult KMS', async () => {
    await c.put('aes', Buffer.from('x'), { headers: { 'x-oss-server-side-encryption': 'AES256' } });
    expect((await sse(c, 'aes')).algorithm).toBe('AES256');
    await c.put('sm4', Buffer.from('x'), { headers: { 'x-oss-server-side-encryption': 'SM4' } });
    expect((await sse(c, 'sm4')).algorithm).toBe('SM4');
  });

  it('CopyObject checks the key of the copy', async () => {
    await c.put('src', Buffer.from('copy me'));
    expect(await ossError(c.copy('copy-bad', 'src', kmsHeaders(UNKNOWN)))).toMatchObject(NOT_FOUND);
    expect(await ossError(c.copy('copy-off', 'src', kmsHeaders(IDS.off)))).toMatchObject(DISABLED);
    await c.copy('copy-ok', 'src', kmsHeaders('alias/main'));
    expect((await sse(c, 'copy-ok')).keyId).toBe(IDS.main);
    expect((await c.get('copy-ok')).content.toString()).toBe('copy me');
  });

  it('InitiateMultipartUpload checks the key', async () => {
    expect(await ossError(c.initMultipartUpload('mp-bad', kmsHeaders(UNKNOWN)))).toMatchObject(NOT_FOUND);
    expect(await ossError(c.initMultipartUpload('mp-off', kmsHeaders(IDS.off)))).toMatchObject(DISABLED);
    const { uploadId } = await c.initMultipartUpload('mp-ok', kmsHeaders(IDS.main));
    expect(typeof uploadId).toBe('string');
    await c.abortMultipartUpload('mp-ok', uploadId);
  });

  it('AppendObject checks the key of the first append', async () => {
    expect(await ossError(c.append('ap-bad', Buffer.from('x'), kmsHeaders(UNKNOWN)))).toMatchObject(NOT_FOUND);
    expect(await ossError(c.append('ap-going', Buffer.from('x'), kmsHeaders(IDS.going)))).toMatchObject(PENDING);
    await c.append('ap-ok', Buffer.from('x'), kmsHeaders('alias/main'));
    expect((await sse(c, 'ap-ok')).keyId).toBe(IDS.main);
  });

  it('follows key state changes made through the KMS API', async () => {
    const K = (Kms as unknown as { default?: typeof Kms }).default ?? Kms;
    const admin = new K({
      accessKeyId: KMS_AK,
      accessKeySecret: KMS_SECRET,
      endpoint: kms.url.replace('http://', ''),
      protocol: 'http',
      regionId: REGION,
    } as ConstructorParameters<typeof Kms>[0]);
    await c.put('toggle-1', Buffer.from('x'), kmsHeaders(IDS.toggled));
    await admin.disableKey(new $Kms.DisableKeyRequest({ keyId: IDS.toggled }));
    expect(await ossError(c.put('toggle-2', Buffer.from('x'), kmsHeaders(IDS.toggled)))).toMatchObject(DISABLED);
    await admin.enableKey(new $Kms.EnableKeyRequest({ keyId: IDS.toggled }));
    await c.put('toggle-3', Buffer.from('x'), kmsHeaders(IDS.toggled));
    expect((await sse(c, 'toggle-3')).keyId).toBe(IDS.toggled);
    // A key created through KMS is usable at once.
    const created = (await admin.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata?.keyId as string;
    await c.put('fresh', Buffer.from('x'), kmsHeaders(created));
    expect((await sse(c, 'fresh')).keyId).toBe(created);
  });
});

describe('objects whose key is disabled after they were written', () => {
  const bucket = 'oss-kms-reads';
  let c: OssTestClient;
  beforeAll(async () => {
    c = oss.client({ bucket });
    await c.putBucket(bucket);
    await c.put('sealed', Buffer.from('sealed bytes'), kmsHeaders(IDS.later));
    await c.put('sealed-too', Buffer.from('more'), kmsHeaders(IDS.later));
    kms.keys.setState(IDS.later, 'Disabled');
  });
  afterAll(() => kms.keys.setState(IDS.later, 'Enabled'));

  it('GET and every copy of them get 409 KeyDisabled; HEAD, ACL and tags still answer', async () => {
    expect(await ossError(c.get('sealed'))).toMatchObject(DISABLED);
    expect(await ossError(c.copy('copy-aes', 'sealed', { headers: { 'x-oss-server-side-encryption': 'AES256' } }))).toMatchObject(DISABLED);
    expect(await ossError(c.copy('sealed', 'sealed', { headers: { 'x-oss-server-side-encryption': 'AES256' } }))).toMatchObject(DISABLED);
    const upload = await c.initMultipartUpload('mp-from-sealed');
    expect(
      await ossError(c.uploadPartCopy('mp-from-sealed', upload.uploadId, 1, '0-3', { sourceKey: 'sealed', sourceBucketName: bucket })),
    ).toMatchObject(DISABLED);
    expect(await sse(c, 'sealed')).toMatchObject({ algorithm: 'KMS', keyId: IDS.later });
    expect((await c.getACL('sealed')).acl).toBe('default');
    // Nothing was written by the refused copies.
    expect(await ossError(c.head('copy-aes'))).toMatchObject({ status: 404 });
  });

  it('the re-encryption routine reports the key error and leaves the object as it was', async () => {
    const http = new OssHttpClient({
      endpoint: oss.server.url,
      region: REGION,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    });
    try {
      const exact = { ...policyFromConfig(loadConfig({ COMPLIANCE: 'exact' })) };
      const out = await reencryptObject(http, exact, memoryLogger(), { bucket, key: 'sealed-too' });
      expect(out).toMatchObject({ action: 'failed', error: { code: 'KeyDisabled', status: 409 } });
      expect(await sse(c, 'sealed-too')).toMatchObject({ algorithm: 'KMS', keyId: IDS.later });
    } finally {
      http.destroy();
    }
  });

  it('enabled again, the object reads back whole', async () => {
    kms.keys.setState(IDS.later, 'Enabled');
    expect((await c.get('sealed')).content.toString()).toBe('sealed bytes');
    kms.keys.setState(IDS.later, 'Disabled');
  });
});

describe('objects written under a bucket KMS rule', () => {
  it('PutBucketEncryption does not check the key (as OSS), but writes under the rule do', async () => {
    const bucket = 'oss-kms-rule-unknown';
    const c = oss.client({ bucket });
    await c.putBucket(bucket);
    await c.putBucketEncryption(bucket, { SSEAlgorithm: 'KMS', KMSMasterKeyID: UNKNOWN });
    expect(await ossError(c.put('o', Buffer.from('x')))).toMatchObject(NOT_FOUND);
    await expectMissing(c, 'o');
    // The request's own headers override the rule.
    await c.put('o2', Buffer.from('x'), kmsHeaders(IDS.main));
    expect((await sse(c, 'o2')).keyId).toBe(IDS.main);
  });

  it('a rule naming a disabled key refuses writes with 409 KeyDisabled', async () => {
    const bucket = 'oss-kms-rule-disabled';
    const c = oss.client({ bucket });
    await c.putBucket(bucket);
    await c.putBucketEncryption(bucket, { SSEAlgorithm: 'KMS', KMSMasterKeyID: IDS.off });
    expect(await ossError(c.put('o', Buffer.from('x')))).toMatchObject(DISABLED);
    expect(await ossError(c.initMultipartUpload('m'))).toMatchObject(DISABLED);
  });

  it('a rule with an alias records the real id; a rule without a key id uses the default key', async () => {
    const bucket = 'oss-kms-rule-ok';
    const c = oss.client({ bucket });
    await c.putBucket(bucket);
    await c.putBucketEncryption(bucket, { SSEAlgorithm: 'KMS', KMSMasterKeyID: 'alias/main' });
    await c.put('aliased', Buffer.from('x'));
    expect(await sse(c, 'aliased')).toEqual({ algorithm: 'KMS', keyId: IDS.main, data: undefined });
    // The rule keeps what was written.
    const rule = (await c.getBucketEncryption(bucket)) as { encryption: { KMSMasterKeyID?: string } };
    expect(rule.encryption.KMSMasterKeyID).toBe('alias/main');
    await c.putBucketEncryption(bucket, { SSEAlgorithm: 'KMS' });
    await c.put('defaulted', Buffer.from('x'));
    expect((await sse(c, 'defaulted')).keyId).toBe(IDS.dflt);
  });
});

describe('without the KMS hook', () => {
  it('any key id is accepted, as before', async () => {
    const bucket = 'oss-no-kms';
    const c = plain.client({ bucket });
    await c.putBucket(bucket);
    await c.put('o', Buffer.from('x'), kmsHeaders(UNKNOWN));
    expect((await sse(c, 'o')).keyId).toBe(UNKNOWN);
    await c.put('d', Buffer.from('x'), kmsHeaders());
    expect((await sse(c, 'd')).keyId).toBe('oss-sse-local-default-kms-key');
  });
});
