/**
 * `npm run bench`: runs the benchmarks, prints a table and writes bench/results/latest.json.
 * So far: the local OSS server's own CPU cost per request (the other benchmarks of the
 * design arrive with the engine and functions).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { benchOssServer } from './oss-server';

async function main(): Promise<void> {
  const results = { date: new Date().toISOString(), node: process.version, ossServer: await benchOssServer() };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
  console.table(results.ossServer);
}

void main();
