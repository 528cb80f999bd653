/**
 * `oss-sse doctor` against a local stack whose printed key is bound to a RAM policy
 * (`oss-sse local --policy`, here the same stack option in-process): for every action the
 * doctor needs to see — those the functions' roles hold on a bucket, and its own — a policy
 * that lacks it gives that action's ✗ and the grant that fixes it, and nothing else fails.
 * Then a function whose own role lacks an action: the canary finds it.
 */
import OSS from 'ali-oss';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readyLineEnv, runCli } from '../helpers/cli';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { DoctorReportSchema, ROLE_POLICIES, type DoctorCheck } from '../../shared/doctor';
import { loadRamPolicy } from '../../shared/ram/policy';
import { PROBE_PREFIX } from '../../shared/backfill/self-copy-probe';

const root = join(__dirname, '..', '..');
const REGION = 'cn-hangzhou';
const AK = 'AK-doctor-policy';
const SECRET = 'SK-doctor-policy-never-printed';
const BUCKET = 'guarded';
const KMS_POLICY = { SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-default' };

/** What the roles hold (deploy/ram/), what doctor itself reads, and what the test needs to make its bucket. */
const ROLE_OSS_ACTIONS = [...new Set(Object.values(ROLE_POLICIES).flatMap((p) => p.Statement.flatMap((s) => s.Action)))].filter((a) =>
  a.startsWith('oss:'),
);
const NEEDED = [
  ...new Set([...ROLE_OSS_ACTIONS, 'oss:GetBucketVersioning', 'kms:DescribeKey', 'kms:GenerateDataKey', 'fc:InvokeFunction']),
].sort();
const SETUP_ONLY = ['oss:PutBucket'];

/** The check each missing action fails, and only that one. */
function expectedFailures(action: string): string[] {
  switch (action) {
    case 'oss:ListBuckets':
      return ['oss:ListBuckets'];
    case 'oss:GetBucketEncryption':
      return [`bucket ${BUCKET} rule`];
    case 'oss:GetBucketVersioning':
      return [`bucket ${BUCKET} versioning`];
    case 'oss:ListObjects':
      return [`bucket ${BUCKET} listing`];
    case 'kms:DescribeKey':
    case 'kms:GenerateDataKey':
      return ['KMS key'];
    // One harmless request proves both (a DELETE of a version that does not exist), so without
    // either both are suspect, each check naming the other.
    case 'oss:DeleteObject':
    case 'oss:DeleteObjectVersion':
      return [`bucket ${BUCKET} oss:DeleteObject`, `bucket ${BUCKET} oss:DeleteObjectVersion`];
    case 'fc:InvokeFunction':
      return ['function oss-sse-bucket-encryption', 'function oss-sse-object-encryption', 'function oss-sse-backfill'];
    default:
      return [`bucket ${BUCKET} ${action}`];
  }
}

async function withStack<T>(
  options: {
    allow: readonly string[];
    functionPolicyMutations?: Array<{ fn: 'object-encryption'; action: string }>;
    /** Create the bucket with the bucket function paused: no default rule. */
    withoutRule?: boolean;
  },
  fn: (stack: LocalStack, doctor: (args: string[]) => Promise<{ code: number | null; checks: DoctorCheck[] }>) => Promise<T>,
): Promise<T> {
  const stack = await startLocalStack({
    region: REGION,
    accessKeyId: AK,
    accessKeySecret: SECRET,
    functionsDir: join(root, 'dist', 'functions'),
    functionEnv: KMS_POLICY,
    functionTimeoutSeconds: 20,
    asyncRetry: { maxAttempts: 2, baseDelayMs: 20 },
    policy: loadRamPolicy({ Version: '1', Statement: [{ Effect: 'Allow', Action: [...options.allow], Resource: ['*'] }] }, 'test policy'),
    ...(options.functionPolicyMutations ? { functionPolicyMutations: options.functionPolicyMutations } : {}),
  });
  try {
    const ready = JSON.parse(stack.readyLine()) as { oss: string; kms: string; fc: string; accountId: string };
    stack.triggers.bucket = options.withoutRule !== true;
    await new OSS({ endpoint: ready.oss, region: `oss-${REGION}`, accessKeyId: AK, accessKeySecret: SECRET }).putBucket(BUCKET);
    await stack.idle(); // the bucket function, under its own role, sets the rule
    const env: NodeJS.ProcessEnv = { ...readyLineEnv(ready, { accessKeyId: AK, accessKeySecret: SECRET, region: REGION }), ...KMS_POLICY };
    return await fn(stack, async (args) => {
      const run = await runCli(['doctor', '--json', '--bucket', BUCKET, ...args], env);
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      expect(run.stderr).toBe('');
      return { code: run.code, checks: DoctorReportSchema.parse(JSON.parse(run.stdout)).checks };
    });
  } finally {
    await stack.close();
  }
}

describe('oss-sse doctor with the printed key bound to a policy', () => {
  it('a policy with every action it needs: every check passes', async () => {
    await withStack({ allow: [...NEEDED, ...SETUP_ONLY] }, async (_stack, doctor) => {
      const run = await doctor([]);
      expect(run.checks.filter((c) => !c.ok)).toEqual([]);
      expect(run.code).toBe(0);
    });
  });

  it.each(NEEDED)(
    'a policy without %s: that action’s ✗, with the grant that fixes it',
    async (action) => {
      await withStack({ allow: [...NEEDED.filter((a) => a !== action), ...SETUP_ONLY] }, async (_stack, doctor) => {
        const run = await doctor([]);
        expect(run.code).toBe(1);
        const failed = run.checks.filter((c) => !c.ok);
        expect(failed.map((c) => c.name)).toEqual(expectedFailures(action));
        for (const c of failed) {
          const granted = c.name.startsWith(`bucket ${BUCKET} oss:`) ? c.name.slice(`bucket ${BUCKET} `.length) : action;
          expect(c.fix, c.name).toMatch(new RegExp(`^grant ${granted} on acs:`));
          expect(c.requestId, c.name).toBeTruthy();
        }
        if (action === 'oss:DeleteObject' || action === 'oss:DeleteObjectVersion') {
          // The roles hold these only on the backfill's scratch prefix: probed there, granted there.
          const check = failed.find((c) => c.name === `bucket ${BUCKET} ${action}`);
          expect(check?.fix).toContain(`:${BUCKET}/${PROBE_PREFIX}* to `);
          expect(check?.detail).toContain(`on ${PROBE_PREFIX}doctor-`);
        }
      });
    },
    60_000,
  );
});

describe('the canary under a policy', () => {
  it('under an SSE-KMS rule the writer needs kms:Decrypt too: without it the canary is refused and the fix says so; with it, it passes', async () => {
    const allow = [...NEEDED, ...SETUP_ONLY, 'oss:DeleteObject', 'oss:DeleteObjectVersion'];
    await withStack({ allow }, async (_stack, doctor) => {
      const run = await doctor(['--canary', BUCKET]);
      const canary = run.checks.find((c) => c.name === `canary ${BUCKET}`);
      expect(canary).toMatchObject({
        ok: false,
        detail: expect.stringMatching(/not written: 403 AccessDenied: /),
        fix: expect.stringMatching(
          /^grant oss:PutObject on acs:oss:\*:\d+:guarded\/\.oss-sse-canary\/\* to these credentials, with kms:GenerateDataKey and kms:Decrypt on its KMS key$/,
        ),
      });
    });
    await withStack({ allow: [...allow, 'kms:Decrypt'] }, async (_stack, doctor) => {
      const run = await doctor(['--canary', BUCKET]);
      expect(run.checks.filter((c) => !c.ok)).toEqual([]);
    });
  }, 60_000);
});

describe('a function whose own role lacks an action', () => {
  it('the canary is not re-encrypted; the object function, invoked with its event, answers AccessDenied; the fix names its role', async () => {
    await withStack(
      {
        allow: [...NEEDED, ...SETUP_ONLY, 'oss:DeleteObject', 'oss:DeleteObjectVersion'],
        functionPolicyMutations: [{ fn: 'object-encryption', action: 'oss:GetObjectAcl' }],
        // No default rule: the canary is written plaintext, and only the object function can encrypt it.
        withoutRule: true,
      },
      async (_stack, doctor) => {
        const run = await doctor(['--canary', BUCKET, '--canary-timeout', '1']);
        const canary = run.checks.find((c) => c.name === `canary ${BUCKET}`);
        expect(canary?.ok).toBe(false);
        expect(canary?.detail).toMatch(
          /still plaintext after 1 s; invoked directly with the trigger's event, oss-sse-object-encryption answered failed: AccessDenied: /,
        );
        expect(canary?.fix).toMatch(
          /^role oss-sse-object-encryption lacks a permission on guarded: give it the policy deploy\/ram\/oss-sse-object-encryption\.json renders/,
        );
      },
    );
  }, 60_000);
});
