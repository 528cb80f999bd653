/**
 * `npm run bench [-- --quick]`: runs the benchmark suite (suite.ts), prints a table and writes
 * bench/results/latest.json. Comparisons share one local OSS server (a child process with
 * 5 ms injected latency per request); the memory benchmark starts its own servers.
 * --quick: 5,000-object buckets, memory at 5,000 and 50,000, fewer events.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchBackfillMemory } from './backfill-memory';
import { benchOssServer } from './oss-server';
import { benchBackfill, benchColdStart, benchEvents, benchInventory, benchMultipartCopy, startLatencyStack } from './suite';

const LATENCY_MS = 5;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const quick = values.quick;
  const objects = quick ? 5_000 : 20_000;
  const memorySizes = quick ? [5_000, 50_000] : [20_000, 200_000];
  const started = Date.now();
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const r = await f();
    console.error(`bench: ${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return r;
  };

  const stack = await startLatencyStack(LATENCY_MS);
  let comparisons;
  try {
    comparisons = {
      backfill: await step('backfill', () => benchBackfill(stack, objects)),
      inventory: await step('inventory', () => benchInventory(stack, objects)),
      multipartCopy: await step('multipartCopy', () => benchMultipartCopy(stack)),
      events: await step('events', () => benchEvents(stack, quick ? 300 : 2_000)),
    };
  } finally {
    stack.stop();
  }
  // Re-encrypting for real (every object plaintext): a dry run ends before the heap settles at 5,000.
  const memory = { dryRun: false, ...(await step('memory', () => benchBackfillMemory(memorySizes, false))) };
  const coldStart = await step('coldStart', () => benchColdStart(10));
  const ossServer = await step('ossServer', () => benchOssServer(quick ? 5_000 : 20_000));

  const results = {
    date: new Date().toISOString(),
    node: process.version,
    quick,
    latencyMs: LATENCY_MS,
    jitterMs: 0,
    ...comparisons,
    memory,
    coldStart,
    ossServer,
    durationSec: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);

  // One row per figure: [benchmark, metric, value].
  const rows: Array<{ benchmark: string; metric: string; value: unknown }> = [];
  const flatten = (prefix: string, o: unknown): void => {
    if (o !== null && typeof o === 'object') for (const [k, v] of Object.entries(o)) flatten(prefix ? `${prefix}.${k}` : k, v);
    else rows.push({ benchmark: prefix.split('.')[0] ?? prefix, metric: prefix.split('.').slice(1).join('.'), value: o });
  };
  for (const [k, v] of Object.entries(results)) if (typeof v === 'object') flatten(k, v);
  console.table(rows);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
