/**
 * Backfill jobs: shards, continuations cut by a short deadline, duplicate invocations, and the
 * state objects — against the local OSS server. Async self-invocations are queued and
 * delivered by the test the way Function Compute would (possibly late, possibly twice).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_JOB_QPS,
  handleBackfill,
  readJobProgress,
  reportKey,
  shardKey,
  shardLimits,
  type BackfillResult,
  type JobDeps,
  type ShardState,
} from '../../shared/backfill/job';
import { backfillInvocation } from '../../shared/backfill/invocation';
import type { BackfillPayload } from '../../shared/backfill/payload';
import { BackfillStateError } from '../../shared/backfill/records';
import { BackfillPayloadSchema } from '../../shared/backfill/payload';
import { FcInvokeError } from '../../shared/fc-invoke/port';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { OssRequestError, type OssPort } from '../../shared/oss/port';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { callTimes } from '../helpers/call-times';
import { startTestOss, type TestOss } from '../helpers/oss';
import { seededRandom } from '../helpers/seeded-random';

let t: TestOss;
let oss: OssHttpClient;
const state = { bucket: 'oss-sse-state', prefix: 'jobs/' };
beforeAll(async () => {
  t = await startTestOss();
  oss = t.httpClient();
  await t.client().putBucket(state.bucket);
});
afterAll(async () => t.close());

const policy = policyFromConfig(loadConfig({}));

async function seed(bucket: string, keys: string[]): Promise<void> {
  const c = t.client({ bucket });
  await c.putBucket(bucket);
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => c.put(k, Buffer.from(k))));
}

async function plaintextKeys(bucket: string): Promise<string[]> {
  const left: string[] = [];
  let token: string | undefined;
  do {
    const page = await oss.listObjectsV2(bucket, { maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
    for (const o of page.objects) if (!(await oss.headObject(bucket, o.key))?.sse) left.push(o.key);
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return left;
}

/**
 * Runs a job to the end, delivering queued self-invocations in a seeded shuffled order;
 * `sliceMs` is each invocation's working time.
 */
async function drive(first: BackfillPayload, sliceMs: number, opts: { duplicate?: boolean; oss?: OssPort } = {}) {
  const queue: BackfillPayload[] = [];
  const results: BackfillResult[] = [];
  const random = seededRandom(0xd1e5);
  const deps = (): JobDeps => ({
    oss: opts.oss ?? oss,
    policy,
    log: memoryLogger(),
    state,
    invokeSelf: async (p) => {
      queue.push(p);
      if (opts.duplicate) queue.push(p); // FC delivers async invocations at least once
    },
    deadline: Date.now() + sliceMs,
  });
  results.push(await handleBackfill(BackfillPayloadSchema.parse(first), deps()));
  let invocations = 1;
  while (queue.length > 0 && invocations < 2000) {
    // Shuffle delivery order, as concurrent FC instances would.
    const i = Math.floor(random() * queue.length);
    const [p] = queue.splice(i, 1);
    results.push(await handleBackfill(p as BackfillPayload, deps()));
    invocations++;
  }
  return { results, invocations };
}

