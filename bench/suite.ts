/**
 * The benchmarks of `npm run bench` (see index.ts). Every phase runs against the local OSS
 * server in its own process (the built `oss-sse local`, bench/local-server.ts) with injected
 * latency; the client side runs in this process with one OssHttpClient. Requests are counted
 * by the server (its own counters), CPU apart: the server's from /proc, the client's from
 * process.cpuUsage.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { DEFAULT_CONCURRENCY, listingItems, runBackfill } from '../shared/backfill/engine';
import { inventoryItems, loadInventoryManifest, ossInventorySource } from '../shared/backfill/inventory';
import { planBackfillRun } from '../shared/backfill/plan';
import { probeSelfCopyMetadata } from '../shared/backfill/self-copy-probe';
import { rateLimited, TokenBucket } from '../shared/backfill/rate-limit';
import { createLogger } from '../shared/log';
import { handleObjectEvent } from '../shared/object-encryption';
import { OssHttpClient } from '../shared/oss/http-client';
import { CONTENT_HEADER_NAMES, type OssPort } from '../shared/oss/port';
import { policyFromConfig, type Policy } from '../shared/policy';
import { reencryptObject } from '../shared/reencrypt';
import { loadConfig } from '../shared/validation/config';
import { writeInventoryReport, type InventoryObject } from '../test/helpers/inventory';
import type { TrafficSnapshot } from '../local/oss/faults';
import { fetchCreateBucket, ownCpuMs, startServer, type Ready, type ServerProcess } from './local-server';

const SSE = { 'x-oss-server-side-encryption': 'AES256' };
const silent = createLogger({ write: () => {} });
const policy: Policy = policyFromConfig(loadConfig({}));
export const round = (x: number, digits = 3): number => Number(x.toFixed(digits));
const seconds = (startMs: number): number => (performance.now() - startMs) / 1000;

/** A latency-injected server in its own process and one client on it. */
export interface Stack {
  ready: Ready;
  server: ServerProcess;
  oss: OssHttpClient;
  stop(): void;
}

/** A server with `latencyMs` per request (no jitter) and `extra` flags (e.g. `--qps-limit`). */
export async function startLatencyStack(latencyMs = 5, extra: string[] = []): Promise<Stack> {
  const server = await startServer(['--latency-ms', String(latencyMs), '--jitter-ms', '0', ...extra]);
  const { ready } = server;
  const creds = { accessKeyId: ready.accessKeyId, accessKeySecret: ready.accessKeySecret };
  const oss = new OssHttpClient({ endpoint: ready.oss, region: ready.region, credentials: () => creds });
  return {
    ready,
    server,
    oss,
    stop: () => {
      oss.destroy();
      server.stop();
    },
  };
}

/** What one run cost, on both sides. */
export interface Cost {
  /** Requests the server answered or refused. */
  requests: number;
  throttled: number;
  byOperation: Record<string, number>;
  serverCpuMs: number;
  clientCpuMs: number;
  seconds: number;
  /** The server's per-second counts during the run. */
  perSecond: TrafficSnapshot['perSecond'];
}

/** Runs `run` and measures it: the server's request counts and CPU, this process's CPU, the time. */
export async function measure<T>(s: Stack, run: () => Promise<T>): Promise<{ result: T; cost: Cost }> {
  const before = await s.server.traffic();
  const serverCpu = s.server.cpuMs();
  const clientCpu = ownCpuMs();
  const t = performance.now();
  const result = await run();
  const elapsed = seconds(t);
  const clientCpuMs = ownCpuMs() - clientCpu;
  const serverCpuMs = s.server.cpuMs() - serverCpu;
  const after = await s.server.traffic();
  const byOperation: Record<string, number> = {};
  for (const [op, n] of Object.entries(after.byOperation)) {
    const d = n - (before.byOperation[op] ?? 0);
    if (d > 0) byOperation[op] = d;
  }
  const counted = new Map(before.perSecond.map((x) => [x.second, x]));
  const perSecond = after.perSecond
    .map((x) => ({
      second: x.second,
      requests: x.requests - (counted.get(x.second)?.requests ?? 0),
      throttled: x.throttled - (counted.get(x.second)?.throttled ?? 0),
    }))
    .filter((x) => x.requests > 0);
  return {
    result,
    cost: {
      requests: after.requests - before.requests,
      throttled: after.throttled - before.throttled,
      byOperation,
      serverCpuMs,
      clientCpuMs,
      seconds: elapsed,
      perSecond,
    },
  };
}

