/**
 * The posture report against the local stack, with the project's OSS client (signatures
 * verified): every count in the report equals the seeded truth read from the OSS server's
 * store — for the listing source, the inventory source (found through the bucket's inventory
 * rule, no HEAD of its objects) and the sample (its 95% interval holds the true share).
 */
import Ajv2020 from 'ajv/dist/2020';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { decorateOssPort } from '../../shared/backfill/oss-hooks';
import { memoryLogger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import { OssRequestError } from '../../shared/oss/port';
import { policyFromConfig, type Policy } from '../../shared/policy';
import { buildReport, compareReports, PostureReportSchema, reportJsonSchema, type BucketReport, type PostureReport } from '../../shared/report';
import { locateLatestInventory } from '../../shared/report/inventory-locate';
import { loadConfig } from '../../shared/validation/config';
import { INVENTORY_ID, INVENTORY_PREFIX, SAMPLE_OBJECTS, seedReportBuckets, SEED_BUCKETS, truthOf, type Seeded, type Truth } from '../helpers/report-seed';

const credentials = { accessKeyId: 'LTAI5tReportTestKey', accessKeySecret: 'ReportTestSecretNeverLogged0001' };
let stack: LocalStack;
let oss: OssHttpClient;
let seeded: Seeded;
const policy = (env: Record<string, string> = {}): Policy => policyFromConfig(loadConfig(env));

beforeAll(async () => {
  stack = await startLocalStack({ region: 'cn-hangzhou', ...credentials, enforce: false });
  oss = new OssHttpClient({ endpoint: stack.oss.url, region: 'cn-hangzhou', credentials: () => credentials });
  seeded = await seedReportBuckets(stack, credentials);
}, 120_000);
afterAll(async () => {
  oss?.destroy();
  await stack?.close();
});

/** The report's byEncryption in the truth's terms. */
function encryptionCounts(b: BucketReport): Truth['byEncryption'] {
  const out: Truth['byEncryption'] = {};
  for (const e of b.objects.byEncryption) {
    const id = e.encryption === 'KMS' ? `KMS|${e.kmsKeyId ?? ''}|${e.dataEncryption ?? ''}` : e.encryption;
    out[id] = { objects: e.objects, bytes: e.bytes };
  }
  return out;
}

const classCounts = (b: BucketReport): Truth['byStorageClass'] =>
  Object.fromEntries(b.objects.byStorageClass.map((c) => [c.storageClass, { objects: c.objects, bytes: c.bytes }]));

function expectTruth(b: BucketReport, t: Truth): void {
  expect(b.objects.total).toBe(t.total);
  expect(b.objects.bytes).toBe(t.bytes);
  expect(b.objects.plaintext).toBe(t.plaintext);
  expect(b.objects.plaintextBytes).toBe(t.plaintextBytes);
  // COMPLIANCE=any: exactly the plaintext objects fall short, fixable or not.
  expect(b.objects.nonCompliant).toBe(t.plaintext);
  expect(encryptionCounts(b)).toEqual(t.byEncryption);
  expect(classCounts(b)).toEqual(t.byStorageClass);
  expect(b.skipped.symlink ?? 0).toBe(t.symlinks);
  expect(b.skipped.appendable ?? 0).toBe(t.appendablePlaintext);
  expect(b.skipped['archived-not-restored'] ?? 0).toBe(t.archivedPlaintext);
  expect(b.failed).toEqual({});
}

describe('listing: one HEAD per object, as scan', () => {
  let report: PostureReport;
  beforeAll(async () => {
    report = await buildReport({ oss, policy: policy(), log: memoryLogger(), region: 'cn-hangzhou', source: { kind: 'listing' }, globs: ['rpt-*'] });
  }, 60_000);

  it('lists every seeded bucket (ListBuckets, then the --bucket glob) and validates against the exported schema', () => {
    expect(report.buckets.map((b) => b.name).sort()).toEqual([...seeded.buckets].sort());
    expect(PostureReportSchema.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(report.selection).toEqual({ by: 'flag', globs: ['rpt-*'] });
    // And against the JSON Schema generated from it (docs/report.schema.json), as a tool without zod would.
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(reportJsonSchema());
    expect(validate(JSON.parse(JSON.stringify(report))), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...report, buckets: [{ name: 'x' }] })).toBe(false);
  });

  it('every count of every bucket equals the truth in the OSS store', () => {
    for (const b of report.buckets) {
      expect(b.source).toEqual({ kind: 'listing' });
      expectTruth(b, truthOf(stack, b.name));
    }
  });

  it('the plaintext bucket: plaintext, each encryption and each KMS key on its own row, the classes, skipped kinds', () => {
    const b = report.buckets.find((x) => x.name === SEED_BUCKETS.none) as BucketReport;
    const ids = Object.keys(encryptionCounts(b)).sort();
    expect(ids).toEqual(
      ['AES256', 'SM4', 'none', `KMS|${seeded.keyIds.dflt}|`, `KMS|${seeded.keyIds.sm4}|SM4`].sort(),
    );
    expect(classCounts(b)).toMatchObject({ Standard: expect.anything(), IA: expect.anything(), Archive: expect.anything(), ColdArchive: expect.anything() });
    expect(b.skipped).toMatchObject({ symlink: 1, appendable: 1, 'archived-not-restored': 1 });
    expect(b.compliant).toBe(false);
  });

  it('rules of every kind, judged as the bucket function judges them; versioning', () => {
    const rule = (name: string) => (report.buckets.find((b) => b.name === name) as BucketReport).rule;
    expect(rule(SEED_BUCKETS.none)).toEqual({ algorithm: null, kmsKeyId: null, dataEncryption: null, compliant: false, decision: 'missing' });
    expect(rule(SEED_BUCKETS.aes)).toEqual({ algorithm: 'AES256', kmsKeyId: null, dataEncryption: null, compliant: true, decision: 'compliant' });
    // COMPLIANCE=any: another algorithm satisfies the policy; the bucket function would only report it.
    expect(rule(SEED_BUCKETS.sm4)).toMatchObject({ algorithm: 'SM4', compliant: true, decision: 'different-rule' });
    expect(rule(SEED_BUCKETS.kms)).toMatchObject({ algorithm: 'KMS', kmsKeyId: seeded.keyIds.dflt, dataEncryption: null, compliant: true });
    expect(rule(SEED_BUCKETS.kmsSm4)).toMatchObject({ algorithm: 'KMS', kmsKeyId: seeded.keyIds.sm4, dataEncryption: 'SM4', compliant: true });
    const versioning = Object.fromEntries(report.buckets.map((b) => [b.name, b.versioning]));
    expect(versioning[SEED_BUCKETS.aes]).toBe('Enabled');
    expect(versioning[SEED_BUCKETS.none]).toBe('Off');
  });

  it('the top plaintext prefixes, at the first two levels, by bytes', () => {
    const b = report.buckets.find((x) => x.name === SEED_BUCKETS.none) as BucketReport;
    expect(b.topPlaintextPrefixes.slice(0, 3)).toEqual([
      { prefix: 'logs/', objects: 3, bytes: 6500 },
      { prefix: 'logs/2026/', objects: 2, bytes: 5000 },
      { prefix: 'logs/2025/', objects: 1, bytes: 1500 },
    ]);
    expect(b.topPlaintextPrefixes.map((p) => p.prefix)).toContain('');
    expect(b.topPlaintextPrefixes.length).toBeLessThanOrEqual(10);
  });

  it('the summary adds the buckets up', () => {
    const s = report.summary;
    expect(s.buckets).toBe(seeded.buckets.length);
    expect(s.plaintextObjects).toBe(seeded.buckets.reduce((a, name) => a + truthOf(stack, name).plaintext, 0));
    expect(s.bytes).toBe(seeded.buckets.reduce((a, name) => a + truthOf(stack, name).bytes, 0));
    expect(s.bucketsCompliant).toBe(report.buckets.filter((b) => b.compliant).length);
    expect(s.estimated).toBe(false);
  });

  it('under COMPLIANCE=exact with a KMS key, objects under another algorithm or key fall short too', async () => {
    const exact = await buildReport({
      oss,
      policy: policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: seeded.keyIds.dflt, COMPLIANCE: 'exact' }),
      log: memoryLogger(),
      region: 'cn-hangzhou',
      source: { kind: 'listing' },
      globs: [SEED_BUCKETS.none, SEED_BUCKETS.kms],
    });
    const none = exact.buckets.find((b) => b.name === SEED_BUCKETS.none) as BucketReport;
    const truth = truthOf(stack, SEED_BUCKETS.none);
    // Everything but the objects under the policy's key (symlinks hold no data).
    expect(none.objects.nonCompliant).toBe(truth.total - truth.symlinks - (truth.byEncryption[`KMS|${seeded.keyIds.dflt}|`]?.objects ?? 0));
    const kms = exact.buckets.find((b) => b.name === SEED_BUCKETS.kms) as BucketReport;
    expect(kms.rule).toMatchObject({ compliant: true, decision: 'compliant' });
    expect(exact.buckets.find((b) => b.name === SEED_BUCKETS.none)?.rule.decision).toBe('missing');
  });
});

