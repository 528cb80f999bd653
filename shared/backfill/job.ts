/**
 * A backfill job on Function Compute: the first invocation plans the shards and starts one
 * invocation chain per shard; each invocation runs the engine until shortly before its
 * timeout, saves the shard's checkpoint and counters in a state object, and invokes itself
 * asynchronously to continue. State lives in OSS (STATE_BUCKET/STATE_PREFIX, written with
 * SSE); the job's progress can be read from it at any time, and the final report is written
 * beside it when the last shard finishes.
 *
 * Each continuation carries a generation number; a duplicate or late invocation (FC retries
 * async invocations) whose generation is not the shard's current one stops at once, so two
 * chains never run the same shard and a checkpoint never goes backwards.
 */
import { randomBytes } from 'node:crypto';
import type * as z from 'zod';
import { FcInvokeError } from '../fc-invoke/port';
import type { Logger } from '../log';
import type { OssPort } from '../oss/port';
import { sseRequestHeaders, type Policy } from '../policy';
import { withRetry } from '../retry';
import { concurrencyUnderCap } from './rate-limit';
import { addTotals, emptyTotals, runBackfill, type Checkpoint, type FailureRecord } from './engine';
import { inventoryDataBucket, loadManifestOfBucket, ossInventorySource } from './inventory';
import type { BackfillPayload } from './payload';
import { planBackfillRun, type RunPlan } from './plan';
import {
  JobRecordSchema,
  parseRecord,
  ShardStateSchema,
  type JobInventory,
  type JobRecord,
  type ShardRange,
  type ShardState,
  type Totals,
} from './records';
import { probeSelfCopyMetadata, type SelfCopyProbe } from './self-copy-probe';
import { planInventoryShards, planJobShards, type KeyRange } from './shards';

export type { JobInventory, JobRecord, ShardRange, ShardState } from './records';

export interface StateLocation {
  bucket: string;
  prefix: string;
}

export const jobKey = (s: StateLocation, jobId: string) => `${s.prefix}${jobId}/job.json`;
export const shardKey = (s: StateLocation, jobId: string, shard: number) => `${s.prefix}${jobId}/shard-${shard}.json`;
export const reportKey = (s: StateLocation, jobId: string) => `${s.prefix}${jobId}/report.json`;
const failuresKey = (s: StateLocation, jobId: string, shard: number, generation: number) =>
  `${s.prefix}${jobId}/shard-${shard}-failures-${generation}.ndjson`;

export interface JobDeps {
  oss: OssPort;
  policy: Policy;
  log: Logger;
  state: StateLocation;
  /** Invokes this function asynchronously with the payload (continuations, shards). */
  invokeSelf(payload: BackfillPayload): Promise<void>;
  /** Epoch ms: stop taking work after this. */
  deadline: number;
  resolvedKeyId?: string;
  requestCount?: () => number;
  now?: () => Date;
}

export type BackfillResult =
  | { jobId: string; status: 'started'; shards: number }
  | {
      jobId: string;
      shard: number;
      status: 'continuing' | 'shard-done' | 'job-done' | 'already-done' | 'superseded';
      cursor?: string;
      totals?: Totals;
    }
  | {
      jobId: string;
      shard: number;
      /** The inventory report failed (error says which file): state is saved, nothing continues. */
      status: 'failed';
      error: string;
      cursor?: string;
      totals: Totals;
    };

/** State objects hold progress, not secrets, but every object oss-sse writes is encrypted as the policy demands. */
function stateObjectHeaders(deps: Pick<JobDeps, 'policy' | 'resolvedKeyId'>): Record<string, string> {
  return { ...sseRequestHeaders(deps.policy.target, deps.resolvedKeyId), 'content-type': 'application/json' };
}

