/**
 * The local KMS server through the unmodified @alicloud/kms20160120 client (signature
 * verification on), and the functions' KMS port (shared/kms) against it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Kms, * as $Kms from '@alicloud/kms20160120';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSseKey, createKmsPort, KmsError, kmsEndpoint, validateKeyForSse, type KeyInfo } from '../../shared/kms';
import { startKmsServer, type KmsServer } from '../../local/kms/server';
import { rejectionOf } from '../helpers/rejection';

const REGION = 'cn-hangzhou';
const ACCOUNT = '1234567890123456';
const AK = 'LTAI5tKmsIntegrationKey';
const SECRET = 'KmsIntegrationSecretThatMustNeverLeak01';
const TOKEN = 'CAIS.sts-token-that-must-never-leak/+=';
const IDS = {
  enabled: '0b0c7d1e-0000-4000-8000-000000000001',
  disabled: '0b0c7d1e-0000-4000-8000-000000000002',
  pending: '0b0c7d1e-0000-4000-8000-000000000003',
  rsa: '0b0c7d1e-0000-4000-8000-000000000004',
  sm4: '0b0c7d1e-0000-4000-8000-000000000005',
  ec: '0b0c7d1e-0000-4000-8000-000000000006',
};

let kms: KmsServer;
let endpoint = '';

beforeAll(async () => {
  kms = await startKmsServer({
    region: REGION,
    accountId: ACCOUNT,
    credentials: { [AK]: SECRET },
    keys: [
      { keyId: IDS.enabled, alias: ['alias/oss-sse-default', 'alias/app/main'], description: 'main' },
      { keyId: IDS.disabled, alias: 'alias/off', state: 'Disabled' },
      { keyId: IDS.pending, alias: 'alias/going', state: 'PendingDeletion' },
      { keyId: IDS.rsa, alias: 'alias/rsa', spec: 'RSA_2048' },
      { keyId: IDS.sm4, alias: 'alias/oss-sse-sm4', spec: 'Aliyun_SM4', protectionLevel: 'HSM' },
      { keyId: IDS.ec, spec: 'EC_P256', usage: 'SIGN/VERIFY' },
    ],
  });
  endpoint = kms.url.replace('http://', '');
});
afterAll(async () => kms.close());

type Client = InstanceType<typeof Kms>;
function KmsClass(): typeof Kms {
  const m = Kms as unknown as { default?: typeof Kms };
  return typeof m.default === 'function' ? m.default : Kms;
}
function client(opts: { accessKeyId?: string; accessKeySecret?: string; securityToken?: string } = {}): Client {
  const Ctor = KmsClass();
  return new Ctor({
    accessKeyId: opts.accessKeyId ?? AK,
    accessKeySecret: opts.accessKeySecret ?? SECRET,
    ...(opts.securityToken ? { securityToken: opts.securityToken } : {}),
    endpoint,
    protocol: 'http',
    regionId: REGION,
  } as ConstructorParameters<typeof Kms>[0]);
}

interface SdkError {
  code: string;
  message: string;
  data: { Code: string; Message: string; RequestId: string; HostId: string; Recommend: string };
}
const sdkError = (p: Promise<unknown>) => rejectionOf<SdkError>(p);
function expectKmsError(e: SdkError, code: string, status: number): void {
  expect(e.data.Code).toBe(code);
  expect(e.code).toBe(`${code}Error`);
  expect(e.message).toContain(`code: ${status},`);
  expect(e.data.RequestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(e.data.HostId).toBe(`kms.${REGION}.aliyuncs.com`);
  expect(e.data.Recommend).toContain(`q=${encodeURIComponent(code)}`);
  expect(e.message).not.toContain(SECRET);
  expect(e.message).not.toContain(TOKEN);
}

const describeKey = (c: Client, keyId: string) => c.describeKey(new $Kms.DescribeKeyRequest({ keyId }));

describe('DescribeKey', () => {
  it('returns the key metadata by key id', async () => {
    const r = await describeKey(client(), IDS.enabled);
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const m = r.keyMetadata;
    expect(m).toMatchObject({
      keyId: IDS.enabled,
      arn: `acs:kms:${REGION}:${ACCOUNT}:key/${IDS.enabled}`,
      keyState: 'Enabled',
      keyUsage: 'ENCRYPT/DECRYPT',
      keySpec: 'Aliyun_AES_256',
      creator: ACCOUNT,
      description: 'main',
      protectionLevel: 'SOFTWARE',
      origin: 'Aliyun_KMS',
      automaticRotation: 'Disabled',
    });
    expect(m?.creationDate).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(m?.primaryKeyVersion).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('resolves aliases, key ARNs and alias ARNs to the same KeyId', async () => {
    for (const ref of [
      'alias/app/main',
      'alias/oss-sse-default',
      `acs:kms:${REGION}:${ACCOUNT}:key/${IDS.enabled}`,
      `acs:kms:${REGION}:${ACCOUNT}:alias/app/main`,
    ]) {
      expect((await describeKey(client(), ref)).keyMetadata?.keyId, ref).toBe(IDS.enabled);
    }
  });

  it('reports state and spec of disabled, pending-deletion, RSA and SM4 keys', async () => {
    expect((await describeKey(client(), 'alias/off')).keyMetadata?.keyState).toBe('Disabled');
    const pending = (await describeKey(client(), IDS.pending)).keyMetadata;
    expect(pending?.keyState).toBe('PendingDeletion');
    expect(pending?.deleteDate).toMatch(/Z$/);
    expect((await describeKey(client(), 'alias/rsa')).keyMetadata?.keySpec).toBe('RSA_2048');
    expect((await describeKey(client(), 'alias/oss-sse-sm4')).keyMetadata).toMatchObject({ keySpec: 'Aliyun_SM4', protectionLevel: 'HSM' });
  });

  it('unknown key → 404 Forbidden.KeyNotFound; unknown alias → 404 Forbidden.AliasNotFound', async () => {
    expectKmsError(await sdkError(describeKey(client(), '00000000-0000-4000-8000-00000000dead')), 'Forbidden.KeyNotFound', 404);
    expectKmsError(await sdkError(describeKey(client(), 'alias/nope')), 'Forbidden.AliasNotFound', 404);
    // An ARN of another account or region names no key here.
    expectKmsError(await sdkError(describeKey(client(), `acs:kms:cn-beijing:${ACCOUNT}:key/${IDS.enabled}`)), 'Forbidden.KeyNotFound', 404);
    expectKmsError(await sdkError(describeKey(client(), `acs:kms:${REGION}:999:alias/app/main`)), 'Forbidden.AliasNotFound', 404);
  });

  it('no KeyId → 400 MissingParameter', async () => {
    expectKmsError(await sdkError(client().describeKey(new $Kms.DescribeKeyRequest({}))), 'MissingParameter', 400);
  });
});

describe('ListKeys / ListAliases', () => {
  it('lists every key with its ARN, paged', async () => {
    const all = await client().listKeys(new $Kms.ListKeysRequest({ pageSize: 100 }));
    expect(all.totalCount).toBeGreaterThanOrEqual(6);
    const ids = all.keys?.key?.map((k) => k.keyId) ?? [];
    expect(ids).toEqual(expect.arrayContaining(Object.values(IDS)));
    expect(all.keys?.key?.find((k) => k.keyId === IDS.rsa)?.keyArn).toBe(`acs:kms:${REGION}:${ACCOUNT}:key/${IDS.rsa}`);
    const second = await client().listKeys(new $Kms.ListKeysRequest({ pageNumber: 2, pageSize: 1 }));
    expect(second).toMatchObject({ pageNumber: 2, pageSize: 1, totalCount: all.totalCount });
    expect(second.keys?.key?.map((k) => k.keyId)).toEqual([ids[1]]);
    const dflt = await client().listKeys(new $Kms.ListKeysRequest({}));
    expect(dflt).toMatchObject({ pageNumber: 1, pageSize: 10 });
  });

  it('refuses a page size above 100', async () => {
    expectKmsError(await sdkError(client().listKeys(new $Kms.ListKeysRequest({ pageSize: 101 }))), 'InvalidParameter', 400);
  });

  it('lists aliases with their key and ARN', async () => {
    const r = await client().listAliases(new $Kms.ListAliasesRequest({ pageSize: 100 }));
    const aliases = r.aliases?.alias ?? [];
    expect(aliases).toEqual(
      expect.arrayContaining([
        { aliasName: 'alias/app/main', keyId: IDS.enabled, aliasArn: `acs:kms:${REGION}:${ACCOUNT}:alias/app/main` },
        expect.objectContaining({ aliasName: 'alias/oss-sse-sm4', keyId: IDS.sm4 }),
      ]),
    );
    expect(r.totalCount).toBe(aliases.length);
  });
});

describe('CreateKey / CreateAlias / DisableKey / EnableKey', () => {
  it('creates a symmetric key by default and keys of other specs on request', async () => {
    const aes = (await client().createKey(new $Kms.CreateKeyRequest({ description: 'made by test' }))).keyMetadata;
    expect(aes).toMatchObject({ keySpec: 'Aliyun_AES_256', keyUsage: 'ENCRYPT/DECRYPT', keyState: 'Enabled', description: 'made by test' });
    expect((await describeKey(client(), aes?.keyId as string)).keyMetadata?.keyId).toBe(aes?.keyId);
    const sm4 = (await client().createKey(new $Kms.CreateKeyRequest({ keySpec: 'Aliyun_SM4', protectionLevel: 'HSM' }))).keyMetadata;
    expect(sm4).toMatchObject({ keySpec: 'Aliyun_SM4', protectionLevel: 'HSM' });
    const rsa = (await client().createKey(new $Kms.CreateKeyRequest({ keySpec: 'RSA_3072', keyUsage: 'SIGN/VERIFY' }))).keyMetadata;
    expect(rsa).toMatchObject({ keySpec: 'RSA_3072', keyUsage: 'SIGN/VERIFY' });
    const ext = (await client().createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' }))).keyMetadata;
    expect(ext).toMatchObject({ keyState: 'PendingImport', origin: 'EXTERNAL' });
  });

  it('refuses invalid specs and spec/usage combinations', async () => {
    expectKmsError(await sdkError(client().createKey(new $Kms.CreateKeyRequest({ keySpec: 'AES_512' }))), 'InvalidParameter', 400);
    expectKmsError(
      await sdkError(client().createKey(new $Kms.CreateKeyRequest({ keySpec: 'EC_P256', keyUsage: 'ENCRYPT/DECRYPT' }))),
      'InvalidParameter',
      400,
    );
    expectKmsError(
      await sdkError(client().createKey(new $Kms.CreateKeyRequest({ keySpec: 'Aliyun_AES_256', keyUsage: 'SIGN/VERIFY' }))),
      'InvalidParameter',
      400,
    );
  });

  it('creates aliases that DescribeKey then resolves; refuses duplicates, bad names and aliases as targets', async () => {
    const key = (await client().createKey(new $Kms.CreateKeyRequest({}))).keyMetadata?.keyId as string;
    await client().createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/test/new', keyId: key }));
    expect((await describeKey(client(), 'alias/test/new')).keyMetadata?.keyId).toBe(key);
    expectKmsError(
      await sdkError(client().createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/test/new', keyId: IDS.enabled }))),
      'AliasAlreadyExists',
      400,
    );
    for (const bad of ['test/new', 'alias/', 'alias/acs/oss', 'alias/sp ace']) {
      expectKmsError(
        await sdkError(client().createAlias(new $Kms.CreateAliasRequest({ aliasName: bad, keyId: key }))),
        'InvalidParameter',
        400,
      );
    }
    expectKmsError(
      await sdkError(client().createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/x2', keyId: 'alias/test/new' }))),
      'Unsupported.Alias',
      400,
    );
    expectKmsError(
      await sdkError(client().createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/x3', keyId: 'no-such-key' }))),
      'Forbidden.KeyNotFound',
      404,
    );
  });

  it('disables and re-enables a key; a key pending deletion refuses both with 409', async () => {
    const key = (await client().createKey(new $Kms.CreateKeyRequest({}))).keyMetadata?.keyId as string;
    await client().disableKey(new $Kms.DisableKeyRequest({ keyId: key }));
    expect((await describeKey(client(), key)).keyMetadata?.keyState).toBe('Disabled');
    await client().enableKey(new $Kms.EnableKeyRequest({ keyId: key }));
    expect((await describeKey(client(), key)).keyMetadata?.keyState).toBe('Enabled');
    expectKmsError(await sdkError(client().enableKey(new $Kms.EnableKeyRequest({ keyId: IDS.pending }))), 'Rejected.PendingDeletion', 409);
    expectKmsError(await sdkError(client().disableKey(new $Kms.DisableKeyRequest({ keyId: 'nope' }))), 'Forbidden.KeyNotFound', 404);
  });
});

describe('GenerateDataKey / Decrypt', () => {
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64');

  it('returns a data key and a blob that Decrypt opens, naming the real key id', async () => {
    const r = await client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: 'alias/app/main' }));
    expect(r.keyId).toBe(IDS.enabled);
    expect(b64(r.plaintext)).toHaveLength(32);
    expect(r.keyVersionId).toMatch(/^[0-9a-f-]{36}$/);
    // Like KMS's blobs, ours carry the key id; and they never contain the plaintext key.
    expect(b64(r.ciphertextBlob).includes(Buffer.from(IDS.enabled))).toBe(true);
    expect(b64(r.ciphertextBlob).includes(b64(r.plaintext))).toBe(false);
    const d = await client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: r.ciphertextBlob }));
    expect(d.keyId).toBe(IDS.enabled);
    expect(d.plaintext).toBe(r.plaintext);
  });

  it('honours NumberOfBytes and KeySpec', async () => {
    const n = await client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: IDS.sm4, numberOfBytes: 7 }));
    expect(b64(n.plaintext)).toHaveLength(7);
    const k = await client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: IDS.enabled, keySpec: 'AES_128' }));
    expect(b64(k.plaintext)).toHaveLength(16);
    expectKmsError(
      await sdkError(client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: IDS.enabled, numberOfBytes: 1025 }))),
      'InvalidParameter',
      400,
    );
  });

  it('binds the encryption context; a tampered blob fails', async () => {
    const ctx = { bucket: 'b', key: 'k 1' };
    const r = await client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: IDS.enabled, encryptionContext: ctx }));
    const ok = await client().decrypt(
      new $Kms.DecryptRequest({ ciphertextBlob: r.ciphertextBlob, encryptionContext: { key: 'k 1', bucket: 'b' } }),
    );
    expect(ok.plaintext).toBe(r.plaintext);
    expectKmsError(
      await sdkError(
        client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: r.ciphertextBlob, encryptionContext: { bucket: 'other', key: 'k 1' } })),
      ),
      'InvalidParameter',
      400,
    );
    expectKmsError(
      await sdkError(client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: r.ciphertextBlob }))),
      'InvalidParameter',
      400,
    );
    const blob = b64(r.ciphertextBlob);
    blob[blob.length - 1] = (blob[blob.length - 1] as number) ^ 1;
    expectKmsError(
      await sdkError(client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: blob.toString('base64') }))),
      'InvalidParameter',
      400,
    );
    expectKmsError(
      await sdkError(client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: 'bm90IGEgYmxvYg==' }))),
      'InvalidParameter',
      400,
    );
  });

  it('refuses disabled, pending-deletion and asymmetric keys; Decrypt fails while the key is disabled', async () => {
    expectKmsError(
      await sdkError(client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: 'alias/off' }))),
      'Rejected.Disabled',
      409,
    );
    expectKmsError(
      await sdkError(client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: IDS.pending }))),
      'Rejected.PendingDeletion',
      409,
    );
    expectKmsError(
      await sdkError(client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: IDS.rsa }))),
      'UnsupportedOperation',
      400,
    );
    const key = (await client().createKey(new $Kms.CreateKeyRequest({}))).keyMetadata?.keyId as string;
    const r = await client().generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: key }));
    await client().disableKey(new $Kms.DisableKeyRequest({ keyId: key }));
    expectKmsError(
      await sdkError(client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: r.ciphertextBlob }))),
      'Rejected.Disabled',
      409,
    );
    await client().enableKey(new $Kms.EnableKeyRequest({ keyId: key }));
    expect((await client().decrypt(new $Kms.DecryptRequest({ ciphertextBlob: r.ciphertextBlob }))).plaintext).toBe(r.plaintext);
  });
});

describe('authentication', () => {
  it('a wrong secret → 400 SignatureDoesNotMatch, without the secret in the error', async () => {
    const e = await sdkError(describeKey(client({ accessKeySecret: SECRET + 'x' }), IDS.enabled));
    expectKmsError(e, 'SignatureDoesNotMatch', 400);
    expect(e.data.Message).toContain('server string to sign is:POST&%2F&');
    expect(e.data.Message).not.toContain(SECRET);
  });

  it('an unknown AccessKeyId → 404 InvalidAccessKeyId.NotFound', async () => {
    expectKmsError(
      await sdkError(describeKey(client({ accessKeyId: 'LTAI5tNobodyKnowsMe' }), IDS.enabled)),
      'InvalidAccessKeyId.NotFound',
      404,
    );
  });

  it('an STS token is accepted, and a wrong secret with a token names neither', async () => {
    expect((await describeKey(client({ securityToken: TOKEN }), IDS.enabled)).keyMetadata?.keyId).toBe(IDS.enabled);
    const e = await sdkError(describeKey(client({ securityToken: TOKEN, accessKeySecret: 'wrong-secret' }), IDS.enabled));
    expectKmsError(e, 'SignatureDoesNotMatch', 400);
    expect(e.data.Message).not.toContain(encodeURIComponent(TOKEN));
  });

  it('an action KMS does not have → InvalidAction.NotFound', async () => {
    expectKmsError(await sdkError(client().listSecrets(new $Kms.ListSecretsRequest({}))), 'InvalidAction.NotFound', 404);
  });

  it('other HTTP methods → 403 UnsupportedHTTPMethod', async () => {
    const res = await fetch(`${kms.url}/?Action=DescribeKey`, { method: 'PUT' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { Code: string }).Code).toBe('UnsupportedHTTPMethod');
  });
});

describe('KmsPort (shared/kms) against the local KMS', () => {
  const port = (creds: { accessKeyId?: string; accessKeySecret?: string; securityToken?: string } = {}) =>
    createKmsPort({
      region: REGION,
      endpoint: kms.url,
      credentials: () => ({
        accessKeyId: creds.accessKeyId ?? AK,
        accessKeySecret: creds.accessKeySecret ?? SECRET,
        ...(creds.securityToken ? { securityToken: creds.securityToken } : {}),
      }),
    });

  async function portError(p: Promise<unknown>): Promise<KmsError> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(KmsError);
      return e as KmsError;
    }
    throw new Error('expected the call to fail');
  }
  function expectClean(e: KmsError): void {
    for (const s of [SECRET, TOKEN, AK, encodeURIComponent(TOKEN)]) {
      expect(e.message).not.toContain(s);
      expect(String(e.stack)).not.toContain(s);
    }
  }

  it('describeKey maps KeyMetadata, by alias too', async () => {
    const info = await port({ securityToken: TOKEN }).describeKey('alias/app/main');
    expect(info).toMatchObject({
      keyId: IDS.enabled,
      arn: `acs:kms:${REGION}:${ACCOUNT}:key/${IDS.enabled}`,
      state: 'Enabled',
      usage: 'ENCRYPT/DECRYPT',
      spec: 'Aliyun_AES_256',
      creator: ACCOUNT,
      protectionLevel: 'SOFTWARE',
    });
  });

  it('validateKeyForSse: enabled → ok with the real key id', async () => {
    const p = port();
    expect(validateKeyForSse(await p.describeKey('alias/app/main'), { keyRef: 'alias/app/main' })).toEqual({
      ok: true,
      keyId: IDS.enabled,
      spec: 'Aliyun_AES_256',
      arn: `acs:kms:${REGION}:${ACCOUNT}:key/${IDS.enabled}`,
    });
    expect(await checkSseKey(p, 'alias/oss-sse-sm4', { dataEncryption: 'SM4' })).toMatchObject({ ok: true, keyId: IDS.sm4 });
  });

  it('validateKeyForSse: disabled, pending deletion, missing, asymmetric, non-SM4 → reasons naming the key', async () => {
    const p = port();
    const cases: Array<[string, { dataEncryption?: 'SM4' }, string, RegExp]> = [
      ['alias/off', {}, 'not-enabled', /"alias\/off" \(key id 0b0c7d1e-0000-4000-8000-000000000002\) is Disabled/],
      [IDS.pending, {}, 'not-enabled', /is PendingDeletion/],
      ['alias/missing', {}, 'not-found', /"alias\/missing" does not exist/],
      ['0b0c7d1e-0000-4000-8000-0000000000ff', {}, 'not-found', /does not exist/],
      ['alias/rsa', {}, 'not-symmetric', /has spec RSA_2048; SSE-KMS needs a symmetric key/],
      [IDS.ec, {}, 'wrong-usage', /has usage SIGN\/VERIFY/],
      ['alias/app/main', { dataEncryption: 'SM4' }, 'not-sm4', /KMS_DATA_ENCRYPTION=SM4 needs an Aliyun_SM4 key/],
    ];
    for (const [ref, opts, reason, message] of cases) {
      const r = await checkSseKey(p, ref, opts);
      expect(r, ref).toMatchObject({ ok: false, reason });
      if (!r.ok) expect(r.message, ref).toMatch(message);
    }
  });

  it('validateKeyForSse is pure: the rule on hand-made KeyInfo', () => {
    const base: KeyInfo = { keyId: 'k', state: 'Enabled', usage: 'ENCRYPT/DECRYPT', spec: 'Aliyun_AES_128' };
    expect(validateKeyForSse(base)).toEqual({ ok: true, keyId: 'k', spec: 'Aliyun_AES_128' });
    expect(validateKeyForSse({ ...base, state: 'PendingImport' })).toMatchObject({ ok: false, reason: 'not-enabled' });
    expect(validateKeyForSse({ ...base, spec: 'Aliyun_SM4' }, { dataEncryption: 'SM4' }).ok).toBe(true);
    expect(validateKeyForSse(undefined, { keyRef: 'x' })).toMatchObject({
      ok: false,
      reason: 'not-found',
      message: 'KMS key "x" does not exist in this account and region.',
    });
  });

  it('a wrong secret → KmsError SignatureDoesNotMatch with no credentials in it; checkSseKey rethrows it', async () => {
    const p = port({ accessKeySecret: 'wrong-secret-value', securityToken: TOKEN });
    const e = await portError(p.describeKey(IDS.enabled));
    expect(e).toMatchObject({ code: 'SignatureDoesNotMatch', status: 400, transient: false });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.message).toBe('Specified signature is not matched with our calculation.');
    expectClean(e);
    expect(String(e.message)).not.toContain('wrong-secret-value');
    const again = await portError(checkSseKey(p, IDS.enabled));
    expect(again.code).toBe('SignatureDoesNotMatch');
  });

  it('an unknown access key → KmsError InvalidAccessKeyId.NotFound (404)', async () => {
    const e = await portError(port({ accessKeyId: 'LTAI5tUnknownKeyId' }).describeKey(IDS.enabled));
    expect(e).toMatchObject({ code: 'InvalidAccessKeyId.NotFound', status: 404, transient: false });
    expectClean(e);
  });

  it('not found → KmsError Forbidden.KeyNotFound from describeKey', async () => {
    const e = await portError(port().describeKey('no-such-key'));
    expect(e).toMatchObject({ code: 'Forbidden.KeyNotFound', status: 404 });
  });

  it('no server → transient NetworkError without credentials', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const p = createKmsPort({
      region: REGION,
      endpoint: `http://127.0.0.1:${deadPort}`,
      credentials: () => ({ accessKeyId: AK, accessKeySecret: SECRET, securityToken: TOKEN }),
    });
    const e = await portError(p.describeKey(IDS.enabled));
    expect(e).toMatchObject({ code: 'NetworkError', transient: true });
    expectClean(e);
  });

  it('reads credentials at every call (rotating STS credentials)', async () => {
    let secret = SECRET + 'stale';
    const p = createKmsPort({
      region: REGION,
      endpoint: kms.url,
      credentials: () => ({ accessKeyId: AK, accessKeySecret: secret, securityToken: TOKEN }),
    });
    expect((await portError(p.describeKey(IDS.enabled))).code).toBe('SignatureDoesNotMatch');
    secret = SECRET;
    expect((await p.describeKey(IDS.enabled)).keyId).toBe(IDS.enabled);
  });

  it('kmsEndpoint: VPC endpoint by default, KMS_ENDPOINT as URL or host:port', () => {
    expect(kmsEndpoint('cn-shanghai')).toEqual({ endpoint: 'kms-vpc.cn-shanghai.aliyuncs.com', protocol: 'https' });
    expect(kmsEndpoint('cn-shanghai', 'http://127.0.0.1:9999')).toEqual({ endpoint: '127.0.0.1:9999', protocol: 'http' });
    expect(kmsEndpoint('cn-shanghai', 'https://kms.cn-shanghai.aliyuncs.com/')).toEqual({
      endpoint: 'kms.cn-shanghai.aliyuncs.com',
      protocol: 'https',
    });
    expect(kmsEndpoint('cn-shanghai', 'kms.cn-shanghai.aliyuncs.com:443')).toEqual({
      endpoint: 'kms.cn-shanghai.aliyuncs.com:443',
      protocol: 'https',
    });
  });

  it('loads the SDK only when a port is first used', async () => {
    // Bundle shared/kms as the functions are bundled, but with the SDK external, so Node's
    // module cache shows whether (and when) it was loaded.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kms-lazy-'));
    try {
      const out = path.join(dir, 'kms.cjs');
      await build({
        entryPoints: [path.resolve('shared/kms/index.ts')],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        outfile: out,
        logLevel: 'silent',
        plugins: [
          {
            name: 'sdk-external',
            setup(b) {
              b.onResolve({ filter: /^@alicloud\/kms20160120$/ }, () => ({
                path: path.resolve('node_modules/@alicloud/kms20160120/dist/client.js'),
                external: true,
              }));
            },
          },
        ],
      });
      const script = path.join(dir, 'probe.cjs');
      writeFileSync(
        script,
        `const loaded = () => Object.keys(require.cache).some((k) => k.includes('@alicloud'));
         const m = require(${JSON.stringify(out)});
         const before = loaded();
         const p = m.createKmsPort({ region: 'cn-hangzhou', endpoint: ${JSON.stringify(kms.url)}, credentials: () => ({ accessKeyId: ${JSON.stringify(AK)}, accessKeySecret: ${JSON.stringify(SECRET)} }) });
         const afterCreate = loaded();
         p.describeKey(${JSON.stringify(IDS.enabled)}).then((info) => {
           console.log(JSON.stringify({ before, afterCreate, afterCall: loaded(), keyId: info.keyId }));
         }, (e) => { console.error(e); process.exit(1); });`,
      );
      // Async: the KMS server answering the child runs on this process's event loop.
      const { stdout: outText } = await promisify(execFile)(process.execPath, [script], { encoding: 'utf8' });
      expect(JSON.parse(outText.trim())).toEqual({ before: false, afterCreate: false, afterCall: true, keyId: IDS.enabled });

      // Fully bundled, as in dist/functions: esbuild's CJS interop must still find the client.
      const full = path.join(dir, 'full.cjs');
      await build({
        entryPoints: [path.resolve('shared/kms/index.ts')],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        outfile: full,
        logLevel: 'silent',
      });
      writeFileSync(script, readFileSync(script, 'utf8').replace(JSON.stringify(out), JSON.stringify(full)));
      const { stdout: fullText } = await promisify(execFile)(process.execPath, [script], { encoding: 'utf8' });
      expect(JSON.parse(fullText.trim())).toMatchObject({ before: false, afterCall: false, keyId: IDS.enabled });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