/** Runs task(0..n-1) with `concurrency` workers. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

const keyOf = (i: number): string => `data/${String(i % 100).padStart(2, '0')}/obj-${String(i).padStart(7, '0')}`;

/** A bucket of n 256-byte objects; object i is encrypted when encrypted(i). Returns the ETags. */
export async function seedBucket(
  s: Stack,
  bucket: string,
  n: number,
  encrypted: (i: number) => boolean,
  oss: OssPort = s.oss,
): Promise<string[]> {
  await fetchCreateBucket(s.ready, bucket);
  const body = Buffer.alloc(256, 1);
  const etags: string[] = new Array<string>(n);
  await pool(n, 64, async (i) => {
    etags[i] = (await oss.putObject(bucket, keyOf(i), body, encrypted(i) ? SSE : {})).etag;
  });
  return etags;
}

/** The naive algorithm: list, then HEAD and (if plaintext) copy over itself, one object at a time. */
async function naiveBackfill(oss: OssHttpClient, bucket: string): Promise<number> {
  let objects = 0;
  let token: string | undefined;
  do {
    const page = await oss.listObjectsV2(bucket, { maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
    for (const o of page.objects) {
      objects++;
      const head = await oss.headObject(bucket, o.key);
      if (!head || head.sse) continue;
      const content: Record<string, string> = {};
      for (const name of CONTENT_HEADER_NAMES) {
        const v = head.contentHeaders[name];
        if (v !== undefined) content[name] = v;
      }
      await oss.copyObject({
        bucket,
        key: o.key,
        sourceBucket: bucket,
        sourceKey: o.key,
        headers: { ...content, ...SSE, 'x-oss-metadata-directive': 'REPLACE' },
      });
    }
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return objects;
}

export async function ourBackfill(oss: OssHttpClient, bucket: string): Promise<{ scanned: number; reencrypted: number }> {
  const r = await runBackfill({ bucket, items: listingItems(oss, bucket, {}), oss, policy, log: silent, concurrency: DEFAULT_CONCURRENCY });
  return { scanned: r.scanned, reencrypted: r.reencrypted };
}

/** Both passes over a half-plaintext bucket: the first re-encrypts, the second finds it all compliant. */
interface Passes {
  objects: number;
  first: Cost;
  second: Cost;
}

async function twoPasses(s: Stack, n: number, pass: () => Promise<unknown>): Promise<Passes> {
  const first = (await measure(s, pass)).cost;
  const second = (await measure(s, pass)).cost;
  return { objects: n, first, second };
}

/**
 * Per-object figures of a half-plaintext bucket. The first pass costs L + n/2·c + n/2·p and the
 * second L + n·c (L: listing, c: a compliant object, p: a plaintext one), so p + L/n =
 * (2·first − second)/n: a plaintext object with its share of the listing.
 */
function perObject(
  { objects: n, first, second }: Passes,
  value: (c: Cost) => number,
): { all: number; compliant: number; plaintext: number } {
  return { all: value(first) / n, compliant: value(second) / n, plaintext: (2 * value(first) - value(second)) / n };
}

function passFigures(p: Passes) {
  return {
    objectsPerSec: round(p.objects / p.first.seconds, 1),
    requestsPerObject: round(p.first.requests / p.objects, 4),
    requestsPerCompliantObject: round(p.second.requests / p.objects, 4),
    compliantObjectsPerSec: round(p.objects / p.second.seconds, 1),
  };
}

/** The half of a bucket that is plaintext: object i is encrypted when i is even. */
export const half = (i: number): boolean => i % 2 === 0;

export async function benchBackfill(s: Stack, n: number, baselineObjects = n) {
  // The same content (half plaintext) in two buckets, one per side; the baseline, one object
  // at a time, needs fewer objects for a steady rate.
  await seedBucket(s, 'bf-baseline', baselineObjects, half);
  await seedBucket(s, 'bf-oss-sse', n, half);
  // A long backfill runs with its code optimised: warm the JIT on a small bucket first (the
  // baseline is bound by latency, not CPU, so it needs no warm-up).
  await seedBucket(s, 'bf-warm-up', 1000, half);
  await ourBackfill(s.oss, 'bf-warm-up');
  const ours = await twoPasses(s, n, () => ourBackfill(s.oss, 'bf-oss-sse'));
  const baseline = await twoPasses(s, baselineObjects, () => naiveBackfill(s.oss, 'bf-baseline'));
  const requests = perObject(ours, (c) => c.requests);
  const clientCpu = perObject(ours, (c) => c.clientCpuMs);
  const serverCpu = perObject(ours, (c) => c.serverCpuMs);
  const oursFigures = passFigures(ours);
  const baselineFigures = passFigures(baseline);
  return {
    objects: n,
    baselineObjects,
    plaintextFraction: 0.5,
    concurrency: DEFAULT_CONCURRENCY,
    baseline: baselineFigures,
    oss_sse: {
      ...oursFigures,
      requestsPerPlaintextObject: round(requests.plaintext, 4),
      requestsByOperation: ours.first.byOperation,
      clientCpuMsPerObject: { compliant: round(clientCpu.compliant), plaintext: round(clientCpu.plaintext) },
      clientCpuMsPerRequest: round(ours.first.clientCpuMs / ours.first.requests),
      serverCpuMsPerObject: { compliant: round(serverCpu.compliant), plaintext: round(serverCpu.plaintext) },
      serverCpuMsPerRequest: round(ours.first.serverCpuMs / ours.first.requests),
    },
    speedup: round((oursFigures.objectsPerSec ?? 0) / (baselineFigures.objectsPerSec ?? 1), 2),
  };
}

/**
 * Both sides at a latency where neither is CPU-bound, so each side's time is its requests
 * times the latency over its requests in flight: the baseline one at a time, oss-sse
 * `concurrency` objects at once. The ideal speedup is then concurrency × baseline requests per
 * object ÷ oss-sse requests per object; the efficiency is how much of it the pipeline gets.
 */
export async function benchPipeline(latencyMs: number, baselineObjects: number, ossSseObjects: number) {
  const s = await startLatencyStack(latencyMs);
  try {
    await seedBucket(s, 'pl-baseline', baselineObjects, half);
    await seedBucket(s, 'pl-oss-sse', ossSseObjects, half);
    const baseline = (await measure(s, () => naiveBackfill(s.oss, 'pl-baseline'))).cost;
    const ours = (await measure(s, () => ourBackfill(s.oss, 'pl-oss-sse'))).cost;
    const baselineRequestsPerObject = baseline.requests / baselineObjects;
    const ossSseRequestsPerObject = ours.requests / ossSseObjects;
    const baselineObjectsPerSec = baselineObjects / baseline.seconds;
    const ossSseObjectsPerSec = ossSseObjects / ours.seconds;
    const speedup = ossSseObjectsPerSec / baselineObjectsPerSec;
    const ideal = (DEFAULT_CONCURRENCY * baselineRequestsPerObject) / ossSseRequestsPerObject;
    return {
      latencyMs,
      concurrency: DEFAULT_CONCURRENCY,
      plaintextFraction: 0.5,
      baselineObjects,
      ossSseObjects,
      baselineObjectsPerSec: round(baselineObjectsPerSec, 1),
      ossSseObjectsPerSec: round(ossSseObjectsPerSec, 1),
      baselineRequestsPerObject: round(baselineRequestsPerObject, 4),
      ossSseRequestsPerObject: round(ossSseRequestsPerObject, 4),
      speedup: round(speedup, 2),
      idealSpeedup: round(ideal, 2),
      efficiency: round(speedup / ideal, 3),
      // Shares of one core during the oss-sse run: both well below 1, or the run is CPU-bound.
      serverCpuShare: round(ours.serverCpuMs / 1000 / ours.seconds, 2),
      clientCpuShare: round(ours.clientCpuMs / 1000 / ours.seconds, 2),
    };
  } finally {
    s.stop();
  }
}

/**
 * A backfill given `--qps q` against a server limited to q (`oss-sse local --qps-limit q`),
 * at a latency where the default 64 objects in flight could not fill it: the share of q it
 * uses over the whole seconds of the run, the server's refusals, and its rate second by second.
 */
export async function benchQpsBudget(q: number, latencyMs: number, runSeconds: number) {
  const s = await startLatencyStack(latencyMs, ['--qps-limit', String(q)]);
  try {
    // About 2.5 requests per object of a half-plaintext bucket (today's figure; fewer later only shortens the run).
    const objects = Math.round((q * runSeconds) / 2.5);
    // Seeded under the same limit, paced to it so that nothing is refused.
    await seedBucket(s, 'qps-budget', objects, half, rateLimited(s.oss, new TokenBucket(q)));
    // Let the server's bucket fill again.
    await new Promise((r) => setTimeout(r, 1100));
    const { result: report, cost } = await measure(s, async () => {
      const plan = await planBackfillRun({
        oss: s.oss,
        policy,
        bucket: 'qps-budget',
        source: { mode: 'listing' },
        qps: q,
        stop: new AbortController(),
      });
      return runBackfill({ ...plan.engine, log: silent });
    });
    if (report.scanned !== objects) throw new Error(`qps budget: scanned ${report.scanned} of ${objects}`);
    // The first and last seconds are partial: utilisation is over the seconds wholly inside the run.
    const interior = cost.perSecond.slice(1, -1);
    const served = interior.reduce((sum, x) => sum + x.requests - x.throttled, 0);
    return {
      q,
      latencyMs,
      objects,
      seconds: round(cost.seconds, 1),
      utilization: round(interior.length > 0 ? served / (q * interior.length) : 0, 3),
      throttled: cost.throttled,
      failed: Object.values(report.failed).reduce((a, b) => a + b, 0),
      requestsPerSecond: cost.perSecond.map((x) => x.requests - x.throttled),
      serverCpuShare: round(cost.serverCpuMs / 1000 / cost.seconds, 2),
      clientCpuShare: round(cost.clientCpuMs / 1000 / cost.seconds, 2),
    };
  } finally {
    s.stop();
  }
}

/** Each object's Last-Modified as a report writes it (LastModifiedDate), from a listing (not counted). */
async function reportedTimes(s: Stack, bucket: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await s.oss.listObjectsV2(bucket, { maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
    for (const o of page.objects) out.set(o.key, o.lastModified);
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * One inventory run as the CLI does it: a report of `bucket` (n objects, plaintext where
 * `plaintext(i)`, every row with the ETag and LastModifiedDate the copy is pinned to), the
 * self-copy probe once (not counted per object), then the engine over the report, everything
 * from reading the manifest on counted.
 */
async function inventoryRun(s: Stack, bucket: string, n: number, plaintext: (i: number) => boolean) {
  const etags = await seedBucket(s, bucket, n, (i) => !plaintext(i));
  const times = await reportedTimes(s, bucket);
  await fetchCreateBucket(s.ready, `${bucket}-reports`);
  function* objects(): Generator<InventoryObject> {
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      yield {
        key,
        size: 256,
        etag: etags[i] as string,
        lastModified: times.get(key) as string,
        encrypted: plaintext(i) ? 'false' : 'true',
      };
    }
  }
  const store = { putObject: async (b: string, k: string, body: Buffer) => void (await s.oss.putObject(b, k, body)) };
  const manifestKey = await writeInventoryReport(store, { destBucket: `${bucket}-reports`, sourceBucket: bucket, objects: objects() });
  // Once per run, as the CLI and a job do, and not counted per object: may plaintext rows skip the HEAD?
  const probe = await probeSelfCopyMetadata(s.oss, bucket, policy, silent);
  let files = 0;
  const { result: r, cost } = await measure(s, async () => {
    const source = ossInventorySource(s.oss);
    const manifest = await loadInventoryManifest(source, `${bucket}-reports`, manifestKey);
    files = manifest.files.length;
    const items = inventoryItems(source, manifest, { bucket, policy, copyWithoutHead: probe.verdict === 'keeps' });
    return runBackfill({ bucket, items, oss: items.trackChanges(s.oss), policy, log: silent, concurrency: DEFAULT_CONCURRENCY });
  });
  if (r.scanned !== n) throw new Error(`inventory backfill of ${bucket} scanned ${r.scanned} of ${n}`);
  // The report's own reads (the manifest and its data files) are shared by every object.
  return { r, cost, reportReads: 1 + files, probe };
}

/**
 * Inventory mode, two runs of n objects each: a 99%-compliant bucket (what a compliant row
 * costs: its share of the report's reads; and the whole run per object), and an all-plaintext
 * bucket, where per-run constants (the first copy's verifying HEAD, the report's reads) do not
 * dominate the figure per plaintext object. The probe's requests are reported apart.
 */
export async function benchInventory(s: Stack, n: number) {
  const mostlyCompliant = await inventoryRun(s, 'inv-source', n, (i) => i % 100 === 0); // 1 % plaintext
  const plaintextObjects = Math.ceil(n / 100);
  const all = await inventoryRun(s, 'inv-plain', n, () => true);
  const m = mostlyCompliant;
  return {
    objects: n,
    compliantFraction: 0.99,
    requestsPerObject: round(m.cost.requests / n, 4),
    /** From the all-plaintext run: (its requests − the report's reads) / objects. */
    requestsPerPlaintextObject: round((all.cost.requests - all.reportReads) / n, 4),
    /** The same from the 99%-compliant run (n / 100 plaintext rows: the first copy's HEAD weighs more). */
    requestsPerPlaintextObjectAt99Compliant: round((m.cost.requests - m.reportReads) / plaintextObjects, 4),
    requestsPerCompliantObject: round(m.reportReads / n, 4),
    requestsByOperation: m.cost.byOperation,
    clientCpuMsPerObject: round(m.cost.clientCpuMs / n, 4),
    objectsPerSec: round(n / m.cost.seconds, 1),
    reencrypted: m.r.reencrypted,
    verified: m.r.verified,
    allPlaintext: {
      objects: n,
      reencrypted: all.r.reencrypted,
      requests: all.cost.requests,
      reportReads: all.reportReads,
      requestsByOperation: all.cost.byOperation,
      verified: all.r.verified,
      clientCpuMsPerObject: round(all.cost.clientCpuMs / n, 4),
      objectsPerSec: round(n / all.cost.seconds, 1),
    },
    /** The run's self-copy probe: its verdict and the requests it cost (once per run, not in the figures above). */
    selfCopyProbe: { verdict: m.probe.verdict, requests: m.probe.requests },
  };
}

/**
 * One object re-encrypted by multipart copy, its parts one at a time vs PART_CONCURRENCY
 * (default 8) at once; median of 3 runs each. Parts are OSS's minimum (100 KiB) so that
 * the per-request latency dominates, as on OSS, rather than the local server's own CPU (one
 * Node process hashing and encrypting every byte, which real OSS spreads over machines).
 */
export async function benchMultipartCopy(s: Stack, parts = 64) {
  const bucket = 'multipart-copy';
  await fetchCreateBucket(s.ready, bucket);
  const partBytes = 100 * 1024;
  const body = Buffer.alloc(parts * partBytes, 3);
  const timeWith = async (key: string, partConcurrency: number): Promise<number> => {
    const runs: number[] = [];
    for (let run = 0; run < 3; run++) {
      await s.oss.putObject(bucket, key, body);
      const p: Policy = { ...policy, multipartThresholdBytes: partBytes, partSizeBytes: partBytes, partConcurrency };
      const t = performance.now();
      const out = await reencryptObject(s.oss, p, silent, { bucket, key });
      if (out.action !== 'reencrypted') throw new Error(`multipart copy: ${out.action} ${out.reason ?? ''}`);
      runs.push(seconds(t));
    }
    return runs.sort((a, b) => a - b)[1] as number;
  };
  const sequential = await timeWith('big-seq', 1);
  const parallel = await timeWith('big-par', policy.partConcurrency);
  return {
    parts,
    partKiB: partBytes / 1024,
    partConcurrency: policy.partConcurrency,
    sequentialSeconds: round(sequential),
    parallelSeconds: round(parallel),
    parallelSpeedup: round(sequential / parallel, 2),
  };
}

export async function benchEvents(s: Stack, n: number) {
  const concurrency = 8;
  const run = async (bucket: string, encrypted: boolean) => {
    const etags = await seedBucket(s, bucket, n, () => encrypted);
    // The trigger payload OSS would deliver for each PutObject.
    const event = (i: number) => ({
      events: [
        {
          eventName: 'ObjectCreated:PutObject',
          eventSource: 'acs:oss',
          eventTime: new Date().toISOString(),
          eventVersion: '1.0',
          oss: {
            bucket: { arn: `acs:oss:${s.ready.region}:1:${bucket}`, name: bucket, ownerIdentity: '1', virtualBucket: '' },
            object: { deltaSize: 256, eTag: etags[i] as string, key: keyOf(i), size: 256 },
            ossSchemaVersion: '1.0',
            ruleId: 'bench',
          },
          region: s.ready.region,
          requestParameters: { sourceIPAddress: '127.0.0.1' },
          responseElements: { requestId: `req-${i}` },
          userIdentity: { principalId: '1' },
        },
      ],
    });
    const { cost } = await measure(s, () =>
      pool(n, concurrency, async (i) => {
        const summary = await handleObjectEvent(event(i), { oss: s.oss, policy, log: silent });
        const action = summary.records[0]?.action;
        if (action !== (encrypted ? 'compliant' : 'reencrypted')) throw new Error(`event ${i}: ${action}`);
      }),
    );
    return { eventsPerSec: round(n / cost.seconds, 1), requestsPerEvent: round(cost.requests / n, 4) };
  };
  return { events: n, concurrency, compliant: await run('ev-compliant', true), plaintext: await run('ev-plaintext', false) };
}

/** Median ms to require() `file` in a fresh node process. */
function loadMs(file: string, runs: number): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  // The configuration a deployment has (the backfill refuses to load without its state bucket).
  const env = { ...process.env, STATE_BUCKET: 'oss-sse-state' };
  const samples = Array.from({ length: runs }, () => Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env })));
  samples.sort((a, b) => a - b);
  const mid = Math.floor(runs / 2);
  return runs % 2 === 1 ? (samples[mid] as number) : ((samples[mid - 1] as number) + (samples[mid] as number)) / 2;
}

export async function benchColdStart(runs = 10) {
  // A bundle of ali-oss alone, with the build's own esbuild options (proxy-agent alias included).
  const buildScript: string = '../scripts/build.mjs'; // a variable: the .mjs has no type declarations
  const { common } = (await import(buildScript)) as { common: BuildOptions };
  const dir = mkdtempSync(join(tmpdir(), 'oss-sse-bench-'));
  const aliOssBundle = join(dir, 'ali-oss.js');
  await build({ ...common, stdin: { contents: "require('ali-oss');", resolveDir: process.cwd(), loader: 'js' }, outfile: aliOssBundle });
  const bundlesMs: Record<string, number> = {};
  for (const name of readdirSync('dist/functions').sort()) {
    bundlesMs[name] = round(loadMs(join(process.cwd(), 'dist/functions', name, 'index.js'), runs), 1);
  }
  const aliOssMs = round(loadMs(aliOssBundle, runs), 1);
  rmSync(dir, { recursive: true, force: true });
  const worst = Math.max(...Object.values(bundlesMs));
  return { runs, bundlesMs, aliOssMs, worstBundleMs: worst, ratio: round(worst / aliOssMs, 2) };
}
