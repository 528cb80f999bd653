/**
 * Inventory mode: the backfill reads an OSS inventory report (written into the local OSS
 * server in the real layout by test/helpers/inventory.ts) instead of listing, and only HEADs
 * what the report does not settle. Covers the streaming GET it reads data files with, the
 * engine's item source, the CLI (`--inventory`, built bundle) and the backfill function's job.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill, type BackfillReport, type EngineOptions } from '../../shared/backfill/engine';
import {
  InventoryError,
  inventoryCursor,
  inventoryItems,
  loadInventoryManifest,
  ossInventorySource,
  parseInventoryCursor,
  type InventorySource,
  type InventoryStats,
} from '../../shared/backfill/inventory';
import {
  handleBackfill,
  readJobProgress,
  reportKey,
  shardKey,
  type BackfillResult,
  type JobDeps,
  type JobProgress,
  type ShardState,
} from '../../shared/backfill/job';
import { BackfillPayloadSchema, type BackfillPayload } from '../../shared/backfill/payload';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { OssRequestError } from '../../shared/oss/port';
import { policyFromConfig, type Policy } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { shuffledSchema, writeInventoryReport, type InventoryObject } from '../helpers/inventory';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

const REPORTS = 'inv-reports';
const credentials = () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET });

let t: TestOss;
/** The client under measurement (its requestCount is what a run costs). */
let oss: OssHttpClient;
/** Seeding and checking go through their own client, so they never count as the run's requests. */
let verifier: OssHttpClient;
beforeAll(async () => {
  t = await startTestOss();
  oss = new OssHttpClient({ endpoint: t.server.url, region: t.server.region, credentials });
  verifier = new OssHttpClient({ endpoint: t.server.url, region: t.server.region, credentials });
  await t.client().putBucket(REPORTS);
});
afterAll(async () => {
  oss.destroy();
  verifier.destroy();
  await t.close();
});

const anyPolicy = policyFromConfig(loadConfig({}));
const exactPolicy = policyFromConfig(loadConfig({ COMPLIANCE: 'exact' }));

// ---- fixtures ------------------------------------------------------------------------------------

/** Keys with characters that the report's URL encoding, CSV quoting and our signing must all survive. */
const keyFor = (i: number): string =>
  i % 25 === 17 ? `odd/${String(i).padStart(5, '0')} space+plus%20 数据 "q",é #?&=.txt` : `obj/${String(i).padStart(5, '0')}`;

interface Seeded {
  bucket: string;
  keys: string[];
  plaintext: string[];
  /** Rows in report order (the listing's). */
  rows: InventoryObject[];
  manifestKey: string;
  dataKeys: string[];
}

/**
 * A bucket of `n` objects, SSE (`sse(i)`, default AES256) unless `plain(i)`, and an inventory
 * report of it in REPORTS: shuffled column order, `rowsPerFile` rows per gzipped data file.
 */
