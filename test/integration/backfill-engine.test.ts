/** The backfill engine against the local OSS server, with the real ali-oss client checking state. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listingItems, runBackfill, type Checkpoint, type EngineOptions, type FailureRecord } from '../../shared/backfill/engine';
import { rateLimited, TokenBucket } from '../../shared/backfill/rate-limit';
import { compareKeys } from '../../shared/key-order';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { OssRequestError } from '../../shared/oss/port';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { startTestOssWithClient, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

let t: TestOss;
let oss: OssHttpClient;
beforeAll(async () => ({ t, oss } = await startTestOssWithClient()));
afterAll(async () => t.close());

const policy = policyFromConfig(loadConfig({}));

/** A bucket with `n` objects: every third one already encrypted, one symlink, one appendable. */
async function seed(bucket: string, n: number): Promise<string[]> {
  const c = t.client({ bucket });
  await c.putBucket(bucket);
  const keys: string[] = [];
  const puts: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    const key = `obj/${String(i).padStart(5, '0')}${i % 7 === 0 ? ' odd+key%' : ''}`;
    keys.push(key);
    puts.push(c.put(key, Buffer.from(`body ${i}`), i % 3 === 0 ? { headers: { 'x-oss-server-side-encryption': 'AES256' } } : {}));
    if (puts.length >= 32) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);
  await c.putSymlink('z-link', keys[0] as string);
  await c.append('z-log', Buffer.from('a'));
  return keys.sort(compareKeys);
}

async function unencrypted(bucket: string): Promise<string[]> {
  const out: string[] = [];
  for await (const item of listingItems(oss, bucket, {})) {
    const h = await oss.headObject(bucket, item.key);
    if (h && !h.sse && h.objectType !== 'Symlink' && h.objectType !== 'Appendable') out.push(item.key);
  }
  return out;
}

const run = (bucket: string, extra: Partial<EngineOptions> = {}) =>
  runBackfill({
    bucket,
    items: listingItems(oss, bucket, {}),
    oss,
    policy,
    log: memoryLogger(),
    requestCount: () => oss.requestCount,
    ...extra,
  });

