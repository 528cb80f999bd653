/**
 * The seeded truth the posture report is tested against: buckets with every kind of default
 * rule (none, AES256, SM4, KMS with a key, KMS with SM4 data encryption), versioning on one,
 * objects of every encryption and several storage classes, appendable and symlink objects,
 * keys with characters HTML and Markdown act on, an inventory rule and report for one bucket,
 * and a larger bucket for the sample. Written with the real ali-oss client; what the report
 * must say is computed here from the OSS server's own store, not by the code under test.
 */
import OSS from 'ali-oss';
import type { LocalStack } from '../../local/stack';
import { OssHttpClient } from '../../shared/oss/http-client';
import type { OssTestClient } from './oss';
import { writeInventoryReport } from './inventory';
import { seededRandom } from './seeded-random';

export const SEED_BUCKETS = {
  none: 'rpt-no-rule',
  aes: 'rpt-aes256',
  sm4: 'rpt-sm4',
  kms: 'rpt-kms-key',
  kmsSm4: 'rpt-kms-sm4',
  inventory: 'rpt-inventory',
  reports: 'rpt-reports',
  sample: 'rpt-sample',
} as const;

export const INVENTORY_ID = 'daily-encryption';
export const INVENTORY_PREFIX = 'inventory';
/** Keys with characters that HTML or Markdown would act on: the page and report.md must show them as text. */
export const ODD_PREFIX = '<script>alert("x")</script>|*_[a](b)&amp;/';
export const SAMPLE_OBJECTS = 400;
export const SAMPLE_PLAINTEXT_SHARE = 0.3;

type Sse = { algorithm: 'AES256' | 'SM4' } | { algorithm: 'KMS'; keyId?: string; dataEncryption?: 'SM4' };

interface SeedObject {
  key: string;
  bytes: number;
  sse?: Sse;
  storageClass?: 'Standard' | 'IA' | 'Archive' | 'ColdArchive';
}

export function clientFor(stack: LocalStack, credentials: { accessKeyId: string; accessKeySecret: string }, bucket?: string): OssTestClient {
  return new OSS({
    endpoint: stack.oss.url,
    region: `oss-${stack.oss.region}`,
    ...credentials,
    ...(bucket ? { bucket } : {}),
    timeout: 30_000,
  } as OSS.Options);
}

const sseHeaders = (sse: Sse | undefined): Record<string, string> => {
  if (!sse) return {};
  const h: Record<string, string> = { 'x-oss-server-side-encryption': sse.algorithm };
  if (sse.algorithm === 'KMS' && sse.keyId) h['x-oss-server-side-encryption-key-id'] = sse.keyId;
  if (sse.algorithm === 'KMS' && sse.dataEncryption) h['x-oss-server-side-data-encryption'] = sse.dataEncryption;
  return h;
};

async function put(c: OssTestClient, objects: SeedObject[]): Promise<void> {
  for (const o of objects) {
    await c.put(o.key, Buffer.alloc(o.bytes, 0x61), {
      headers: { ...sseHeaders(o.sse), ...(o.storageClass ? { 'x-oss-storage-class': o.storageClass } : {}) },
    });
  }
}

/** Every kind of object, in a bucket: plaintext in nested prefixes, each encryption, classes, appendable, symlink. */
function mixedObjects(keyIds: { dflt: string; sm4: string }): SeedObject[] {
  return [
    { key: 'logs/2026/01/a.log', bytes: 3000 },
    { key: 'logs/2026/02/b.log', bytes: 2000 },
    { key: 'logs/2025/c.log', bytes: 1500 },
    { key: 'data/x/one.bin', bytes: 700 },
    { key: 'data/two.bin', bytes: 600, storageClass: 'IA' },
    { key: 'root-plain.txt', bytes: 50 },
    { key: `${ODD_PREFIX}inner/evil.txt`, bytes: 90 },
    { key: 'enc/aes.bin', bytes: 400, sse: { algorithm: 'AES256' } },
    { key: 'enc/sm4.bin', bytes: 410, sse: { algorithm: 'SM4' } },
    { key: 'enc/kms-default.bin', bytes: 420, sse: { algorithm: 'KMS' } },
    { key: 'enc/kms-key.bin', bytes: 430, sse: { algorithm: 'KMS', keyId: keyIds.dflt }, storageClass: 'IA' },
    { key: 'enc/kms-sm4.bin', bytes: 440, sse: { algorithm: 'KMS', keyId: keyIds.sm4, dataEncryption: 'SM4' } },
    { key: 'cold/plain-archive.bin', bytes: 800, storageClass: 'Archive' },
    { key: 'cold/aes-cold.bin', bytes: 810, sse: { algorithm: 'AES256' }, storageClass: 'ColdArchive' },
  ];
}