async function seed(
  bucket: string,
  n: number,
  opts: { plain: (i: number) => boolean; sse?: (i: number) => string; rowsPerFile: number; schemaSeed?: number },
): Promise<Seeded> {
  const c = t.client({ bucket });
  await c.putBucket(bucket);
  const keys: string[] = [];
  const plaintext: string[] = [];
  const puts: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    const key = keyFor(i);
    keys.push(key);
    const plain = opts.plain(i);
    if (plain) plaintext.push(key);
    puts.push(
      c.put(key, Buffer.from(`body of ${i}`), plain ? {} : { headers: { 'x-oss-server-side-encryption': opts.sse?.(i) ?? 'AES256' } }),
    );
    if (puts.length >= 64) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);

  const plainSet = new Set(plaintext);
  const rows: InventoryObject[] = [];
  let token: string | undefined;
  do {
    const page = await verifier.listObjectsV2(bucket, { maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
    for (const o of page.objects) {
      rows.push({
        key: o.key,
        size: o.size,
        etag: o.etag,
        lastModified: o.lastModified,
        encrypted: plainSet.has(o.key) ? 'false' : 'SSE-OSS',
      });
    }
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  expect(rows).toHaveLength(n);

  const manifestKey = await writeInventoryReport(t.client(), {
    destBucket: REPORTS,
    prefix: 'inventory',
    sourceBucket: bucket,
    inventoryId: 'daily',
    objects: rows,
    schema: shuffledSchema(opts.schemaSeed ?? 11),
    rowsPerFile: opts.rowsPerFile,
    // As OSS writes it; the reader strips the ARN prefix.
    destinationBucketField: `acs:oss:::${REPORTS}`,
  });
  const manifest = await loadInventoryManifest(ossInventorySource(verifier), REPORTS, manifestKey);
  return { bucket, keys, plaintext, rows, manifestKey, dataKeys: manifest.files.map((f) => f.key) };
}

/** Keys the engine's routine re-encrypted, from the run's log. */
function decided(lines: readonly string[], action: string): string[] {
  return lines
    .map((l) => JSON.parse(l) as { msg?: string; action?: string; key?: string })
    .filter((l) => l.msg === 'object decision' && l.action === action)
    .map((l) => l.key as string);
}

async function unencrypted(bucket: string): Promise<string[]> {
  const left: string[] = [];
  let token: string | undefined;
  do {
    const page = await verifier.listObjectsV2(bucket, { maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
    const heads = await Promise.all(page.objects.map((o) => verifier.headObject(bucket, o.key)));
    heads.forEach((h, i) => {
      if (!h?.sse) left.push((page.objects[i] as { key: string }).key);
    });
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return left.sort();
}

/** An InventorySource over `oss` that records which objects it fetched. */
function recordingSource(client: OssHttpClient): InventorySource & { reads: string[] } {
  const inner = ossInventorySource(client);
  const reads: string[] = [];
  return {
    reads,
    getObject: (bucket, key) => {
      reads.push(key);
      return inner.getObject(bucket, key);
    },
  };
}

interface InventoryRun {
  report: BackfillReport;
  stats: InventoryStats;
  /** Every request of the run, the manifest's GET included. */
  requests: number;
  lines: string[];
  reads: string[];
}

async function runInventory(
  s: Pick<Seeded, 'bucket' | 'manifestKey'>,
  opts: { policy?: Policy; resumeAfter?: string; stopOnError?: boolean } & Partial<
    Pick<EngineOptions, 'maxObjects' | 'deadline' | 'concurrency' | 'dryRun'>
  > = {},
): Promise<InventoryRun> {
  const before = oss.requestCount;
  const source = recordingSource(oss);
  const policy = opts.policy ?? anyPolicy;
  const manifest = await loadInventoryManifest(source, REPORTS, s.manifestKey);
  const stop = new AbortController();
  const items = inventoryItems(source, manifest, {
    bucket: s.bucket,
    policy,
    ...(opts.resumeAfter !== undefined ? { resumeAfter: opts.resumeAfter } : {}),
    ...(opts.stopOnError === false ? {} : { stopOnError: stop }),
  });
  const log = memoryLogger();
  const report = await runBackfill({
    bucket: s.bucket,
    items,
    oss: items.trackChanges(oss),
    policy,
    log,
    signal: stop.signal,
    requestCount: () => oss.requestCount,
    concurrency: opts.concurrency ?? 16,
    ...(opts.maxObjects !== undefined ? { maxObjects: opts.maxObjects } : {}),
    ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
    ...(opts.dryRun ? { dryRun: true } : {}),
  });
  return { report, stats: items.stats, requests: oss.requestCount - before, lines: log.lines, reads: source.reads };
}

const finished = (r: Pick<BackfillReport, 'compliant' | 'reencrypted' | 'wouldReencrypt' | 'skipped' | 'failed'>): number =>
  r.compliant +
  r.reencrypted +
  r.wouldReencrypt +
  Object.values(r.skipped).reduce((a, b) => a + b, 0) +
  Object.values(r.failed).reduce((a, b) => a + b, 0);

/** Replaces the report's manifest.json with `edit` applied (manifest.checksum is left stale: it is opt-in). */
async function editManifest(manifestKey: string, edit: (m: { files: Array<Record<string, unknown>> }) => void): Promise<void> {
  const m = JSON.parse(((await verifier.getObject(REPORTS, manifestKey)) as Buffer).toString('utf8')) as {
    files: Array<Record<string, unknown>>;
  };
  edit(m);
  await verifier.putObject(REPORTS, manifestKey, Buffer.from(JSON.stringify(m)));
}

// ---- the streaming GET --------------------------------------------------------------------------

describe('OssHttpClient.getObjectStream', () => {
  const big = randomBytes(6 * 1024 * 1024 + 123);
  beforeAll(async () => {
    await t.client().putBucket('stream-src');
    await verifier.putObject('stream-src', 'big.bin', big);
  });

  it('streams a multi-MB object in many chunks with its ETag and size', async () => {
    const r = await oss.getObjectStream('stream-src', 'big.bin');
    expect(r.size).toBe(big.length);
    expect(r.etag.replace(/"/g, '').toLowerCase()).toBe(createHash('md5').update(big).digest('hex'));
    expect(r.requestId).toBeTruthy();
    const hash = createHash('md5');
    let chunks = 0;
    let largest = 0;
    for await (const chunk of r.body) {
      hash.update(chunk);
      chunks++;
      largest = Math.max(largest, chunk.length);
    }
    expect(hash.digest('hex')).toBe(createHash('md5').update(big).digest('hex'));
    // Handed out as it arrives, not as one buffered body.
    expect(chunks).toBeGreaterThan(10);
    expect(largest).toBeLessThan(big.length / 4);
  });

  it('stopping early frees the connection: the next request on a one-socket client still goes through', async () => {
    // One socket, one try: a socket still held by a half-read response makes the next request time out and fail.
    const single = new OssHttpClient({
      endpoint: t.server.url,
      region: t.server.region,
      credentials,
      maxSockets: 1,
      timeoutMs: 5_000,
      retry: { maxAttempts: 1 },
    });
    try {
      for (let round = 0; round < 3; round++) {
        const r = await single.getObjectStream('stream-src', 'big.bin');
        let read = 0;
        for await (const chunk of r.body) {
          read += chunk.length;
          break;
        }
        expect(read).toBeGreaterThan(0);
        expect(read).toBeLessThan(big.length);
        const head = await single.headObject('stream-src', 'big.bin');
        expect(head?.size).toBe(big.length);
      }
      // And a full read afterwards is whole.
      const r = await single.getObjectStream('stream-src', 'big.bin');
      let total = 0;
      for await (const chunk of r.body) total += chunk.length;
      expect(total).toBe(big.length);
    } finally {
      single.destroy();
    }
  });

  it('a missing object is a 404 NoSuchKey, not retried', async () => {
    const before = oss.requestCount;
    const err = await oss.getObjectStream('stream-src', 'nope.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OssRequestError);
    expect(err).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect(oss.requestCount - before).toBe(1);
  });

  describe('against a scripted server', () => {
    let server: Server;
    let url = '';
    let handler: (req: IncomingMessage, res: ServerResponse, hit: number) => void = () => undefined;
    let hits = 0;
    beforeAll(async () => {
      server = createServer((req, res) => handler(req, res, hits++));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const client = () =>
      new OssHttpClient({ endpoint: url, region: 'cn-hangzhou', credentials, timeoutMs: 2_000, retry: { baseMs: 1, capMs: 5 } });
    const payload = Buffer.alloc(256 * 1024, 7);
    const okHeaders = { 'content-length': String(payload.length), etag: '"ABC"', 'x-oss-request-id': 'REQ-1' };

    it('retries a 503 before the headers, then streams', async () => {
      hits = 0;
      handler = (_req, res, hit) => {
        if (hit === 0) {
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end('<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>');
          return;
        }
        res.writeHead(200, okHeaders);
        res.end(payload);
      };
      const c = client();
      try {
        const r = await c.getObjectStream('b', 'k');
        let total = 0;
        for await (const chunk of r.body) total += chunk.length;
        expect(total).toBe(payload.length);
        expect(c.requestCount).toBe(2);
      } finally {
        c.destroy();
      }
    });

    it('a body cut short after the headers is a NetworkError to the reader, never retried', async () => {
      hits = 0;
      handler = (_req, res) => {
        res.writeHead(200, okHeaders);
        res.write(payload.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 20));
      };
      const c = client();
      try {
        const r = await c.getObjectStream('b', 'k');
        let total = 0;
        const err = await (async () => {
          for await (const chunk of r.body) total += chunk.length;
        })().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OssRequestError);
        expect(err).toMatchObject({ status: 'network-error', code: 'NetworkError' });
        expect(total).toBe(1000);
        expect(c.requestCount).toBe(1);
        expect(hits).toBe(1);
      } finally {
        c.destroy();
      }
    });

    it('a stalled body fails after the idle timeout; a slow reader of a flowing body does not', async () => {
      handler = (_req, res) => {
        res.writeHead(200, okHeaders);
        res.write(payload.subarray(0, 1000)); // …and nothing more
      };
      const c = client();
      try {
        const r = await c.getObjectStream('b', 'k', { idleTimeoutMs: 150 });
        const err = await (async () => {
          for await (const _ of r.body) void _;
        })().catch((e: unknown) => e);
        expect(err).toMatchObject({ status: 'timeout', code: 'ClientTimeout' });

        handler = (_req, res) => {
          res.writeHead(200, okHeaders);
          res.end(payload);
        };
        const slow = await c.getObjectStream('b', 'k', { idleTimeoutMs: 300 });
        let total = 0;
        for await (const chunk of slow.body) {
          // The clock only runs while the reader waits for a chunk, not while it works on one.
          if (total === 0) await new Promise((resolve) => setTimeout(resolve, 800));
          total += chunk.length;
        }
        expect(total).toBe(payload.length);
      } finally {
        c.destroy();
      }
    });
  });
});

// ---- the engine over a report -------------------------------------------------------------------

describe('inventory backfill (engine)', () => {
  it('on a 99% compliant bucket of 2,000 objects re-encrypts exactly the plaintext ones for ≤ 0.05 requests per object', async () => {
    const s = await seed('inv-main', 2000, { plain: (i) => i % 100 === 17, rowsPerFile: 700 });
    expect(s.plaintext).toHaveLength(20);
    expect(s.dataKeys).toHaveLength(3);
    const run = await runInventory(s);
    expect(run.report).toMatchObject({
      scanned: 2000,
      compliant: 1980,
      reencrypted: 20,
      failed: {},
      skipped: {},
      checkpoint: { done: true },
    });
    expect(run.report.stoppedBy).toBeUndefined();
    expect(run.stats).toMatchObject({ rows: 2000, known: 1980, headed: 20, changedSinceReport: 0 });
    expect(decided(run.lines, 'reencrypted').sort()).toEqual([...s.plaintext].sort());
    // Manifest + 3 data files + (HEAD, ACL, copy, verify) per plaintext object.
    expect(run.requests / 2000).toBeLessThanOrEqual(0.05);
    expect(run.report.requests / run.report.scanned).toBeLessThanOrEqual(0.05);
    expect(run.reads).toEqual([s.manifestKey, ...s.dataKeys]);
    expect(await unencrypted('inv-main')).toEqual([]);
    // Content kept (the keys with odd characters included).
    const odd = s.plaintext.find((k) => k.startsWith('odd/')) as string;
    expect((await verifier.getObject('inv-main', odd))?.toString()).toMatch(/^body of \d+$/);
  });

  it('an object changed since the report is decided on its HEAD; one deleted since is skipped not-found', async () => {
    const s = await seed('inv-changed', 300, { plain: (i) => i % 10 === 3, rowsPerFile: 120 });
    const [changed, deleted] = s.plaintext as [string, string];
    await verifier.putObject('inv-changed', changed, Buffer.from('newer plaintext written after the report'));
    await verifier.deleteObject('inv-changed', deleted);
    const run = await runInventory(s);
    expect(run.report).toMatchObject({
      scanned: 300,
      compliant: 270,
      reencrypted: 29,
      skipped: { 'not-found': 1 },
      failed: {},
      checkpoint: { done: true },
    });
    expect(run.stats.changedSinceReport).toBe(1);
    const head = await verifier.headObject('inv-changed', changed);
    expect(head?.sse?.algorithm).toBe('AES256');
    expect((await verifier.getObject('inv-changed', changed))?.toString()).toBe('newer plaintext written after the report');
    // Never re-created from the report.
    expect(await verifier.headObject('inv-changed', deleted)).toBeUndefined();
    expect(await unencrypted('inv-changed')).toEqual([]);
  });

  it('resumes from a checkpoint in the middle of the second data file and does every remaining row exactly once', async () => {
    const s = await seed('inv-resume', 1500, { plain: (i) => i % 20 === 9, rowsPerFile: 500, schemaSeed: 5 });
    const first = await runInventory(s, { maxObjects: 800, concurrency: 8 });
    expect(first.report).toMatchObject({ scanned: 800, stoppedBy: 'max-objects', checkpoint: { done: false } });
    // Row 800 is record 299 of the second file; every scanned row finished, so the mark is there.
    expect(first.report.checkpoint.cursor).toBe(inventoryCursor({ fileIndex: 1, record: 299 }));
    expect(finished(first.report)).toBe(800);

    // The second run starts inside file 1 and never fetches file 0.
    const second = await runInventory(s, { resumeAfter: first.report.checkpoint.cursor as string, maxObjects: 150, concurrency: 8 });
    expect(second.reads).toEqual([s.manifestKey, s.dataKeys[1]]);
    expect(second.report.checkpoint.cursor).toBe(inventoryCursor({ fileIndex: 1, record: 449 }));
    let cursor = second.report.checkpoint.cursor as string;
    const runs: InventoryRun[] = [first, second];
    for (let i = 0; i < 300; i++) {
      // Short slices, as a Function Compute invocation would get: stopped by the deadline, wherever it falls.
      const next = await runInventory(s, { resumeAfter: cursor, deadline: Date.now() + 30, concurrency: 4 });
      runs.push(next);
      cursor = next.report.checkpoint.cursor ?? cursor;
      if (next.report.checkpoint.done) break;
    }
    const last = runs.at(-1) as InventoryRun;
    expect(last.report.checkpoint.done).toBe(true);
    expect(runs.reduce((n, r) => n + finished(r.report), 0)).toBe(1500);
    const reencrypted = runs.flatMap((r) => decided(r.lines, 'reencrypted'));
    expect(reencrypted.sort()).toEqual([...s.plaintext].sort());
    // Nothing decided twice: each plaintext object got exactly one decision over all runs.
    const decisions = runs.flatMap((r) => [...decided(r.lines, 'reencrypted'), ...decided(r.lines, 'compliant')]);
    expect(decisions).toHaveLength(s.plaintext.length);
    expect(await unencrypted('inv-resume')).toEqual([]);
  });

  it("'exact' compliance HEADs the rows reported encrypted ('any' takes the report's word)", async () => {
    // SM4 objects are "encrypted" to the report but not what an exact AES256 policy demands.
    const s = await seed('inv-exact', 200, { plain: (i) => i % 50 === 1, sse: (i) => (i % 4 === 0 ? 'SM4' : 'AES256'), rowsPerFile: 80 });
    const anyRun = await runInventory(s, { dryRun: true });
    expect(anyRun.report).toMatchObject({ scanned: 200, compliant: 196, wouldReencrypt: 4 });
    expect(anyRun.stats.headed).toBe(4);
    expect(anyRun.requests).toBe(1 + 3 + 4);

    const exact = await runInventory(s, { policy: exactPolicy });
    expect(exact.stats).toMatchObject({ rows: 200, known: 0, headed: 200 });
    const sm4 = s.keys.filter((_, i) => i % 4 === 0 && i % 50 !== 1);
    expect(exact.report).toMatchObject({ scanned: 200, reencrypted: 4 + sm4.length, compliant: 200 - 4 - sm4.length, failed: {} });
    expect(exact.requests).toBeGreaterThanOrEqual(200);
    for (const key of sm4.slice(0, 5)) expect((await verifier.headObject('inv-exact', key))?.sse?.algorithm).toBe('AES256');
  });

  it('a data file that fails its MD5 stops the run as not done, says which file, and the checkpoint never leaves that file', async () => {
    const s = await seed('inv-corrupt', 300, { plain: (i) => i % 10 === 0, rowsPerFile: 100 });
    const bad = s.dataKeys[1] as string;
    await editManifest(s.manifestKey, (m) => {
      (m.files[1] as Record<string, unknown>).MD5checksum = '0123456789abcdef0123456789abcdef';
    });
    const run = await runInventory(s, { concurrency: 4 });
    expect(run.report.checkpoint.done).toBe(false);
    expect(run.stats.error).toBeInstanceOf(InventoryError);
    expect(run.stats.error?.message).toContain(bad);
    expect(run.stats.error?.message).toMatch(/MD5/);
    // The third file is never read, so nothing after the failed file is checkpointed.
    expect(run.reads).not.toContain(s.dataKeys[2]);
    const cursor = run.report.checkpoint.cursor;
    expect(cursor === undefined || parseInventoryCursor(cursor).fileIndex <= 1).toBe(true);
    // Resuming re-reads (and re-verifies) the file holding the cursor: still refused.
    const again = await runInventory(s, { ...(cursor ? { resumeAfter: cursor } : {}) });
    expect(again.report.checkpoint.done).toBe(false);
    expect(again.stats.error?.message).toContain(bad);

    // Without stopOnError the error comes out of the run itself.
    await expect(runInventory(s, { stopOnError: false, concurrency: 1 })).rejects.toThrow(bad);
  });

  it('refuses a report of another bucket before reading any row', async () => {
    const s = await seed('inv-other', 10, { plain: () => true, rowsPerFile: 10 });
    const run = await runInventory({ bucket: 'inv-main', manifestKey: s.manifestKey });
    expect(run.report).toMatchObject({ scanned: 0, checkpoint: { done: false } });
    expect(run.stats.error?.message).toMatch(/inventory report is of bucket inv-other, not inv-main/);
    expect(run.reads).toEqual([s.manifestKey]);
  });
});

// ---- the CLI ------------------------------------------------------------------------------------

describe('oss-sse backfill --inventory (built CLI)', () => {
  const root = join(__dirname, '..', '..');
  // Built once for the run by the global setup (test/setup/build-dist.ts).
  const cliPath = join(root, 'dist', 'cli', 'oss-sse.js');
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'oss-sse-inventory-cli-'));
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const cli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ALIBABA_CLOUD_ACCESS_KEY_ID: TEST_AK,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: TEST_SECRET,
      ALIBABA_CLOUD_REGION_ID: t.server.region,
      OSS_ENDPOINT: t.server.url,
    };
    for (const name of ['SSE_ALGORITHM', 'KMS_KEY_ID', 'COMPLIANCE', 'ALIBABA_CLOUD_SECURITY_TOKEN']) delete env[name];
    try {
      const r = await promisify(execFile)(process.execPath, [cliPath, ...args], { env, timeout: 60_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };

  it('re-encrypts from the report, resumes through the inventory cursor, and refuses a checkpoint of the other mode', async () => {
    const s = await seed('inv-cli', 400, { plain: (i) => i % 25 === 4, rowsPerFile: 150 });
    const ckpt = join(work, 'inv-cli.ckpt');
    const base = ['backfill', 'inv-cli', '--inventory', s.manifestKey, '--inventory-bucket', REPORTS, '--checkpoint', ckpt, '--json'];

    const first = await cli([...base, '--max-objects', '200', '--concurrency', '4']);
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout) as BackfillReport & { inventory: InventoryStats & { manifest: string; selfCopyProbe?: unknown } };
    expect(r1).toMatchObject({ scanned: 200, stoppedBy: 'max-objects', checkpoint: { done: false } });
    expect(r1.inventory).toMatchObject({ manifest: `oss://${REPORTS}/${s.manifestKey}`, rows: expect.any(Number) });
    // The run's self-copy probe found a COPY self-copy keeps the metadata: plaintext rows skip the HEAD.
    expect(r1.inventory).toMatchObject({ selfCopyProbe: { verdict: 'keeps', requests: 4 }, headed: 0 });
    expect(r1.inventory.copiedAsReported).toBeGreaterThan(0);
    expect(r1.checkpoint.cursor).toBe(inventoryCursor({ fileIndex: 1, record: 49 }));
    const saved = JSON.parse(readFileSync(ckpt, 'utf8')) as { mode: string; inventory: unknown; checkpoint: { cursor: string } };
    expect(saved).toMatchObject({ mode: 'inventory', inventory: { bucket: REPORTS, manifestKey: s.manifestKey } });

    // The same checkpoint for a listing run (or another report) means nothing: refused, clearly.
    const asListing = await cli(['backfill', 'inv-cli', '--checkpoint', ckpt, '--json']);
    expect(asListing.code).toBe(2);
    expect(asListing.stderr).toMatch(/belongs to an inventory backfill from oss:\/\/inv-reports\/.*not a listing backfill/);

    const second = await cli(base);
    expect(second.code, second.stderr).toBe(0);
    const r2 = JSON.parse(second.stdout) as BackfillReport;
    expect(r2).toMatchObject({ scanned: 200, checkpoint: { done: true }, failed: {} });
    expect(r1.reencrypted + r2.reencrypted).toBe(s.plaintext.length);
    expect(r1.compliant + r2.compliant).toBe(400 - s.plaintext.length);
    expect(await unencrypted('inv-cli')).toEqual([]);

    // A listing checkpoint is not resumed as an inventory one either.
    const listingCkpt = join(work, 'listing.ckpt');
    const listing = await cli(['backfill', 'inv-cli', '--checkpoint', listingCkpt, '--max-objects', '10', '--json']);
    expect(listing.code, listing.stderr).toBe(0);
    expect(existsSync(listingCkpt)).toBe(true);
    const mixed = await cli([
      'backfill',
      'inv-cli',
      '--inventory',
      s.manifestKey,
      '--inventory-bucket',
      REPORTS,
      '--checkpoint',
      listingCkpt,
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/belongs to a listing backfill, not an inventory backfill/);

    const orphan = await cli(['backfill', 'inv-cli', '--inventory-bucket', REPORTS]);
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toMatch(/--inventory-bucket needs --inventory/);
  });

  it('a corrupted data file exits 1 naming the file, the report says not done', async () => {
    const s = await seed('inv-cli-bad', 120, { plain: (i) => i % 10 === 0, rowsPerFile: 50 });
    await editManifest(s.manifestKey, (m) => {
      (m.files[0] as Record<string, unknown>).MD5checksum = 'ffffffffffffffffffffffffffffffff';
    });
    const r = await cli(['backfill', 'inv-cli-bad', '--inventory', s.manifestKey, '--inventory-bucket', REPORTS, '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(s.dataKeys[0] as string);
    const report = JSON.parse(r.stdout) as BackfillReport & { error: string };
    expect(report.checkpoint.done).toBe(false);
    expect(report.stoppedBy).toBeUndefined();
    expect(report.error).toMatch(/MD5/);
  });
});

// ---- the backfill function's job ----------------------------------------------------------------

describe('backfill job in inventory mode', () => {
  const state = { bucket: 'inv-state', prefix: 'jobs/' };
  beforeAll(async () => {
    await t.client().putBucket(state.bucket);
  });

  /** `oss` with every HEAD taking a few ms more, so a short slice cannot finish a job however fast the machine. */
  const slowHeads = (): OssHttpClient =>
    new Proxy(oss, {
      get(target, prop, receiver) {
        if (prop === 'headObject') {
          return async (...args: Parameters<OssHttpClient['headObject']>) => {
            await new Promise((resolve) => setTimeout(resolve, 3));
            return target.headObject(...args);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });

  async function drive(first: BackfillPayload, sliceMs: number) {
    const queue: BackfillPayload[] = [];
    const results: BackfillResult[] = [];
    const deps = (): JobDeps => ({
      oss: slowHeads(),
      policy: anyPolicy,
      log: memoryLogger(),
      state,
      invokeSelf: async (p) => void queue.push(p),
      deadline: Date.now() + sliceMs,
      requestCount: () => oss.requestCount,
    });
    results.push(await handleBackfill(BackfillPayloadSchema.parse(first), deps()));
    while (queue.length > 0 && results.length < 2000) results.push(await handleBackfill(queue.shift() as BackfillPayload, deps()));
    return { results, queued: queue.length };
  }

  it('runs one shard over the report, continuing itself with the inventory cursor until done', async () => {
    // 120 plaintext rows, 2 HEADs each, ≥ 3 ms per HEAD, 2 at a time: far more than one 30 ms slice.
    const s = await seed('inv-job', 600, { plain: (i) => i % 5 === 2, rowsPerFile: 200 });
    const { results } = await drive({ bucket: 'inv-job', inventory: { manifestKey: s.manifestKey, bucket: REPORTS }, concurrency: 2 }, 30);
    expect(results.length).toBeGreaterThan(2);
    let continuing = 0;
    for (const r of results) {
      if (r.status !== 'continuing') continue;
      continuing++;
      // The cursor carried between invocations is a report position, not a key.
      if (r.cursor !== undefined) expect(parseInventoryCursor(r.cursor).fileIndex).toBeLessThan(3);
    }
    expect(continuing).toBeGreaterThan(0);
    const last = results.at(-1) as Extract<BackfillResult, { shard: number }>;
    expect(last.status).toBe('job-done');
    const progress = (await readJobProgress(oss, state, last.jobId)) as JobProgress;
    expect(progress.job.inventory).toEqual({ bucket: REPORTS, manifestKey: s.manifestKey, dataBucket: REPORTS });
    expect(progress.shards).toHaveLength(1);
    // Every row finished exactly once across the continuations.
    expect(finished(progress.totals)).toBe(600);
    expect(progress.totals.reencrypted).toBe(s.plaintext.length);
    expect(await unencrypted('inv-job')).toEqual([]);
    const report = JSON.parse(((await oss.getObject(state.bucket, reportKey(state, last.jobId))) as Buffer).toString()) as Record<
      string,
      unknown
    >;
    expect(report).toMatchObject({ done: true, inventory: `oss://${REPORTS}/${s.manifestKey}`, changedSinceReport: 0 });
    // Probed once by the coordinator; the verdict reached the shard through the job record and is in the report.
    expect(progress.job.selfCopyProbe).toEqual({ verdict: 'keeps', requests: 4 });
    expect(report.selfCopyProbe).toEqual({ verdict: 'keeps', requests: 4 });
  });

  it('a corrupted report fails the chain with the file named in its state, and does not continue', async () => {
    const s = await seed('inv-job-bad', 200, { plain: (i) => i % 10 === 5, rowsPerFile: 60 });
    await editManifest(s.manifestKey, (m) => {
      (m.files[2] as Record<string, unknown>).size = 1;
    });
    const { results, queued } = await drive({ bucket: 'inv-job-bad', inventory: { manifestKey: s.manifestKey, bucket: REPORTS } }, 10_000);
    const last = results.at(-1) as Extract<BackfillResult, { status: 'failed' }>;
    expect(last.status).toBe('failed');
    expect(last.error).toContain(s.dataKeys[2] as string);
    expect(queued).toBe(0);
    const shard = JSON.parse(((await oss.getObject(state.bucket, shardKey(state, last.jobId, 0))) as Buffer).toString()) as ShardState;
    expect(shard.done).toBe(false);
    expect(shard.error).toContain(s.dataKeys[2] as string);
    expect(parseInventoryCursor(shard.cursor as string).fileIndex).toBeLessThanOrEqual(2);
  });

  it('shards split the data files: each chain reads its own, every row is finished once', async () => {
    // 7 data files of 50 rows; 4 shards get 1-2 files each.
    const s = await seed('inv-job-shards', 350, { plain: (i) => i % 3 === 0, rowsPerFile: 50 });
    const { results } = await drive(
      { bucket: 'inv-job-shards', inventory: { manifestKey: s.manifestKey, bucket: REPORTS }, shards: 4, concurrency: 4 },
      40,
    );
    expect(results[0]).toMatchObject({ status: 'started', shards: 4 });
    const last = results.at(-1) as Extract<BackfillResult, { shard: number }>;
    expect(last.status).toBe('job-done');
    const progress = (await readJobProgress(oss, state, last.jobId)) as JobProgress;
    expect(progress.job.shards.map((r) => r.files)).toEqual([
      { from: 0, to: 1 },
      { from: 1, to: 3 },
      { from: 3, to: 5 },
      { from: 5, to: 7 },
    ]);
    // Each shard's cursor stayed inside its own files.
    for (const [i, shard] of progress.shards.entries()) {
      const files = progress.job.shards[i]?.files as { from: number; to: number };
      expect(shard.done).toBe(true);
      const at = parseInventoryCursor(shard.cursor as string).fileIndex;
      expect(at).toBeGreaterThanOrEqual(files.from);
      expect(at).toBeLessThan(files.to);
    }
    expect(finished(progress.totals)).toBe(350);
    expect(progress.totals.reencrypted).toBe(s.plaintext.length);
    expect(await unencrypted('inv-job-shards')).toEqual([]);
  });

  it('refuses startAfter with inventory; a manifest of another bucket fails before any state', async () => {
    expect(BackfillPayloadSchema.safeParse({ bucket: 'inv-job', shards: 4, inventory: { manifestKey: 'x/manifest.json' } }).success).toBe(
      true,
    );
    expect(
      BackfillPayloadSchema.safeParse({ bucket: 'inv-job', startAfter: 'a', inventory: { manifestKey: 'x/manifest.json' } }).success,
    ).toBe(false);

    const other = await seed('inv-job-other', 5, { plain: () => true, rowsPerFile: 5 });
    await expect(
      handleBackfill(
        { bucket: 'inv-job', inventory: { manifestKey: other.manifestKey, bucket: REPORTS } },
        { oss, policy: anyPolicy, log: memoryLogger(), state, invokeSelf: async () => undefined, deadline: Date.now() + 5_000 },
      ),
    ).rejects.toThrow(/inventory of bucket inv-job-other, not inv-job/);
  });
});
