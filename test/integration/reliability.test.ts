/**
 * The backfill engine and the object function against the local OSS server with injected
 * faults (local/oss/faults.ts): throttling, 500s, connection resets and answers past the
 * client's timeout, each either before the request was handled or after (the write
 * happened; the client cannot tell). State is compared before and after through a
 * fault-free client on the same store (an access key the injector exempts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OssEventRecord } from '../../local/oss/events';
import type { FaultOptions } from '../../local/oss/faults';
import type { OssServerOptions } from '../../local/oss/server';
import { listingItems, runBackfill, type FailureRecord } from '../../shared/backfill/engine';
import { memoryLogger } from '../../shared/log';
import { handleObjectEvent, TransientFailure } from '../../shared/object-encryption';
import { OssHttpClient } from '../../shared/oss/http-client';
import { policyFromConfig } from '../../shared/policy';
import { reencryptObject } from '../../shared/reencrypt';
import { loadConfig } from '../../shared/validation/config';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';
import { seededRandom } from '../helpers/seeded-random';

const OBSERVER_AK = 'LTAI5tFaultFreeObserver';
const OBSERVER_SECRET = 'FaultFreeObserverSecretThatIsNeverLogged01';
const N = 300;
/** Objects above this go through the multipart copy (Initiate, UploadPartCopy ×n, Complete). */
const MULTIPART_BYTES = 100 * 1024;
const policy = policyFromConfig(
  loadConfig({ MULTIPART_THRESHOLD_BYTES: String(MULTIPART_BYTES), PART_SIZE_BYTES: String(MULTIPART_BYTES) }),
);

// ---- harness -------------------------------------------------------------------------------------

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  // A promise rejected with nobody listening is a request or a worker left behind.
  expect(unhandled).toEqual([]);
});

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface Stack {
  t: TestOss;
  /** Subject to the faults: short per-attempt timeout, retries inside a deadline. */
  faulty: OssHttpClient;
  /** The same store without faults. */
  observer: OssHttpClient;
}

async function stack(
  faults: FaultOptions,
  opts: { maxAttempts?: number; timeoutMs?: number; onRequest?: OssServerOptions['onRequest'] } = {},
): Promise<Stack> {
  const t = await startTestOss({
    credentials: { [TEST_AK]: TEST_SECRET, [OBSERVER_AK]: OBSERVER_SECRET },
    faults: { exemptAccessKeyIds: [OBSERVER_AK], ...faults },
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
  });
  // Like an invocation's remaining time: every operation's retries end by then.
  const deadline = Date.now() + 60_000;
  const faulty = new OssHttpClient({
    endpoint: t.server.url,
    region: t.server.region,
    credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    timeoutMs: opts.timeoutMs ?? 500,
    retry: { deadline: () => deadline, maxAttempts: opts.maxAttempts ?? 6, baseMs: 5, capMs: 80 },
  });
  const observer = new OssHttpClient({
    endpoint: t.server.url,
    region: t.server.region,
    credentials: () => ({ accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET }),
  });
  closers.push(
    () => t.close(),
    () => faulty.destroy(),
    () => observer.destroy(),
  );
  return { t, faulty, observer };
}

/** 10% of requests fail, spread over every kind; a little jittered latency interleaves them. */
/** A few seconds normally; generous for a loaded CI machine (every request of a run shares two cores). */
const HEAVY_TIMEOUT_MS = 90_000;

const MIXED: FaultOptions = { faultRate: 0.1, latencyMs: 1, jitterMs: 3, slowMs: 700 };

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** The i-th object of a seeded bucket: a mix of sizes, metadata, tags, ACLs, storage classes and encryptions. */
function objectSpec(i: number): { key: string; body: Buffer; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'x-oss-meta-index': String(i), 'x-oss-meta-owner': `team ${i % 7}` };
  if (i % 3 === 0) headers['content-type'] = 'application/json';
  if (i % 4 === 1) headers['cache-control'] = 'max-age=600';
  if (i % 6 === 2) headers['content-disposition'] = `attachment; filename="f${i}.bin"`;
  if (i % 4 !== 0) headers['x-oss-tagging'] = `a=${i}&class=${i % 2 ? 'x' : 'y'}`;
  const acl = (['default', 'private', 'public-read'] as const)[i % 3] as string;
  if (acl !== 'default') headers['x-oss-object-acl'] = acl;
  if (i % 5 === 0) headers['x-oss-storage-class'] = 'IA';
  const enc = i % 20;
  if (enc >= 11 && enc <= 13) headers['x-oss-server-side-encryption'] = 'AES256';
  else if (enc >= 14 && enc <= 16) {
    headers['x-oss-server-side-encryption'] = 'KMS';
    headers['x-oss-server-side-encryption-key-id'] = 'reliability-cmk';
    if (enc === 16) headers['x-oss-server-side-data-encryption'] = 'SM4';
  } else if (enc >= 17) headers['x-oss-server-side-encryption'] = 'SM4';
  // A few plaintext objects large enough for the multipart copy.
  const size = i < 4 ? MULTIPART_BYTES + 20_000 + i * 30_000 : 200 + ((i * 37) % 3800);
  return { key: `data/${String(i).padStart(4, '0')}${i % 9 === 0 ? ' spaced+odd' : ''}`, body: randomBytes(size), headers };
}