describe('inventory: the latest report found through the bucket inventory rule', () => {
  it('finds the rule (ListBucketInventory) and the newest dated report', async () => {
    const location = await locateLatestInventory(oss, SEED_BUCKETS.inventory);
    expect(location).toEqual({ manifest: { bucket: SEED_BUCKETS.reports, manifestKey: seeded.manifestKey }, inventoryId: INVENTORY_ID });
    expect(seeded.manifestKey.startsWith(`${INVENTORY_PREFIX}/${SEED_BUCKETS.inventory}/${INVENTORY_ID}/`)).toBe(true);
    expect(await locateLatestInventory(oss, SEED_BUCKETS.none)).toEqual({ none: 'no inventory rule: listed instead' });
  });

  it('counts equal the truth without one HEAD of the bucket; a bucket without a rule is listed, saying why', async () => {
    let heads = 0;
    const counted = decorateOssPort(oss, { after: { headObject: (_head, [bucket]) => void (bucket === SEED_BUCKETS.inventory && heads++) } });
    const report = await buildReport({
      oss: counted,
      policy: policy(),
      log: memoryLogger(),
      region: 'cn-hangzhou',
      source: { kind: 'inventory', locate: (bucket) => locateLatestInventory(oss, bucket) },
      globs: [SEED_BUCKETS.inventory, SEED_BUCKETS.none],
    });
    const inv = report.buckets.find((b) => b.name === SEED_BUCKETS.inventory) as BucketReport;
    expect(heads).toBe(0);
    expect(inv.source).toMatchObject({ kind: 'inventory', manifest: `oss://${SEED_BUCKETS.reports}/${seeded.manifestKey}`, inventoryId: INVENTORY_ID });
    expectTruth(inv, truthOf(stack, SEED_BUCKETS.inventory, { inventory: true }));
    const listed = report.buckets.find((b) => b.name === SEED_BUCKETS.none) as BucketReport;
    expect(listed.source).toEqual({ kind: 'listing', note: 'no inventory rule: listed instead' });
    expectTruth(listed, truthOf(stack, SEED_BUCKETS.none));
  });
});

