/**
 * The backfill's client CPU per request alone, as `npm run bench` measures it
 * (backfill.oss_sse.clientCpuMsPerRequest) but in a minute: the same stack (the local OSS server
 * in its own process, 5 ms latency), the same half-plaintext bucket, a warm-up run, then the
 * engine's first pass measured with process.cpuUsage(). For comparing changes to the engine and
 * the OSS client without running the whole bench.
 *
 *   npm run build && npx tsx bench/client-cpu.ts [--objects 3000] [--runs 3] [--cpu-profile FILE]
 *
 * --cpu-profile writes a V8 profile of the last measured pass (summarise it with
 * `npx tsx scripts/profile-engine.ts --summarize FILE`).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { half, measure, ourBackfill, round, seedBucket, startLatencyStack } from './suite';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string', default: '3000' },
      runs: { type: 'string', default: '3' },
      'cpu-profile': { type: 'string' },
    },
  });
  const n = Number(values.objects);
  const runs = Number(values.runs);
  const s = await startLatencyStack(5);
  try {
    await seedBucket(s, 'cpu-warm-up', 1000, half);
    await ourBackfill(s.oss, 'cpu-warm-up');
    const perRequest: number[] = [];
    for (let run = 0; run < runs; run++) {
      const bucket = `cpu-${run}`;
      await seedBucket(s, bucket, n, half);
      const profiling = values['cpu-profile'] !== undefined && run === runs - 1;
      const session = new Session();
      if (profiling) {
        session.connect();
        await session.post('Profiler.enable');
        // 100 µs rather than V8's 1 ms: a pass is a second or two of CPU.
        await session.post('Profiler.setSamplingInterval', { interval: 100 });
        await session.post('Profiler.start');
      }
      const usage = process.cpuUsage();
      const { cost } = await measure(s, () => ourBackfill(s.oss, bucket));
      const { user, system } = process.cpuUsage(usage);
      if (profiling) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(values['cpu-profile'] as string, JSON.stringify(profile));
        session.disconnect();
      }
      const ms = cost.clientCpuMs / cost.requests;
      perRequest.push(ms);
      console.error(
        `run ${run + 1}: ${cost.requests} requests in ${round(cost.seconds, 2)} s, client ${round(ms, 4)} ms/request (user ${round(user / 1000 / cost.requests, 4)}, system ${round(system / 1000 / cost.requests, 4)}), server ${round(cost.serverCpuMs / cost.requests, 4)} ms/request`,
      );
    }
    const sorted = [...perRequest].sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        objects: n,
        runs: perRequest.map((x) => round(x, 4)),
        medianClientCpuMsPerRequest: round(sorted[Math.floor(runs / 2)] as number, 4),
      }),
    );
  } finally {
    s.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
