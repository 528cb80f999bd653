/**
 * Inventory mode without a HEAD per plaintext object (issue 13): a per-run probe on a scratch
 * object asks whether a COPY self-copy that rewrites the data keeps the metadata; when it does,
 * plaintext rows cost GetObjectAcl + CopyObject pinned to the report's ETag. Requests counted on
 * the local server's side; what every object holds read from its store before and after.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill, type BackfillReport } from '../../shared/backfill/engine';
import { inventoryItems, loadInventoryManifest, ossInventorySource } from '../../shared/backfill/inventory';
import { PROBE_PREFIX, probeSelfCopyMetadata, type SelfCopyProbe } from '../../shared/backfill/self-copy-probe';
import { memoryLogger } from '../../shared/log';
import { policyFromConfig, type Policy } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { writeInventoryReport, type InventoryObject } from '../helpers/inventory';
import type { OssTestClient } from '../helpers/oss';
import { ossOperationOf, startTracedStack, type TracedStack } from '../helpers/traced-stack';

const REPORTS = 'icwh-reports';
const defaultPolicy = policyFromConfig(loadConfig({}));

let stack: TracedStack;
beforeAll(async () => {
  stack = await startTracedStack();
  await stack.t.client().putBucket(REPORTS);
});
afterEach(() => {
  stack.t.server.settings.selfCopyMetadata = 'copy';
});
afterAll(async () => stack.close());

async function countedOps<T>(fn: () => Promise<T>): Promise<{ result: T; ops: Record<string, number> }> {
  const { result, server } = await stack.traced(fn, ossOperationOf);
  const ops: Record<string, number> = {};
  for (const op of server) ops[op] = (ops[op] ?? 0) + 1;
  return { result, ops };
}

const CONTENT = {
  'content-type': 'application/x-kept',
  'cache-control': 'max-age=60',
  'content-disposition': 'attachment; filename="kept.bin"',
  'content-encoding': 'gzip',
  'content-language': 'de',
  expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
};

/** Plaintext objects with metadata, every content header, tags, and a mix of ACLs and storage classes. */
async function seed(bucket: string, n: number, opts: { versioned?: boolean } = {}): Promise<OssTestClient> {
  const c = stack.t.client({ bucket });
  await c.putBucket(bucket);
  // A public-read bucket: an object made private must not become readable by losing its ACL.
  await c.putBucketACL(bucket, 'public-read');
  if (opts.versioned)
    await (c as unknown as { putBucketVersioning(b: string, s: string): Promise<unknown> }).putBucketVersioning(bucket, 'Enabled');
  for (let i = 0; i < n; i++) {
    const headers: Record<string, string> = { ...CONTENT, 'x-oss-tagging': `t=${i}&k=v` };
    if (i % 3 === 0) headers['x-oss-object-acl'] = 'private';
    if (i % 3 === 1) headers['x-oss-object-acl'] = 'public-read-write';
    if (i % 2 === 1) headers['x-oss-storage-class'] = 'IA';
    await c.put(`p/${i}`, Buffer.from(`plain bytes ${i}`), { meta: { n: String(i), who: 'user' }, headers });
  }
  return c;
}

/**
 * What a report says of each current object (from the server's store: no request counted),
 * its VersionId too when `withVersions` (a rule exporting all versions).
 */
function reportRows(bucket: string, keys: string[], { withVersions = false } = {}): InventoryObject[] {
  return keys.map((key) => {
    const v = stack.t.server.store.current(bucket, key);
    if (!v) throw new Error(`no ${key}`);
    return {
      key,
      size: v.size,
      etag: v.etag,
      storageClass: v.storageClass,
      encrypted: v.sse ? 'true' : 'false',
      objectType: 'Normal',
      lastModified: new Date(v.lastModified).toISOString(),
      ...(withVersions && v.versionId !== undefined ? { versionId: v.versionId, isLatest: true } : {}),
    };
  });
}

/** Last-Modified has whole seconds: wait for the next one, so that a write now moves it. */
async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
}

type Snap = Record<string, unknown>;
/** Everything an object holds but its encryption. */
async function snapshot(bucket: string, keys: string[]): Promise<Map<string, Snap>> {
  const out = new Map<string, Snap>();
  for (const key of keys) {
    const v = stack.t.server.store.current(bucket, key);
    if (!v) throw new Error(`no ${key}`);
    const chunks: Buffer[] = [];
    for await (const chunk of stack.t.server.store.readData(v.segments, 0, v.size)) chunks.push(chunk);
    out.set(key, {
      bytes: Buffer.concat(chunks).toString(),
      contentHeaders: { ...v.contentHeaders },
      userMeta: { ...v.userMeta },
      tags: [...v.tags],
      acl: v.acl,
      storageClass: v.storageClass,
    });
  }
  return out;
}

