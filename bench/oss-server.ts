/**
 * Server-side CPU cost of the local OSS server per HEAD and per small PUT, so later
 * benchmarks know it is not their bottleneck. The server runs as its own process (the built
 * `oss-sse local`); its CPU time is read from /proc/<pid>/stat before and after each phase,
 * while the real ali-oss client drives it from this process at a fixed concurrency.
 *
 *   npm run build && npx tsx bench/oss-server.ts [--requests 20000] [--concurrency 64]
 */
import OSS from 'ali-oss';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  // Fields 14 and 15 (1-based) of /proc/<pid>/stat: utime and stime in clock ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

async function runPool(n: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function benchOssServer(requests = 20000, concurrency = 64, v4 = false): Promise<Record<string, number>> {
  const child = spawn(process.execPath, ['dist/cli/oss-sse.js', 'local', '--memory', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = await new Promise<{ oss: string; region: string; accessKeyId: string; accessKeySecret: string }>((resolve) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l)));
  });
  const pid = child.pid as number;
  const client = new OSS({
    endpoint: ready.oss,
    region: `oss-${ready.region}`,
    accessKeyId: ready.accessKeyId,
    accessKeySecret: ready.accessKeySecret,
    bucket: 'bench',
    authorizationV4: v4,
  });
  await client.putBucket('bench');
  const body = Buffer.alloc(1024, 7);
  const keys = 1000;
  for (let i = 0; i < keys; i++) await client.put(`warm/${i}`, body);

  let cpu = cpuSeconds(pid);
  const putSeconds = await runPool(requests, concurrency, (i) => client.put(`obj/${i % 5000}`, body));
  const putCpu = cpuSeconds(pid) - cpu;
  cpu = cpuSeconds(pid);
  const headSeconds = await runPool(requests, concurrency, (i) => client.head(`warm/${i % keys}`));
  const headCpu = cpuSeconds(pid) - cpu;
  child.kill('SIGTERM');
  return {
    requests,
    concurrency,
    serverCpuMsPerHead: Number(((headCpu * 1000) / requests).toFixed(3)),
    serverCpuMsPerPut1KiB: Number(((putCpu * 1000) / requests).toFixed(3)),
    headsPerSec: Math.round(requests / headSeconds),
    putsPerSec: Math.round(requests / putSeconds),
  };
}

if (process.argv[1]?.endsWith('oss-server.ts')) {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '64' },
      v4: { type: 'boolean', default: false },
    },
  });
  benchOssServer(Number(values.requests), Number(values.concurrency), values.v4).then((r) => console.log(JSON.stringify(r, null, 2)));
}