describe('backfill engine', () => {
  it('dry run decides and reports but changes nothing', async () => {
    await seed('bf-dry', 30);
    const before = await unencrypted('bf-dry');
    const report = await run('bf-dry', { dryRun: true });
    expect(report).toMatchObject({
      scanned: 32,
      compliant: 10,
      wouldReencrypt: 20,
      reencrypted: 0,
      skipped: { symlink: 1, appendable: 1 },
      checkpoint: { done: true },
    });
    expect(await unencrypted('bf-dry')).toEqual(before);
  });

  it('fixes every remediable object, reports the rest by reason; a rerun changes nothing', async () => {
    await seed('bf-real', 60);
    const report = await run('bf-real', { concurrency: 8 });
    expect(report).toMatchObject({
      scanned: 62,
      compliant: 20,
      reencrypted: 40,
      skipped: { symlink: 1, appendable: 1 },
      failed: {},
      checkpoint: { done: true },
    });
    expect(report.bytesReencrypted).toBeGreaterThan(0);
    expect(await unencrypted('bf-real')).toEqual([]);
    const again = await run('bf-real');
    expect(again).toMatchObject({ scanned: 62, compliant: 60, reencrypted: 0 });
    // A compliant object costs one HEAD; the listing adds one request per 1,000 keys.
    expect(again.requests).toBe(60 + 2 + 1);
  });

  it('stops at a deadline with a low-water checkpoint and resumes from it without missing an object', async () => {
    const keys = await seed('bf-resume', 80);
    let checkpoint: Checkpoint | undefined;
    let runs = 0;
    const seen = new Set<string>();
    // Each run gets only a slice of time; the checkpoint is all that carries over.
    while (!checkpoint?.done && runs < 200) {
      runs++;
      const report = await runBackfill({
        bucket: 'bf-resume',
        items: (async function* () {
          for await (const item of listingItems(oss, 'bf-resume', checkpoint?.cursor ? { startAfter: checkpoint.cursor } : {})) {
            seen.add(item.key);
            yield item;
          }
        })(),
        oss,
        policy,
        log: memoryLogger(),
        concurrency: 4,
        deadline: Date.now() + 15,
      });
      checkpoint = report.checkpoint;
      if (checkpoint.cursor !== undefined) expect(keys.concat(['z-link', 'z-log']).includes(checkpoint.cursor)).toBe(true);
    }
    expect(runs).toBeGreaterThan(1);
    expect(checkpoint?.done).toBe(true);
    expect(await unencrypted('bf-resume')).toEqual([]);
    expect(seen.size).toBe(82);
  });

  it('an abort signal stops taking new work; the checkpoint never passes an unfinished object', async () => {
    const keys = await seed('bf-abort', 50);
    const controller = new AbortController();
    let done = 0;
    const report = await run('bf-abort', {
      concurrency: 2,
      signal: controller.signal,
      onProgress: () => {
        if (++done === 10) controller.abort();
      },
    });
    expect(report.stoppedBy).toBe('signal');
    expect(report.checkpoint.done).toBe(false);
    const cursor = report.checkpoint.cursor as string;
    // Every object up to the checkpoint is finished (encrypted or skipped).
    const before = keys.filter((k) => compareKeys(k, cursor) <= 0);
    const left = await unencrypted('bf-abort');
    expect(left.filter((k) => before.includes(k))).toEqual([]);
    expect(left.length).toBeGreaterThan(0);
    const rest = await runBackfill({
      bucket: 'bf-abort',
      items: listingItems(oss, 'bf-abort', { startAfter: cursor }),
      oss,
      policy,
      log: memoryLogger(),
    });
    expect(rest.checkpoint.done).toBe(true);
    expect(await unencrypted('bf-abort')).toEqual([]);
  });

  it('honours prefix, end-before (a shard) and max objects', async () => {
    const keys = await seed('bf-range', 40);
    const shardEnd = keys[20] as string;
    const shard = await runBackfill({
      bucket: 'bf-range',
      items: listingItems(oss, 'bf-range', { prefix: 'obj/', endBefore: shardEnd }),
      oss,
      policy,
      log: memoryLogger(),
    });
    expect(shard.scanned).toBe(20);
    const left = await unencrypted('bf-range');
    expect(left.every((k) => compareKeys(k, shardEnd) >= 0)).toBe(true);
    const limited = await run('bf-range', { maxObjects: 5 });
    expect([limited.scanned, limited.stoppedBy, limited.checkpoint.done]).toEqual([5, 'max-objects', false]);
  });

  it('reports failures with code and request id and hands every one to onFailure', async () => {
    await seed('bf-fail', 10);
    const denied = new OssHttpClient({
      endpoint: t.server.url,
      region: t.server.region,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    });
    // Listing works, but every HEAD is refused: a policy-free way to make each object fail.
    const failing = new Proxy(denied, {
      get(target, prop, receiver) {
        if (prop === 'headObject') return async () => Promise.reject(new OssRequestError(403, 'AccessDenied', 'denied', 'REQ1'));
        return Reflect.get(target, prop, receiver);
      },
    });
    const failures: FailureRecord[] = [];
    const report = await runBackfill({
      bucket: 'bf-fail',
      items: listingItems(oss, 'bf-fail', {}),
      oss: failing,
      policy,
      log: memoryLogger(),
      onFailure: (f) => void failures.push(f),
    });
    denied.destroy();
    expect(report.failed).toEqual({ AccessDenied: 12 });
    expect(failures).toHaveLength(12);
    expect(report.failures[0]).toMatchObject({ code: 'AccessDenied', requestId: 'REQ1', retryable: false });
  });

  it('a QPS cap spaces the requests out', async () => {
    await seed('bf-qps', 10);
    const started = Date.now();
    const limited = rateLimited(oss, new TokenBucket(100, 1));
    const report = await runBackfill({
      bucket: 'bf-qps',
      items: listingItems(limited, 'bf-qps', {}),
      oss: limited,
      policy,
      log: memoryLogger(),
      dryRun: true,
    });
    expect(report.scanned).toBe(12);
    // 13 requests (1 list + 12 HEAD) at 100/s with a burst of 1 cannot take less than ~120 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });
});