const sseOf = (bucket: string, key: string) => stack.t.server.store.current(bucket, key)?.sse?.algorithm;

/** The run as the CLI and a job do it: the probe once, then the engine over the report. */
async function inventoryRun(
  bucket: string,
  rows: InventoryObject[],
  policy: Policy = defaultPolicy,
): Promise<{ probe: SelfCopyProbe; report: BackfillReport; changed: number; copiedAsReported: number; ops: Record<string, number> }> {
  const manifestKey = await writeInventoryReport(stack.t.client(), {
    destBucket: REPORTS,
    prefix: bucket,
    sourceBucket: bucket,
    objects: rows,
  });
  const probed = await countedOps(() => probeSelfCopyMetadata(stack.oss, bucket, policy, memoryLogger()));
  const probe = probed.result;
  expect(probe.requests).toBe(Object.values(probed.ops).reduce((a, b) => a + b, 0));
  const source = ossInventorySource(stack.oss);
  let changed = 0;
  let copiedAsReported = 0;
  const { result, ops } = await countedOps(async () => {
    const manifest = await loadInventoryManifest(source, REPORTS, manifestKey);
    const items = inventoryItems(source, manifest, { bucket, policy, copyWithoutHead: probe.verdict === 'keeps' });
    const report = await runBackfill({ bucket, items, oss: items.trackChanges(stack.oss), policy, log: memoryLogger(), concurrency: 8 });
    changed = items.stats.changedSinceReport;
    copiedAsReported = items.stats.copiedAsReported;
    return report;
  });
  return { probe, report: result, changed, copiedAsReported, ops };
}

/** Nothing of the probe is left: no object, version or delete marker under its prefix. */
function probeLeftNothing(bucket: string): void {
  const store = stack.t.server.store;
  const left = [...store.keysFrom(bucket, { key: PROBE_PREFIX, inclusive: true })].filter((k) => k.startsWith(PROBE_PREFIX));
  expect(left).toEqual([]);
}

