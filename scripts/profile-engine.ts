/**
 * The backfill engine's own CPU per OSS request (issue 13 §4): the local OSS server runs in its
 * own process (the built `oss-sse local --memory --quiet --no-enforce`), so this process's CPU time is the
 * engine's and the OSS client's only (signing, HTTP, XML, header handling, the routine). It
 * seeds a bucket with plaintext and AES256 objects, then runs the engine over a listing of it
 * once and prints the client's CPU ms per request and per object, and the server's (from
 * /proc/<pid>/stat).
 *
 *   npm run build && npx tsx scripts/profile-engine.ts [--plaintext 3000] [--compliant 3000] [--concurrency 64]
 *
 * To profile the engine's run only (not the seeding), pass --cpu-profile FILE (V8's sampling
 * profiler through node:inspector, as node --cpu-prof writes it), then list the top functions by
 * self time. Bundled first, so that the profile shows the code rather than tsx's transpiling:
 *
 *   npx esbuild scripts/profile-engine.ts --bundle --platform=node --target=node20 --packages=external --outfile=node_modules/.cache/profile-engine.cjs
 *   node node_modules/.cache/profile-engine.cjs --cpu-profile /tmp/engine.cpuprofile
 *   npx tsx scripts/profile-engine.ts --summarize /tmp/engine.cpuprofile
 */
import OSS from 'ali-oss';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { listingItems, runBackfill } from '../shared/backfill/engine';
import { createLogger } from '../shared/log';
import { OssHttpClient } from '../shared/oss/http-client';
import { policyFromConfig } from '../shared/policy';
import { loadConfig } from '../shared/validation/config';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process, in ms (fields 14 and 15 of /proc/<pid>/stat). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** The decision lines are made (JSON, scrubbed) as in production, and dropped: keeping them would make the profile about their memory. */
const discardLine = (): void => undefined;

const ownCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface LocalReady {
  oss: string;
  region: string;
  accessKeyId: string;
  accessKeySecret: string;
}

interface ProfileOptions {
  plaintext: number;
  compliant: number;
  concurrency: number;
  /** Write a .cpuprofile of the run (not the seeding) here. */
  cpuProfile?: string;
}

async function profileEngine({ plaintext, compliant, concurrency, cpuProfile }: ProfileOptions): Promise<Record<string, number>> {
  const child = spawn(process.execPath, ['dist/cli/oss-sse.js', 'local', '--memory', '--quiet', '--no-enforce'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const ready = await new Promise<LocalReady>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`oss-sse local exited (${code}) before it was ready; run npm run build first`)));
      createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l) as LocalReady));
    });
    const credentials = () => ({ accessKeyId: ready.accessKeyId, accessKeySecret: ready.accessKeySecret });
    const seeder = new OssHttpClient({ endpoint: ready.oss, region: ready.region, credentials });
    const bucket = 'profile';
    // OssPort has no PutBucket (the functions never create one): the SDK does it.
    await new OSS({ endpoint: ready.oss, region: `oss-${ready.region}`, ...credentials() }).putBucket(bucket);
    const body = Buffer.alloc(1024, 7);
    const keys = [
      ...Array.from({ length: plaintext }, (_, i) => ({
        key: `p/${i}`,
        headers: { 'x-oss-meta-n': String(i), 'content-type': 'text/plain' },
      })),
      ...Array.from({ length: compliant }, (_, i) => ({ key: `e/${i}`, headers: { 'x-oss-server-side-encryption': 'AES256' } })),
    ];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < keys.length) {
          const k = keys[next++] as (typeof keys)[number];
          await seeder.putObject(bucket, k.key, body, k.headers);
        }
      }),
    );
    seeder.destroy();

    const oss = new OssHttpClient({ endpoint: ready.oss, region: ready.region, credentials });
    const policy = policyFromConfig(loadConfig({}));
    const pid = child.pid as number;
    const session = new Session();
    if (cpuProfile !== undefined) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const serverBefore = processCpuMs(pid);
    const clientBefore = ownCpuMs();
    const started = performance.now();
    const report = await runBackfill({
      bucket,
      items: listingItems(oss, bucket, {}),
      oss,
      policy,
      log: createLogger({ write: discardLine }),
      concurrency,
      requestCount: () => oss.requestCount,
    });
    const wallMs = performance.now() - started;
    const clientMs = ownCpuMs() - clientBefore;
    const serverMs = processCpuMs(pid) - serverBefore;
    if (cpuProfile !== undefined) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(cpuProfile, JSON.stringify(profile));
      session.disconnect();
    }
    oss.destroy();
    const objects = report.scanned;
    return {
      objects,
      reencrypted: report.reencrypted,
      compliant: report.compliant,
      requests: report.requests,
      wallMs: Math.round(wallMs),
      requestsPerSecond: Math.round((report.requests * 1000) / wallMs),
      clientCpuMsPerRequest: Number((clientMs / report.requests).toFixed(4)),
      clientCpuMsPerObject: Number((clientMs / objects).toFixed(4)),
      serverCpuMsPerRequest: Number((serverMs / report.requests).toFixed(4)),
    };
  } finally {
    child.kill('SIGTERM');
  }
}

/** The top functions of a .cpuprofile by self time (the profile's own sample counts). */
function summarize(file: string, top = 25): string {
  interface ProfileNode {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
  const total = profile.samples.length;
  const byFunction = new Map<string, number>();
  for (const n of profile.nodes) {
    const where = n.callFrame.url.replace(/^.*\/(node_modules|dist|shared|local|tmp)\//, '$1/');
    const name = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + (n.hitCount ?? 0));
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, hits]) => `${((hits * 100) / total).toFixed(1).padStart(5)}%  ${name}`)
    .join('\n');
}

const { values } = parseArgs({
  options: {
    plaintext: { type: 'string', default: '3000' },
    compliant: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '64' },
    'cpu-profile': { type: 'string' },
    summarize: { type: 'string' },
  },
});
if (values.summarize !== undefined) console.log(summarize(values.summarize));
else {
  profileEngine({
    plaintext: Number(values.plaintext),
    compliant: Number(values.compliant),
    concurrency: Number(values.concurrency),
    ...(values['cpu-profile'] === undefined ? {} : { cpuProfile: values['cpu-profile'] }),
  }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
