/**
 * Injected faults of the local OSS server (local/oss/faults.ts) as the real ali-oss client
 * and our OssHttpClient see them, the atomicity of faulted writes, the QPS limit, latency,
 * and the `oss-sse local` flags that turn them on.
 */
import OSS from 'ali-oss';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FaultKind, FaultOptions, FaultRecord } from '../../local/oss/faults';
import { startOssServer } from '../../local/oss/server';
import { readTraffic } from '../../cli/commands/local';
import { OssHttpClient } from '../../shared/oss/http-client';
import type { OssRequestInfo } from '../../shared/oss/transport';
import { OssRequestError, type OssNoAnswer } from '../../shared/oss/port';
import { isTransientOssError } from '../../shared/retry';
import { probeSelfCopyMetadata } from '../../shared/backfill/self-copy-probe';
import { memoryLogger } from '../../shared/log';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { startTestOss, TEST_AK, TEST_SECRET, type OssTestClient, type TestOss } from '../helpers/oss';

/** A second key the fault injector exempts: a fault-free view of the same store. */
const OBSERVER_AK = 'LTAI5tFaultFreeObserver';
const OBSERVER_SECRET = 'FaultFreeObserverSecretThatIsNeverLogged01';
const BUCKET = 'faults-bucket';

const open: Array<{ close(): Promise<void> } | { destroy(): void }> = [];
afterEach(async () => {
  for (const r of open.splice(0).reverse()) {
    if ('close' in r) await r.close();
    else r.destroy();
  }
});

interface Faulty {
  t: TestOss;
  /** ali-oss, subject to faults. */
  ali: OssTestClient;
  /** ali-oss through the exempt key. */
  observer: OssTestClient;
  journal: FaultRecord[];
}

async function faulty(faults: FaultOptions): Promise<Faulty> {
  const t = await startTestOss({
    credentials: { [TEST_AK]: TEST_SECRET, [OBSERVER_AK]: OBSERVER_SECRET },
    faults: { exemptAccessKeyIds: [OBSERVER_AK], ...faults },
  });
  open.push(t);
  const observer = t.client({ bucket: BUCKET, accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET });
  await observer.putBucket(BUCKET);
  return { t, ali: t.client({ bucket: BUCKET }), observer, journal: t.server.faults?.journal ?? [] };
}

function httpClient(t: TestOss, opts: { timeoutMs?: number; maxAttempts?: number; onRequest?: (i: OssRequestInfo) => void } = {}) {
  const c = new OssHttpClient({
    endpoint: t.server.url,
    region: t.server.region,
    credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    timeoutMs: opts.timeoutMs ?? 5_000,
    retry: { maxAttempts: opts.maxAttempts ?? 1, baseMs: 1, capMs: 20 },
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
  });
  open.push(c);
  return c;
}

/** The rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Record<string, unknown>;
  }
  throw new Error('expected the request to fail');
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
/** The last fault injected on a key (sequential requests: the one of the request just made). */
const lastFault = (journal: readonly FaultRecord[], key: string): FaultRecord | undefined =>
  journal.filter((r) => r.key === key && r.kind !== 'dropped').at(-1);

