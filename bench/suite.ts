/**
 * The benchmarks of `npm run bench` (see index.ts). Every comparison runs both sides in this
 * process against the same local OSS server (a child process, 5 ms injected latency per
 * request) with the same OssHttpClient; requests are counted with requestCount deltas.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { listingItems, runBackfill } from '../shared/backfill/engine';
import { inventoryItems, loadInventoryManifest, ossInventorySource } from '../shared/backfill/inventory';
import { createLogger } from '../shared/log';
import { handleObjectEvent } from '../shared/object-encryption';
import { OssHttpClient } from '../shared/oss/http-client';
import { CONTENT_HEADER_NAMES } from '../shared/oss/port';
import { policyFromConfig, type Policy } from '../shared/policy';
import { reencryptObject } from '../shared/reencrypt';
import { loadConfig } from '../shared/validation/config';
import { writeInventoryReport, type InventoryObject } from '../test/helpers/inventory';
import { fetchCreateBucket, startServer, type Ready } from './backfill-memory';

const SSE = { 'x-oss-server-side-encryption': 'AES256' };
const silent = createLogger({ write: () => {} });
const policy: Policy = policyFromConfig(loadConfig({}));
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));
const seconds = (startMs: number): number => (performance.now() - startMs) / 1000;

/** The latency-injected server and one client on it, shared by the comparisons. */
export interface Stack {
  ready: Ready;
  oss: OssHttpClient;
  stop(): void;
}

export async function startLatencyStack(latencyMs = 5): Promise<Stack> {
  const server = await startServer(['--latency-ms', String(latencyMs), '--jitter-ms', '0']);
  const { ready } = server;
  const creds = { accessKeyId: ready.accessKeyId, accessKeySecret: ready.accessKeySecret };
  const oss = new OssHttpClient({ endpoint: ready.oss, region: ready.region, credentials: () => creds });
  return {
    ready,
    oss,
    stop: () => {
      oss.destroy();
      server.stop();
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
async function seedBucket(s: Stack, bucket: string, n: number, encrypted: (i: number) => boolean): Promise<string[]> {
  await fetchCreateBucket(s.ready, bucket);
  const body = Buffer.alloc(256, 1);
  const etags: string[] = new Array<string>(n);
  await pool(n, 64, async (i) => {
    etags[i] = (await s.oss.putObject(bucket, keyOf(i), body, encrypted(i) ? SSE : {})).etag;
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

async function ourBackfill(oss: OssHttpClient, bucket: string): Promise<{ scanned: number; reencrypted: number }> {
  const r = await runBackfill({ bucket, items: listingItems(oss, bucket, {}), oss, policy, log: silent, concurrency: 64 });
  return { scanned: r.scanned, reencrypted: r.reencrypted };
}

/** Objects per second and requests per object of one pass; a second pass measures the now-compliant bucket. */
async function measurePasses(oss: OssHttpClient, n: number, pass: () => Promise<unknown>): Promise<Record<string, number>> {
  let req = oss.requestCount;
  let t = performance.now();
  await pass();
  const objectsPerSec = n / seconds(t);
  const requestsPerObject = (oss.requestCount - req) / n;
  req = oss.requestCount;
  t = performance.now();
  await pass();
  return {
    objectsPerSec: round(objectsPerSec, 1),
    requestsPerObject: round(requestsPerObject, 4),
    requestsPerCompliantObject: round((oss.requestCount - req) / n, 4),
    compliantObjectsPerSec: round(n / seconds(t), 1),
  };
}

export async function benchBackfill(s: Stack, n: number): Promise<Record<string, unknown>> {
  // Identical content (half plaintext) in two buckets, one per side.
  const half = (i: number): boolean => i % 2 === 0;
  await seedBucket(s, 'bf-baseline', n, half);
  await seedBucket(s, 'bf-oss-sse', n, half);
  // A long backfill runs with its code optimised: warm the JIT on a small bucket first (the
  // baseline is bound by latency, not CPU, so it needs no warm-up).
  await seedBucket(s, 'bf-warm-up', 1000, half);
  await ourBackfill(s.oss, 'bf-warm-up');
  const ours = await measurePasses(s.oss, n, () => ourBackfill(s.oss, 'bf-oss-sse'));
  const baseline = await measurePasses(s.oss, n, () => naiveBackfill(s.oss, 'bf-baseline'));
  return {
    objects: n,
    plaintextFraction: 0.5,
    baseline,
    oss_sse: ours,
    speedup: round((ours.objectsPerSec ?? 0) / (baseline.objectsPerSec ?? 1), 2),
  };
}

export async function benchInventory(s: Stack, n: number): Promise<Record<string, unknown>> {
  const bucket = 'inv-source';
  const plaintext = (i: number): boolean => i % 100 === 0; // 1 % plaintext
  const etags = await seedBucket(s, bucket, n, (i) => !plaintext(i));
  await fetchCreateBucket(s.ready, 'inv-reports');
  function* objects(): Generator<InventoryObject> {
    for (let i = 0; i < n; i++) {
      yield { key: keyOf(i), size: 256, etag: etags[i] as string, encrypted: plaintext(i) ? 'false' : 'true' };
    }
  }
  const store = { putObject: async (b: string, k: string, body: Buffer) => void (await s.oss.putObject(b, k, body)) };
  const manifestKey = await writeInventoryReport(store, { destBucket: 'inv-reports', sourceBucket: bucket, objects: objects() });
  // Everything from reading the manifest on is counted.
  const req = s.oss.requestCount;
  const t = performance.now();
  const source = ossInventorySource(s.oss);
  const manifest = await loadInventoryManifest(source, 'inv-reports', manifestKey);
  const items = inventoryItems(source, manifest, { bucket, policy });
  const r = await runBackfill({ bucket, items, oss: items.trackChanges(s.oss), policy, log: silent, concurrency: 64 });
  if (r.scanned !== n) throw new Error(`inventory backfill scanned ${r.scanned} of ${n}`);
  return {
    objects: n,
    compliantFraction: 0.99,
    requestsPerObject: round((s.oss.requestCount - req) / n, 4),
    objectsPerSec: round(n / seconds(t), 1),
    reencrypted: r.reencrypted,
  };
}

/**
 * One object re-encrypted by multipart copy, its parts one at a time vs PART_CONCURRENCY
 * (default 8) at once; median of 3 runs each. Parts are OSS's minimum (100 KiB) so that
 * the per-request latency dominates, as on OSS, rather than the local server's own CPU (one
 * Node process hashing and encrypting every byte, which real OSS spreads over machines).
 */
export async function benchMultipartCopy(s: Stack, parts = 64): Promise<Record<string, number>> {
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

export async function benchEvents(s: Stack, n: number): Promise<Record<string, unknown>> {
  const concurrency = 8;
  const run = async (bucket: string, encrypted: boolean): Promise<Record<string, number>> => {
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
    const req = s.oss.requestCount;
    const t = performance.now();
    await pool(n, concurrency, async (i) => {
      const summary = await handleObjectEvent(event(i), { oss: s.oss, policy, log: silent });
      const action = summary.records[0]?.action;
      if (action !== (encrypted ? 'compliant' : 'reencrypted')) throw new Error(`event ${i}: ${action}`);
    });
    return { eventsPerSec: round(n / seconds(t), 1), requestsPerEvent: round((s.oss.requestCount - req) / n, 4) };
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

export async function benchColdStart(runs = 10): Promise<Record<string, unknown>> {
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