/** Seeds `n` objects through the fault-free client; returns the PutObject event of each, by key. */
async function seed(s: Stack, bucket: string, n = N): Promise<Map<string, OssEventRecord>> {
  await s.t.client({ bucket, accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET }).putBucket(bucket);
  const events = new Map<string, OssEventRecord>();
  const listener = (e: { events: OssEventRecord[] }): void => {
    for (const r of e.events)
      if (r.oss.bucket.name === bucket && r.eventName === 'ObjectCreated:PutObject') events.set(r.oss.object.key, r);
  };
  s.t.server.events.on('object', listener);
  await pool(
    Array.from({ length: n }, (_, i) => objectSpec(i)),
    16,
    async (o) => void (await s.observer.putObject(bucket, o.key, o.body, o.headers)),
  );
  s.t.server.events.off('object', listener);
  return events;
}

interface Snapshot {
  md5: string;
  size: number;
  crc64: string;
  contentHeaders: Record<string, string | undefined>;
  userMeta: Record<string, string>;
  storageClass: string;
  acl: string;
  tags: Array<[string, string]>;
  sse?: { algorithm: string; keyId?: string; dataEncryption?: string };
}

/**
 * Every object's bytes, metadata, tags, ACL, storage class and encryption, read from the
 * server's store (no request, no fault); a sample is cross-checked through the fault-free client.
 */
async function snapshot(s: Stack, bucket: string): Promise<Map<string, Snapshot>> {
  const store = s.t.server.store;
  const out = new Map<string, Snapshot>();
  for (const key of [...store.keysFrom(bucket, { key: '', inclusive: true })]) {
    const v = store.current(bucket, key);
    if (!v) continue;
    const md5 = createHash('md5');
    for await (const chunk of store.readData(v.segments, 0, v.size)) md5.update(chunk);
    out.set(key, {
      md5: md5.digest('hex'),
      size: v.size,
      crc64: v.crc64,
      contentHeaders: { ...v.contentHeaders },
      userMeta: { ...v.userMeta },
      storageClass: v.storageClass,
      acl: v.acl,
      tags: [...v.tags],
      ...(v.sse ? { sse: { ...v.sse } } : {}),
    });
  }
  for (const key of [...out.keys()].filter((_, i) => i % 37 === 0)) {
    const snap = out.get(key) as Snapshot;
    const head = await s.observer.headObject(bucket, key);
    const body = (await s.observer.getObject(bucket, key)) as Buffer;
    expect([key, createHash('md5').update(body).digest('hex'), head?.crc64, head?.storageClass]).toEqual([
      key,
      snap.md5,
      snap.crc64,
      snap.storageClass,
    ]);
  }
  return out;
}

/** Everything but the encryption, which is the one thing allowed to change. */
const content = ({ sse: _sse, ...rest }: Snapshot): Omit<Snapshot, 'sse'> => rest;

/**
 * Before/after: the same keys; every object's content, metadata, tags, ACL and storage class
 * unchanged; objects encrypted before keep their exact encryption; `mayBePlain` objects (in the
 * failures) may still be plaintext, every other one is now encrypted.
 */
function expectOnlyEncryptionChanged(
  before: Map<string, Snapshot>,
  after: Map<string, Snapshot>,
  mayBePlain: ReadonlySet<string> = new Set(),
): void {
  expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  for (const [key, b] of before) {
    const a = after.get(key) as Snapshot;
    expect([key, content(a)]).toEqual([key, content(b)]);
    if (b.sse) expect([key, a.sse]).toEqual([key, b.sse]);
    else if (!mayBePlain.has(key)) expect([key, a.sse]).toEqual([key, { algorithm: 'AES256' }]);
  }
}