/** A state object parsed by its schema; undefined when it does not exist; BackfillStateError when it does not parse. */
async function readStateObject<S extends z.ZodType>(
  oss: OssPort,
  bucket: string,
  key: string,
  schema: S,
  what: string,
): Promise<z.infer<S> | undefined> {
  const body = await oss.getObject(bucket, key);
  return body === undefined ? undefined : parseRecord(schema, body.toString('utf8'), `oss://${bucket}/${key}`, what);
}

async function writeJson(deps: JobDeps, key: string, value: unknown): Promise<void> {
  await deps.oss.putObject(deps.state.bucket, key, Buffer.from(`${JSON.stringify(value, null, 2)}\n`), stateObjectHeaders(deps));
}

export function newJobId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

export async function handleBackfill(payload: BackfillPayload, deps: JobDeps): Promise<BackfillResult> {
  if (payload.jobId === undefined || payload.shard === undefined) return startJob(payload, deps);
  return runShard(payload.jobId, payload.shard, payload.generation ?? 0, deps);
}

/**
 * A job's OSS requests per second when the payload does not say: half of the 10,000 OSS
 * allows per account and region, so production traffic keeps the rest even when 8 shards run.
 */
export const DEFAULT_JOB_QPS = 5_000;

/**
 * One shard's QPS cap and concurrency. The job's cap holds for the job as a whole: its shards
 * run at the same time, so each takes its share — at least 1 per second, or a shard could not
 * get a request done before its deadline — and keeps the job's concurrency in flight, by
 * default as many as fill its share (concurrencyUnderCap).
 */
export function shardLimits(job: Pick<JobRecord, 'qps' | 'concurrency' | 'shards'>): { qps?: number; concurrency?: number } {
  if (!job.qps) return job.concurrency ? { concurrency: job.concurrency } : {};
  const qps = Math.max(1, job.qps / job.shards.length);
  return { qps, concurrency: concurrencyUnderCap(job.concurrency, qps) };
}

/** Invokes a shard chain (its start or its next generation): FC's throttling, 5xx and network errors are retried briefly. */
function invokeChain(deps: JobDeps, next: BackfillPayload): Promise<void> {
  return withRetry(() => deps.invokeSelf(next), {
    maxAttempts: 4,
    baseMs: 200,
    isRetryable: (e) => e instanceof FcInvokeError && e.transient,
  });
}

async function startJob(payload: BackfillPayload, deps: JobDeps): Promise<BackfillResult> {
  const now = deps.now?.() ?? new Date();
  const jobId = newJobId(now);
  const range: KeyRange & { prefix?: string } = {
    ...(payload.prefix ? { prefix: payload.prefix } : {}),
    ...(payload.startAfter ? { startAfter: payload.startAfter } : {}),
    ...(payload.endBefore ? { endBefore: payload.endBefore } : {}),
  };
  // Read the manifest now: a wrong key or bucket fails this invocation before any state exists.
  let inventory: JobInventory | undefined;
  let selfCopyProbe: SelfCopyProbe | undefined;
  let shards: ShardRange[];
  if (payload.inventory) {
    const report = { bucket: payload.inventory.bucket ?? payload.bucket, manifestKey: payload.inventory.manifestKey };
    const manifest = await loadManifestOfBucket(ossInventorySource(deps.oss), report, payload.bucket);
    inventory = { ...report, dataBucket: inventoryDataBucket(manifest, payload.inventory.bucket, payload.bucket) };
    shards = planInventoryShards(manifest.files, payload.shards).map((files) => ({ files }));
    // Once per job, never per shard or object: the shards read the verdict from the job record.
    // A dry run writes nothing, so it does not probe (and HEADs every plaintext row).
    if (!payload.dryRun) selfCopyProbe = await probeSelfCopyMetadata(deps.oss, payload.bucket, deps.policy, deps.log, deps.resolvedKeyId);
  } else {
    shards = await planJobShards(deps.oss, payload, range);
  }
  const job: JobRecord = {
    jobId,
    bucket: payload.bucket,
    ...(payload.prefix ? { prefix: payload.prefix } : {}),
    dryRun: payload.dryRun ?? false,
    ...(payload.concurrency ? { concurrency: payload.concurrency } : {}),
    qps: payload.qps ?? DEFAULT_JOB_QPS,
    ...(inventory ? { inventory } : {}),
    ...(selfCopyProbe ? { selfCopyProbe } : {}),
    shards: shards.map(({ startAfter, endAt, endBefore, files }) => ({
      ...(startAfter !== undefined ? { startAfter } : {}),
      ...(endAt !== undefined ? { endAt } : {}),
      ...(endBefore !== undefined ? { endBefore } : {}),
      ...(files !== undefined ? { files } : {}),
    })),
    createdAt: now.toISOString(),
  };
  await writeJson(deps, jobKey(deps.state, jobId), job);
  for (let i = 0; i < shards.length; i++) {
    const state: ShardState = {
      jobId,
      shard: i,
      generation: 0,
      done: false,
      invocations: 0,
      totals: emptyTotals(),
      updatedAt: now.toISOString(),
    };
    await writeJson(deps, shardKey(deps.state, jobId, i), state);
  }
  deps.log.info('backfill job started', {
    jobId,
    bucket: job.bucket,
    prefix: job.prefix,
    shards: shards.length,
    dryRun: job.dryRun,
    ...(inventory ? { inventory: `oss://${inventory.bucket}/${inventory.manifestKey}` } : {}),
  });
  if (shards.length === 1) return runShard(jobId, 0, 0, deps);
  for (let i = 0; i < shards.length; i++) await invokeChain(deps, { bucket: job.bucket, jobId, shard: i, generation: 0 });
  return { jobId, status: 'started', shards: shards.length };
}