describe('inventory mode when a self-copy keeps the metadata', () => {
  it('costs GetObjectAcl + CopyObject per plaintext object and keeps bytes, metadata, content headers, tags, ACL and storage class', async () => {
    const n = 12;
    const bucket = 'icwh-keeps';
    await seed(bucket, n);
    const keys = Array.from({ length: n }, (_, i) => `p/${i}`);
    const before = await snapshot(bucket, keys);
    const { probe, report, ops, copiedAsReported, changed } = await inventoryRun(bucket, reportRows(bucket, keys));
    expect(probe).toMatchObject({ verdict: 'keeps', requests: 4 });
    expect([report.reencrypted, copiedAsReported, changed]).toEqual([n, n, 0]);
    // The report (manifest.json, one data file); per object ACL + copy; one verifying HEAD: the
    // first copy whose answer lacks the source's CRC-64 (the report has none) is sampled.
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: n, CopyObject: n, HeadObject: 1 });
    expect(report.verified).toEqual({ answer: 0, head: 1, unsampled: n - 1 });
    expect((ops.GetObjectAcl! + ops.CopyObject!) / n).toBe(2);
    expect(await snapshot(bucket, keys)).toEqual(before);
    for (const key of keys) expect(sseOf(bucket, key)).toBe('AES256');
    // The private object in the public-read bucket is still private.
    expect((before.get('p/0') as Snap).acl).toBe('private');
    expect((before.get('p/1') as Snap).storageClass).toBe('IA');
    probeLeftNothing(bucket);
  });

  it('an object overwritten after the report: the pinned copy is refused (412), it is HEADed and its newer bytes and metadata are kept, encrypted', async () => {
    const bucket = 'icwh-changed';
    const c = await seed(bucket, 3);
    const keys = ['p/0', 'p/1', 'p/2'];
    const rows = reportRows(bucket, keys);
    await c.put('p/1', Buffer.from('newer than the report'), {
      meta: { n: 'newer' },
      headers: { 'x-oss-object-acl': 'private', 'content-type': 'text/newer' },
    });
    const before = await snapshot(bucket, keys);
    const { report, ops, changed } = await inventoryRun(bucket, rows);
    expect([report.reencrypted, changed]).toEqual([3, 1]);
    // p/1: ACL, copy (412), then the HEAD path: HEAD, ACL, copy. One sampled verification HEAD.
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: 4, CopyObject: 4, HeadObject: 2 });
    expect(await snapshot(bucket, keys)).toEqual(before);
    expect((before.get('p/1') as Snap).bytes).toBe('newer than the report');
    expect((before.get('p/1') as Snap).userMeta).toEqual({ n: 'newer' });
    for (const key of keys) expect(sseOf(bucket, key)).toBe('AES256');
  });

  it('versioned bucket: the plaintext version copied is the one deleted (DELETE_PLAINTEXT_VERSIONS), and the probe leaves no version or delete marker', async () => {
    const bucket = 'icwh-versioned';
    const c = await seed(bucket, 4, { versioned: true });
    const keys = ['p/0', 'p/1', 'p/2', 'p/3'];
    const plainVersions = keys.map((k) => stack.t.server.store.current(bucket, k)?.versionId);
    const before = await snapshot(bucket, keys);
    const policy = policyFromConfig(loadConfig({ DELETE_PLAINTEXT_VERSIONS: 'true' }));
    const rows = reportRows(bucket, keys);
    // The copies land in a later second than the report's times (Last-Modified has whole seconds).
    await nextSecond();
    const { probe, report, ops } = await inventoryRun(bucket, rows, policy);
    // PUT, copy, HEAD, and a delete of each of the two versions it made.
    expect(probe).toMatchObject({ verdict: 'keeps', requests: 5 });
    expect(report.reencrypted).toBe(4);
    // The report names no version (a rule exporting current versions only): before deleting the
    // version a copy replaced, it is HEADed (it could be an older version made current again).
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: 4, CopyObject: 4, HeadObject: 1 + 4, DeleteObject: 4 });
    expect(await snapshot(bucket, keys)).toEqual(before);
    const versions = await (
      c as unknown as {
        getBucketVersions(q: object): Promise<{ objects: Array<{ name: string; versionId: string }>; deleteMarker: unknown[] }>;
      }
    ).getBucketVersions({});
    expect(versions.deleteMarker).toEqual([]);
    expect(versions.objects.map((o) => o.name).sort()).toEqual(keys);
    for (const id of plainVersions) expect(versions.objects.map((o) => o.versionId)).not.toContain(id);
    for (const key of keys) expect(sseOf(bucket, key)).toBe('AES256');

    // The same report again: the objects kept their ETags but not their Last-Modified, so every
    // pinned copy is refused (412) and the HEAD finds them compliant: nothing copied or deleted.
    const again = await inventoryRun(bucket, rows, policy);
    expect([again.report.reencrypted, again.report.compliant, again.report.plaintextVersionsKept]).toEqual([0, 4, 0]);
    expect(again.ops).toEqual({ GetObject: 2, GetObjectAcl: 4, CopyObject: 4, HeadObject: 4 });
    expect(await snapshot(bucket, keys)).toEqual(before);
    const after = await (
      c as unknown as { getBucketVersions(q: object): Promise<{ objects: Array<{ name: string; versionId: string }> }> }
    ).getBucketVersions({});
    expect(after.objects).toHaveLength(4);
    for (const o of after.objects) expect(stack.t.server.store.version(bucket, o.name, o.versionId)?.sse?.algorithm).toBe('AES256');
  });

  it('versioned bucket, a report that names versions: the version copied is the one it called plaintext, deleted with no HEAD', async () => {
    const bucket = 'icwh-versioned-all';
    await seed(bucket, 4, { versioned: true });
    const keys = ['p/0', 'p/1', 'p/2', 'p/3'];
    const plainVersions = keys.map((k) => stack.t.server.store.current(bucket, k)?.versionId);
    const before = await snapshot(bucket, keys);
    const policy = policyFromConfig(loadConfig({ DELETE_PLAINTEXT_VERSIONS: 'true' }));
    const { report, ops } = await inventoryRun(bucket, reportRows(bucket, keys, { withVersions: true }), policy);
    expect(report.reencrypted).toBe(4);
    // Pinned to the reported ETag and time, the copy's answer names the reported version as its
    // source (versions are immutable): that version is plaintext. One sampled verification HEAD.
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: 4, CopyObject: 4, HeadObject: 1, DeleteObject: 4 });
    expect(await snapshot(bucket, keys)).toEqual(before);
    for (const [i, key] of keys.entries()) {
      expect(stack.t.server.store.version(bucket, key, plainVersions[i] as string)).toBeUndefined();
      expect(sseOf(bucket, key)).toBe('AES256');
    }
  });

  it('versioned bucket: the reported plaintext version deleted after the report makes an older encrypted one current again (same ETag, older time): copied, but not deleted as plaintext', async () => {
    const bucket = 'icwh-resurfaced';
    const c = stack.t.client({ bucket });
    await c.putBucket(bucket);
    await (c as unknown as { putBucketVersioning(b: string, s: string): Promise<unknown> }).putBucketVersioning(bucket, 'Enabled');
    await c.put('r', Buffer.from('same bytes'), { headers: { 'x-oss-server-side-encryption': 'AES256' } });
    const older = stack.t.server.store.current(bucket, 'r')?.versionId as string;
    await c.put('r', Buffer.from('same bytes'));
    const rows = reportRows(bucket, ['r']);
    const reported = stack.t.server.store.current(bucket, 'r')?.versionId as string;
    expect(rows[0]?.etag).toBe(stack.t.server.store.version(bucket, 'r', older)?.etag);
    await (c as unknown as { delete(k: string, o: object): Promise<unknown> }).delete('r', { versionId: reported });
    const policy = policyFromConfig(loadConfig({ DELETE_PLAINTEXT_VERSIONS: 'true' }));
    const { report, ops } = await inventoryRun(bucket, rows, policy);
    expect(report.reencrypted).toBe(1);
    // The copy's answer names the older version as its source: HEADed, encrypted, kept.
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: 1, CopyObject: 1, HeadObject: 2 });
    expect(stack.t.server.store.version(bucket, 'r', older)?.sse?.algorithm).toBe('AES256');
    expect(report.plaintextVersionsKept).toBe(0);
  });
});