export interface Seeded {
  buckets: string[];
  keyIds: { dflt: string; sm4: string };
  manifestKey: string;
}

export async function seedReportBuckets(stack: LocalStack, credentials: { accessKeyId: string; accessKeySecret: string }): Promise<Seeded> {
  const dflt = stack.kms.keys.lookup('alias/oss-sse-default')?.keyId;
  const sm4 = stack.kms.keys.lookup('alias/oss-sse-sm4')?.keyId;
  if (!dflt || !sm4) throw new Error('the local KMS has no alias/oss-sse-default or alias/oss-sse-sm4');
  const keyIds = { dflt, sm4 };
  const admin = clientFor(stack, credentials);
  for (const name of Object.values(SEED_BUCKETS)) await admin.putBucket(name);
  const rules: Array<[string, Record<string, string>]> = [
    [SEED_BUCKETS.aes, { SSEAlgorithm: 'AES256' }],
    [SEED_BUCKETS.sm4, { SSEAlgorithm: 'SM4' }],
    [SEED_BUCKETS.kms, { SSEAlgorithm: 'KMS', KMSMasterKeyID: dflt }],
    // ali-oss cannot send KMSDataEncryption: the project's own client sets the KMS+SM4 rule (below).
  ];
  for (const [bucket, rule] of rules) await admin.putBucketEncryption(bucket, rule);
  const own = new OssHttpClient({ endpoint: stack.oss.url, region: stack.oss.region, credentials: () => credentials });
  await own.putBucketEncryption(SEED_BUCKETS.kmsSm4, { algorithm: 'KMS', keyId: sm4, dataEncryption: 'SM4' });
  own.destroy();
  await admin.putBucketVersioning(SEED_BUCKETS.aes, 'Enabled');

  for (const bucket of [SEED_BUCKETS.none, SEED_BUCKETS.aes, SEED_BUCKETS.sm4, SEED_BUCKETS.kms, SEED_BUCKETS.kmsSm4]) {
    const c = clientFor(stack, credentials, bucket);
    // In a rule's bucket, objects written without SSE headers get the rule's encryption: only the no-rule bucket keeps plaintext.
    await put(c, mixedObjects(keyIds));
    await c.append('append/plain.log', Buffer.from('appended line\n'));
    await c.putSymlink('links/to-aes', 'enc/aes.bin');
  }
  // A second version of one object: the report counts the current one only.
  await put(clientFor(stack, credentials, SEED_BUCKETS.aes), [{ key: 'logs/2026/01/a.log', bytes: 3100 }]);

  // The inventory bucket: its objects, then a rule and a report of them in rpt-reports.
  const inv = clientFor(stack, credentials, SEED_BUCKETS.inventory);
  await put(inv, [
    ...mixedObjects(keyIds),
    ...Array.from({ length: 20 }, (_, i): SeedObject => ({ key: `bulk/${String(i).padStart(3, '0')}.dat`, bytes: 100 + i, ...(i % 4 === 0 ? {} : { sse: { algorithm: 'AES256' as const } }) })),
  ]);
  await inv.append('append/plain.log', Buffer.from('appended line\n'));
  await inv.putSymlink('links/to-aes', 'enc/aes.bin');
  await inv.putBucketInventory(SEED_BUCKETS.inventory, {
    id: INVENTORY_ID,
    isEnabled: true,
    prefix: '',
    OSSBucketDestination: { format: 'CSV', accountId: '1234567890123456', rolename: 'AliyunOSSRole', bucket: SEED_BUCKETS.reports, prefix: INVENTORY_PREFIX },
    frequency: 'Daily',
    includedObjectVersions: 'Current',
    optionalFields: { field: ['Size', 'LastModifiedDate', 'ETag', 'StorageClass', 'IsMultipartUploaded', 'EncryptionStatus'] },
  });
  const manifestKey = await writeInventoryReport(clientFor(stack, credentials), {
    destBucket: SEED_BUCKETS.reports,
    prefix: INVENTORY_PREFIX,
    sourceBucket: SEED_BUCKETS.inventory,
    inventoryId: INVENTORY_ID,
    date: '2026-12-01T16-00Z',
    objects: [...storedObjects(stack, SEED_BUCKETS.inventory)].map((o) => ({
      key: o.key,
      size: o.size,
      etag: o.etag,
      encrypted: o.sse ? 'true' : 'false',
      storageClass: o.storageClass,
      objectType: o.objectType,
    })),
  });

  // The sample bucket: SAMPLE_OBJECTS objects, a seeded 30% of them plaintext.
  const random = seededRandom(20261202);
  const plainCount = Math.round(SAMPLE_OBJECTS * SAMPLE_PLAINTEXT_SHARE);
  const plainAt = new Set<number>();
  while (plainAt.size < plainCount) plainAt.add(Math.floor(random() * SAMPLE_OBJECTS));
  const sampleClient = clientFor(stack, credentials, SEED_BUCKETS.sample);
  const sampleObjects = Array.from({ length: SAMPLE_OBJECTS }, (_, i): SeedObject => ({
    key: `s/${String(i).padStart(4, '0')}`,
    bytes: 10 + (i % 7),
    ...(plainAt.has(i) ? {} : { sse: { algorithm: 'AES256' as const } }),
  }));
  for (let i = 0; i < sampleObjects.length; i += 40) await Promise.all(sampleObjects.slice(i, i + 40).map((o) => put(sampleClient, [o])));
  return { buckets: Object.values(SEED_BUCKETS), keyIds, manifestKey };
}