describe('sample: N objects drawn uniformly, the plaintext share with its 95% interval', () => {
  const sampleReport = (size: number, seed: number) =>
    buildReport({ oss, policy: policy(), log: memoryLogger(), region: 'cn-hangzhou', source: { kind: 'sample', size, seed }, globs: [SEED_BUCKETS.sample] });

  it('the interval holds the true share; counts, bytes and classes are exact; the same seed draws the same', async () => {
    const truth = truthOf(stack, SEED_BUCKETS.sample);
    const trueShare = truth.plaintext / truth.total;
    const report = await sampleReport(100, 7);
    const b = report.buckets[0] as BucketReport;
    if (b.source.kind !== 'sample') throw new Error('expected a sample source');
    expect(b.source).toMatchObject({ sampleSize: 100, population: SAMPLE_OBJECTS, seed: 7 });
    expect(b.source.plaintextShare.method).toBe('wilson');
    expect(b.source.plaintextShare.low).toBeLessThanOrEqual(trueShare);
    expect(b.source.plaintextShare.high).toBeGreaterThanOrEqual(trueShare);
    expect(b.source.plaintextShare.high - b.source.plaintextShare.low).toBeLessThan(0.2);
    expect(b.objects.total).toBe(truth.total);
    expect(b.objects.bytes).toBe(truth.bytes);
    expect(classCounts(b)).toEqual(truth.byStorageClass);
    expect(b.objects.plaintext).toBe(Math.round(b.source.plaintextShare.estimate * SAMPLE_OBJECTS));
    expect(report.summary.estimated).toBe(true);
    const again = (await sampleReport(100, 7)).buckets[0] as BucketReport;
    expect(again.source).toEqual(b.source);
  });

  it('a sample as large as the bucket is exact', async () => {
    const b = (await sampleReport(SAMPLE_OBJECTS + 10, 1)).buckets[0] as BucketReport;
    expect(b.source).toMatchObject({ kind: 'sample', sampleSize: SAMPLE_OBJECTS, plaintextShare: { method: 'exact' } });
    expectTruth(b, truthOf(stack, SEED_BUCKETS.sample));
  });
});