describe('backfill job', () => {
  it('one shard, cut into many invocations by a short deadline, completes with nothing missed', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `d${i % 5}/k${String(i).padStart(4, '0')}`);
    await seed('job-one', keys);
    const { results, invocations } = await drive({ bucket: 'job-one', concurrency: 4 }, 30);
    expect(invocations).toBeGreaterThan(2);
    const last = results.at(-1) as Extract<BackfillResult, { shard: number }>;
    expect(last.status).toBe('job-done');
    expect(await plaintextKeys('job-one')).toEqual([]);
    const progress = await readJobProgress(oss, state, last.jobId);
    expect(progress?.done).toBe(true);
    expect(progress?.totals.reencrypted).toBe(300);
    // No qps in the payload: the job keeps to half of OSS's per-account limit.
    expect(progress?.job.qps).toBe(DEFAULT_JOB_QPS);
    // Nothing counted twice: each object re-encrypted once across all continuations.
    expect(progress?.totals.scanned).toBeGreaterThanOrEqual(300);
    const report = JSON.parse(((await oss.getObject(state.bucket, reportKey(state, last.jobId))) as Buffer).toString());
    expect(report).toMatchObject({ jobId: last.jobId, done: true, totals: { reencrypted: 300 } });
    // State objects are written with SSE themselves.
    expect((await oss.headObject(state.bucket, reportKey(state, last.jobId)))?.sse?.algorithm).toBe('AES256');
  });

  it('the payload qps caps the whole job: no second of its requests to the bucket holds more (shards share it)', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `q${i % 2}/k${String(i).padStart(3, '0')}`);
    await seed('job-qps', keys);
    const timed = callTimes(oss, 'job-qps');
    const { results } = await drive({ bucket: 'job-qps', qps: 20, shards: 2, dryRun: true, concurrency: 16 }, 10_000, { oss: timed.port });
    expect(results.at(-1)).toMatchObject({ status: 'job-done', totals: { scanned: 30, wouldReencrypt: 30 } });
    // Shard planning lists the bucket before any shard runs; the shards' own requests are capped.
    const times = timed.times.slice(2);
    expect(times.length).toBeGreaterThanOrEqual(30);
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    // Each of the two shards gets 10 per second plus a burst of one token (here they run one
    // after the other; on FC at once, together under 20).
    expect(busiest).toBeLessThanOrEqual(12);
  });

  it.each([
    [{ shards: [{}] }, {}],
    [
      { qps: 5000, shards: [{}] },
      { qps: 5000, concurrency: 1024 },
    ],
    [{ concurrency: 8, shards: [{}] }, { concurrency: 8 }],
    [
      { qps: 1000, shards: [{}, {}, {}, {}] },
      // No concurrency given: as many as fill the shard's share.
      { qps: 250, concurrency: 250 },
    ],
    [
      { qps: 20, concurrency: 16, shards: [{}, {}] },
      { qps: 10, concurrency: 10 },
    ],
    [
      { qps: 2, shards: [{}, {}, {}, {}] },
      { qps: 1, concurrency: 1 },
    ],
    [
      { qps: 2.5, concurrency: 100, shards: [{}] },
      { qps: 2.5, concurrency: 3 },
    ],
  ])('shardLimits(%j) = %j', (job, limits) => {
    expect(shardLimits(job)).toEqual(limits);
  });

  it("a continuation FC throttles is invoked again; one FC refuses hands the chain back, and FC's retry finishes the job", async () => {
    const keys = Array.from({ length: 240 }, (_, i) => `c${i % 4}/k${String(i).padStart(4, '0')}`);
    await seed('job-invoke-fails', keys);
    const queue: Array<{ payload: BackfillPayload; retry: number }> = [];
    let attempts = 0;
    const failures: Array<{ generation: number | undefined; transient: boolean }> = [];
    const deps = (): JobDeps => ({
      oss,
      policy,
      log: memoryLogger(),
      state,
      deadline: Date.now() + 25,
      invokeSelf: async (p) => {
        attempts++;
        // The first continuation is throttled once; the second is refused outright, once.
        const refusal: 'throttled' | 'denied' | undefined =
          p.generation === 1 && failures.length === 0 ? 'throttled' : p.generation === 2 && failures.length === 1 ? 'denied' : undefined;
        if (refusal !== undefined) {
          const transient = refusal === 'throttled';
          failures.push({ generation: p.generation, transient });
          throw new FcInvokeError(transient ? 'TooManyRequests' : 'AccessDenied', 'refused by FC', {
            requestId: 'req-1',
            status: transient ? 429 : 403,
            transient,
          });
        }
        queue.push({ payload: p, retry: 0 });
      },
    });
    queue.push({ payload: BackfillPayloadSchema.parse({ bucket: 'job-invoke-fails', shards: 1, concurrency: 2 }), retry: 0 });
    const results: BackfillResult[] = [];
    let thrown = 0;
    while (queue.length > 0 && results.length < 500) {
      const next = queue.shift() as { payload: BackfillPayload; retry: number };
      try {
        results.push(await handleBackfill(next.payload, deps()));
      } catch (err) {
        // FC retries a thrown async invocation with the same payload.
        expect(err).toBeInstanceOf(FcInvokeError);
        thrown++;
        const jobId = next.payload.jobId as string;
        const shard = JSON.parse(((await oss.getObject(state.bucket, shardKey(state, jobId, 0))) as Buffer).toString()) as ShardState;
        expect(shard).toMatchObject({ generation: next.payload.generation, done: false });
        expect(shard.error).toMatch(/^continuation could not be invoked: refused by FC/);
        queue.push({ payload: next.payload, retry: next.retry + 1 });
      }
    }
    expect(failures).toEqual([
      { generation: 1, transient: true },
      { generation: 2, transient: false },
    ]);
    expect(thrown).toBe(1);
    const last = results.at(-1) as Extract<BackfillResult, { shard: number }>;
    expect(last.status).toBe('job-done');
    const progress = await readJobProgress(oss, state, last.jobId);
    expect(progress?.totals.reencrypted).toBe(240);
    expect(progress?.shards[0]?.error).toBeUndefined();
    expect(await plaintextKeys('job-invoke-fails')).toEqual([]);
    expect(attempts).toBe(results.filter((r) => r.status === 'continuing').length + 2);
  });

  it("when writing the job report fails, FC's retry of that invocation writes it", async () => {
    await seed('job-report-fails', ['a/1', 'a/2', 'b/1', 'b/2']);
    let failReport = true;
    // Writing the report fails once (after the client's own retries, as far as the job can tell).
    const flaky = new Proxy(oss, {
      get(target, prop, receiver) {
        if (prop === 'putObject') {
          return async (...args: Parameters<OssHttpClient['putObject']>) => {
            if (failReport && args[1].endsWith('/report.json')) {
              failReport = false;
              throw new OssRequestError(503, 'ServiceUnavailable', 'PutObject failed', 'REQ');
            }
            return target.putObject(...args);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const queue: BackfillPayload[] = [BackfillPayloadSchema.parse({ bucket: 'job-report-fails', shards: 2 })];
    const results: BackfillResult[] = [];
    let thrown = 0;
    while (queue.length > 0 && results.length < 50) {
      const p = queue.shift() as BackfillPayload;
      const deps: JobDeps = {
        oss: flaky,
        policy,
        log: memoryLogger(),
        state,
        deadline: Date.now() + 5_000,
        invokeSelf: async (n) => void queue.push(n),
      };
      try {
        results.push(await handleBackfill(p, deps));
      } catch (err) {
        expect(err).toMatchObject({ code: 'ServiceUnavailable' });
        thrown++;
        queue.push(p); // FC retries the failed async invocation
      }
    }
    expect(thrown).toBe(1);
    const jobId = (results[0] as Extract<BackfillResult, { status: 'started' }>).jobId;
    expect(results.at(-1)).toMatchObject({ status: 'already-done' });
    const report = JSON.parse(((await oss.getObject(state.bucket, reportKey(state, jobId))) as Buffer).toString()) as Record<
      string,
      unknown
    >;
    expect(report).toMatchObject({ jobId, done: true, shards: 2, totals: { reencrypted: 4 } });
  });

  it('shards split the key space and each chain checkpoints on its own; duplicates are superseded', async () => {
    const keys = Array.from({ length: 400 }, (_, i) => `p${i % 8}/obj-${String(i).padStart(4, '0')}`);
    await seed('job-shards', keys);
    const { results } = await drive({ bucket: 'job-shards', shards: 4, concurrency: 4 }, 40, { duplicate: true });
    const started = results[0] as Extract<BackfillResult, { status: 'started' }>;
    expect(started).toMatchObject({ status: 'started', shards: 4 });
    expect(results.filter((r) => r.status === 'job-done')).toHaveLength(1);
    expect(results.some((r) => r.status === 'superseded' || r.status === 'already-done')).toBe(true);
    expect(await plaintextKeys('job-shards')).toEqual([]);
    const progress = await readJobProgress(oss, state, started.jobId);
    expect(progress?.shards).toHaveLength(4);
    expect(progress?.shards.every((s) => s.done)).toBe(true);
    expect(progress?.totals.reencrypted).toBe(400);
  });

  it('a dry run changes nothing and reports what it would do', async () => {
    await seed('job-dry', ['a', 'b', 'c']);
    const { results } = await drive({ bucket: 'job-dry', dryRun: true }, 5_000);
    expect(results.at(-1)).toMatchObject({ status: 'job-done', totals: { wouldReencrypt: 3, reencrypted: 0 } });
    expect(await plaintextKeys('job-dry')).toEqual(['a', 'b', 'c']);
  });

  it('a corrupted state object is an error naming the object and the field, answered (not retried) by the invocation', async () => {
    await seed('job-corrupt', ['a', 'b']);
    const queue: BackfillPayload[] = [];
    const deps: JobDeps = {
      oss,
      policy,
      log: memoryLogger(),
      state,
      invokeSelf: async (p) => void queue.push(p),
      deadline: Date.now() + 5_000,
    };
    const started = (await handleBackfill(BackfillPayloadSchema.parse({ bucket: 'job-corrupt', shards: 2 }), deps)) as Extract<
      BackfillResult,
      { status: 'started' }
    >;
    expect(queue).toHaveLength(2);
    const key = shardKey(state, started.jobId, 0);
    const where = `oss://${state.bucket}/${key}`;
    const shard = JSON.parse(((await oss.getObject(state.bucket, key)) as Buffer).toString()) as ShardState;
    await oss.putObject(
      state.bucket,
      key,
      Buffer.from(JSON.stringify({ ...shard, totals: { ...shard.totals, scanned: 'many' }, done: 1 })),
    );
    const err = await handleBackfill(queue[0] as BackfillPayload, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackfillStateError);
    expect((err as Error).message).toMatch(`${where}: not a valid shard state: `);
    expect((err as Error).message).toContain('totals.scanned: expected number, got string "many"');
    expect((err as Error).message).toContain('done: expected boolean, got number 1');
    await expect(readJobProgress(oss, state, started.jobId)).rejects.toThrow(where);
    // Not JSON at all: named too. The function answers it instead of throwing (FC would retry in vain).
    await oss.putObject(state.bucket, key, Buffer.from('{"jobId": "'));
    const answer = await backfillInvocation(JSON.stringify(queue[0]), {
      ...deps,
      resolveKmsKey: async () => undefined,
      defaultConcurrency: 4,
    });
    expect(answer).toMatchObject({ error: 'InvalidJobState', message: expect.stringMatching(`^${where}: shard state is not valid JSON`) });
    // The other shard runs to its end; whether the job is done cannot be told past shard 0's state, and that is said.
    await expect(handleBackfill(queue[1] as BackfillPayload, deps)).rejects.toThrow(`${where}: shard state is not valid JSON`);
    const shard1 = JSON.parse(((await oss.getObject(state.bucket, shardKey(state, started.jobId, 1))) as Buffer).toString()) as ShardState;
    expect(shard1).toMatchObject({ done: true, totals: { scanned: 1 } });
  });

  it('refuses a malformed payload naming the field, and an unknown job clearly', async () => {
    const bad = BackfillPayloadSchema.safeParse({ bucket: 'Bad_Bucket', shards: 0, extra: 1 });
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.') || i.message) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['bucket', 'shards']));
    await expect(
      handleBackfill(
        { bucket: 'job-dry', jobId: 'nosuchjob-123', shard: 0, generation: 0 },
        { oss, policy, log: memoryLogger(), state, invokeSelf: async () => undefined, deadline: Date.now() + 1000 },
      ),
    ).rejects.toThrow(/job nosuchjob-123 not found/);
  });
});
