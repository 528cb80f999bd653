/**
 * Fuzzed backfill payloads run for real: each is parsed as the function parses it and, when
 * accepted, run as a job (continuations delivered) against the local OSS server, which
 * checks every request's signature and records every key it is asked for. Whatever the
 * payload, no request names a key OSS could not hold, nothing crashes, and every
 * continuation the job sends itself parses again.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryError } from '../../shared/backfill/inventory';
import { handleBackfill, type BackfillResult } from '../../shared/backfill/job';
import { parseBackfillPayload, type BackfillPayload } from '../../shared/backfill/payload';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { OssRequestError } from '../../shared/oss/port';
import { policyFromConfig } from '../../shared/policy';
import { isValidBucketName, objectKeyProblem } from '../../shared/validation';
import { loadConfig } from '../../shared/validation/config';
import { edgeKeys, hugeNumbers } from '../helpers/fuzz';
import { writeInventoryReport } from '../helpers/inventory';
import { startTestOss, type TestOss } from '../helpers/oss';

const SOURCE = 'fuzz-source';
const REPORTS = 'fuzz-reports';
const state = { bucket: 'fuzz-state', prefix: 'jobs/' };
const KEYS = ['a', 'a/b c', 'a+b%20', 'é/文件', '😀', 'z'.repeat(1023), 'ctl\u0001\u007f', 'x/y/z', 'zz'];
const policy = policyFromConfig(loadConfig({}));

let t: TestOss;
let oss: OssHttpClient;
let manifestKey = '';
const badRequests: string[] = [];

beforeAll(async () => {
  t = await startTestOss({
    onRequest: (req) => {
      if (req.bucket !== undefined && !isValidBucketName(req.bucket)) badRequests.push(`bucket ${JSON.stringify(req.bucket)}`);
      if (req.key !== undefined && objectKeyProblem(req.key) !== undefined) badRequests.push(`key ${JSON.stringify(req.key)}`);
    },
  });
  oss = t.httpClient();
  for (const b of [SOURCE, REPORTS, state.bucket]) await t.client().putBucket(b);
  const etags: string[] = [];
  for (const k of KEYS) etags.push((await oss.putObject(SOURCE, k, Buffer.from(k))).etag);
  manifestKey = await writeInventoryReport(
    { putObject: async (b: string, k: string, body: Buffer) => void (await oss.putObject(b, k, body)) },
    {
      destBucket: REPORTS,
      sourceBucket: SOURCE,
      objects: KEYS.map((key, i) => ({ key, size: 1, etag: etags[i] as string, encrypted: 'false' })),
    },
  );
});
afterAll(async () => t.close());

/** Each field: mostly a value that works here, sometimes an edge case. */
const bucket = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(SOURCE, 'no-such-bucket') },
  fc.constantFrom('Bad_Bucket', 'ab'),
  fc.string(),
);
const key = (...usual: string[]) => fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...usual) }, edgeKeys);
const count = (max: number) => fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max }) }, hugeNumbers);
const common = {
  bucket,
  prefix: key('', 'a', 'x/', 'é'),
  dryRun: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, fc.constant('yes')),
  concurrency: count(16),
  // Valid caps are fast ones: a cap of a few requests per second is correct but slow here.
  qps: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(50, 5000) },
    hugeNumbers.filter((n) => !(typeof n === 'number' && n >= 1 && n < 50)),
  ),
};
/** The three kinds of payload (a listing, an inventory, a continuation), then anything mixed. */
const payloads = fc.oneof(
  fc.record({ ...common, startAfter: key('a', 'x'), endBefore: key('x/', 'zz'), shards: count(6) }, { requiredKeys: ['bucket'] }),
  fc.record(
    {
      ...common,
      inventory: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom({ manifestKey: '<manifest>' }, { manifestKey: '<manifest>', bucket: REPORTS }) },
        fc.record({ manifestKey: edgeKeys, bucket: fc.constantFrom(REPORTS, 'no-such-bucket') }),
      ),
    },
    { requiredKeys: ['bucket', 'inventory'] },
  ),
  fc.record(
    { bucket, jobId: fc.constantFrom('20261127000000-deadbeef', 'BAD'), shard: count(3), generation: count(3) },
    { requiredKeys: ['bucket', 'jobId', 'shard'] },
  ),
  fc.dictionary(
    fc.constantFrom('bucket', 'prefix', 'startAfter', 'inventory', 'jobId', 'shard', 'shards', 'extra'),
    fc.oneof(edgeKeys, hugeNumbers, bucket),
  ),
);

/** What a run may end in besides a result: an OSS error with its code, a bad report, an unknown job. */
function expectExplained(err: unknown): void {
  if (err instanceof OssRequestError) return void expect(err.code).toMatch(/^[A-Za-z]+$/);
  if (err instanceof InventoryError) return void expect(err.message.length).toBeGreaterThan(10);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).constructor).toBe(Error); // not a TypeError, RangeError, …
  expect((err as Error).message).toMatch(/^backfill job \S+ (not found|has no)/);
}

/** Runs an accepted payload and the continuations it sends itself (bounded). */
async function runJob(first: BackfillPayload): Promise<BackfillResult[]> {
  const queue: BackfillPayload[] = [first];
  const results: BackfillResult[] = [];
  while (queue.length > 0 && results.length < 40) {
    const payload = queue.shift() as BackfillPayload;
    results.push(
      await handleBackfill(payload, {
        oss,
        policy,
        log: memoryLogger(),
        state,
        deadline: Date.now() + 2_000,
        invokeSelf: async (next) => {
          // What reaches the next invocation is JSON, parsed like any payload.
          const again = parseBackfillPayload(Buffer.from(JSON.stringify(next)));
          expect(again).toHaveProperty('payload');
          if ('payload' in again) queue.push(again.payload);
        },
      }),
    );
  }
  return results;
}

describe('property: any payload ends in a clear refusal, an explained error or a finished job', () => {
  it('and never in a request for an invalid key or bucket', async () => {
    const outcomes = { refused: 0, finished: 0, explained: 0 };
    await fc.assert(
      fc.asyncProperty(payloads, async (raw) => {
        // As it would arrive: JSON (a bigint can only be sent as a string), with the real manifest key.
        const text = JSON.stringify(raw, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).replace('<manifest>', manifestKey);
        const parsed = parseBackfillPayload(Buffer.from(text));
        if ('error' in parsed) {
          expect(parsed.error).toMatch(/^invalid backfill payload: \S/);
          outcomes.refused++;
          return;
        }
        try {
          const results = await runJob(parsed.payload);
          expect(results.at(-1)?.status).toMatch(/^(started|job-done|shard-done|already-done|superseded|failed)$/);
          outcomes.finished++;
        } catch (err) {
          expectExplained(err);
          outcomes.explained++;
        }
      }),
      { numRuns: 300 },
    );
    expect(badRequests).toEqual([]);
    // The generator must reach every outcome, or the property proves little.
    expect(outcomes.refused).toBeGreaterThan(30);
    expect(outcomes.finished).toBeGreaterThan(10);
    expect(outcomes.explained).toBeGreaterThan(3);
  }, 120_000);
});
