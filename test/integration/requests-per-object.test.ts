/**
 * What one object costs in OSS requests (issue 13), counted by the local server (every request
 * it accepted, signature verified): in listing mode (the backfill engine over ListObjectsV2),
 * in inventory mode (the engine over an inventory report) and in the object function. A
 * plaintext object costs HEAD + GetObjectAcl + CopyObject, verified from the copy's own answer;
 * in inventory mode, once the run's probe found that a self-copy keeps the metadata, only
 * GetObjectAcl + CopyObject (inventory-copy-without-head.test.ts has the details). A compliant
 * object costs a HEAD in listing mode and nothing in inventory mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listingItems, runBackfill, type BackfillReport, type WorkItem } from '../../shared/backfill/engine';
import { inventoryItems, loadInventoryManifest, ossInventorySource } from '../../shared/backfill/inventory';
import { probeSelfCopyMetadata, type SelfCopyProbe } from '../../shared/backfill/self-copy-probe';
import { memoryLogger } from '../../shared/log';
import { handleObjectEvent } from '../../shared/object-encryption';
import type { OssPort, WriteResult } from '../../shared/oss/port';
import { policyFromConfig } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { writeInventoryReport, type InventoryObject } from '../helpers/inventory';
import type { OssTestClient } from '../helpers/oss';
import { ossOperationOf, startTracedStack, type TracedStack } from '../helpers/traced-stack';

const policy = policyFromConfig(loadConfig({}));
const REPORTS = 'rpo-reports';

let stack: TracedStack;
beforeAll(async () => {
  stack = await startTracedStack();
  await stack.t.client().putBucket(REPORTS);
});
afterAll(async () => stack.close());

/** Requests the server accepted while fn ran, by operation. */
async function countedOps<T>(fn: () => Promise<T>): Promise<{ result: T; ops: Record<string, number>; total: number }> {
  const { result, server } = await stack.traced(fn, ossOperationOf);
  const ops: Record<string, number> = {};
  for (const op of server) ops[op] = (ops[op] ?? 0) + 1;
  return { result, ops, total: server.length };
}

async function bucketWith(name: string, plaintext: number, encrypted: number): Promise<OssTestClient> {
  const c = stack.t.client({ bucket: name });
  await c.putBucket(name);
  const puts: Array<Promise<unknown>> = [];
  for (let i = 0; i < plaintext; i++) {
    puts.push(c.put(`p/${i}`, Buffer.from(`plain ${i}`), { meta: { n: String(i) }, headers: { 'x-oss-object-acl': 'public-read' } }));
  }
  for (let i = 0; i < encrypted; i++)
    puts.push(c.put(`e/${i}`, Buffer.from(`enc ${i}`), { headers: { 'x-oss-server-side-encryption': 'AES256' } }));
  await Promise.all(puts);
  return c;
}

function backfill(
  bucket: string,
  items: AsyncIterable<WorkItem>,
  oss: OssPort = stack.oss,
  verifySampleEvery?: number,
): Promise<BackfillReport> {
  return runBackfill({
    bucket,
    items,
    oss,
    policy,
    log: memoryLogger(),
    concurrency: 8,
    ...(verifySampleEvery === undefined ? {} : { verifySampleEvery }),
  });
}