describe('inventory mode: an object encrypted after the report by a self-copy that kept its ETag', () => {
  /** Plaintext objects reported, then encrypted by a self-copy (as the object function or a user would) a second later. */
  async function encryptedSinceReport(
    bucket: string,
    sse: Record<string, string>,
  ): Promise<{ keys: string[]; rows: InventoryObject[]; etags: string[] }> {
    const c = await seed(bucket, 3);
    const keys = ['p/0', 'p/1', 'p/2'];
    const rows = reportRows(bucket, keys);
    await nextSecond();
    // p/0 and p/1 encrypted since the report; p/2 is still plaintext.
    for (const key of ['p/0', 'p/1']) await c.copy(key, key, { headers: sse } as never);
    const etags = keys.map((k) => stack.t.server.store.current(bucket, k)?.etag as string);
    // The stricter reading: the self-copy kept the ETag, so the ETag pin alone would let the copy through.
    expect(etags.slice(0, 2)).toEqual(rows.slice(0, 2).map((r) => r.etag));
    return { keys, rows, etags };
  }

  it('COMPLIANCE=any (the default): a user’s own SSE-KMS key is not replaced by the policy’s; counted compliant', async () => {
    const bucket = 'icwh-kms-since';
    const userKey = stack.kms.keys.create({ description: 'the user’s own' }).keyId;
    const { keys, rows } = await encryptedSinceReport(bucket, {
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': userKey,
    });
    const before = await snapshot(bucket, keys);
    const kmsBefore = keys.map((k) => stack.t.server.store.current(bucket, k)?.sse);
    const versionsBefore = keys.map((k) => stack.t.server.store.current(bucket, k)?.lastModified);
    const { report, ops, copiedAsReported } = await inventoryRun(bucket, rows, defaultPolicy);
    expect(defaultPolicy.compliance).toBe('any');
    expect([report.reencrypted, report.compliant, copiedAsReported]).toEqual([1, 2, 3]);
    // p/0, p/1: ACL, copy refused (412: modified since the report's time), HEAD: compliant.
    // p/2: ACL, copy; its answer lacks only the source CRC-64: the run's first such copy is HEADed.
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: 3, CopyObject: 3, HeadObject: 3 });
    expect(report.verified).toEqual({ answer: 0, head: 1, unsampled: 0 });
    for (const [i, key] of keys.slice(0, 2).entries()) {
      expect(stack.t.server.store.current(bucket, key)?.sse).toEqual(kmsBefore[i]);
      expect(stack.t.server.store.current(bucket, key)?.sse).toMatchObject({ algorithm: 'KMS', keyId: userKey });
      // Not written at all.
      expect(stack.t.server.store.current(bucket, key)?.lastModified).toBe(versionsBefore[i]);
    }
    expect(sseOf(bucket, 'p/2')).toBe('AES256');
    expect(await snapshot(bucket, keys)).toEqual(before);

    // The same report again: nothing is copied, everything is compliant.
    await nextSecond();
    const again = await inventoryRun(bucket, rows, defaultPolicy);
    expect([again.report.reencrypted, again.report.compliant]).toEqual([0, 3]);
    expect(again.ops).toEqual({ GetObject: 2, GetObjectAcl: 3, CopyObject: 3, HeadObject: 3 });
    expect(stack.t.server.store.current(bucket, 'p/0')?.sse).toMatchObject({ algorithm: 'KMS', keyId: userKey });
    expect(await snapshot(bucket, keys)).toEqual(before);
  });

  it('COMPLIANCE=exact: an object given the policy’s own encryption since the report (the object function) is not rewritten; counted compliant', async () => {
    const bucket = 'icwh-exact-since';
    const exact = policyFromConfig(loadConfig({ COMPLIANCE: 'exact' }));
    const { keys, rows } = await encryptedSinceReport(bucket, { 'x-oss-server-side-encryption': 'AES256' });
    const before = await snapshot(bucket, keys);
    const times = keys.map((k) => stack.t.server.store.current(bucket, k)?.lastModified);
    const { report, ops } = await inventoryRun(bucket, rows, exact);
    expect([report.reencrypted, report.compliant]).toEqual([1, 2]);
    expect(ops).toEqual({ GetObject: 2, GetObjectAcl: 3, CopyObject: 3, HeadObject: 3 });
    for (const [i, key] of keys.slice(0, 2).entries()) expect(stack.t.server.store.current(bucket, key)?.lastModified).toBe(times[i]);
    for (const key of keys) expect(sseOf(bucket, key)).toBe('AES256');
    expect(await snapshot(bucket, keys)).toEqual(before);
  });
});

