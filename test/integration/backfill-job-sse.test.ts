/**
 * The backfill job's own objects (job record, shard state, failure list, report) are encrypted
 * as the policy demands, data encryption included: under KMS with SM4 data encryption each
 * carries SM4 — against the local OSS and KMS servers, with the project's OSS client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsServer, type KmsServer } from '../../local/kms/server';
import { handleBackfill, jobKey, reportKey, shardKey, type BackfillResult } from '../../shared/backfill/job';
import { BackfillPayloadSchema } from '../../shared/backfill/payload';
import { memoryLogger } from '../../shared/log';
import type { OssHttpClient } from '../../shared/oss/http-client';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

const REGION = 'cn-hangzhou';
const ACCOUNT = '1234567890123456';
const state = { bucket: 'oss-sse-state-sm4', prefix: 'jobs/' };

let kms: KmsServer;
let t: TestOss;
let oss: OssHttpClient;
let sm4KeyId: string;
beforeAll(async () => {
  kms = await startKmsServer({ region: REGION, accountId: ACCOUNT, credentials: { [TEST_AK]: TEST_SECRET } });
  sm4KeyId = (kms.keys.find('alias/oss-sse-sm4') ?? { keyId: '' }).keyId;
  t = await startTestOss({ region: REGION, accountId: ACCOUNT, kms: kms.keys });
  oss = t.httpClient();
  await t.client().putBucket(state.bucket);
});
afterAll(async () => {
  oss.destroy();
  await t.close();
  await kms.close();
});

describe('backfill job state under KMS with SM4 data encryption', () => {
  it('writes the job record, shard state and report with KMS, the key and SM4', async () => {
    expect(sm4KeyId).not.toBe('');
    const policy = policyFromConfig(loadConfig({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-sm4', KMS_DATA_ENCRYPTION: 'SM4' }));
    const c = t.client({ bucket: 'job-sm4' });
    await c.putBucket('job-sm4');
    for (const k of ['a', 'b', 'c']) await c.put(k, Buffer.from(k));
    const result = (await handleBackfill(BackfillPayloadSchema.parse({ bucket: 'job-sm4', shards: 1 }), {
      oss,
      policy,
      log: memoryLogger(),
      state,
      resolvedKeyId: sm4KeyId,
      invokeSelf: async () => undefined,
      deadline: Date.now() + 10_000,
    })) as Extract<BackfillResult, { shard: number }>;
    expect(result).toMatchObject({ status: 'job-done', totals: { reencrypted: 3 } });
    for (const key of [jobKey(state, result.jobId), shardKey(state, result.jobId, 0), reportKey(state, result.jobId)]) {
      const head = await oss.headObject(state.bucket, key);
      expect([key, head?.sse]).toEqual([key, { algorithm: 'KMS', keyId: sm4KeyId, dataEncryption: 'SM4' }]);
    }
    // The objects themselves, for comparison: re-encrypted by the shared routine, which always sent SM4.
    expect((await oss.headObject('job-sm4', 'a'))?.sse).toEqual({ algorithm: 'KMS', keyId: sm4KeyId, dataEncryption: 'SM4' });
  });
});
