/**
 * The built `oss-sse` CLI (dist/cli/oss-sse.js) against an in-process local stack: scan,
 * backfill (dry run, report files, checkpoints, SIGKILL crashes, Ctrl-C), the bucket rule
 * commands, bad input and help. Every run is a real child process; every assertion about
 * the bucket reads its real state (the real ali-oss client, and the OSS server's store and
 * write events), and no run may print the access key secret.
 */
import OSS from 'ali-oss';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack';
import type { BackfillReport, Checkpoint } from '../../shared/backfill/engine';
import { compareKeys } from '../../shared/key-order';
import { seededInt, seededRandom } from '../helpers/seeded-random';

const root = join(__dirname, '..', '..');
/** Built once for the run by the global setup (test/setup/build-dist.ts). */
const cliPath = join(root, 'dist', 'cli', 'oss-sse.js');

const REGION = 'cn-hangzhou';
const AK = 'LTAI5tE2eCliAccessKeyId';
const SECRET = 'E2eCliSecretThatMustNeverBePrinted0042';
const STS_TOKEN = 'E2eCliStsTokenThatMustNeverBePrinted0077';

// ---- the stack and what happens on it ---------------------------------------------------

let stack: LocalStack;
let work: string;

/** Every object write the OSS server performed (PutObject, CopyObject, …), in order. */
interface Write {
  bucket: string;
  key: string;
  name: string;
}
const writes: Write[] = [];
/** Bucket-level writes (PutBucketEncryption, DeleteBucketEncryption, PutBucket). */
const bucketWrites: string[] = [];

const writesSince = (mark: number, bucket: string): Write[] => writes.slice(mark).filter((w) => w.bucket === bucket);

/** The subset of ali-oss this file uses (@types/ali-oss lacks the bucket encryption calls). */
interface OssClient {
  putBucket(name: string): Promise<unknown>;
  put(key: string, body: Buffer, options?: { headers?: Record<string, string> }): Promise<unknown>;
  get(key: string): Promise<{ content: Buffer }>;
  head(key: string): Promise<{ res: { headers: Record<string, string | undefined> } }>;
  putSymlink(key: string, target: string): Promise<unknown>;
  append(key: string, body: Buffer): Promise<unknown>;
  putBucketEncryption(name: string, rule: { SSEAlgorithm: string; KMSMasterKeyID?: string }): Promise<unknown>;
  getBucketEncryption(name: string): Promise<{ encryption: Record<string, string> }>;
}

const client = (bucket: string): OssClient =>
  new OSS({
    endpoint: stack.oss.url,
    region: `oss-${REGION}`,
    accessKeyId: AK,
    accessKeySecret: SECRET,
    bucket,
    timeout: 30_000,
  } as OSS.Options) as unknown as OssClient;

interface SeedObject {
  key: string;
  sse?: 'AES256' | 'KMS' | 'SM4';
  body?: string;
}

/** Creates the bucket and uploads the objects with the real client, 32 at a time. */
async function seed(bucket: string, objects: SeedObject[]): Promise<OssClient> {
  const c = client(bucket);
  await c.putBucket(bucket);
  for (let i = 0; i < objects.length; i += 32) {
    await Promise.all(
      objects
        .slice(i, i + 32)
        .map((o) =>
          c.put(o.key, Buffer.from(o.body ?? `body of ${o.key}`), o.sse ? { headers: { 'x-oss-server-side-encryption': o.sse } } : {}),
        ),
    );
  }
  return c;
}

