/**
 * The backfill payload (parseBackfillPayload): thousands of generated payloads — arbitrary
 * values, JSON text with bytes that are not UTF-8, valid payloads with one field replaced by
 * edge keys, huge numbers or deep nesting — each ends in a payload every OSS request can be
 * built from, or in an error naming what is wrong. Never a throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBackfillPayload, type BackfillPayload } from '../../shared/backfill/payload';
import { isValidBucketName, objectKeyProblem } from '../../shared/validation';
import { anyValue, deep, edgeKeys, hugeNumbers, longStrings, mutate, pathsOf, replacement } from '../helpers/fuzz';

const VALID: Record<string, unknown>[] = [
  { bucket: 'my-bucket' },
  {
    bucket: 'my-bucket',
    prefix: 'logs/2026/',
    startAfter: 'logs/2026/a',
    endBefore: 'logs/2026/z',
    dryRun: true,
    concurrency: 8,
    qps: 250.5,
    shards: 4,
  },
  {
    bucket: 'my-bucket',
    prefix: '',
    inventory: { manifestKey: 'inventory/my-bucket/cfg/2026-11-27T00-00Z/manifest.json', bucket: 'reports' },
  },
  { bucket: 'my-bucket', jobId: '20261127045300-0a1b2c3d', shard: 3, generation: 12, concurrency: 64 },
];
const KEY_FIELDS = [['prefix'], ['startAfter'], ['endBefore'], ['inventory', 'manifestKey']] as const;

/** What the job relies on from an accepted payload (it sends these to OSS and to itself). */
function expectUsable(p: BackfillPayload): void {
  expect(isValidBucketName(p.bucket)).toBe(true);
  if (p.inventory?.bucket !== undefined) expect(isValidBucketName(p.inventory.bucket)).toBe(true);
  for (const k of [p.startAfter, p.endBefore, p.inventory?.manifestKey]) if (k !== undefined) expect(objectKeyProblem(k)).toBeUndefined();
  if (p.prefix) expect(objectKeyProblem(p.prefix)).toBeUndefined();
  for (const n of [p.concurrency, p.shards, p.shard, p.generation])
    if (n !== undefined) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
  if (p.qps !== undefined) expect(Number.isFinite(p.qps) && p.qps >= 1).toBe(true);
  expect(p.jobId === undefined).toBe(p.shard === undefined);
  // A continuation is the payload sent on as JSON: it must come back the same.
  const again = parseBackfillPayload(Buffer.from(JSON.stringify(p)));
  expect(again).toEqual({ payload: JSON.parse(JSON.stringify(p)) as unknown }); // -0 becomes 0, as on the wire
}

/** The error names a field (or says the JSON is bad), and stays readable. */
function expectClearError(error: string): void {
  expect(error).toMatch(/^(invalid backfill payload: \S|event is not valid JSON: )/);
  expect(error.length).toBeLessThan(4000);
}

function check(input: unknown): 'accepted' | 'refused' {
  const r = parseBackfillPayload(input);
  if ('payload' in r) {
    expectUsable(r.payload);
    return 'accepted';
  }
  expectClearError(r.error);
  return 'refused';
}

