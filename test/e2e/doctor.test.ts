/**
 * `oss-sse doctor` from the built CLI against the local stack, taking only what the ready line
 * gives (credentials, region, account id, endpoints): a healthy stack passes every check,
 * --canary included; each broken thing gives its ✗ and the fix that repairs it.
 */
import OSS from 'ali-oss';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyLineEnv, runCli, type CliRun } from '../helpers/cli';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { DoctorReportSchema, type DoctorCheck } from '../../shared/doctor';

const root = join(__dirname, '..', '..');
const functionsDir = join(root, 'dist', 'functions');
const REGION = 'cn-hangzhou';
const AK = 'AK-doctor';
const SECRET = 'SK-doctor-never-printed';

interface Harness {
  stack: LocalStack;
  lines: string[];
  /** The environment the README gives `oss-sse invoke`: only the ready line's values, plus the policy. */
  env: NodeJS.ProcessEnv;
  client(bucket?: string): OSS;
  doctor(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliRun & { checks: DoctorCheck[] }>;
  close(): Promise<void>;
}

async function startHarness(functionEnv: Record<string, string> = {}): Promise<Harness> {
  const lines: string[] = [];
  const stack = await startLocalStack({
    region: REGION,
    accessKeyId: AK,
    accessKeySecret: SECRET,
    functionsDir,
    functionEnv,
    functionTimeoutSeconds: 20,
    asyncRetry: { maxAttempts: 3, baseDelayMs: 20 },
    log: (line) => lines.push(line),
  });
  const ready = JSON.parse(stack.readyLine()) as { oss: string; kms: string; fc: string; accountId: string };
  const env: NodeJS.ProcessEnv = { ...readyLineEnv(ready, { accessKeyId: AK, accessKeySecret: SECRET, region: REGION }), ...functionEnv };
  const client = (bucket?: string) =>
    new OSS({ endpoint: ready.oss, region: `oss-${REGION}`, accessKeyId: AK, accessKeySecret: SECRET, ...(bucket ? { bucket } : {}) });
  return {
    stack,
    lines,
    env,
    client,
    async doctor(args, extraEnv = {}) {
      const run = await runCli(['doctor', '--json', ...args], { ...env, ...extraEnv });
      // Whatever happens, the output is the documented JSON and holds no secret.
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      const checks = run.stdout.trim() === '' ? [] : DoctorReportSchema.parse(JSON.parse(run.stdout)).checks;
      return { ...run, checks };
    },
    close: () => stack.close(),
  };
}

const named = (checks: DoctorCheck[], name: string): DoctorCheck => {
  const found = checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check named ${name} in ${checks.map((c) => c.name).join(', ')}`);
  return found;
};
const failures = (checks: DoctorCheck[]) => checks.filter((c) => !c.ok);

describe('oss-sse doctor against a healthy local stack', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.client().putBucket('healthy');
    await h.stack.idle(); // the bucket function sets the default rule
  });
  afterAll(() => h.close());

  it('passes every check, --canary included, one ✓ line each with its request id; exit 0', async () => {
    const run = await runCli(['doctor', '--bucket', 'healthy', '--canary', 'healthy'], h.env);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(
      lines.every((l) => l.startsWith('✓ ')),
      run.stdout,
    ).toBe(true);
    for (const fn of ['oss-sse-bucket-encryption', 'oss-sse-object-encryption', 'oss-sse-backfill']) {
      expect(run.stdout).toMatch(
        new RegExp(
          `^✓ function ${fn}: answered ping: AES256, compliance any, oss-sse \\d+\\.\\d+\\.\\d+ \\[request [0-9a-f-]{36}\\]$`,
          'm',
        ),
      );
    }
    expect(run.stdout).toMatch(/^✓ credentials: accepted by OSS .*\[request [0-9A-F]+\]$/m);
    expect(run.stdout).toMatch(/^✓ bucket healthy rule: default encryption AES256 satisfies the policy/m);
    expect(run.stdout).toMatch(/^✓ bucket healthy permissions: allowed: .*oss:GetObjectAcl.*oss:PutObjectTagging/m);
    // Under COMPLIANCE=any the bucket's rule encrypts the canary on write: the report says the trigger was not exercised.
    expect(run.stdout).toMatch(
      /^✓ canary healthy: wrote \.oss-sse-canary\/[0-9a-f]{16} plaintext, encrypted on write .* its trigger was not exercised .*; deleted/m,
    );
    expect(run.stdout + run.stderr).not.toContain(SECRET);
  });

  it('--json prints { checks: [ { name, ok, detail, fix?, requestId? } ] }; the canary leaves nothing behind', async () => {
    const run = await h.doctor(['--bucket', 'healthy', '--canary', 'healthy']);
    expect(run.code).toBe(0);
    expect(failures(run.checks)).toEqual([]);
    expect(run.checks.map((c) => c.name)).toEqual([
      'region',
      'OSS endpoint',
      'credentials',
      'KMS key',
      'bucket healthy rule',
      'bucket healthy versioning',
      'bucket healthy listing',
      'bucket healthy permissions',
      'FC endpoint',
      'function oss-sse-bucket-encryption',
      'function oss-sse-object-encryption',
      'function oss-sse-backfill',
      'canary healthy',
    ]);
    await h.stack.idle();
    const left = await h.client('healthy').listV2({ prefix: '.oss-sse', 'max-keys': '10' }, {});
    expect(left.objects ?? []).toEqual([]);
  });

  it('without --bucket, checks the buckets the policy selects', async () => {
    const run = await h.doctor([], { BUCKET_INCLUDE: 'health*' });
    expect(run.code).toBe(0);
    expect(named(run.checks, 'buckets').detail).toBe('1 selected by BUCKET_INCLUDE health*');
    expect(run.checks.filter((c) => c.name.startsWith('bucket ')).map((c) => c.name.split(' ')[1])).toEqual([
      'healthy',
      'healthy',
      'healthy',
      'healthy',
    ]);
  });

  it('a ping reaches the function and nothing else: no OSS or KMS request, no event parsed', async () => {
    const from = h.lines.length;
    const run = await runCli(['invoke', 'oss-sse-bucket-encryption', '--payload', '{"ping":true}'], h.env);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { result: unknown }).result).toMatchObject({
      pong: true,
      // The local runtime names its functions without the oss-sse- prefix (context.function.name); FC gives the deployed name.
      function: expect.stringMatching(/bucket-encryption$/),
      algorithm: 'AES256',
    });
    await h.stack.idle();
    const during = h.lines.slice(from);
    expect(during.filter((l) => l.startsWith('FC POST'))).toHaveLength(1);
    expect(during.filter((l) => !l.startsWith('FC '))).toEqual([]);
  });
});

describe('oss-sse doctor under COMPLIANCE=exact', () => {
  it('the canary, written with another algorithm, is re-encrypted by the object function through the trigger', async () => {
    const h = await startHarness({ COMPLIANCE: 'exact' });
    try {
      await h.client().putBucket('exact');
      await h.stack.idle();
      const run = await h.doctor(['--bucket', 'exact', '--canary', 'exact']);
      expect(failures(run.checks)).toEqual([]);
      expect(run.code).toBe(0);
      expect(named(run.checks, 'canary exact').detail).toMatch(
        /^wrote \.oss-sse-canary\/[0-9a-f]{16} with SM4, which COMPLIANCE=exact does not accept; the object function re-encrypted it to AES256 through the trigger within \d+ ms; deleted$/,
      );
    } finally {
      await h.close();
    }
  });
});

describe('oss-sse doctor finds what is broken, and says how to fix it', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-default' });
  });
  afterAll(() => h.close());

  it('a bucket without a default rule: ✗ and the command that sets it', async () => {
    h.stack.triggers.bucket = false; // as if the bucket function were not deployed yet
    try {
      await h.client().putBucket('norule');
    } finally {
      h.stack.triggers.bucket = true;
    }
    const run = await h.doctor(['--bucket', 'norule']);
    expect(run.code).toBe(1);
    expect(failures(run.checks).map((c) => c.name)).toEqual(['bucket norule rule']);
    const rule = named(run.checks, 'bucket norule rule');
    expect(rule.detail).toBe('no default encryption rule (the policy demands KMS alias/oss-sse-default)');
    expect(rule.fix).toBe(
      `set it: oss-sse invoke oss-sse-bucket-encryption --payload '{"bucket":"norule"}' (or oss-sse bucket put norule)`,
    );
    expect(rule.requestId).toMatch(/^[0-9A-F]+$/);
    // The fix works: after it, the check passes.
    const fixed = await runCli(['invoke', 'oss-sse-bucket-encryption', '--payload', '{"bucket":"norule"}'], h.env);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(named((await h.doctor(['--bucket', 'norule'])).checks, 'bucket norule rule').ok).toBe(true);
  });

  it('a disabled KMS key: ✗ naming its state and how to enable it', async () => {
    const key = h.stack.kms.keys.resolve('alias/oss-sse-default');
    h.stack.kms.keys.disableKey(key.keyId);
    try {
      const run = await h.doctor(['--bucket', 'norule']);
      expect(run.code).toBe(1);
      const check = named(run.checks, 'KMS key');
      expect(check).toMatchObject({
        ok: false,
        detail: `KMS key "alias/oss-sse-default" (key id ${key.keyId}) is Disabled; SSE-KMS needs an Enabled key.`,
        fix: `enable it (aliyun kms EnableKey --KeyId ${key.keyId}), or set KMS_KEY_ID to an Enabled key`,
      });
      expect(check.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(named(run.checks, 'KMS endpoint').ok).toBe(true);
    } finally {
      h.stack.kms.keys.enableKey(key.keyId);
    }
    const healthy = named((await h.doctor(['--bucket', 'norule'])).checks, 'KMS key');
    expect(healthy.ok).toBe(true);
    expect(healthy.detail).toMatch(/Enabled, Aliyun_AES_256, ENCRYPT\/DECRYPT; GenerateDataKey under it succeeded$/);
  });

  it('a missing function: ✗ not deployed, and the deploy command', async () => {
    const run = await h.doctor(['--bucket', 'norule', '--function', 'oss-sse-object-encryption', '--function', 'oss-sse-reporter']);
    expect(run.code).toBe(1);
    expect(failures(run.checks).map((c) => c.name)).toEqual(['function oss-sse-reporter']);
    expect(named(run.checks, 'function oss-sse-reporter')).toMatchObject({
      detail: expect.stringMatching(/^not deployed \(404 FunctionNotFound: /),
      fix: 'deploy it (npx s deploy -y), or name the deployed function with --function',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(named(run.checks, 'function oss-sse-object-encryption').ok).toBe(true);
  });

  it('a function configured differently from the policy checked: ✗ naming the variables', async () => {
    const run = await h.doctor(['--bucket', 'norule', '--function', 'oss-sse-backfill'], { SSE_ALGORITHM: 'AES256', KMS_KEY_ID: '' });
    expect(named(run.checks, 'function oss-sse-backfill')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        /^enforces KMS alias\/oss-sse-default, compliance any, but the policy checked here is AES256, compliance any/,
      ),
      fix: "make SSE_ALGORITHM, KMS_KEY_ID the same in s.yaml's vars.environment and this shell, then npx s deploy -y",
    });
  });

  it('a canary the trigger never delivers: ✗ after the timeout; invoking the function directly shows the trigger is what is missing', async () => {
    h.stack.triggers.bucket = false;
    h.stack.triggers.object = false;
    try {
      await h.client().putBucket('notrigger');
      const run = await h.doctor(['--bucket', 'notrigger', '--canary', 'notrigger', '--canary-timeout', '1']);
      expect(run.code).toBe(1);
      const canary = named(run.checks, 'canary notrigger');
      expect(canary.ok).toBe(false);
      expect(canary.detail).toMatch(
        /^wrote \.oss-sse-canary\/[0-9a-f]{16} plaintext; still plaintext after 1 s; invoked directly with the trigger's event, oss-sse-object-encryption answered reencrypted: the trigger did not deliver the upload$/,
      );
      expect(canary.fix).toBe(
        'give oss-sse-object-encryption an OSS trigger on notrigger (s.yaml triggers) and deploy it: npx s object-encryption deploy -y',
      );
      const left = await h.client('notrigger').listV2({ prefix: '.oss-sse', 'max-keys': '10' }, {});
      expect(left.objects ?? []).toEqual([]);
    } finally {
      h.stack.triggers.bucket = true;
      h.stack.triggers.object = true;
    }
  });
  it('a canary the object function fails on: invoking it directly shows its own answer, code and all', async () => {
    const key = h.stack.kms.keys.resolve('alias/oss-sse-default');
    h.stack.triggers.bucket = false;
    try {
      await h.client().putBucket('failing');
      h.stack.kms.keys.disableKey(key.keyId); // the object function cannot use the policy's key
      const run = await h.doctor(['--bucket', 'failing', '--canary', 'failing', '--canary-timeout', '1']);
      const canary = named(run.checks, 'canary failing');
      expect(canary.ok).toBe(false);
      expect(canary.detail).toMatch(
        /still plaintext after 1 s; invoked directly with the trigger's event, oss-sse-object-encryption answered failed: \S+: /,
      );
      // The function's own key check refuses the key, or (cached from an earlier invocation, as FC instances do) OSS refuses its copy.
      expect(canary.detail).toMatch(/answered failed: (InvalidKmsKey|KeyDisabled): .*Disabled/);
      expect(canary.fix).toBe('see its log: npx s object-encryption logs --search failed');
      expect(canary.requestId).toMatch(/^[0-9a-f-]{36}$/);
      const left = await h.client('failing').listV2({ prefix: '.oss-sse', 'max-keys': '10' }, {});
      expect(left.objects ?? []).toEqual([]);
    } finally {
      h.stack.kms.keys.enableKey(key.keyId);
      h.stack.triggers.bucket = true;
    }
  });
});

describe('oss-sse doctor usage errors (exit 2, nothing sent)', () => {
  const env = {
    PATH: process.env['PATH'] ?? '',
    ALIBABA_CLOUD_ACCESS_KEY_ID: AK,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET,
    ALIBABA_CLOUD_REGION_ID: REGION,
  };
  it.each([
    [['--bucket', 'Not_A_Bucket'], /"Not_A_Bucket" is not a valid bucket name/],
    [['--canary-timeout', '0'], /--canary-timeout must be an integer from 1 to 3600/],
    [['--function', '1bad name'], /--function: "1bad name" is not a Function Compute function name/],
    [[], /Set --account-id or ALIBABA_CLOUD_ACCOUNT_ID/],
    [['--account-id', '123', '--algorithm', 'RSA'], /--algorithm/],
  ])('doctor %j', async (args, message) => {
    const run = await runCli(['doctor', ...args], {
      ...env,
      ...(args.includes('--account-id') || args.length === 0 ? {} : { ALIBABA_CLOUD_ACCOUNT_ID: '123' }),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });
});