const unencrypted = (snap: Map<string, Snapshot>): string[] => [...snap].filter(([, s]) => !s.sse).map(([k]) => k);

const backfill = (s: Stack, bucket: string, oss: OssHttpClient, onFailure?: (f: FailureRecord) => void) =>
  runBackfill({
    bucket,
    items: listingItems(oss, bucket, {}),
    oss,
    policy,
    log: memoryLogger(),
    concurrency: 16,
    requestCount: () => oss.requestCount,
    ...(onFailure ? { onFailure } : {}),
  });

// ---- the tests ---------------------------------------------------------------------------------

describe('backfill under 10% mixed faults', () => {
  it(
    'encrypts every object (or reports it failed), changes nothing else, and retries visibly',
    async () => {
      const s = await stack(MIXED);
      await seed(s, 'rel-clean');
      await seed(s, 'rel-faulty');
      const before = await snapshot(s, 'rel-faulty');
      expect(unencrypted(before).length).toBeGreaterThan(150);

      // The same bucket contents without faults: the request count a clean run needs.
      const clean = await backfill(s, 'rel-clean', s.observer);
      expect(clean.failed).toEqual({});

      const failures: FailureRecord[] = [];
      const report = await backfill(s, 'rel-faulty', s.faulty, (f) => void failures.push(f));
      const stats = s.t.server.faults?.stats;
      expect(stats && Object.values(stats.injected).reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
      // Some writes were faulted after they happened: the ambiguous case the engine must cope with.
      expect(stats && Object.values(stats.afterHandling).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      // Retries are visible: more requests than the clean run's for the same work.
      expect(report.requests).toBeGreaterThan(clean.requests);
      expect(report.scanned).toBe(N);
      expect(report.compliant + report.reencrypted + failures.length).toBe(N);
      expect(Object.values(report.failed).reduce((a, b) => a + b, 0)).toBe(failures.length);

      const after = await snapshot(s, 'rel-faulty');
      const failed = new Set(failures.map((f) => f.key));
      // Every object is encrypted, or is in the report's failures with its code.
      expect(unencrypted(after).filter((k) => !failed.has(k))).toEqual([]);
      for (const f of failures) expect(f.code).toMatch(/\w/);
      expectOnlyEncryptionChanged(before, after, failed);

      // A second run without faults finishes whatever failed, and changes nothing else.
      const second = await backfill(s, 'rel-faulty', s.observer);
      expect(second.failed).toEqual({});
      expect(second.reencrypted).toBe(unencrypted(after).length);
      const final = await snapshot(s, 'rel-faulty');
      expect(unencrypted(final)).toEqual([]);
      expectOnlyEncryptionChanged(before, final);
    },
    HEAVY_TIMEOUT_MS,
  );

  it(
    'when transient failures exhaust the retries, the report names every object left with its code; a rerun finishes them',
    async () => {
      // Half the requests fail and only two tries are allowed: many objects must fail.
      // The listing is left alone (only object requests fail), so the run always gets to the objects.
      const s = await stack(
        { faultRate: 0.5, faultKinds: ['qps503', 'internal500', 'reset'], seed: 21, only: (r) => r.key !== undefined },
        { maxAttempts: 2 },
      );
      await seed(s, 'rel-exhaust', 120);
      const before = await snapshot(s, 'rel-exhaust');
      const failures: FailureRecord[] = [];
      const report = await backfill(s, 'rel-exhaust', s.faulty, (f) => void failures.push(f));
      const after = await snapshot(s, 'rel-exhaust');
      const failed = new Set(failures.map((f) => f.key));
      expect(failures.length).toBeGreaterThan(10);
      expect(report.reencrypted + report.compliant + failures.length).toBe(120);
      // Every object left unencrypted is in the failures; each failure says why.
      expect(unencrypted(after).filter((k) => !failed.has(k))).toEqual([]);
      for (const f of failures) {
        expect(['TotalQpsLimitExceeded', 'InternalError', 'NetworkError', 'NoSuchUpload']).toContain(f.code);
        // Only the lost-answer NoSuchUpload (see the multipart tests below) is reported as permanent.
        if (f.code !== 'NoSuchUpload') expect([f.key, f.retryable]).toEqual([f.key, true]);
      }
      const byCode: Record<string, number> = {};
      for (const f of failures) byCode[f.code] = (byCode[f.code] ?? 0) + 1;
      expect(report.failed).toEqual(byCode);
      expectOnlyEncryptionChanged(before, after, new Set(unencrypted(after)));
      const rerun = await backfill(s, 'rel-exhaust', s.observer);
      expect(rerun.failed).toEqual({});
      const final = await snapshot(s, 'rel-exhaust');
      expect(unencrypted(final)).toEqual([]);
      expectOnlyEncryptionChanged(before, final);
    },
    HEAVY_TIMEOUT_MS,
  );

  it(
    'concurrent overwrites during the backfill: the newest content always survives',
    async () => {
      const s = await stack(MIXED);
      await seed(s, 'rel-race');
      const before = await snapshot(s, 'rel-race');
      // Small objects only: the multipart path has a known window (see "multipart copy" below).
      const small = [...before].filter(([, b]) => b.size < MULTIPART_BYTES).map(([k]) => k);
      const newest = new Map<string, { md5: string; index: string }>();
      let running = true;
      let writes = 0;
      // Two writers over disjoint keys, so each key's last write is known; fault-free, like a user's own client.
      const random = seededRandom(0x07e7);
      const writer = async (mine: string[]): Promise<void> => {
        while (running) {
          const key = mine[Math.floor(random() * mine.length)] as string;
          const body = randomBytes(100 + Math.floor(random() * 3000));
          const index = `overwrite-${writes++}`;
          await s.observer.putObject('rel-race', key, body, { 'x-oss-meta-index': index });
          newest.set(key, { md5: createHash('md5').update(body).digest('hex'), index });
          await new Promise((r) => setTimeout(r, random() * 4));
        }
      };
      const writers = [writer(small.filter((_, i) => i % 2 === 0)), writer(small.filter((_, i) => i % 2 === 1))];
      const failures: FailureRecord[] = [];
      const report = await backfill(s, 'rel-race', s.faulty, (f) => void failures.push(f)).finally(() => {
        running = false;
      });
      await Promise.all(writers);
      expect(writes).toBeGreaterThan(20);
      expect(report.scanned).toBe(N);

      const check = async (): Promise<Map<string, Snapshot>> => {
        const after = await snapshot(s, 'rel-race');
        for (const [key, b] of before) {
          const a = after.get(key) as Snapshot;
          const w = newest.get(key);
          if (w) expect([key, a.md5, a.userMeta.index]).toEqual([key, w.md5, w.index]);
          else expect([key, content(a)]).toEqual([key, content(b)]);
        }
        return after;
      };
      const after = await check();
      // Not overwritten and not reported failed: encrypted.
      const failed = new Set(failures.map((f) => f.key));
      expect(unencrypted(after).filter((k) => !newest.has(k) && !failed.has(k))).toEqual([]);
      // The overwrites are plaintext (their own object event would handle them); a clean run does here.
      await backfill(s, 'rel-race', s.observer);
      expect(unencrypted(await check())).toEqual([]);
    },
    HEAVY_TIMEOUT_MS,
  );
});

describe('object function under 10% mixed faults, at-least-once delivery', () => {
  it(
    'each event delivered three times, shuffled and concurrently: every object encrypted, nothing else changed, copies bounded',
    async () => {
      const s = await stack(MIXED);
      const events = await seed(s, 'rel-events');
      expect(events.size).toBe(N);
      const before = await snapshot(s, 'rel-events');

      /** Copy request ids by key: CopyObject, or the CompleteMultipartUpload of a multipart copy. */
      const copies = new Map<string, string[]>();
      const listener = (e: { events: OssEventRecord[] }): void => {
        for (const r of e.events) {
          if (r.oss.bucket.name !== 'rel-events') continue;
          if (r.eventName === 'ObjectCreated:CopyObject' || r.eventName === 'ObjectCreated:CompleteMultipartUpload') {
            copies.set(r.oss.object.key, [...(copies.get(r.oss.object.key) ?? []), r.responseElements.requestId]);
          }
        }
      };
      s.t.server.events.on('object', listener);

      const queue = [...events.values()].flatMap((r) => [r, r, r]);
      const random = seededRandom(0xde11);
      for (let i = queue.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [queue[i], queue[j]] = [queue[j] as OssEventRecord, queue[i] as OssEventRecord];
      }
      const deliveries = new Map<string, number>();
      const lastResult = new Map<string, string>();
      /** Request ids the deliveries' outcomes name: the answers the function actually received. */
      const acknowledged = new Set<string>();
      const log = memoryLogger();
      let next = 0;
      // Like FC: many instances at once; a TransientFailure makes FC deliver the event again (up to 3 more times).
      const retries = new Map<OssEventRecord, number>();
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          while (next < queue.length) {
            const record = queue[next++] as OssEventRecord;
            const key = record.oss.object.key;
            deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
            let summary;
            try {
              summary = await handleObjectEvent({ events: [record] }, { oss: s.faulty, policy, log });
            } catch (e) {
              expect(e).toBeInstanceOf(TransientFailure);
              summary = (e as TransientFailure).summary;
              const n = retries.get(record) ?? 0;
              if (n < 3) {
                retries.set(record, n + 1);
                queue.push(record);
              }
            }
            const result = summary.records[0];
            lastResult.set(key, result?.action ?? 'none');
            if (result && 'requestIds' in result) for (const id of result.requestIds) acknowledged.add(id);
          }
        }),
      );
      s.t.server.events.off('object', listener);

      const after = await snapshot(s, 'rel-events');
      // Every object encrypted unless its last delivery failed (reported, and retried by FC until it gave up).
      const leftFailed = new Set([...lastResult].filter(([, a]) => a === 'failed').map(([k]) => k));
      expect(unencrypted(after).filter((k) => !leftFailed.has(k))).toEqual([]);
      expectOnlyEncryptionChanged(before, after, leftFailed);

      // Copies: none for objects compliant from the start; at least one for the others; and
      // each delivery acknowledged at most one. Copies beyond the acknowledged ones are writes
      // whose answer was lost (a fault after the write, or a timeout): the client's retry copied
      // the same bytes again, which is harmless and cannot be told apart from the outside.
      for (const [key, b] of before) {
        const ids = copies.get(key) ?? [];
        if (b.sse) expect([key, ids.length]).toEqual([key, 0]);
        else {
          expect([key, ids.length >= 1 || leftFailed.has(key)]).toEqual([key, true]);
          const acked = ids.filter((id) => acknowledged.has(id)).length;
          expect([key, acked <= (deliveries.get(key) ?? 0)]).toEqual([key, true]);
        }
      }
      const totalCopies = [...copies.values()].reduce((n, ids) => n + ids.length, 0);
      expect(totalCopies).toBeGreaterThanOrEqual(unencrypted(before).length - leftFailed.size);
      // Faults really happened, and were retried.
      expect(s.t.server.faults?.injectedTotal).toBeGreaterThan(20);
      expect(log.lines.length).toBeGreaterThan(0);
    },
    HEAVY_TIMEOUT_MS,
  );
});