const plainKeys = (prefix: string, n: number): SeedObject[] =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${String(i).padStart(5, '0')}` }));

/** key → version, ETag, mtime and SSE, straight from the server's store: any write shows. */
function snapshot(bucket: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of stack.oss.store.keysFrom(bucket, { key: '', inclusive: true })) {
    const v = stack.oss.store.current(bucket, key);
    out.set(key, v ? `${v.versionId} ${v.etag} ${v.lastModified} ${v.sse?.algorithm ?? 'none'} ${v.sse?.keyId ?? ''}` : 'deleted');
  }
  return out;
}

/** Keys whose current version is a plain (non-symlink, non-appendable) object stored without SSE. */
function plaintext(bucket: string): string[] {
  const out: string[] = [];
  for (const key of stack.oss.store.keysFrom(bucket, { key: '', inclusive: true })) {
    const v = stack.oss.store.current(bucket, key);
    if (v && !v.sse && v.objectType === 'Normal') out.push(key);
  }
  return out;
}

const sseHeader = async (c: OssClient, key: string): Promise<string | undefined> =>
  (await c.head(key)).res.headers['x-oss-server-side-encryption'];

// ---- running the built CLI --------------------------------------------------------------

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** stdout + stderr of every run, checked for the secret at the end. */
const outputs: string[] = [];

/** The child's environment: nothing of the host's cloud or policy settings, then ours. */
function cliEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(ALIBABA_CLOUD_|OSS_|KMS_|FC_|SSE_|COMPLIANCE|BUCKET_|KEY_EXCLUDE|OVERRIDE_|MULTIPART_|PART_|PRESERVE_|DELETE_)/.test(k))
      env[k] = v;
  }
  const merged: Record<string, string | undefined> = {
    ALIBABA_CLOUD_ACCESS_KEY_ID: AK,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET,
    ALIBABA_CLOUD_REGION_ID: REGION,
    OSS_ENDPOINT: stack.oss.url,
    KMS_ENDPOINT: stack.kms.url,
    ...overrides,
  };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) env[k] = v;
  return env;
}

interface Started {
  child: ChildProcess;
  done: Promise<RunResult>;
  /** What the child has written to stderr so far. */
  stderrSoFar: () => string;
}

function start(args: string[], env: Record<string, string | undefined> = {}): Started {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: work, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      outputs.push(stdout, stderr);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stderrSoFar: () => stderr };
}

const run = (args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> => start(args, env).done;

const jsonLines = (stdout: string): unknown[] =>
  stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);

/** The report of a `--json` run: exactly one line of JSON on stdout. */
function reportOf(r: RunResult): BackfillReport {
  const lines = jsonLines(r.stdout);
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0] as BackfillReport;
}

interface CheckpointFile {
  bucket: string;
  prefix: string;
  checkpoint: Checkpoint;
  report: BackfillReport;
}

const readCheckpointFile = (file: string): CheckpointFile => JSON.parse(readFileSync(file, 'utf8')) as CheckpointFile;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A pass-through HTTP proxy in front of the OSS server that lets a test act before forwarding a request. */
async function startProxy(
  target: string,
  before: (req: IncomingMessage) => Promise<void>,
): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    void before(req).then(() => {
      const fwd = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oss-sse-cli-e2e-'));
  stack = await startLocalStack({ region: REGION, accessKeyId: AK, accessKeySecret: SECRET, enforce: false });
  stack.oss.events.on('object', (e) => {
    for (const r of e.events) writes.push({ bucket: r.oss.bucket.name, key: r.oss.object.key, name: r.eventName });
  });
  stack.oss.events.on('bucket', (e) => bucketWrites.push(`${e.type} ${e.subject}`));
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

// ---- scan and backfill ------------------------------------------------------------------

describe('scan and backfill on a half-plaintext bucket', () => {
  const bucket = 'e2e-mixed';
  const plain = ['a/plain-1', 'a/plain-2', 'b/with space+plus%.txt', 'b/ünïcode-文件.txt', 'c/plain-5'];
  const encrypted: SeedObject[] = [
    { key: 'a/enc-aes', sse: 'AES256' },
    { key: 'b/enc-kms', sse: 'KMS' },
    { key: 'c/enc-sm4', sse: 'SM4' },
  ];
  let c: OssClient;

  beforeAll(async () => {
    c = await seed(bucket, [...plain.map((key) => ({ key })), ...encrypted]);
    await c.putSymlink('d/link', 'a/plain-1');
    await c.append('d/appendable', Buffer.from('appended'));
  });

  it('scan exits 3 with a summary table and changes nothing; --json prints exactly one report line', async () => {
    const before = snapshot(bucket);
    const mark = writes.length;
    const table = await run(['scan', bucket]);
    expect(table.code, table.stderr).toBe(3);
    expect(table.stdout).toMatch(/^bucket\s+e2e-mixed$/m);
    expect(table.stdout).toMatch(/^scanned\s+10$/m);
    expect(table.stdout).toMatch(/^would re-encrypt\s+5$/m);
    expect(table.stdout).toMatch(/^skipped: symlink\s+1$/m);
    expect(table.stdout).toMatch(/^skipped: appendable\s+1$/m);

    const json = await run(['scan', bucket, '--json']);
    expect(json.code, json.stderr).toBe(3);
    expect(json.stdout.endsWith('\n')).toBe(true);
    expect(reportOf(json)).toMatchObject({
      bucket,
      dryRun: true,
      scanned: 10,
      compliant: 3,
      wouldReencrypt: 5,
      reencrypted: 0,
      skipped: { symlink: 1, appendable: 1 },
      failed: {},
      checkpoint: { done: true },
    });
    expect(writesSince(mark, bucket)).toEqual([]);
    expect(snapshot(bucket)).toEqual(before);
    expect(plaintext(bucket).sort()).toEqual([...plain].sort());
  });

  it('backfill --dry-run reports what it would do, exits 0 and changes nothing', async () => {
    const before = snapshot(bucket);
    const mark = writes.length;
    const r = await run(['backfill', bucket, '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(reportOf(r)).toMatchObject({ dryRun: true, wouldReencrypt: 5, reencrypted: 0, bytesReencrypted: 0 });
    expect(writesSince(mark, bucket)).toEqual([]);
    expect(snapshot(bucket)).toEqual(before);
  });

  it('backfill fixes every remediable object, keeps content, reports skips by reason and writes --report files', async () => {
    const reportFile = join(work, 'mixed.report.json');
    const mark = writes.length;
    const r = await run(['backfill', bucket, '--report', reportFile, '--json', '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    const report = reportOf(r);
    expect(report).toMatchObject({
      bucket,
      dryRun: false,
      scanned: 10,
      compliant: 3,
      reencrypted: 5,
      wouldReencrypt: 0,
      skipped: { symlink: 1, appendable: 1 },
      failed: {},
      failures: [],
      checkpoint: { done: true },
    });
    expect(report.bytesReencrypted).toBe(plain.reduce((n, k) => n + Buffer.byteLength(`body of ${k}`), 0));
    expect(report.requests).toBeGreaterThan(10);
    // --verbose: one JSON decision line per object on stderr.
    const decisions = r.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(decisions.length).toBeGreaterThanOrEqual(10);
    // The report file is the same report; the failure list exists and is empty.
    expect(JSON.parse(readFileSync(reportFile, 'utf8'))).toEqual(report);
    expect(readFileSync(`${reportFile}.failures.ndjson`, 'utf8')).toBe('');
    // Exactly the plaintext objects were rewritten, each once, with a copy onto itself.
    const changed = writesSince(mark, bucket);
    expect(changed.map((w) => w.name)).toEqual(plain.map(() => 'ObjectCreated:CopyObject'));
    expect(plaintext(bucket)).toEqual([]);
    for (const key of plain) {
      expect(await sseHeader(c, key), key).toBe('AES256');
      expect((await c.get(key)).content.toString(), key).toBe(`body of ${key}`);
    }
    expect(await sseHeader(c, 'b/enc-kms')).toBe('KMS');
    expect(stack.oss.store.current(bucket, 'd/appendable')?.sse).toBeUndefined();
  });

  it('a rerun re-encrypts nothing, and scan now exits 0', async () => {
    const before = snapshot(bucket);
    const mark = writes.length;
    const again = await run(['backfill', bucket, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(reportOf(again)).toMatchObject({ scanned: 10, compliant: 8, reencrypted: 0, skipped: { symlink: 1, appendable: 1 } });
    const scan = await run(['scan', bucket]);
    expect(scan.code, scan.stdout + scan.stderr).toBe(0);
    expect(scan.stdout).toMatch(/^would re-encrypt\s+0$/m);
    expect(writesSince(mark, bucket)).toEqual([]);
    expect(snapshot(bucket)).toEqual(before);
  });
});

describe('backfill failures', () => {
  it('objects OSS refuses to re-encrypt are listed in FILE.failures.ndjson and make the run exit 3', async () => {
    const bucket = 'e2e-failing';
    await seed(bucket, plainKeys('f/', 3));
    const defaultKey = stack.kms.keys.defaultKeyId as string;
    // SSE-KMS with OSS's default key, which is disabled: every copy fails.
    stack.kms.keys.setState(defaultKey, 'Disabled');
    const reportFile = join(work, 'failing.report.json');
    let r: RunResult;
    try {
      r = await run(['backfill', bucket, '--algorithm', 'KMS', '--report', reportFile]);
    } finally {
      stack.kms.keys.setState(defaultKey, 'Enabled');
    }
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.stdout).toMatch(/^failed: \S+\s+3$/m);
    const failures = readFileSync(`${reportFile}.failures.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(failures.map((f) => f.key).sort()).toEqual(['f/00000', 'f/00001', 'f/00002']);
    for (const f of failures) expect(f).toMatchObject({ bucket, code: expect.any(String), message: expect.any(String) });
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as BackfillReport;
    expect(Object.values(report.failed).reduce((a, b) => a + b, 0)).toBe(3);
    expect(plaintext(bucket)).toHaveLength(3);
  });
});