describe('inventory mode: verification of copies decided on the report', () => {
  it('the first copy and every n-th after it get a verifying HEAD (answerVerdict: an answer with the wrong or no encryption always is, test/unit/policy.test.ts)', async () => {
    const bucket = 'icwh-sample';
    const n = 7;
    await seed(bucket, n);
    const keys = Array.from({ length: n }, (_, i) => `p/${i}`);
    const manifestKey = await writeInventoryReport(stack.t.client(), {
      destBucket: REPORTS,
      prefix: bucket,
      sourceBucket: bucket,
      objects: reportRows(bucket, keys),
    });
    const source = ossInventorySource(stack.oss);
    const { result, ops } = await countedOps(async () => {
      const manifest = await loadInventoryManifest(source, REPORTS, manifestKey);
      const items = inventoryItems(source, manifest, { bucket, policy: defaultPolicy, copyWithoutHead: true });
      return runBackfill({
        bucket,
        items,
        oss: items.trackChanges(stack.oss),
        policy: defaultPolicy,
        log: memoryLogger(),
        concurrency: 1,
        verifyReportSampleEvery: 3,
      });
    });
    // Copies 1, 4 and 7 of 7.
    expect(result.verified).toEqual({ answer: 0, head: 3, unsampled: 4 });
    expect(ops.HeadObject).toBe(3);
    for (const key of keys) expect(sseOf(bucket, key)).toBe('AES256');
  });
});

describe('inventory mode when a self-copy replaces the metadata (oss-sse local --self-copy-metadata replace)', () => {
  it('the probe says replaces, every plaintext object is HEADed (3 requests) and nothing is lost', async () => {
    stack.t.server.settings.selfCopyMetadata = 'replace';
    const n = 6;
    const bucket = 'icwh-replaces';
    await seed(bucket, n, { versioned: true });
    const keys = Array.from({ length: n }, (_, i) => `p/${i}`);
    const before = await snapshot(bucket, keys);
    const { probe, report, ops, copiedAsReported } = await inventoryRun(bucket, reportRows(bucket, keys));
    expect(probe.verdict).toBe('replaces');
    expect(probe.reason).toContain('x-oss-meta-oss-sse-probe');
    expect([report.reencrypted, copiedAsReported]).toEqual([n, 0]);
    expect(ops).toEqual({ GetObject: 2, HeadObject: n, GetObjectAcl: n, CopyObject: n });
    expect(await snapshot(bucket, keys)).toEqual(before);
    for (const key of keys) expect(sseOf(bucket, key)).toBe('AES256');
    probeLeftNothing(bucket);
    const versions = await (
      stack.t.client({ bucket }) as unknown as {
        getBucketVersions(q: object): Promise<{ objects: Array<{ name: string }>; deleteMarker: unknown[] }>;
      }
    ).getBucketVersions({ prefix: PROBE_PREFIX });
    expect([versions.objects, versions.deleteMarker]).toEqual([[], []]);
  });

  it('a probe that cannot write (no such bucket) says unknown and counts what it sent', async () => {
    const probe = await probeSelfCopyMetadata(stack.oss, 'icwh-no-such-bucket', defaultPolicy, memoryLogger());
    expect(probe).toMatchObject({ verdict: 'unknown', requests: 1 });
    expect(probe.reason).toContain('NoSuchBucket');
  });
});
