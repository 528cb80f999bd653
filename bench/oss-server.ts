/**
 * Server-side CPU cost of the local OSS server per HEAD and per small PUT, so later
 * benchmarks know it is not their bottleneck. The server runs as its own process (the built
 * `oss-sse local --no-enforce`); its CPU time is read from /proc/<pid>/stat before and after each phase,
 * while the real ali-oss client drives it from this process at a fixed concurrency.
 *
 *   npm run build && npx tsx bench/oss-server.ts [--requests 20000] [--concurrency 64]
 */
import OSS from 'ali-oss';
import { parseArgs } from 'node:util';
import { startServer } from './local-server';

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

export async function benchOssServer(requests = 20000, concurrency = 64, v4 = false) {
  // Without the functions: a PUT's event would otherwise run the object function in the server's process.
  const server = await startServer();
  const { ready } = server;
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

  let cpu = server.cpuMs();
  const putSeconds = await runPool(requests, concurrency, (i) => client.put(`obj/${i % 5000}`, body));
  const putCpuMs = server.cpuMs() - cpu;
  cpu = server.cpuMs();
  const headSeconds = await runPool(requests, concurrency, (i) => client.head(`warm/${i % keys}`));
  const headCpuMs = server.cpuMs() - cpu;
  server.stop();
  return {
    requests,
    concurrency,
    serverCpuMsPerHead: Number((headCpuMs / requests).toFixed(3)),
    serverCpuMsPerPut1KiB: Number((putCpuMs / requests).toFixed(3)),
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