describe('each fault kind as the clients see it', () => {
  it('qps503: object requests get 503 TotalQpsLimitExceeded (also on HEAD, from x-oss-err); bucket requests are not affected', async () => {
    const f = await faulty({ kinds: { qps503: 1 }, seed: 1 });
    await f.observer.put('k', Buffer.from('x'));
    for (const call of [() => f.ali.head('k'), () => f.ali.get('k'), () => f.ali.put('k', Buffer.from('y'))]) {
      expect(await rejection(call())).toMatchObject({ status: 503, code: 'TotalQpsLimitExceeded' });
    }
    const oss = httpClient(f.t);
    const err = await rejection(oss.headObject(BUCKET, 'k'));
    expect(err).toBeInstanceOf(OssRequestError);
    expect(err).toMatchObject({ status: 503, code: 'TotalQpsLimitExceeded' });
    expect(isTransientOssError(err)).toBe(true);
    // qps503 is an object-level code: listing (a bucket-level request) passes.
    expect((await oss.listObjectsV2(BUCKET, {})).objects.map((o) => o.key)).toEqual(['k']);
    expect(f.t.server.faults?.stats.injected.qps503).toBe(4);
  });

  it('meta503: bucket requests get 503 MetaOperationQpsLimitExceeded; object requests are not affected', async () => {
    const f = await faulty({ kinds: { meta503: 1 }, seed: 2 });
    await f.observer.put('k', Buffer.from('x'));
    expect(await rejection(f.ali.list())).toMatchObject({ status: 503, code: 'MetaOperationQpsLimitExceeded' });
    expect(await rejection(f.ali.getBucketInfo(BUCKET))).toMatchObject({ status: 503, code: 'MetaOperationQpsLimitExceeded' });
    const oss = httpClient(f.t);
    const err = await rejection(oss.listObjectsV2(BUCKET, {}));
    expect(err).toMatchObject({ status: 503, code: 'MetaOperationQpsLimitExceeded' });
    expect(isTransientOssError(err)).toBe(true);
    expect((await oss.headObject(BUCKET, 'k'))?.size).toBe(1);
    expect((await f.ali.get('k')).content.toString()).toBe('x');
  });

  it('internal500: 500 InternalError with a proper error document (request id, EC)', async () => {
    const f = await faulty({ kinds: { internal500: 1 }, seed: 3 });
    await f.observer.put('k', Buffer.from('x'));
    const head = await rejection(f.ali.head('k'));
    expect(head).toMatchObject({ status: 500, code: 'InternalError' });
    expect(head.requestId).toMatch(/^[0-9A-F]{24}$/);
    const get = await rejection(f.ali.get('k'));
    expect(get).toMatchObject({ status: 500, code: 'InternalError', ecCode: '0000-00000000' });
    const oss = httpClient(f.t);
    for (const p of [oss.headObject(BUCKET, 'k'), oss.getObject(BUCKET, 'k'), oss.listObjectsV2(BUCKET, {})]) {
      const err = await rejection(p);
      expect(err).toMatchObject({ status: 500, code: 'InternalError' });
      expect(err.requestId).toMatch(/^[0-9A-F]{24}$/);
    }
  });

  it('reset: the connection is reset — ali-oss status -1 ECONNRESET, OssHttpClient network-error NetworkError', async () => {
    const f = await faulty({ kinds: { reset: 1 }, seed: 4 });
    await f.observer.put('k', Buffer.from('x'));
    for (const call of [() => f.ali.head('k'), () => f.ali.get('k'), () => f.ali.put('k', Buffer.from('y'))]) {
      const err = await rejection(call());
      expect(err).toMatchObject({ status: -1 });
      expect(String(err.message)).toContain('ECONNRESET');
    }
    const oss = httpClient(f.t);
    for (const p of [oss.headObject(BUCKET, 'k'), oss.putObject(BUCKET, 'k', Buffer.from('z')), oss.listObjectsV2(BUCKET, {})]) {
      const err = await rejection(p);
      expect(err).toMatchObject({ status: 'network-error', code: 'NetworkError' });
      expect(String(err.message)).toContain('ECONNRESET');
      expect(isTransientOssError(err)).toBe(true);
    }
  });

  it('slow: the answer comes after slowMs — ali-oss ResponseTimeoutError, OssHttpClient timeout ClientTimeout', async () => {
    const f = await faulty({ kinds: { slow: 1 }, slowMs: 2_000, seed: 5 });
    await f.observer.put('k', Buffer.from('x'));
    expect(await rejection(f.ali.head('k', { timeout: 100 }))).toMatchObject({ name: 'ResponseTimeoutError' });
    expect(await rejection(f.ali.put('k', Buffer.from('y'), { timeout: 100 }))).toMatchObject({ name: 'ResponseTimeoutError' });
    const oss = httpClient(f.t, { timeoutMs: 100 });
    for (const p of [oss.headObject(BUCKET, 'k'), oss.putObject(BUCKET, 'k', Buffer.from('z')), oss.listObjectsV2(BUCKET, {})]) {
      const err = await rejection(p);
      expect(err).toMatchObject({ status: 'timeout', code: 'ClientTimeout' });
      expect(isTransientOssError(err)).toBe(true);
    }
    expect(f.t.server.faults?.stats.injected.slow).toBe(5);
  });

  it('a retrying OssHttpClient gets through mixed faults; every kind was seen and retried', async () => {
    const f = await faulty({ faultRate: 0.3, slowMs: 1_000, seed: 6 });
    const statuses = new Set<number | OssNoAnswer>();
    const oss = httpClient(f.t, { timeoutMs: 250, maxAttempts: 16, onRequest: (i) => statuses.add(i.status) });
    for (let i = 0; i < 40; i++) {
      const body = Buffer.from(`object ${i}`);
      await oss.putObject(BUCKET, `k${i}`, body);
      expect(await oss.getObject(BUCKET, `k${i}`)).toEqual(body);
    }
    expect((await oss.listObjectsV2(BUCKET, {})).objects).toHaveLength(40);
    const stats = f.t.server.faults?.stats;
    for (const k of ['qps503', 'internal500', 'reset', 'slow'] as const) expect([k, stats?.injected[k]]).not.toEqual([k, 0]);
    expect([...statuses]).toEqual(expect.arrayContaining(['timeout', 'network-error', 200, 500, 503]));
    expect(oss.requestCount).toBeGreaterThan(81);
  });

  it('withDeadline: a view retries until its own deadline, counts its own requests, and shares the connections', async () => {
    const f = await faulty({ faultRate: 1, faultKinds: ['qps503'] });
    const parent = httpClient(f.t, { maxAttempts: 4 });
    const past = parent.withDeadline(Date.now() - 1);
    const later = parent.withDeadline(Date.now() + 60_000);
    // Created after `past`, `later` must not lend it its deadline (as one shared deadline did).
    expect(await rejection(past.headObject(BUCKET, 'k'))).toMatchObject({ code: 'TotalQpsLimitExceeded' });
    expect(past.requestCount).toBe(1);
    expect(await rejection(later.headObject(BUCKET, 'k'))).toMatchObject({ code: 'TotalQpsLimitExceeded' });
    expect(later.requestCount).toBe(4);
    expect(parent.requestCount).toBe(0);
    // One pool of keep-alive sockets for all of them.
    const agent = (c: OssHttpClient): unknown => (c as unknown as { httpAgent: unknown }).httpAgent;
    expect(agent(past)).toBe(agent(parent));
    expect(agent(later)).toBe(agent(parent));
  });
});

