/**
 * The backfill function as deployed: the built bundle in the local runtime, invoked through the
 * local FC endpoint by `oss-sse invoke`, continuing itself through FC when its (short) timeout
 * nears, followed with `oss-sse status`.
 */
import OSS from 'ali-oss';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_STATE_BUCKET, startLocalStack, type LocalStack } from '../../local/stack';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'cli', 'oss-sse.js');
const run = promisify(execFile);
const AK = 'AK-backfill-e2e';
const SK = 'SK-backfill-e2e-secret-value';

let stack: LocalStack;
const lines: string[] = [];
beforeAll(async () => {
  stack = await startLocalStack({
    region: 'cn-hangzhou',
    accessKeyId: AK,
    accessKeySecret: SK,
    functionsDir: join(root, 'dist', 'functions'),
    functionEnv: { BACKFILL_CONCURRENCY: '8' },
    // A 3 s timeout leaves 1.5 s of work per invocation: the job must continue itself.
    functionTimeoutSeconds: 3,
    asyncRetry: { maxAttempts: 3, baseDelayMs: 20 },
    log: (l) => lines.push(l),
  });
}, 120_000);
afterAll(async () => stack.close());

const client = (bucket: string) =>
  new OSS({ endpoint: stack.oss.url, region: 'oss-cn-hangzhou', accessKeyId: AK, accessKeySecret: SK, bucket });

const env = () => ({
  ...process.env,
  ALIBABA_CLOUD_ACCESS_KEY_ID: AK,
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: SK,
  ALIBABA_CLOUD_REGION_ID: 'cn-hangzhou',
  ALIBABA_CLOUD_ACCOUNT_ID: stack.oss.events.accountId,
  OSS_ENDPOINT: stack.oss.url,
  FC_ENDPOINT: stack.fc?.url ?? '',
  STATE_BUCKET: LOCAL_STATE_BUCKET,
});

async function seedPlaintext(bucket: string, n: number): Promise<void> {
  // Objects written while the object function is paused: the plaintext a backfill is for.
  stack.triggers.object = false;
  stack.triggers.bucket = false;
  try {
    const c = client(bucket);
    await c.putBucket(bucket);
    for (let i = 0; i < n; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, (_, j) =>
          c.put(`dir${(i + j) % 10}/obj-${String(i + j).padStart(5, '0')}`, Buffer.from(`payload ${i + j}`)),
        ),
      );
    }
  } finally {
    stack.triggers.object = true;
    stack.triggers.bucket = true;
  }
}

async function countPlaintext(bucket: string): Promise<number> {
  const c = client(bucket);
  let plaintext = 0;
  let token: string | undefined;
  do {
    const page = await c.listV2({ 'max-keys': 1000, ...(token ? { 'continuation-token': token } : {}) });
    for (const o of page.objects ?? []) {
      const h = (await c.head(o.name)).res.headers as Record<string, string | undefined>;
      if (!h['x-oss-server-side-encryption']) plaintext++;
    }
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return plaintext;
}

describe('backfill function through the local FC endpoint', () => {
  it('a sharded job started with `oss-sse invoke --async` continues itself until every object is encrypted; `status` shows it', async () => {
    await seedPlaintext('bf-e2e', 3000);
    expect(await countPlaintext('bf-e2e')).toBe(3000);
    const invoked = await run(
      process.execPath,
      [cli, 'invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket: 'bf-e2e', shards: 3 }), '--async'],
      { env: env() },
    );
    expect(JSON.parse(invoked.stdout)).toEqual({ requestId: expect.any(String) });
    await stack.idle();
    expect(await countPlaintext('bf-e2e')).toBe(0);
    expect(stack.runtime?.failures() ?? []).toEqual([]);
    // The job id is in the function's log; continuations happened (more invocations than shards).
    const started = lines.map((l) => /"msg":"backfill job started".*"jobId":"([a-z0-9-]+)"/.exec(l)?.[1]).find(Boolean) as string;
    expect(started).toBeTruthy();
    const status = await run(process.execPath, [cli, 'status', started, '--json'], { env: env() });
    const progress = JSON.parse(status.stdout) as {
      done: boolean;
      shards: Array<{ invocations: number; done: boolean }>;
      totals: { reencrypted: number };
    };
    expect(progress.done).toBe(true);
    expect(progress.shards).toHaveLength(3);
    expect(progress.totals.reencrypted).toBe(3000);
    expect(progress.shards.reduce((n, s) => n + s.invocations, 0)).toBeGreaterThan(3);
    const table = await run(process.execPath, [cli, 'status', started], { env: env() });
    expect(table.stdout).toContain(`job ${started}: bucket bf-e2e, done`);
    expect(lines.join('\n')).not.toContain(SK);
  }, 120_000);

  it('a sync invoke of a dry run returns the result; a bad payload is refused naming the field', async () => {
    await seedPlaintext('bf-e2e-dry', 20);
    const dry = await run(
      process.execPath,
      [cli, 'invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket: 'bf-e2e-dry', dryRun: true })],
      { env: env() },
    );
    expect(JSON.parse(dry.stdout).result).toMatchObject({ status: 'job-done', totals: { wouldReencrypt: 20, reencrypted: 0 } });
    expect(await countPlaintext('bf-e2e-dry')).toBe(20);
    const bad = await run(
      process.execPath,
      [cli, 'invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket: 'Bad_Name', shards: 0 })],
      { env: env() },
    );
    const result = JSON.parse(bad.stdout).result as { error: string; message: string };
    expect(result.error).toBe('InvalidPayload');
    expect(result.message).toMatch(/bucket/);
    expect(result.message).toMatch(/shards/);
  }, 60_000);

  it('an unknown bucket is answered with NoSuchBucket naming it, not retried, and no job state is written', async () => {
    const stateKeys = () => [...stack.oss.store.keysFrom(LOCAL_STATE_BUCKET, { key: '', inclusive: true })];
    const stateBefore = stateKeys();
    const failuresBefore = stack.runtime?.failures().length ?? 0;
    const r = await run(process.execPath, [cli, 'invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket: 'bf-e2e-missing' })], {
      env: env(),
    });
    const result = JSON.parse(r.stdout).result as { error: string; message: string; requestId?: string };
    expect(result.error).toBe('NoSuchBucket');
    expect(result.message).toContain('bf-e2e-missing');
    expect(result.requestId).toMatch(/^[0-9A-F]{24}$/);
    // Invoked asynchronously, FC would retry a thrown error: the answer is not one.
    await run(process.execPath, [cli, 'invoke', 'oss-sse-backfill', '--async', '--payload', JSON.stringify({ bucket: 'bf-e2e-missing' })], {
      env: env(),
    });
    await stack.idle();
    expect(stack.runtime?.failures().length ?? 0).toBe(failuresBefore);
    expect(lines.filter((l) => l.includes('backfill refused by OSS') && l.includes('NoSuchBucket')).length).toBe(2);
    expect(stateKeys()).toEqual(stateBefore);
  }, 60_000);

  it('an unknown function is a clear error with a non-zero exit', async () => {
    const err = await run(process.execPath, [cli, 'invoke', 'oss-sse-nope', '--payload', '{}'], { env: env() }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/FunctionNotFound|not found/i);
  });
});
