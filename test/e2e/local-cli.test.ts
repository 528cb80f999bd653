/** `oss-sse local` from the built bundle: the ready line contract, a real client, clean exit. */
import OSS from 'ali-oss';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'cli', 'oss-sse.js');

interface Ready {
  ready: true;
  oss: string;
  kms: string;
  fc: string;
  region: string;
  accountId: string;
  accessKeyId: string;
  accessKeySecret: string;
}

function startLocal(args: string[]): Promise<{ child: ChildProcess; ready: Ready; stdoutLines: string[] }> {
  const child = spawn(process.execPath, [cli, 'local', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdoutLines: string[] = [];
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      stdoutLines.push(line);
      if (stdoutLines.length === 1) resolve({ child, ready: JSON.parse(line) as Ready, stdoutLines });
    });
    child.once('exit', (code) => reject(new Error(`oss-sse local exited early with ${code}`)));
  });
}

const exitCode = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

const clientFor = (ready: Ready, bucket: string) =>
  new OSS({
    endpoint: ready.oss,
    region: `oss-${ready.region}`,
    accessKeyId: ready.accessKeyId,
    accessKeySecret: ready.accessKeySecret,
    bucket,
  });

describe('oss-sse local', () => {
  it('prints exactly one JSON ready line, serves a real client, logs requests to stderr, exits 0 on SIGTERM', async () => {
    const { child, ready, stdoutLines } = await startLocal([
      '--memory',
      '--access-key-id',
      'AK-e2e',
      '--access-key-secret',
      'SK-e2e',
      '--region',
      'cn-shanghai',
    ]);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(ready).toEqual({
      ready: true,
      oss: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      kms: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      fc: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      region: 'cn-shanghai',
      accountId: expect.stringMatching(/^\d+$/),
      accessKeyId: 'AK-e2e',
      accessKeySecret: 'SK-e2e',
    });
    const c = clientFor(ready, 'e2e');
    await c.putBucket('e2e');
    await c.put('k', Buffer.from('v'));
    expect((await c.get('k')).content.toString()).toBe('v');
    const exited = exitCode(child);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdoutLines).toHaveLength(1);
    expect(stderr).toMatch(/PUT .*\/k 200/);
    expect(stderr).not.toContain('SK-e2e');
  });

  it('keeps data across restarts with --data-dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-e2e-'));
    const first = await startLocal(['--data-dir', dir, '--quiet']);
    await clientFor(first.ready, 'persist').putBucket('persist');
    await clientFor(first.ready, 'persist').put('k', Buffer.from('kept'));
    const exited = exitCode(first.child);
    first.child.kill('SIGINT');
    expect(await exited).toBe(0);
    const second = await startLocal(['--data-dir', dir, '--quiet']);
    expect((await clientFor(second.ready, 'persist').get('k')).content.toString()).toBe('kept');
    const exited2 = exitCode(second.child);
    second.child.kill('SIGTERM');
    expect(await exited2).toBe(0);
  });

  it('refuses a bad flag with a clear message and a non-zero exit', () => {
    let failure: { status: number; stderr: Buffer } | undefined;
    try {
      execFileSync(process.execPath, [cli, 'local', '--oss-port', 'abc'], { stdio: 'pipe' });
    } catch (e) {
      failure = e as { status: number; stderr: Buffer };
    }
    expect(failure?.status).not.toBe(0);
    expect(failure?.stderr.toString()).toMatch(/--oss-port/);
  });

  it('--policy FILE binds the printed key to a RAM policy: what it allows works, the rest is AccessDenied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-e2e-policy-'));
    const file = join(dir, 'policy.json');
    writeFileSync(
      file,
      JSON.stringify({
        Version: '1',
        Statement: [
          { Effect: 'Allow', Action: 'oss:PutBucket', Resource: 'acs:oss:*:*:pol' },
          { Effect: 'Allow', Action: ['oss:PutObject', 'oss:GetObject'], Resource: 'acs:oss:*:*:pol/allowed/*' },
        ],
      }),
    );
    const { child, ready } = await startLocal(['--memory', '--quiet', '--policy', file]);
    try {
      const c = clientFor(ready, 'pol');
      await c.putBucket('pol');
      await c.put('allowed/k', Buffer.from('v'));
      expect((await c.get('allowed/k')).content.toString()).toBe('v');
      const refused = await c.put('k', Buffer.from('v')).then(
        () => undefined,
        (e: { code?: string; status?: number }) => e,
      );
      expect(refused).toMatchObject({ status: 403, code: 'AccessDenied' });
    } finally {
      child.kill('SIGTERM');
      await exitCode(child);
    }
  });

  it('--policy refuses a document it cannot evaluate, naming the file, the statement and the field (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-e2e-policy-'));
    const file = join(dir, 'conditional.json');
    writeFileSync(
      file,
      JSON.stringify({
        Version: '1',
        Statement: [{ Effect: 'Allow', Action: 'oss:*', Resource: '*', Condition: { IpAddress: { 'acs:SourceIp': '10.0.0.0/8' } } }],
      }),
    );
    const conditional = await runCli(['local', '--memory', '--policy', file], process.env);
    expect(conditional.code).toBe(2);
    expect(conditional.stderr).toContain(file);
    expect(conditional.stderr).toMatch(/Statement\[0\]\.Condition.*acs:SourceIp/);
    expect(conditional.stdout).toBe('');
    writeFileSync(file, JSON.stringify({ Version: '1', Statement: [{ Effect: 'Allow', Action: 'oss:GetObject' }] }));
    const malformed = await runCli(['local', '--memory', '--policy', file], process.env);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('Statement[0].Resource');
  });
});