describe('faulted writes are atomic', () => {
  it('a reset PutObject of a new key: after the write the object is all there, before it nothing is', async () => {
    const f = await faulty({ kinds: { reset: 1 }, seed: 7 });
    const oss = httpClient(f.t);
    const phases: string[] = [];
    for (let i = 0; i < 16; i++) {
      const key = `fresh/${i}`;
      const body = randomBytes(64 * 1024 + i);
      const err = await rejection(oss.putObject(BUCKET, key, body, { 'x-oss-meta-n': String(i), 'x-oss-tagging': `n=${i}` }));
      expect(err).toMatchObject({ status: 'network-error', code: 'NetworkError' });
      const fault = lastFault(f.journal, key);
      expect(fault).toMatchObject({ kind: 'reset', method: 'PUT' });
      phases.push(fault?.phase ?? '');
      if (fault?.phase === 'after') {
        const got = await f.observer.get(key);
        expect(md5(got.content)).toBe(md5(body));
        expect(got.res.headers['x-oss-meta-n']).toBe(String(i));
        expect((await f.observer.getObjectTagging(key)).tag).toEqual({ n: String(i) });
      } else {
        expect(await rejection(f.observer.head(key))).toMatchObject({ status: 404 });
      }
    }
    // Both phases happened (the seed fixes which), so both branches above were exercised.
    expect(new Set(phases)).toEqual(new Set(['before', 'after']));
  });

  it.each([
    ['internal500', 500],
    ['qps503', 503],
    ['reset', 'network-error'],
    ['slow', 'timeout'],
  ] as Array<[FaultKind, number | OssNoAnswer]>)(
    'an overwrite faulted with %s leaves exactly the old or exactly the new object, as the phase says',
    async (kind, status) => {
      const f = await faulty({ kinds: { [kind]: 1 }, slowMs: 2_000, seed: 8 });
      // A short timeout only where the fault is a late answer: elsewhere a loaded machine must not turn into timeouts.
      const oss = httpClient(f.t, { timeoutMs: kind === 'slow' ? 150 : 5_000 });
      let current = { body: randomBytes(3000), n: 'v0' };
      await f.observer.put('obj', current.body, { meta: { n: current.n } });
      const phases = new Set<string>();
      for (let i = 1; i <= 12; i++) {
        const next = { body: randomBytes(3000 + i * 100), n: `v${i}` };
        const err = await rejection(oss.putObject(BUCKET, 'obj', next.body, { 'x-oss-meta-n': next.n }));
        expect([i, err.status, err.message]).toEqual([i, status, expect.any(String)]);
        const fault = lastFault(f.journal, 'obj');
        expect(fault).toMatchObject({ kind, method: 'PUT' });
        phases.add(fault?.phase ?? '');
        if (fault?.phase === 'after') current = next;
        const got = await f.observer.get('obj');
        expect([i, md5(got.content), got.res.headers['x-oss-meta-n']]).toEqual([i, md5(current.body), current.n]);
      }
      expect(phases).toEqual(new Set(['before', 'after']));
      expect(f.t.server.faults?.stats.afterHandling[kind]).toBeGreaterThan(0);
    },
  );

  it('CompleteMultipartUpload reset after completing: the object is whole and a retry gets NoSuchUpload; reset before: nothing changed', async () => {
    const f = await faulty({ kinds: { reset: 1 }, seed: 12 });
    const source = randomBytes(150 * 1024);
    await f.observer.put('source', source);
    // Set up through the exempt key with our client: initiate, two part copies.
    const setup = new OssHttpClient({
      endpoint: f.t.server.url,
      region: f.t.server.region,
      credentials: () => ({ accessKeyId: OBSERVER_AK, accessKeySecret: OBSERVER_SECRET }),
    });
    open.push(setup);
    const oss = httpClient(f.t);
    const head = await setup.headObject(BUCKET, 'source');
    const phases = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const key = `mp/${i}`;
      const { uploadId } = await setup.initiateMultipartUpload(BUCKET, key, {});
      const parts = [];
      for (const [n, range] of [
        [1, [0, 100 * 1024 - 1]],
        [2, [100 * 1024, source.length - 1]],
      ] as Array<[number, [number, number]]>) {
        parts.push(
          await setup.uploadPartCopy({
            bucket: BUCKET,
            key,
            uploadId,
            partNumber: n,
            sourceBucket: BUCKET,
            sourceKey: 'source',
            range,
            ifMatch: head?.etag ?? '',
          }),
        );
      }
      expect(await rejection(oss.completeMultipartUpload(BUCKET, key, uploadId, parts))).toMatchObject({ status: 'network-error' });
      const phase = lastFault(f.journal, key)?.phase;
      phases.add(phase ?? '');
      if (phase === 'after') {
        expect(md5((await f.observer.get(key)).content)).toBe(md5(source));
        // The ambiguity a client must cope with: the retry of a completed upload is a 404.
        expect(await rejection(setup.completeMultipartUpload(BUCKET, key, uploadId, parts))).toMatchObject({
          status: 404,
          code: 'NoSuchUpload',
        });
      } else {
        expect(await rejection(f.observer.head(key))).toMatchObject({ status: 404 });
        await setup.completeMultipartUpload(BUCKET, key, uploadId, parts);
        expect(md5((await f.observer.get(key)).content)).toBe(md5(source));
      }
    }
    expect(phases).toEqual(new Set(['before', 'after']));
  });
});

