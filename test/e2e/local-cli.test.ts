/** `oss-sse local` from the built bundle: the ready line contract, a real client, clean exit. */
import OSS from 'ali-oss';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'cli', 'oss-sse.js');

interface Ready {
  ready: true;
  oss: string;
  kms: string;
  fc: string;
  region: string;
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

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
}, 120_000);

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
});