async function runShard(jobId: string, shard: number, generation: number, deps: JobDeps): Promise<BackfillResult> {
  const job = await readStateObject(deps.oss, deps.state.bucket, jobKey(deps.state, jobId), JobRecordSchema, 'job record');
  if (!job) throw new Error(`backfill job ${jobId} not found in oss://${deps.state.bucket}/${jobKey(deps.state, jobId)}`);
  const range = job.shards[shard];
  if (!range) throw new Error(`backfill job ${jobId} has no shard ${shard} (it has ${job.shards.length})`);
  const state = await readStateObject(deps.oss, deps.state.bucket, shardKey(deps.state, jobId, shard), ShardStateSchema, 'shard state');
  if (!state) throw new Error(`backfill job ${jobId} shard ${shard} has no state object`);
  if (state.done) {
    // A retry of the invocation that finished the shard: the job's report may be what failed.
    await writeReportIfDone(deps, job);
    return { jobId, shard, status: 'already-done', totals: state.totals, ...(state.cursor ? { cursor: state.cursor } : {}) };
  }
  if (state.generation !== generation) {
    deps.log.warn('superseded backfill invocation', { jobId, shard, generation, current: state.generation });
    return { jobId, shard, status: 'superseded' };
  }

  const { qps, concurrency } = shardLimits(job);
  const failures: FailureRecord[] = [];
  let plan: RunPlan;
  try {
    plan = await planBackfillRun({
      oss: deps.oss,
      policy: deps.policy,
      bucket: job.bucket,
      ...(job.prefix ? { prefix: job.prefix } : {}),
      source: job.inventory
        ? { mode: 'inventory', report: job.inventory, dataBucket: job.inventory.dataBucket, ...(range.files ? { files: range.files } : {}) }
        : { mode: 'listing', range },
      ...(state.cursor !== undefined ? { resumeAfter: state.cursor } : {}),
      ...(qps ? { qps } : {}),
      ...(concurrency ? { concurrency } : {}),
      stop: new AbortController(),
      ...(job.selfCopyProbe?.verdict === 'keeps' ? { copyWithoutHead: true } : {}),
    });
  } catch (e) {
    if (!job.inventory) throw e;
    // The report went away (or changed) mid-job: say so in the state rather than retrying forever.
    const message = e instanceof Error ? e.message : String(e);
    const failed: ShardState = { ...state, error: message, updatedAt: (deps.now?.() ?? new Date()).toISOString() };
    await writeJson(deps, shardKey(deps.state, jobId, shard), failed);
    deps.log.error('backfill inventory cannot be read', { jobId, shard, error: message });
    return { jobId, shard, status: 'failed', error: message, totals: state.totals, ...(state.cursor ? { cursor: state.cursor } : {}) };
  }
  const inventory = plan.inventory?.items;
  const save = async ({
    checkpoint,
    run,
    done,
    nextGeneration,
    ...extra
  }: {
    checkpoint: Checkpoint;
    run: Totals;
    done: boolean;
    nextGeneration: number;
    error?: string;
    /** This run's count, given with the counters at the end only (like `run`). */
    changedSinceReport?: number;
  }): Promise<ShardState> => {
    const next: ShardState = {
      ...state,
      generation: nextGeneration,
      ...(checkpoint.cursor !== undefined ? { cursor: checkpoint.cursor } : {}),
      done,
      invocations: state.invocations + 1,
      totals: addTotals(state.totals, run),
      ...(inventory ? { changedSinceReport: (state.changedSinceReport ?? 0) + (extra.changedSinceReport ?? 0) } : {}),
      // A chain resumed by hand after an error runs clean until it fails again.
      error: extra.error,
      updatedAt: (deps.now?.() ?? new Date()).toISOString(),
    };
    await writeJson(deps, shardKey(deps.state, jobId, shard), next);
    return next;
  };
  const report = await runBackfill({
    ...plan.engine,
    log: deps.log,
    dryRun: job.dryRun,
    deadline: deps.deadline,
    ...(deps.resolvedKeyId ? { resolvedKeyId: deps.resolvedKeyId } : {}),
    ...(deps.requestCount ? { requestCount: deps.requestCount } : {}),
    onFailure: (f) => void failures.push(f),
    // Progress is visible while a long invocation runs; counters are only added at the end.
    onCheckpoint: async (c) => {
      if (c.done) return;
      await save({ checkpoint: c, run: emptyTotals(), done: false, nextGeneration: generation }).catch((e: unknown) =>
        deps.log.warn('checkpoint write failed', { jobId, shard, error: e }),
      );
    },
    checkpointEveryMs: 30_000,
  });
  if (failures.length > 0) {
    await deps.oss.putObject(
      deps.state.bucket,
      failuresKey(deps.state, jobId, shard, generation),
      Buffer.from(failures.map((f) => JSON.stringify({ bucket: job.bucket, ...f })).join('\n') + '\n'),
      stateObjectHeaders(deps),
    );
  }
  const run: Totals = {
    scanned: report.scanned,
    compliant: report.compliant,
    reencrypted: report.reencrypted,
    wouldReencrypt: report.wouldReencrypt,
    skipped: report.skipped,
    failed: report.failed,
    bytesReencrypted: report.bytesReencrypted,
    requests: report.requests,
    durationMs: report.durationMs,
    plaintextVersionsKept: report.plaintextVersionsKept,
    verified: report.verified,
  };
  const changedSinceReport = inventory?.stats.changedSinceReport ?? 0;
  const reportError = inventory?.stats.error;
  if (reportError) {
    // A data file failed (MD5, size, fetch, a malformed row): another try reads the same bytes, so
    // stop here with the checkpoint (inside that file at most) and the reason in the state. A person
    // can resume the chain by invoking it with this jobId, shard and generation.
    const saved = await save({
      checkpoint: report.checkpoint,
      run,
      done: false,
      nextGeneration: generation,
      error: reportError.message,
      changedSinceReport,
    });
    deps.log.error('backfill inventory report failed', { jobId, shard, generation, cursor: saved.cursor, error: reportError.message });
    return {
      jobId,
      shard,
      status: 'failed',
      error: reportError.message,
      totals: saved.totals,
      ...(saved.cursor ? { cursor: saved.cursor } : {}),
    };
  }
  const done = report.checkpoint.done;
  // The next generation is recorded before it is invoked, so a late duplicate of this one stops.
  const saved = await save({
    checkpoint: report.checkpoint,
    run,
    done,
    nextGeneration: done ? generation : generation + 1,
    changedSinceReport,
  });
  if (!done) {
    try {
      await invokeChain(deps, { bucket: job.bucket, jobId, shard, generation: generation + 1 });
    } catch (err) {
      // Hand the chain back to this generation, so that FC's retry of this invocation (or a
      // person sending this payload again) carries on from the checkpoint. Had the
      // continuation started after all, it finds itself superseded and stops.
      const message = err instanceof Error ? err.message : String(err);
      await save({
        checkpoint: report.checkpoint,
        run,
        done: false,
        nextGeneration: generation,
        error: `continuation could not be invoked: ${message}`,
        changedSinceReport,
      });
      deps.log.error('backfill continuation could not be invoked', { jobId, shard, generation, error: message });
      throw err;
    }
    deps.log.info('backfill continuing', { jobId, shard, generation: generation + 1, cursor: saved.cursor });
    return { jobId, shard, status: 'continuing', totals: saved.totals, ...(saved.cursor ? { cursor: saved.cursor } : {}) };
  }
  const totals = await writeReportIfDone(deps, job);
  if (totals) return { jobId, shard, status: 'job-done', totals };
  return { jobId, shard, status: 'shard-done', totals: saved.totals };
}