describe('parseBackfillPayload: examples', () => {
  it.each(VALID)('accepts %j', (p) => {
    expect(parseBackfillPayload(Buffer.from(JSON.stringify(p)))).toEqual({ payload: p });
  });

  it.each([
    ['a key of 1023 UTF-8 bytes (2-byte characters)', { startAfter: 'é'.repeat(511) + 'a' }, true],
    ['a key of 1024 UTF-8 bytes', { startAfter: 'é'.repeat(512) }, /startAfter: invalid object key: it is 1024 bytes in UTF-8/],
    [
      'a manifest key with a lone surrogate',
      { inventory: { manifestKey: 'a\ud800' } },
      /inventory\.manifestKey: invalid object key: it contains a lone surrogate/,
    ],
    ['a prefix starting with /', { prefix: '/logs' }, /prefix: invalid key prefix: it starts with '\/'/],
    ['control characters in a key (OSS accepts them)', { endBefore: 'a\u0001\n' }, true],
    ['concurrency past 2^53', { concurrency: 2 ** 64 }, /concurrency/],
    ['qps Infinity', { qps: Infinity }, /qps/],
    ['qps below 1 (a job that would wait hours per request)', { qps: 1e-9 }, /qps: must be >= 1/],
    ['an unknown field', { bucket: 'my-bucket', bukcet: 'x' }, /^invalid backfill payload: payload: .*"bukcet"/],
    ['a jobId not made by the backfill', { jobId: 'BAD', shard: 0 }, /jobId: must be 8-64 characters of a-z, 0-9 and -/],
  ] as const)('%s', (_, change, expected) => {
    const r = parseBackfillPayload({ bucket: 'my-bucket', ...change });
    if (expected === true) expect(r).toHaveProperty('payload');
    else expect('error' in r ? r.error : '').toMatch(expected);
  });

  it('bytes that are not UTF-8 inside a key decode to U+FFFD, which is a key OSS can hold', () => {
    const raw = Buffer.concat([Buffer.from('{"bucket":"my-bucket","startAfter":"a'), Buffer.from([0xff, 0xc0, 0x80]), Buffer.from('"}')]);
    const r = parseBackfillPayload(raw);
    expect(r).toEqual({ payload: { bucket: 'my-bucket', startAfter: 'a\ufffd\ufffd\ufffd' } });
  });

  it('1e999 in the JSON text is Infinity: refused', () => {
    expect(parseBackfillPayload(Buffer.from('{"bucket":"my-bucket","qps":1e999}'))).toEqual({ error: expect.stringMatching(/qps/) });
  });

  it('an empty or non-JSON body is refused as such', () => {
    expect(parseBackfillPayload(Buffer.alloc(0))).toEqual({ error: expect.stringMatching(/^event is not valid JSON: the event is empty/) });
    expect(parseBackfillPayload(Buffer.from('{"bucket":'))).toEqual({ error: expect.stringMatching(/^event is not valid JSON/) });
  });
});

describe('property: parseBackfillPayload never throws; it accepts only usable payloads, else names the problem', () => {
  it('on arbitrary values', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, fc.jsonValue(), hugeNumbers, longStrings), (v) => void check(v)),
      { numRuns: 3000 },
    );
  });

  it('on arbitrary text and bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json().map((t) => Buffer.from(t)),
          fc.string().map((t) => Buffer.from(t)),
          fc.uint8Array({ maxLength: 300 }),
        ),
        (b) => void check(Buffer.from(b)),
      ),
      { numRuns: 2000 },
    );
  });

  it('on valid payloads with one field replaced or removed', () => {
    const cases = VALID.flatMap((p) => pathsOf(p).map((path) => [p, path] as const));
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.oneof(replacement, edgeKeys), fc.boolean(), ([p, path], value, remove) => {
        check(mutate(p, path, value, remove));
      }),
      { numRuns: 4000 },
    );
  });

  it('edge keys in every key field: accepted exactly when OSS could hold the key', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...KEY_FIELDS), edgeKeys, (path, key) => {
        const base =
          path[0] === 'inventory' ? { bucket: 'my-bucket', inventory: { manifestKey: 'm/manifest.json' } } : { bucket: 'my-bucket' };
        const input = mutate(base, [...path], key, false);
        const bad = objectKeyProblem(key) !== undefined && !(path[0] === 'prefix' && key === '');
        const outcome = check(input);
        expect(outcome).toBe(bad ? 'refused' : 'accepted');
        if (outcome === 'accepted') accepted++;
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('on deep nesting, as the payload and inside it', () => {
    fc.assert(
      fc.property(deep, fc.constantFrom(...pathsOf(VALID[1])), (nested, path) => {
        check(nested);
        check(mutate(VALID[1], path, nested, false));
      }),
      { numRuns: 200 },
    );
  });
});