describe('the README path: oss-sse local, then invoke and status with only what the ready line gives', () => {
  it('backfills a bucket through the local FC endpoint; a missing, malformed or wrong account id is a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-e2e-readme-'));
    const secret = 'SK-readme-never-printed';
    const creds = ['--access-key-id', 'AK-readme', '--access-key-secret', secret];
    // Plaintext objects to backfill: written with the functions off (they would encrypt them on upload).
    const seeding = await startLocal(['--data-dir', dir, '--quiet', '--no-enforce', ...creds]);
    const bucket = 'readme';
    const keys = Array.from({ length: 12 }, (_, i) => `docs/${i} ü+%.txt`);
    const seed = clientFor(seeding.ready, bucket);
    await seed.putBucket(bucket);
    for (const k of keys) await seed.put(k, Buffer.from(`body of ${k}`));
    const seeded = exitCode(seeding.child);
    seeding.child.kill('SIGTERM');
    expect(await seeded).toBe(0);

    // `oss-sse local` as the README starts it: functions enforcing.
    const { child, ready } = await startLocal(['--data-dir', dir, ...creds]);
    let stackLog = '';
    child.stderr?.on('data', (d: Buffer) => (stackLog += d.toString()));
    const fcRequests = () => stackLog.split('\n').filter((l) => l.startsWith('FC POST')).length;
    // Only the ready line's fields, under the names the README gives them.
    const env = {
      PATH: process.env['PATH'] ?? '',
      ALIBABA_CLOUD_ACCESS_KEY_ID: ready.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: ready.accessKeySecret,
      ALIBABA_CLOUD_REGION_ID: ready.region,
      ALIBABA_CLOUD_ACCOUNT_ID: ready.accountId,
      OSS_ENDPOINT: ready.oss,
      FC_ENDPOINT: ready.fc,
    };
    try {
      const invoked = await runCli(['invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket })], env);
      expect(invoked.code, invoked.stderr).toBe(0);
      const { result } = JSON.parse(invoked.stdout) as { result: { jobId: string; status: string; totals: { reencrypted: number } } };
      expect(result).toMatchObject({ status: 'job-done', totals: { reencrypted: keys.length } });

      const status = await runCli(['status', result.jobId, '--state-bucket', 'oss-sse-state', '--json'], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        done: true,
        job: { bucket },
        totals: { scanned: keys.length, reencrypted: keys.length },
      });
      const statusTable = await runCli(['status', result.jobId, '--state-bucket', 'oss-sse-state'], env);
      expect(statusTable.stdout).toContain(`job ${result.jobId}: bucket ${bucket}, done`);

      const after = clientFor(ready, bucket);
      for (const k of keys) {
        const got = await after.get(k);
        expect((got.res.headers as Record<string, string | undefined>)['x-oss-server-side-encryption'], k).toBe('AES256');
        expect(got.content.toString(), k).toBe(`body of ${k}`);
      }

      // No account id: the CLI says so and sends nothing.
      const before = fcRequests();
      const { ALIBABA_CLOUD_ACCOUNT_ID: _omitted, ...withoutAccount } = env;
      const missing = await runCli(['invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket })], withoutAccount);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/--account-id or ALIBABA_CLOUD_ACCOUNT_ID/);
      const malformed = await runCli(['invoke', 'oss-sse-backfill', '--payload', '{}', '--account-id', 'me@example.com'], withoutAccount);
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toMatch(/"me@example\.com" is not an Alibaba Cloud account id/);
      expect(fcRequests()).toBe(before);

      // Another account's id: the endpoint refuses it as FC does, and the CLI names the id it sent.
      const wrong = await runCli(['invoke', 'oss-sse-backfill', '--payload', JSON.stringify({ bucket })], {
        ...env,
        ALIBABA_CLOUD_ACCOUNT_ID: '9999999999999999',
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/AccessDenied: The service or function doesn't belong to you\./);
      expect(wrong.stderr).toMatch(/account id 9999999999999999 \(--account-id or ALIBABA_CLOUD_ACCOUNT_ID\)/);
      expect(stackLog).toMatch(/^FC POST - 403 /m);

      for (const r of [invoked, status, statusTable, missing, malformed, wrong]) {
        expect(r.stdout + r.stderr).not.toContain(secret);
        expect(r.stderr).not.toMatch(/TypeError/);
      }
      expect(stackLog).not.toContain(secret);
    } finally {
      const exited = exitCode(child);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 60_000);
});

describe('a backfill across a crash of the local stack', () => {
  it('the stack SIGKILLed mid-backfill and restarted on its --data-dir: the backfill (retrying through the outage, or rerun with its checkpoint) completes, nothing missed or changed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-e2e-restart-'));
    const creds = ['--access-key-id', 'AK-restart', '--access-key-secret', 'SK-restart-never-printed'];
    // --no-enforce: the object function would otherwise encrypt the uploads before the backfill.
    const flags = ['--data-dir', dir, '--quiet', '--no-enforce', ...creds];
    let local = await startLocal(flags);
    const port = new URL(local.ready.oss).port;
    const bucket = 'restart';
    const N = 1000;
    const keys = Array.from({ length: N }, (_, i) => `r/${String(i).padStart(5, '0')} ü+%`);
    const body = (k: string) => Buffer.from(`body of ${k}`);
    const c = clientFor(local.ready, bucket);
    await c.putBucket(bucket);
    for (let i = 0; i < N; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => c.put(k, body(k))));

    const checkpoint = join(dir, 'backfill.ckpt');
    const env = {
      PATH: process.env['PATH'] ?? '',
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'AK-restart',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'SK-restart-never-printed',
      ALIBABA_CLOUD_REGION_ID: local.ready.region,
      OSS_ENDPOINT: local.ready.oss,
    };
    const backfill = (extra: string[] = []) => {
      const child = spawn(
        process.execPath,
        [cli, 'backfill', bucket, '--checkpoint', checkpoint, '--concurrency', '8', '--json', ...extra],
        {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      return { child, done: exitCode(child).then((code) => ({ code, out })) };
    };

    // The first run is cut off by the crash: the stack dies once the run has saved a checkpoint.
    const first = backfill(['--qps', '500']); // slow enough to be mid-run at the crash
    const started = Date.now();
    while (!existsSync(checkpoint) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 5));
    expect(existsSync(checkpoint)).toBe(true);
    expect((JSON.parse(readFileSync(checkpoint, 'utf8')) as { checkpoint: { done: boolean } }).checkpoint.done).toBe(false);
    const died = exitCode(local.child);
    local.child.kill('SIGKILL');
    await died; // the port is free once the process is gone (node listens with SO_REUSEADDR)
    local = await startLocal(['--oss-port', port, ...flags]);
    const runs = [await first.done];

    // Rerun with the checkpoint until a run completes (the first may have survived the outage by retrying).
    while (runs.at(-1)?.code !== 0 && runs.length < 5) runs.push(await backfill().done);
    const last = runs.at(-1);
    // The crash reached the first run: it either retried through the outage (more than the 3
    // requests a plaintext object needs, plus the one list page) or stopped, and a rerun finished.
    const firstRequests =
      runs[0]?.code === 0 ? (JSON.parse(runs[0].out.trim().split('\n').at(-1) ?? '{}') as { requests: number }).requests : 0;
    expect(runs.length > 1 || firstRequests > 3 * N + 1, runs[0]?.out).toBe(true);
    expect(last?.code, last?.out).toBe(0);
    for (const r of runs) expect(r.out).not.toContain('SK-restart-never-printed');

    // Every object is encrypted, with its bytes intact; nothing else appeared.
    const after = clientFor(local.ready, bucket);
    const listed: string[] = [];
    let marker: string | undefined;
    do {
      const page = await after.list({ 'max-keys': 1000, ...(marker ? { marker } : {}) }, {});
      listed.push(...(page.objects ?? []).map((o: { name: string }) => o.name));
      marker = page.isTruncated ? page.nextMarker : undefined;
    } while (marker);
    expect(listed.sort()).toEqual([...keys].sort());
    for (let i = 0; i < N; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map(async (k) => {
          const got = await after.get(k);
          expect((got.res.headers as Record<string, string | undefined>)['x-oss-server-side-encryption'], k).toBe('AES256');
          expect(got.content.equals(body(k)), k).toBe(true);
        }),
      );
    }
    const exited = exitCode(local.child);
    local.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