describe('--prefix and --max-objects', () => {
  it('--prefix touches only keys under the prefix', async () => {
    const bucket = 'e2e-prefix';
    await seed(bucket, [...plainKeys('in/', 6), ...plainKeys('inside-not/', 3), ...plainKeys('out/', 4)]);
    const mark = writes.length;
    const r = await run(['backfill', bucket, '--prefix', 'in/', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(reportOf(r)).toMatchObject({ scanned: 6, reencrypted: 6 });
    expect(new Set(writesSince(mark, bucket).map((w) => w.key))).toEqual(new Set(plainKeys('in/', 6).map((o) => o.key)));
    expect(plaintext(bucket)).toEqual([...plainKeys('inside-not/', 3), ...plainKeys('out/', 4)].map((o) => o.key));
    const scanIn = await run(['scan', bucket, '--prefix', 'in/']);
    expect(scanIn.code).toBe(0);
    const scanAll = await run(['scan', bucket]);
    expect(scanAll.code).toBe(3);
  });

  it('--max-objects stops after N objects in listing order; with --checkpoint, reruns continue where it stopped', async () => {
    const bucket = 'e2e-max';
    const keys = plainKeys('m/', 10).map((o) => o.key);
    await seed(
      bucket,
      keys.map((key) => ({ key })),
    );
    const file = join(work, 'max.ckpt');
    const first = await run(['backfill', bucket, '--max-objects', '4', '--checkpoint', file, '--concurrency', '2']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^done\s+no \(stopped by max-objects\)$/m);
    expect(plaintext(bucket)).toEqual(keys.slice(4));
    expect(readCheckpointFile(file)).toMatchObject({ bucket, prefix: '', checkpoint: { cursor: keys[3], done: false } });

    const second = await run(['backfill', bucket, '--max-objects', '4', '--checkpoint', file, '--json']);
    expect(reportOf(second)).toMatchObject({ scanned: 4, reencrypted: 4, stoppedBy: 'max-objects' });
    expect(plaintext(bucket)).toEqual(keys.slice(8));

    const rest = await run(['backfill', bucket, '--checkpoint', file, '--json']);
    expect(reportOf(rest)).toMatchObject({ scanned: 2, reencrypted: 2, checkpoint: { done: true } });
    expect(plaintext(bucket)).toEqual([]);
    expect(readCheckpointFile(file).checkpoint).toMatchObject({ cursor: keys[9], done: true });
  });
});

// ---- crashes and interrupts -------------------------------------------------------------

describe('resumable backfill', () => {
  it('survives SIGKILL at seeded points: the checkpoint is always valid JSON, never recedes, and no object is missed', async () => {
    const bucket = 'e2e-crash';
    const N = 3000;
    // Every 10th object is already encrypted; the rest need a copy.
    const objects = plainKeys('k/', N).map((o, i) => (i % 10 === 0 ? { ...o, sse: 'AES256' as const } : o));
    await seed(bucket, objects);
    const toEncrypt = objects.filter((o) => !o.sse).map((o) => o.key);
    const file = join(work, 'crash.ckpt');
    const mark = writes.length;

    // Read the checkpoint file as often as possible while the runs write it.
    const seen: string[] = []; // cursors in the order observed, across every run
    const invalid: string[] = [];
    let reads = 0;
    let lastRaw: string | undefined;
    const poll = (): void => {
      let raw: string;
      try {
        raw = readFileSync(file, 'utf8');
      } catch {
        return; // not written yet
      }
      reads++;
      if (raw === lastRaw) return;
      lastRaw = raw;
      try {
        const c = JSON.parse(raw) as CheckpointFile;
        expect(c.bucket).toBe(bucket);
        seen.push(c.checkpoint.cursor ?? '');
      } catch {
        invalid.push(raw);
      }
    };
    const timer = setInterval(poll, 1);

    // Each of the first five runs is killed on the server's count of its copies, at a seeded
    // count: the first that many copies after it started (before its first checkpoint, which
    // the CLI writes after a second), later ones that many copies after their own first checkpoint.
    const random = seededRandom(0x5eed_c11);
    const kills: string[] = [];
    let final: RunResult | undefined;
    let round:
      { child: ChildProcess; copies: number; killAt: number | undefined; killAfterCheckpoint: number; before?: string } | undefined;
    const killWhenDue = (r: NonNullable<typeof round>): void => {
      if (r.killAt === undefined && lastRaw !== undefined && lastRaw !== r.before) r.killAt = r.copies + r.killAfterCheckpoint;
      if (r.killAt !== undefined && r.copies >= r.killAt && r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGKILL');
        kills.push(`${r.copies} copies`);
        r.killAt = Number.POSITIVE_INFINITY; // once
      }
    };
    const onCopy = (e: { events: Array<{ eventName: string; oss: { bucket: { name: string } } }> }): void => {
      if (!round) return;
      for (const r of e.events) if (r.oss.bucket.name === bucket && r.eventName === 'ObjectCreated:CopyObject') round.copies++;
      poll(); // the checkpoint as of this copy
      killWhenDue(round);
    };
    stack.oss.events.on('object', onCopy);
    try {
      for (let n = 0; n < 12 && !final; n++) {
        const { child, done } = start(['backfill', bucket, '--checkpoint', file, '--concurrency', '8', '--qps', '2500', '--json']);
        round =
          n < 5
            ? n === 0
              ? { child, copies: 0, killAt: seededInt(random, 20, 120), killAfterCheckpoint: 0 }
              : { child, copies: 0, killAt: undefined, killAfterCheckpoint: seededInt(random, 1, 150), before: lastRaw }
            : undefined;
        const r = await done;
        round = undefined;
        poll();
        if (r.signal !== 'SIGKILL') final = r;
      }
    } finally {
      stack.oss.events.off('object', onCopy);
      clearInterval(timer);
    }
    poll();
    expect(final?.code, final?.stderr).toBe(0);
    // The final run resumed: it listed only what lay after the last saved cursor.
    const finalReport = reportOf(final as RunResult);
    expect(finalReport.scanned).toBeGreaterThan(0);
    expect(finalReport.scanned).toBeLessThan(N);
    expect(kills.length, `kills at ${kills.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect(invalid).toEqual([]);
    expect(reads).toBeGreaterThan(100);
    // The low-water cursor only moves forward, across runs as within one.
    // Each killed run but the first waited for its own checkpoint; the final run writes one.
    expect(seen.length).toBeGreaterThanOrEqual(kills.length);
    for (let i = 1; i < seen.length; i++) {
      expect(compareKeys(seen[i] as string, seen[i - 1] as string), `cursor ${seen[i - 1]} → ${seen[i]}`).toBeGreaterThanOrEqual(0);
    }
    const last = readCheckpointFile(file);
    expect(last.checkpoint).toEqual({ bucket, cursor: `k/${String(N - 1).padStart(5, '0')}`, done: true });

    // Nothing missed, nothing copied twice, nothing else touched.
    expect(plaintext(bucket)).toEqual([]);
    const copies = writesSince(mark, bucket);
    expect(copies.every((w) => w.name === 'ObjectCreated:CopyObject')).toBe(true);
    expect(copies.map((w) => w.key).sort(compareKeys)).toEqual(toEncrypt);
    const c = client(bucket);
    for (const key of ['k/00001', 'k/01499', 'k/02999']) expect(await sseHeader(c, key), key).toBe('AES256');
    const scan = await run(['scan', bucket, '--json']);
    expect(scan.code).toBe(0);
    expect(reportOf(scan)).toMatchObject({ scanned: N, compliant: N, wouldReencrypt: 0 });

    // A completed checkpoint: the next run says so and does nothing.
    const markDone = writes.length;
    const again = await run(['backfill', bucket, '--checkpoint', file]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/complete/);
    expect(again.stdout).toBe('');
    expect(writesSince(markDone, bucket)).toEqual([]);
  }, 60_000);

  it('Ctrl-C (SIGINT) writes the checkpoint and exits 130; rerunning with it resumes to completion', async () => {
    const bucket = 'e2e-sigint';
    const keys = plainKeys('s/', 1500).map((o) => o.key);
    await seed(
      bucket,
      keys.map((key) => ({ key })),
    );
    const file = join(work, 'sigint.ckpt');
    const mark = writes.length;
    const { child, done } = start(['backfill', bucket, '--checkpoint', file, '--concurrency', '4']);
    // Interrupt once it is re-encrypting (the signal handler is installed by then).
    await until(() => writesSince(mark, bucket).length >= 50, 15_000, 'the first copies');
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupt received: finishing the requests in flight, then stopping');
    expect(r.stderr).toContain(`interrupted; rerun with --checkpoint ${file} to resume`);
    expect(r.stdout).toMatch(/^done\s+no \(stopped by signal\)$/m);
    const saved = readCheckpointFile(file);
    expect(saved).toMatchObject({ bucket, prefix: '', checkpoint: { done: false }, report: { stoppedBy: 'signal' } });
    const cursor = saved.checkpoint.cursor as string;
    expect(keys).toContain(cursor);
    // Everything up to the cursor is done; work remains after it.
    const left = plaintext(bucket);
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((k) => compareKeys(k, cursor) > 0)).toBe(true);

    const resumed = await run(['backfill', bucket, '--checkpoint', file, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const report = reportOf(resumed);
    expect(report.checkpoint.done).toBe(true);
    // The resumed run starts after the cursor: it lists only what was left (plus at most the in-flight window).
    expect(report.scanned).toBe(keys.filter((k) => compareKeys(k, cursor) > 0).length);
    expect(plaintext(bucket)).toEqual([]);
    const copies = writesSince(mark, bucket).map((w) => w.key);
    expect(copies.sort(compareKeys)).toEqual(keys);
  });

  // A resumed run interrupted before its first object finishes must keep the saved cursor,
  // not save an empty one that would start the next run over from the first key.
  it('Ctrl-C early in a resumed run keeps the checkpoint cursor where it was', async () => {
    const bucket = 'e2e-early-int';
    const keys = plainKeys('e/', 40).map((o) => o.key);
    await seed(
      bucket,
      keys.map((key) => ({ key })),
    );
    const file = join(work, 'early.ckpt');
    const first = await run(['backfill', bucket, '--checkpoint', file, '--max-objects', '10']);
    expect(first.code, first.stderr).toBe(0);
    expect(readCheckpointFile(file).checkpoint).toEqual({ bucket, cursor: keys[9], done: false });

    // A proxy in front of OSS: when the resumed run's listing (not the max-keys=1 probe) arrives,
    // its SIGINT handler is installed; interrupt it then, and answer the listing only once the
    // run says it took the interrupt.
    let started: Started | undefined;
    let interrupted = false;
    const proxy = await startProxy(stack.oss.url, async (req) => {
      if (!interrupted && req.method === 'GET' && /[?&]list-type=2/.test(req.url ?? '') && !/[?&]max-keys=1(&|$)/.test(req.url ?? '')) {
        interrupted = true;
        started?.child.kill('SIGINT');
        await until(() => started?.stderrSoFar().includes('interrupt received') ?? false, 10_000, 'the run to take the interrupt');
      }
    });
    try {
      started = start(['backfill', bucket, '--checkpoint', file, '--endpoint', proxy.url]);
      const r = await started.done;
      expect(interrupted).toBe(true);
      expect(r.code, r.stderr).toBe(130);
    } finally {
      await proxy.close();
    }
    expect(plaintext(bucket)).toEqual(keys.slice(10));
    // Nothing after the cursor was done, so the cursor must still be there.
    expect(readCheckpointFile(file).checkpoint).toEqual({ bucket, cursor: keys[9], done: false });
  });
});

// ---- KMS ----------------------------------------------------------------------------------

describe('SSE-KMS with a key alias', () => {
  const bucket = 'e2e-kms';
  const alias = 'alias/oss-sse-default';
  const kmsFlags = ['--algorithm', 'KMS', '--kms-key-id', alias, '--compliance', 'exact'];

  it('backfill re-encrypts under the resolved key id, including objects under another algorithm', async () => {
    await seed(bucket, [...plainKeys('p/', 3), { key: 'q/aes', sse: 'AES256' }]);
    const keyId = stack.kms.keys.find(alias)?.keyId as string;
    expect(keyId).toMatch(/^[0-9a-f-]{36}$/);
    const r = await run(['backfill', bucket, ...kmsFlags, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(reportOf(r)).toMatchObject({ scanned: 4, reencrypted: 4 });
    for (const key of stack.oss.store.keysFrom(bucket, { key: '', inclusive: true })) {
      expect(stack.oss.store.current(bucket, key)?.sse, key).toEqual({ algorithm: 'KMS', keyId });
    }
    const again = await run(['backfill', bucket, ...kmsFlags, '--json']);
    expect(reportOf(again)).toMatchObject({ compliant: 4, reencrypted: 0 });
  });

  // scan resolves the alias too: under COMPLIANCE=exact objects under the aliased key are compliant.
  it('scan with the same alias then exits 0', async () => {
    const scan = await run(['scan', bucket, ...kmsFlags, '--json']);
    expect(reportOf(scan)).toMatchObject({ compliant: 4, wouldReencrypt: 0 });
    expect(scan.code).toBe(0);
  });

  it('backfill with a KMS key that does not exist exits 1 and changes nothing', async () => {
    const before = snapshot(bucket);
    const r = await run(['backfill', bucket, '--algorithm', 'KMS', '--kms-key-id', 'alias/e2e-missing', '--compliance', 'exact']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('alias/e2e-missing');
    expect(r.stderr).toMatch(/does not exist/);
    expect(snapshot(bucket)).toEqual(before);
  });
});

// ---- bad input ----------------------------------------------------------------------------

describe('bad input', () => {
  it('a missing bucket: exit 1 naming the bucket and NoSuchBucket; nothing is created', async () => {
    for (const args of [['scan'], ['backfill', '--checkpoint', join(work, 'nobucket.ckpt')]]) {
      const [cmd, ...flags] = args as [string, ...string[]];
      const r = await run([cmd, 'e2e-no-such-bucket', ...flags]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('e2e-no-such-bucket');
      expect(r.stderr).toContain('NoSuchBucket');
      expect(r.stdout).toBe('');
    }
    expect(stack.oss.store.hasBucket('e2e-no-such-bucket')).toBe(false);
    expect(existsSync(join(work, 'nobucket.ckpt'))).toBe(false);
  });

  it('an invalid bucket name exits 2', async () => {
    for (const args of [
      ['scan', 'Bad_Bucket'],
      ['backfill', 'x-'],
      ['bucket', 'get', 'UPPER'],
      ['bucket', 'put', 'a', '--algorithm', 'AES256'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/not a valid bucket name/);
    }
  });

  it('--concurrency 0, --qps abc, an unknown --algorithm: exit 2 naming the flag', async () => {
    await seed('e2e-flags', plainKeys('x/', 1));
    const cases: Array<[string[], RegExp]> = [
      [['--concurrency', '0'], /--concurrency/],
      [['--concurrency', '1025'], /--concurrency/],
      [['--qps', 'abc'], /--qps/],
      [['--max-objects', '-1'], /--max-objects/],
      [['--algorithm', 'ROT13'], /--algorithm/],
    ];
    for (const [flags, re] of cases) {
      const r = await run(['backfill', 'e2e-flags', ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
    expect(plaintext('e2e-flags')).toEqual(['x/00000']);
  });

  it('no credentials in the environment: exit 1 naming the variables', async () => {
    const r = await run(['scan', 'e2e-mixed'], { ALIBABA_CLOUD_ACCESS_KEY_ID: undefined, ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ALIBABA_CLOUD_ACCESS_KEY_ID');
    expect(r.stderr).toContain('ALIBABA_CLOUD_ACCESS_KEY_SECRET');
    const onlyId = await run(['bucket', 'get', 'e2e-mixed'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined });
    expect(onlyId.code).toBe(1);
    expect(onlyId.stderr).toContain('ALIBABA_CLOUD_ACCESS_KEY_SECRET');
  });

  it('no region: exit 2; --region (with an oss- prefix) supplies it', async () => {
    const r = await run(['scan', 'e2e-mixed'], { ALIBABA_CLOUD_REGION_ID: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--region/);
    expect(r.stderr).toContain('ALIBABA_CLOUD_REGION_ID');
    const withFlag = await run(['scan', 'e2e-mixed', '--region', `oss-${REGION}`], { ALIBABA_CLOUD_REGION_ID: undefined });
    expect(withFlag.code, withFlag.stderr).toBe(0);
  });

  it('a wrong secret or an unknown key id: exit 1 with the OSS error code, and no secret printed', async () => {
    const wrong = await run(['scan', 'e2e-mixed'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'WrongSecretMustNotBePrintedEither99' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('SignatureDoesNotMatch');
    expect(wrong.stdout + wrong.stderr).not.toContain('WrongSecretMustNotBePrintedEither99');
    const unknown = await run(['bucket', 'get', 'e2e-mixed'], { ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI5tUnknownKey' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('InvalidAccessKeyId');
  });

  it('STS credentials (ALIBABA_CLOUD_SECURITY_TOKEN) work and the token is never printed', async () => {
    const r = await run(['scan', 'e2e-mixed', '--verbose'], { ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('{')).length).toBeGreaterThanOrEqual(10);
    expect(r.stdout + r.stderr).not.toContain(STS_TOKEN);
  });

  it('a checkpoint file of another bucket, or one that is not JSON: exit 2, nothing changed', async () => {
    const bucket = 'e2e-ckpt-guard';
    await seed(bucket, plainKeys('g/', 3));
    const other = join(work, 'other-bucket.ckpt');
    writeFileSync(
      other,
      JSON.stringify({
        bucket: 'e2e-someone-else',
        prefix: '',
        checkpoint: { bucket: 'e2e-someone-else', cursor: 'g/00000', done: false },
      }),
    );
    const before = snapshot(bucket);
    const r = await run(['backfill', bucket, '--checkpoint', other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('e2e-someone-else');
    const otherPrefix = join(work, 'other-prefix.ckpt');
    writeFileSync(otherPrefix, JSON.stringify({ bucket, prefix: 'z/', checkpoint: { bucket, done: false } }));
    expect((await run(['backfill', bucket, '--checkpoint', otherPrefix])).code).toBe(2);
    const garbage = join(work, 'garbage.ckpt');
    writeFileSync(garbage, '{"bucket": "e2e-ckpt-gu');
    const g = await run(['backfill', bucket, '--checkpoint', garbage]);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/not valid JSON/);
    // Valid JSON of the wrong shape: refused naming the file and the field, before any request.
    const corrupted = join(work, 'corrupted.ckpt');
    writeFileSync(corrupted, JSON.stringify({ bucket, prefix: '', checkpoint: { bucket, cursor: 7, done: 'no' } }));
    const c = await run(['backfill', bucket, '--checkpoint', corrupted]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`checkpoint file ${corrupted}: not a valid checkpoint: checkpoint.cursor: expected string, got number 7`);
    expect(c.stderr).toContain('checkpoint.done: expected boolean');
    expect(snapshot(bucket)).toEqual(before);
    expect(readFileSync(garbage, 'utf8')).toBe('{"bucket": "e2e-ckpt-gu');
  });

  it('an unknown command or option exits 2', async () => {
    expect((await run(['encrypt-everything'])).code).toBe(2);
    const r = await run(['scan', 'e2e-mixed', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--no-such-flag');
  });
});

// ---- bucket rules -------------------------------------------------------------------------

describe('bucket get|put|delete', () => {
  const bucket = 'e2e-rules';
  let c: OssClient;
  const ruleOf = () => stack.oss.store.bucket(bucket).encryption;

  beforeAll(async () => {
    c = await seed(bucket, []);
  });

  const ok = async (args: string[]): Promise<unknown> => {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines).toHaveLength(1);
    return lines[0];
  };

  it('get without a rule prints algorithm none', async () => {
    expect(await ok(['bucket', 'get', bucket])).toEqual({ bucket, rule: { algorithm: 'none' } });
  });

  it('put AES256, then SM4: the rule is set and read back', async () => {
    expect(await ok(['bucket', 'put', bucket, '--algorithm', 'AES256'])).toEqual({ bucket, rule: { algorithm: 'AES256' } });
    expect((await c.getBucketEncryption(bucket)).encryption).toEqual({ SSEAlgorithm: 'AES256' });
    expect(await ok(['bucket', 'put', bucket, '--algorithm', 'SM4'])).toEqual({ bucket, rule: { algorithm: 'SM4' } });
    expect(ruleOf()).toEqual({ algorithm: 'SM4' });
    expect(await ok(['bucket', 'get', bucket])).toEqual({ bucket, rule: { algorithm: 'SM4' } });
  });

  it('put KMS with an alias stores the resolved key id', async () => {
    const keyId = stack.kms.keys.find('alias/oss-sse-default')?.keyId as string;
    expect(keyId).toBeTruthy();
    expect(await ok(['bucket', 'put', bucket, '--algorithm', 'KMS', '--kms-key-id', 'alias/oss-sse-default'])).toEqual({
      bucket,
      rule: { algorithm: 'KMS', keyId },
    });
    expect((await c.getBucketEncryption(bucket)).encryption).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: keyId });
    expect(await ok(['bucket', 'get', bucket])).toEqual({ bucket, rule: { algorithm: 'KMS', keyId } });
  });

  it('put KMS with SM4 data encryption under the SM4 key', async () => {
    const keyId = stack.kms.keys.find('alias/oss-sse-sm4')?.keyId as string;
    const rule = await ok([
      'bucket',
      'put',
      bucket,
      '--algorithm',
      'KMS',
      '--kms-key-id',
      'alias/oss-sse-sm4',
      '--kms-data-encryption',
      'SM4',
    ]);
    expect(rule).toEqual({ bucket, rule: { algorithm: 'KMS', keyId, dataEncryption: 'SM4' } });
    expect(ruleOf()).toEqual({ algorithm: 'KMS', keyId, dataEncryption: 'SM4' });
  });

  it('put KMS with a missing alias exits 1 with a clear message; the rule is unchanged', async () => {
    const before = ruleOf();
    const marks = bucketWrites.length;
    const r = await run(['bucket', 'put', bucket, '--algorithm', 'KMS', '--kms-key-id', 'alias/e2e-nope']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('alias/e2e-nope');
    expect(r.stderr).toMatch(/does not exist/);
    expect(r.stderr).toMatch(/Nothing was changed/);
    expect(ruleOf()).toEqual(before);
    expect(bucketWrites.slice(marks)).toEqual([]);
  });

  it('delete removes the rule', async () => {
    expect(await ok(['bucket', 'delete', bucket])).toEqual({ bucket, rule: { algorithm: 'none' } });
    expect(ruleOf()).toBeUndefined();
    await expect(c.getBucketEncryption(bucket)).rejects.toMatchObject({ code: 'NoSuchServerSideEncryptionRule' });
    expect(await ok(['bucket', 'get', bucket])).toEqual({ bucket, rule: { algorithm: 'none' } });
  });

  it('get, put and delete on a missing bucket exit 1 with NoSuchBucket', async () => {
    for (const args of [['get'], ['put', '--algorithm', 'AES256'], ['delete']]) {
      const [sub, ...rest] = args as [string, ...string[]];
      const r = await run(['bucket', sub, 'e2e-rules-missing', ...rest]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('NoSuchBucket');
    }
    expect(stack.oss.store.hasBucket('e2e-rules-missing')).toBe(false);
  });
});

// ---- help and secrets ---------------------------------------------------------------------

describe('help', () => {
  /** The subcommands a help text lists (without commander's own `help`). */
  const subcommands = (help: string): string[] =>
    [...(help.split(/^Commands:$/m)[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] as string).filter((c) => c !== 'help');

  /** Every command, found by walking the help texts from the root: groups and leaves. */
  async function walk(): Promise<{ groups: Array<[string[], RunResult]>; leaves: Array<[string[], RunResult]> }> {
    const groups: Array<[string[], RunResult]> = [];
    const leaves: Array<[string[], RunResult]> = [];
    let level: string[][] = [[]];
    while (level.length > 0) {
      const results = await Promise.all(level.map((path) => run([...path, '--help'])));
      const next: string[][] = [];
      results.forEach((r, i) => {
        const path = level[i] as string[];
        const subs = subcommands(r.stdout);
        if (subs.length > 0) {
          groups.push([path, r]);
          next.push(...subs.map((s) => [...path, s]));
        } else leaves.push([path, r]);
      });
      level = next;
    }
    return { groups, leaves };
  }

  it('--help on every command exits 0 with its usage; every leaf command shows an example', async () => {
    const { groups, leaves } = await walk();
    const names = leaves.map(([path]) => path.join(' '));
    expect(names).toEqual(expect.arrayContaining(['scan', 'backfill', 'bucket get', 'bucket put', 'bucket delete', 'local']));
    expect(groups.map(([path]) => path.join(' '))).toEqual(expect.arrayContaining(['', 'bucket']));
    for (const [path, r] of [...groups, ...leaves]) {
      const name = ['oss-sse', ...path].join(' ');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toContain(`Usage: ${name} [options]`);
    }
    for (const [path, r] of leaves) {
      expect(r.stdout, path.join(' ')).toMatch(/Examples?:\n\s+oss-sse /);
    }
  });
});

describe('secrets', () => {
  it('no run printed the access key secret or the STS token (every run of this file, plus verbose and failing ones here)', async () => {
    await seed('e2e-secrets', [...plainKeys('s/', 3), { key: 't/enc', sse: 'AES256' }]);
    const runs: RunResult[] = [];
    for (const [args, env] of [
      [['scan', 'e2e-secrets', '--verbose'], {}],
      [['backfill', 'e2e-secrets', '--verbose', '--json'], { ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN }],
      [['bucket', 'put', 'e2e-secrets', '--algorithm', 'KMS', '--kms-key-id', 'alias/e2e-nope'], {}],
      [['backfill', 'e2e-secrets-missing', '--verbose'], {}],
    ] as const) {
      runs.push(await run([...args], env));
    }
    expect(runs.map((r) => r.code)).toEqual([3, 0, 1, 1]);
    expect(runs[0]?.stderr.split('\n').filter((l) => l.startsWith('{'))).toHaveLength(4);
    expect(outputs.length).toBeGreaterThanOrEqual(2 * runs.length);
    for (const out of outputs) {
      expect(out).not.toContain(SECRET);
      expect(out).not.toContain(STS_TOKEN);
    }
  });
});