describe('an overwrite racing the verification', () => {
  // An overwrite landing right after our copy is someone else's newer object, not a failed copy:
  // it is kept, and encrypted when its own event arrives (not mistaken for ours).
  it('the overwrite is encrypted when its own event arrives', async () => {
    const bucket = 'rel-verify-race';
    const key = 'raced';
    const newer = randomBytes(2345);
    let copied = false;
    let overwrite: Promise<unknown> | undefined;
    // Latency on every HEAD after the copy landed: the verifying HEAD comes after the overwrite.
    const s: Stack = await stack({ latencyMs: 300, jitterMs: 0, only: (r) => copied && r.method === 'HEAD' });
    await s.t.client({ bucket, accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET }).putBucket(bucket);
    const puts: OssEventRecord[] = [];
    s.t.server.events.on('object', (e) => {
      for (const r of e.events) {
        if (r.oss.object.key !== key) continue;
        if (r.eventName === 'ObjectCreated:PutObject') puts.push(r);
        if (r.eventName === 'ObjectCreated:CopyObject' && !overwrite) {
          copied = true;
          overwrite = s.observer.putObject(bucket, key, newer, { 'x-oss-meta-version': '2' });
        }
      }
    });
    await s.observer.putObject(bucket, key, randomBytes(1234), { 'x-oss-meta-version': '1' });
    const deps = { oss: s.faulty, policy, log: memoryLogger() };
    const first = await handleObjectEvent({ events: [puts[0]] }, deps);
    await overwrite;
    // The first run re-encrypted the object it saw; the newer one is left to its own event.
    expect(first.records[0]).toMatchObject({ action: 'reencrypted' });
    expect(puts).toHaveLength(2);
    const second = await handleObjectEvent({ events: [puts[1]] }, deps);
    const now = (await snapshot(s, bucket)).get(key) as Snapshot;
    expect([now.md5, now.userMeta.version]).toEqual([createHash('md5').update(newer).digest('hex'), '2']);
    // The overwrite's own event is looked at (not mistaken for our copy) and encrypts it: the first
    // run verified its copy from the copy's answer and so did not see the overwrite (issue 13).
    expect({ action: second.records[0]?.action, sse: now.sse }).toEqual({ action: 'reencrypted', sse: { algorithm: 'AES256' } });
  });
});

