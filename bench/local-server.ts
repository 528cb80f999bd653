/**
 * The local OSS server as the benchmarks run it: the built `oss-sse local` in its own process,
 * so its CPU is its own (read from /proc/<pid>/stat) and the client's is this process's
 * (process.cpuUsage). Requests are counted on the server's side: the child answers a message
 * on its IPC channel with its request counters (cli/commands/local.ts, local/oss/faults.ts).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { readTraffic } from '../cli/commands/local';
import type { TrafficSnapshot } from '../local/oss/faults';

export interface Ready {
  oss: string;
  region: string;
  accessKeyId: string;
  accessKeySecret: string;
}

export interface ServerProcess {
  ready: Ready;
  pid: number;
  /** The server's own request counts so far. */
  traffic(): Promise<TrafficSnapshot>;
  /** CPU time the server process has used so far (user + system), in ms. */
  cpuMs(): number;
  stop(): void;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time of a process (user + system) in ms, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  // Fields 14 and 15 (1-based) of /proc/<pid>/stat: utime and stime in clock ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** This process's CPU time (user + system) in ms. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * The built `oss-sse local` in its own process (extra flags e.g. `--latency-ms 5`, later
 * flags winning); resolves on its ready line. `--latency-ms 0` comes first so the server
 * counts requests even when no flag asks for latency or faults.
 */
export async function startServer(extra: string[] = []): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['dist/cli/oss-sse.js', 'local', '--memory', '--no-enforce', '--quiet', '--latency-ms', '0', ...extra],
    {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const { stdout } = child;
  if (!stdout) throw new Error('oss-sse local: no stdout pipe');
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`oss-sse local exited (${code}) before it was ready`)));
    createInterface({ input: stdout }).once('line', (l) => resolve(JSON.parse(l) as Ready));
  });
  const pid = child.pid as number;
  return {
    ready,
    pid,
    traffic: () => readTraffic(child),
    cpuMs: () => processCpuMs(pid),
    stop: () => {
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
      // A server still closing connections after 5 s is not waited for.
      setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5_000).unref();
    },
  };
}

export async function fetchCreateBucket(ready: Ready, bucket: string): Promise<void> {
  const { signOssRequest } = await import('../shared/signing');
  const url = new URL(ready.oss);
  const req = { method: 'PUT', bucket, query: {}, headers: { 'content-length': '0' } as Record<string, string> };
  signOssRequest(req, { accessKeyId: ready.accessKeyId, accessKeySecret: ready.accessKeySecret }, { version: 'v4', region: ready.region });
  const res = await fetch(`${url.origin}/${bucket}/`, { method: 'PUT', headers: req.headers });
  if (res.status !== 200) throw new Error(`PutBucket ${bucket}: ${res.status} ${await res.text()}`);
}