/**
 * Once every shard is done, writes `<job>/report.json` unless it is there already; returns the
 * job's totals then. Called by each shard that finishes (the last one writes the report) and
 * by a retried invocation of a finished shard (in case writing the report is what failed).
 */
async function writeReportIfDone(deps: JobDeps, job: JobRecord): Promise<Totals | undefined> {
  const all = await readJobProgress(deps.oss, deps.state, job.jobId);
  if (!all || !all.shards.every((s) => s.done)) return undefined;
  const key = reportKey(deps.state, job.jobId);
  if (await deps.oss.headObject(deps.state.bucket, key)) return all.totals;
  await writeJson(deps, key, {
    jobId: job.jobId,
    bucket: job.bucket,
    prefix: job.prefix,
    dryRun: job.dryRun,
    ...(job.inventory
      ? {
          inventory: `oss://${job.inventory.bucket}/${job.inventory.manifestKey}`,
          changedSinceReport: all.shards.reduce((n, s) => n + (s.changedSinceReport ?? 0), 0),
          ...(job.selfCopyProbe ? { selfCopyProbe: job.selfCopyProbe } : {}),
        }
      : {}),
    done: true,
    totals: all.totals,
    shards: all.shards.length,
    finishedAt: new Date().toISOString(),
  });
  deps.log.info('backfill job done', { jobId: job.jobId, totals: all.totals });
  return all.totals;
}

export interface JobProgress {
  job: JobRecord;
  shards: ShardState[];
  totals: Totals;
  done: boolean;
}

/** A job's progress from its state objects (used by `oss-sse status` and the last shard). */
export async function readJobProgress(oss: OssPort, state: StateLocation, jobId: string): Promise<JobProgress | undefined> {
  const job = await readStateObject(oss, state.bucket, jobKey(state, jobId), JobRecordSchema, 'job record');
  if (!job) return undefined;
  const shards: ShardState[] = [];
  for (let i = 0; i < job.shards.length; i++) {
    const s = await readStateObject(oss, state.bucket, shardKey(state, jobId, i), ShardStateSchema, 'shard state');
    shards.push(s ?? { jobId, shard: i, generation: 0, done: false, invocations: 0, totals: emptyTotals(), updatedAt: job.createdAt });
  }
  const totals = shards.reduce((t, s) => addTotals(t, s.totals), emptyTotals());
  return { job, shards, totals, done: shards.every((s) => s.done) };
}