describe('QPS limit and latency', () => {
  it('answers 503 TotalQpsLimitExceeded beyond the rate, never to the exempt key, and recovers', async () => {
    const f = await faulty({ qpsLimit: 20 });
    await f.observer.put('k', Buffer.from('x'));
    const oss = httpClient(f.t);
    // The limiter reads Date.now() in this process: with Date faked (timers stay real) no token
    // refills while the 60 arrive, however long that takes, until the test moves the clock.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => oss.headObject(BUCKET, 'k')));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as OssRequestError] : []));
      // A burst of one second's worth (20), and nothing refilled.
      expect(ok).toBe(20);
      expect(refused.length).toBe(40);
      expect(refused.map((e) => `${e.status} ${e.code}`)).toEqual(refused.map(() => '503 TotalQpsLimitExceeded'));
      expect(f.t.server.faults?.stats.qpsLimited).toBe(refused.length);
      // The exempt observer is never limited.
      expect((await f.observer.head('k')).status).toBe(200);
      // Half a second refills 10 tokens: 10 requests pass, the 11th does not.
      vi.setSystemTime(Date.now() + 500);
      for (let i = 0; i < 10; i++) expect((await oss.headObject(BUCKET, 'k'))?.size).toBe(1);
      expect(await rejection(oss.headObject(BUCKET, 'k'))).toMatchObject({ status: 503, code: 'TotalQpsLimitExceeded' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers MetaOperationQpsLimitExceeded to bucket-level requests beyond the rate (ali-oss and OssHttpClient)', async () => {
    // One request every two seconds, a burst of one.
    const f = await faulty({ qpsLimit: 0.5 });
    const oss = httpClient(f.t);
    expect((await oss.listObjectsV2(BUCKET, {})).objects).toEqual([]);
    expect(await rejection(oss.listObjectsV2(BUCKET, {}))).toMatchObject({ status: 503, code: 'MetaOperationQpsLimitExceeded' });
    expect(await rejection(f.ali.list())).toMatchObject({ status: 503, code: 'MetaOperationQpsLimitExceeded' });
    expect(await rejection(f.ali.head('k'))).toMatchObject({ status: 503, code: 'TotalQpsLimitExceeded' });
  });

  it('adds at least the configured latency to every request', async () => {
    const f = await faulty({ latencyMs: 80, jitterMs: 40 });
    await f.observer.put('k', Buffer.from('x'));
    const oss = httpClient(f.t);
    await oss.headObject(BUCKET, 'k'); // connection set up outside the timing
    for (const call of [
      () => oss.headObject(BUCKET, 'k'),
      () => oss.getObject(BUCKET, 'k'),
      () => f.ali.head('k'),
      () => f.ali.put('k', Buffer.from('y')),
    ]) {
      const started = performance.now();
      await call();
      // Timers may fire up to a millisecond early against performance.now().
      expect(performance.now() - started).toBeGreaterThanOrEqual(78);
    }
    expect(f.t.server.faults?.stats.delayed).toBe(5);
  });
});

describe('configuration', () => {
  it.each([
    [{ faultRate: 1.5 }, /faultRate must be a rate between 0 and 1/],
    [{ kinds: { reset: 0.7, internal500: 0.6 } }, /add up to 1.3/],
    [{ kinds: { bogus: 0.1 } as unknown as FaultOptions['kinds'] }, /unknown fault kind bogus/],
    [{ latencyMs: -1 }, /latencyMs must be a number ≥ 0/],
    [{ qpsLimit: 0 }, /qpsLimit must be a number > 0/],
  ] as Array<[FaultOptions, RegExp]>)('startOssServer refuses %j', async (faults, message) => {
    await expect(startOssServer({ credentials: { [TEST_AK]: TEST_SECRET }, storage: { kind: 'memory' }, faults })).rejects.toThrow(message);
  });

  it('--fault-rate is spread evenly over the kinds: about that share of requests fails', async () => {
    const f = await faulty({ faultRate: 0.2, faultKinds: ['internal500', 'qps503', 'meta503'], seed: 10 });
    await f.observer.put('k', Buffer.from('x'));
    const oss = httpClient(f.t);
    let failed = 0;
    for (let i = 0; i < 400; i++) {
      if (i % 4 === 0) await oss.listObjectsV2(BUCKET, {}).catch(() => failed++);
      else await oss.headObject(BUCKET, 'k').catch(() => failed++);
    }
    // 400 draws at 20%: mean 80, sd 8; the seed makes it exact, the bounds say what is meant.
    expect(failed).toBeGreaterThan(50);
    expect(failed).toBeLessThan(110);
    const { injected } = f.t.server.faults?.stats ?? { injected: {} as Record<FaultKind, number> };
    expect(injected.reset + injected.slow).toBe(0);
    expect(injected.meta503).toBeGreaterThan(0);
    expect(injected.qps503).toBeGreaterThan(0);
  });
});

describe('oss-sse local fault flags', () => {
  const root = join(__dirname, '..', '..');
  // The CLI from source (tsx), so the flags are tested without a build.
  const cli = (args: string[]): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', join(root, 'cli', 'oss-sse.ts'), 'local', '--memory', '--no-enforce', '--quiet', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const finished = (child: ChildProcess): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
    });

  it.each([
    [['--fault-rate', '1.5'], /--fault-rate.*must be a rate between 0 and 1/],
    [['--fault-kinds', 'reset,bogus'], /unknown fault kind bogus/],
    [['--latency-ms', 'soon'], /--latency-ms.*whole number of milliseconds/],
    [['--qps-limit', '0'], /--qps-limit.*> 0/],
    [['--fault-reset-rate', '0.6', '--fault-internal500-rate', '0.6'], /invalid fault flags: .*add up to 1.2/],
    [['--fault-kinds', 'reset'], /give --fault-rate too/],
    [['--self-copy-metadata', 'keep'], /--self-copy-metadata.*must be copy or replace/],
  ])(
    '%j exits 2 with a clear message',
    async (args, message) => {
      const { code, stderr } = await finished(cli(args));
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
    },
    30_000,
  );

  /** The CLI started with `args` and an IPC channel; resolves on its ready line with a client (no retries) on it. */
  async function running(args: string[]) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'cli', 'oss-sse.ts'), 'local', '--memory', '--no-enforce', '--quiet', ...args],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    const exited = finished(child);
    const ready = await new Promise<{ oss: string; region: string; accessKeyId: string; accessKeySecret: string }>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => resolve(JSON.parse(line)));
      child.once('exit', (code) => reject(new Error(`oss-sse local exited early with ${code}`)));
    });
    const oss = new OssHttpClient({
      endpoint: ready.oss,
      region: ready.region,
      credentials: () => ({ accessKeyId: ready.accessKeyId, accessKeySecret: ready.accessKeySecret }),
      retry: { maxAttempts: 1 },
    });
    open.push(oss);
    return { child, exited, oss, ready };
  }

  it('--qps-limit 1: a parent on the IPC channel reads the requests and refusals the server counted', async () => {
    const { child, exited, oss } = await running(['--qps-limit', '1']);
    try {
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => oss.listBuckets({})));
      const refused = results.filter((r) => r.status === 'rejected' && (r.reason as OssRequestError).status === 503).length;
      // A burst of one: at least one passes, and 8 at once cannot all pass.
      expect(refused).toBeGreaterThanOrEqual(1);
      expect(refused).toBeLessThan(8);
      const traffic = await readTraffic(child);
      expect(traffic).toMatchObject({ requests: 8, throttled: refused, byOperation: { 'GET service': 8 } });
      expect(traffic.perSecond.reduce((sum, s) => sum + s.requests, 0)).toBe(8);
      expect(traffic.perSecond.reduce((sum, s) => sum + s.throttled, 0)).toBe(refused);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await exited).code).toBe(0);
  }, 30_000);

  it("--self-copy-metadata replace: a self-copy takes the request's metadata, so the backfill's probe says replaces", async () => {
    const { child, exited, oss, ready } = await running(['--self-copy-metadata', 'replace']);
    try {
      const admin = new OSS({
        accessKeyId: ready.accessKeyId,
        accessKeySecret: ready.accessKeySecret,
        region: `oss-${ready.region}`,
        endpoint: ready.oss,
        bucket: 'probe-replace',
      } as OSS.Options);
      await admin.putBucket('probe-replace');
      const probe = await probeSelfCopyMetadata(oss, 'probe-replace', policyFromConfig(loadConfig({})), memoryLogger());
      expect(probe).toMatchObject({ verdict: 'replaces', requests: 4 });
      expect((await admin.list({ 'max-keys': 10 }, {})).objects ?? []).toEqual([]);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await exited).code).toBe(0);
  }, 30_000);

  it('--fault-kinds internal500 --fault-rate 1 --latency-ms 50: every request is delayed and fails with 500', async () => {
    const { child, exited, oss } = await running([
      '--fault-kinds',
      'internal500',
      '--fault-rate',
      '1',
      '--latency-ms',
      '50',
      '--fault-seed',
      '3',
    ]);
    try {
      const started = performance.now();
      expect(await rejection(oss.listBuckets({}))).toMatchObject({ status: 500, code: 'InternalError' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(48);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await exited).code).toBe(0);
  }, 30_000);
});