describe('listing mode', () => {
  it('a plaintext object costs HEAD, GetObjectAcl and CopyObject (3), verified from the copy’s answer', async () => {
    const n = 30;
    const c = await bucketWith('rpo-list-plain', n, 0);
    const { result, ops, total } = await countedOps(() => backfill('rpo-list-plain', listingItems(stack.oss, 'rpo-list-plain', {})));
    expect(result.reencrypted).toBe(n);
    expect(ops).toEqual({ ListObjects: 1, HeadObject: n, GetObjectAcl: n, CopyObject: n });
    // 3 per object, plus one list page per 1,000 objects.
    expect((total - ops.ListObjects!) / n).toBe(3);
    expect(result.verified).toEqual({ answer: n, head: 0, unsampled: 0 });
    // What the copy kept: the ACL, the metadata, the bytes.
    const acl = await c.getACL('p/7');
    expect([acl.acl, (await c.head('p/7')).meta.n, (await c.get('p/7')).content.toString()]).toEqual(['public-read', '7', 'plain 7']);
  });

  it('a compliant object costs one HEAD', async () => {
    const n = 40;
    await bucketWith('rpo-list-enc', 0, n);
    const { result, ops } = await countedOps(() => backfill('rpo-list-enc', listingItems(stack.oss, 'rpo-list-enc', {})));
    expect(result.compliant).toBe(n);
    // 1 per object plus one list page per 1,000 objects: ≤ 1.001 at full pages.
    expect(ops).toEqual({ ListObjects: 1, HeadObject: n });
  });

  it('an answer without the CRC-64 is verified with a HEAD for a sample: the first, then every n-th', async () => {
    const n = 10;
    await bucketWith('rpo-list-sample', n, 0);
    // An OSS whose copy answer lacks x-oss-hash-crc64ecma (the encryption is there).
    const noCrc: OssPort = new Proxy(stack.oss, {
      get(target, prop, receiver) {
        if (prop === 'copyObject') {
          return async (...args: Parameters<OssPort['copyObject']>): Promise<WriteResult> => {
            const { crc64: _dropped, ...rest } = await target.copyObject(...args);
            return rest;
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const { result, ops } = await countedOps(() => backfill('rpo-list-sample', listingItems(stack.oss, 'rpo-list-sample', {}), noCrc, 4));
    expect(result.reencrypted).toBe(n);
    // Copies 1, 5 and 9 of 10 are HEADed.
    expect(result.verified).toEqual({ answer: 0, head: 3, unsampled: 7 });
    expect(ops.HeadObject).toBe(n + 3);
  });
});

/** The LastModifiedDate a report writes for an object, from its HEAD. */
const reportTime = (h: Record<string, string>): string => new Date(h['last-modified'] as string).toISOString();

describe('inventory mode', () => {
  async function inventoryRun(
    bucket: string,
    objects: InventoryObject[],
  ): Promise<{
    report: BackfillReport;
    ops: Record<string, number>;
    changed: number;
    probe: SelfCopyProbe;
    probeOps: Record<string, number>;
  }> {
    const manifestKey = await writeInventoryReport(stack.t.client(), {
      destBucket: REPORTS,
      prefix: bucket,
      sourceBucket: bucket,
      objects,
    });
    // Once per run, as the CLI and a job's coordinator do: may plaintext rows skip the HEAD?
    const probed = await countedOps(() => probeSelfCopyMetadata(stack.oss, bucket, policy, memoryLogger()));
    const source = ossInventorySource(stack.oss);
    let changed = 0;
    const { result, ops } = await countedOps(async () => {
      const manifest = await loadInventoryManifest(source, REPORTS, manifestKey);
      const items = inventoryItems(source, manifest, { bucket, policy, copyWithoutHead: probed.result.verdict === 'keeps' });
      const report = await backfill(bucket, items, items.trackChanges(stack.oss));
      changed = items.stats.changedSinceReport;
      return report;
    });
    return { report: result, ops, changed, probe: probed.result, probeOps: probed.ops };
  }

  it('a 99%-compliant report: 2 requests per plaintext object (plus the probe’s 4 a run), none per compliant one', async () => {
    const plaintext = 5;
    const compliant = 495;
    const c = await bucketWith('rpo-inv', plaintext, 0);
    const rows: InventoryObject[] = [];
    for (let i = 0; i < plaintext; i++) {
      const h = (await c.head(`p/${i}`)).res.headers as Record<string, string>;
      rows.push({
        key: `p/${i}`,
        size: Number(h['content-length']),
        etag: h.etag as string,
        lastModified: reportTime(h),
        encrypted: 'false',
      });
    }
    // Rows the report calls encrypted are settled by it: the objects need not even exist.
    for (let i = 0; i < compliant; i++) rows.push({ key: `e/${i}`, size: 5, etag: `"E${i}"`, encrypted: 'true' });
    const { report, ops, changed, probe, probeOps } = await inventoryRun('rpo-inv', rows);
    expect([report.reencrypted, report.compliant, changed]).toEqual([plaintext, compliant, 0]);
    // The probe: PUT a scratch object, copy it onto itself, HEAD it, delete it.
    expect(probe).toMatchObject({ verdict: 'keeps', requests: 4 });
    expect(probeOps).toEqual({ PutObject: 1, CopyObject: 1, HeadObject: 1, DeleteObject: 1 });
    // The report itself (manifest.json, one data file), then ACL and copy per plaintext row. The
    // report has no CRC-64, so the copy's answer lacks the source's to compare: the first such
    // copy gets a verifying HEAD, then every 1,000th (REPORT_COPY_VERIFY_SAMPLE_EVERY).
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: plaintext, CopyObject: plaintext, HeadObject: 1 });
    expect(report.verified).toEqual({ answer: 0, head: 1, unsampled: plaintext - 1 });
    expect((ops.GetObjectAcl! + ops.CopyObject!) / plaintext).toBe(2);
    const perObject = (plaintext * 2 + ops.HeadObject!) / (plaintext + compliant);
    expect(perObject).toBeLessThanOrEqual(0.03);
    // What the copy kept: the ACL, the metadata, the bytes.
    const acl = await c.getACL('p/3');
    expect([acl.acl, (await c.head('p/3')).meta.n, (await c.get('p/3')).content.toString()]).toEqual(['public-read', '3', 'plain 3']);
  });

  it('an object changed since the report is decided on what is there now: the newer bytes are kept, encrypted', async () => {
    const c = await bucketWith('rpo-inv-changed', 2, 0);
    const rows: InventoryObject[] = [];
    for (const key of ['p/0', 'p/1']) {
      const h = (await c.head(key)).res.headers as Record<string, string>;
      rows.push({ key, size: Number(h['content-length']), etag: h.etag as string, lastModified: reportTime(h), encrypted: 'false' });
    }
    await c.put('p/1', Buffer.from('newer than the report'), { meta: { n: 'newer' } });
    const { report, ops, changed } = await inventoryRun('rpo-inv-changed', rows);
    expect([report.reencrypted, changed]).toEqual([2, 1]);
    // p/0: ACL + copy. p/1: ACL + copy refused (412, the ETag is not the report's), then HEAD,
    // ACL, copy. One more HEAD: the sampled verification of the first copy.
    expect(ops).toEqual({ GetObject: 2, HeadObject: 2, GetObjectAcl: 3, CopyObject: 3 });
    const now = await c.get('p/1');
    expect([now.content.toString(), now.res.headers['x-oss-meta-n'], now.res.headers['x-oss-server-side-encryption']]).toEqual([
      'newer than the report',
      'newer',
      'AES256',
    ]);
  });
});

/** The OSS trigger event the local server emits for the upload put() makes. */
async function uploadEvent(put: () => Promise<unknown>): Promise<unknown> {
  const got: unknown[] = [];
  const listener = (e: unknown): void => void got.push(structuredClone(e));
  stack.t.server.events.on('object', listener);
  try {
    await put();
  } finally {
    stack.t.server.events.off('object', listener);
  }
  expect(got).toHaveLength(1);
  return got[0];
}

describe('the object function', () => {
  it('a plaintext upload costs 3 requests, a compliant one 1', async () => {
    const c = stack.t.client({ bucket: 'rpo-fn' });
    await c.putBucket('rpo-fn');
    const plainEvent = await uploadEvent(() => c.put('plain.txt', Buffer.from('plain'), { headers: { 'x-oss-object-acl': 'private' } }));
    const encEvent = await uploadEvent(() =>
      c.put('enc.txt', Buffer.from('enc'), { headers: { 'x-oss-server-side-encryption': 'AES256' } }),
    );
    const deps = { oss: stack.oss, policy, log: memoryLogger() };
    const plain = await countedOps(() => handleObjectEvent(plainEvent, deps));
    expect(plain.result.records[0]).toMatchObject({ action: 'reencrypted', verifiedBy: 'answer' });
    expect(plain.result.verified).toEqual({ answer: 1, head: 0, unsampled: 0 });
    expect(plain.ops).toEqual({ HeadObject: 1, GetObjectAcl: 1, CopyObject: 1 });
    expect((await c.getACL('plain.txt')).acl).toBe('private');
    const enc = await countedOps(() => handleObjectEvent(encEvent, deps));
    expect(enc.result.records[0]).toMatchObject({ action: 'compliant' });
    expect(enc.ops).toEqual({ HeadObject: 1 });
  });
});