/** The current objects of a bucket, straight from the server's store. */
export function* storedObjects(stack: LocalStack, bucket: string) {
  for (const key of stack.oss.store.keysFrom(bucket, { key: '', inclusive: true })) {
    const v = stack.oss.store.current(bucket, key);
    if (v && !v.isDeleteMarker) yield v;
  }
}

export interface Truth {
  total: number;
  bytes: number;
  plaintext: number;
  plaintextBytes: number;
  /** "none", "AES256", "SM4", "KMS|<key>|", "KMS|<key>|SM4" → objects and bytes (symlinks excluded). */
  byEncryption: Record<string, { objects: number; bytes: number }>;
  byStorageClass: Record<string, { objects: number; bytes: number }>;
  symlinks: number;
  appendablePlaintext: number;
  archivedPlaintext: number;
}

const ARCHIVE = new Set(['Archive', 'ColdArchive', 'DeepColdArchive']);

/** What a listing-and-HEAD report must say of `bucket`; `inventory: true` — what an inventory (encrypted or not) can say. */
export function truthOf(stack: LocalStack, bucket: string, opts: { inventory?: boolean } = {}): Truth {
  const t: Truth = {
    total: 0,
    bytes: 0,
    plaintext: 0,
    plaintextBytes: 0,
    byEncryption: {},
    byStorageClass: {},
    symlinks: 0,
    appendablePlaintext: 0,
    archivedPlaintext: 0,
  };
  const add = (map: Record<string, { objects: number; bytes: number }>, id: string, bytes: number): void => {
    const c = (map[id] ??= { objects: 0, bytes: 0 });
    c.objects++;
    c.bytes += bytes;
  };
  for (const v of storedObjects(stack, bucket)) {
    t.total++;
    t.bytes += v.size;
    add(t.byStorageClass, v.storageClass, v.size);
    if (v.objectType === 'Symlink') {
      t.symlinks++;
      continue;
    }
    const id = !v.sse
      ? 'none'
      : opts.inventory
        ? 'encrypted'
        : v.sse.algorithm === 'KMS'
          ? `KMS|${v.sse.keyId ?? ''}|${v.sse.dataEncryption ?? ''}`
          : v.sse.algorithm;
    add(t.byEncryption, id, v.size);
    if (!v.sse) {
      t.plaintext++;
      t.plaintextBytes += v.size;
      if (v.objectType === 'Appendable') t.appendablePlaintext++;
      else if (ARCHIVE.has(v.storageClass)) t.archivedPlaintext++;
    }
  }
  return t;
}