describe('multipart copy under faults on exactly one request (known gaps of shared/reencrypt.ts)', () => {
  async function bigObject(s: Stack, bucket: string): Promise<Snapshot> {
    await s.t.client({ bucket, accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET }).putBucket(bucket);
    await s.observer.putObject(bucket, 'big', randomBytes(MULTIPART_BYTES * 2 + 5), { 'x-oss-meta-kind': 'big', 'x-oss-tagging': 't=1' });
    return (await snapshot(s, bucket)).get('big') as Snapshot;
  }

  // A Complete whose answer was lost is retried, finds NoSuchUpload, and is verified by HEAD.
  it('a lost CompleteMultipartUpload answer: the object is encrypted and reported re-encrypted', async () => {
    let completes = 0;
    const s = await stack({
      kinds: { reset: 1 },
      phase: 'after',
      only: (r) => r.method === 'POST' && r.query.uploadId !== undefined && completes++ === 0,
    });
    const before = await bigObject(s, 'rel-complete');
    const outcome = await reencryptObject(s.faulty, policy, memoryLogger(), { bucket: 'rel-complete', key: 'big' });
    const after = (await snapshot(s, 'rel-complete')).get('big') as Snapshot;
    expect(content(after)).toEqual(content(before));
    expect(after.sse).toEqual({ algorithm: 'AES256' });
    expect(outcome).toMatchObject({ action: 'reencrypted' });
  });

  // BUG: an InitiateMultipartUpload whose answer was lost leaves an upload nobody knows of:
  // the retry starts a second one, and only that one is completed or aborted.
  it.fails('a lost InitiateMultipartUpload answer leaves no multipart upload behind', async () => {
    let initiates = 0;
    const s = await stack({
      kinds: { reset: 1 },
      phase: 'after',
      only: (r) => r.method === 'POST' && r.query.uploads !== undefined && initiates++ === 0,
    });
    await bigObject(s, 'rel-initiate');
    const outcome = await reencryptObject(s.faulty, policy, memoryLogger(), { bucket: 'rel-initiate', key: 'big' });
    expect(outcome).toMatchObject({ action: 'reencrypted' });
    const uploads = await s.t
      .client({ bucket: 'rel-initiate', accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET })
      .listUploads({});
    expect(uploads.uploads ?? []).toEqual([]); // fails: one orphaned upload
  });

  // OSS LIMITATION (unversioned buckets): CompleteMultipartUpload cannot be made conditional.
  // The routine HEADs once more right before completing, which closes the window up to the
  // moment the Complete is sent; a write that lands after that (as here, while the Complete
  // waits out its latency) is still replaced by the older bytes. Versioned buckets keep it.
  it.fails('an overwrite landing while a multipart re-encryption completes survives', async () => {
    const newer = randomBytes(1234);
    let overwrite: Promise<unknown> | undefined;
    const complete = (r: { method: string; query: Record<string, string> }): boolean =>
      r.method === 'POST' && r.query.uploadId !== undefined;
    const s: Stack = await stack(
      // A second of latency on the Complete (and a client patient enough) makes the window certain.
      { latencyMs: 1_000, jitterMs: 0, only: complete },
      {
        timeoutMs: 10_000,
        // The Complete has arrived (every part copy is in) and waits out its latency: overwrite now.
        onRequest: (r) => {
          if (complete(r) && !overwrite) overwrite = s.observer.putObject('rel-lost-update', 'big', newer);
        },
      },
    );
    await bigObject(s, 'rel-lost-update');
    const outcome = await reencryptObject(s.faulty, policy, memoryLogger(), { bucket: 'rel-lost-update', key: 'big' });
    await overwrite;
    expect(overwrite).toBeDefined();
    const after = (await snapshot(s, 'rel-lost-update')).get('big') as Snapshot;
    expect({ md5: after.md5, outcome: outcome.action }).toEqual({
      md5: createHash('md5').update(newer).digest('hex'),
      outcome: expect.any(String),
    }); // fails: the older bytes
  });
});
