/**
 * Peak RSS of a backfill as the bucket grows: the memory must not grow with the bucket size.
 * The local OSS server runs in its own process (`oss-sse local --memory --no-enforce`), is
 * seeded with N plaintext objects, and `oss-sse backfill` runs against it under
 * /usr/bin/time, which reports the backfill process's maximum resident set size.
 *
 *   npm run build && npx tsx bench/backfill-memory.ts [--sizes 10000,100000] [--dry-run]
 *
 * MEM_NODE_FLAGS (space-separated) go to the backfill's node, e.g. "--max-old-space-size=40":
 * a run that finishes under a small cap at every size shows the live heap does not grow, apart
 * from how lazily V8 grows and collects the old space, which peak RSS also measures.
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { OssHttpClient } from '../shared/oss/http-client';
import { fetchCreateBucket, startServer } from './local-server';

const run = promisify(execFile);

export async function seed(oss: OssHttpClient, bucket: string, n: number): Promise<void> {
  let next = 0;
  const body = Buffer.alloc(256, 1);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) {
        const i = next++;
        await oss.putObject(bucket, `data/${String(i % 100).padStart(2, '0')}/obj-${String(i).padStart(7, '0')}`, body);
      }
    }),
  );
}

export async function benchBackfillMemory(sizes: number[], dryRun: boolean): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of sizes) {
    const server = await startServer();
    const { ready } = server;
    const creds = { accessKeyId: ready.accessKeyId, accessKeySecret: ready.accessKeySecret };
    const oss = new OssHttpClient({ endpoint: ready.oss, region: ready.region, credentials: () => creds });
    const bucket = `mem-${n}`;
    // Create the bucket through the same signed HTTP path as every other request.
    await fetchCreateBucket(ready, bucket);
    await seed(oss, bucket, n);
    oss.destroy();
    const started = Date.now();
    const { stderr, stdout } = await run(
      '/usr/bin/time',
      [
        '-f',
        'maxrss_kb=%M',
        process.execPath,
        ...(process.env.MEM_NODE_FLAGS ? process.env.MEM_NODE_FLAGS.split(' ') : []),
        'dist/cli/oss-sse.js',
        'backfill',
        bucket,
        '--json',
        '--concurrency',
        '64',
        ...(dryRun ? ['--dry-run'] : []),
      ],
      {
        env: {
          ...process.env,
          ALIBABA_CLOUD_ACCESS_KEY_ID: creds.accessKeyId,
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: creds.accessKeySecret,
          ALIBABA_CLOUD_REGION_ID: ready.region,
          OSS_ENDPOINT: ready.oss,
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const seconds = (Date.now() - started) / 1000;
    const rss = Number(/maxrss_kb=(\d+)/.exec(stderr)?.[1]);
    const report = JSON.parse(stdout) as { scanned: number; reencrypted: number; wouldReencrypt: number };
    if (report.scanned !== n) throw new Error(`backfill scanned ${report.scanned} of ${n} objects`);
    out[`peakRssMB_${n}`] = Math.round(rss / 1024);
    out[`objectsPerSec_${n}`] = Math.round(n / seconds);
    server.stop();
  }
  const [small, large] = sizes;
  if (small !== undefined && large !== undefined)
    out.ratio = Number(((out[`peakRssMB_${large}`] ?? 0) / (out[`peakRssMB_${small}`] ?? 1)).toFixed(3));
  return out;
}

if (process.argv[1]?.endsWith('backfill-memory.ts')) {
  const { values } = parseArgs({
    options: { sizes: { type: 'string', default: '10000,100000' }, 'dry-run': { type: 'boolean', default: false } },
  });
  benchBackfillMemory(values.sizes.split(',').map(Number), values['dry-run']).then((r) => console.log(JSON.stringify(r, null, 2)));
}