describe('a bucket that cannot be read', () => {
  it('is reported with its error (and no figures); the other buckets are complete', async () => {
    const denied = decorateOssPort(oss, {
      after: {
        getBucketVersioning: (_v, [bucket]) => {
          if (bucket === SEED_BUCKETS.sm4) throw new OssRequestError(403, 'AccessDenied', 'You have no right to access this object.', 'REQ-1');
        },
      },
    });
    const report = await buildReport({
      oss: denied,
      policy: policy(),
      log: memoryLogger(),
      region: 'cn-hangzhou',
      source: { kind: 'listing' },
      globs: [SEED_BUCKETS.sm4, SEED_BUCKETS.kms],
    });
    const sm4 = report.buckets.find((b) => b.name === SEED_BUCKETS.sm4) as BucketReport;
    expect(sm4).toMatchObject({ compliant: false, error: 'AccessDenied: You have no right to access this object. [request REQ-1]', objects: { total: 0 } });
    expectTruth(report.buckets.find((b) => b.name === SEED_BUCKETS.kms) as BucketReport, truthOf(stack, SEED_BUCKETS.kms));
  });
});

describe('change since a previous report', () => {
  it('buckets added and removed, rules changed, plaintext up or down', async () => {
    const build = () =>
      buildReport({ oss, policy: policy(), log: memoryLogger(), region: 'cn-hangzhou', source: { kind: 'listing' }, globs: [SEED_BUCKETS.none, SEED_BUCKETS.sm4] });
    const before = await build();
    await oss.putBucketEncryption(SEED_BUCKETS.none, { algorithm: 'AES256' });
    const after = await build();
    await oss.deleteBucketEncryption(SEED_BUCKETS.none);
    const renamed: PostureReport = { ...before, buckets: before.buckets.map((b) => (b.name === SEED_BUCKETS.sm4 ? { ...b, name: 'rpt-gone' } : b)) };
    const change = compareReports(renamed, after);
    expect(change.bucketsAdded).toEqual([SEED_BUCKETS.sm4]);
    expect(change.bucketsRemoved).toEqual(['rpt-gone']);
    expect(change.rulesChanged).toBe(1);
    expect(change.buckets.find((b) => b.name === SEED_BUCKETS.none)).toMatchObject({ status: 'kept', ruleChanged: { from: 'none', to: 'AES256' }, plaintextObjects: 0 });
    const sm4Plain = (after.buckets.find((b) => b.name === SEED_BUCKETS.sm4) as BucketReport).objects.plaintext;
    expect(change.plaintextObjects).toBe(sm4Plain - (before.buckets.find((b) => b.name === SEED_BUCKETS.sm4) as BucketReport).objects.plaintext);
  });
});
