/**
 * One bucket's posture, from one of three sources:
 * - listing: every object listed and HEADed, through the backfill engine in dry-run mode (the
 *   same HEADs and decisions as `oss-sse scan`), each HEAD observed on its way back;
 * - sample: every object listed (counts, bytes and storage classes are exact), N of them drawn
 *   uniformly and HEADed; what only HEAD tells is estimated, with a 95% interval;
 * - inventory: the bucket's latest inventory report, read with the backfill's reader, no
 *   request per object.
 * Plus the bucket's default rule (judged as the bucket function judges it) and versioning.
 */
import { runBackfill } from '../backfill/engine';
import { inventoryDataBucket, loadManifestOfBucket, ossInventorySource, readInventoryRows, type InventoryRow, type ManifestRef } from '../backfill/inventory';
import { decorateOssPort } from '../backfill/oss-hooks';
import type { Logger } from '../log';
import { asSent, isSseAlgorithm, type ListedObject, type ObjectHead, type OssPort, type SseSpec } from '../oss/port';
import { decideBucketRule, decideObject, keyExcluded, sseShortfall, type Policy } from '../policy';
import { Reservoir, shareInterval } from './interval';
import type { BucketReport, Rule, Source } from './schema';
import { BucketTally, type ObjectEncryption } from './tally';

/** Where a bucket's latest inventory report is, or why there is none to read. */
export type InventoryLocation = { manifest: ManifestRef; inventoryId: string } | { none: string };

export type SourceRequest =
  | { kind: 'listing' }
  | { kind: 'sample'; size: number; seed: number }
  | { kind: 'inventory'; locate: (bucket: string) => Promise<InventoryLocation> };

export interface GatherOptions {
  oss: OssPort;
  policy: Policy;
  log: Logger;
  source: SourceRequest;
  /** The KMS key id the policy's alias or ARN resolves to (COMPLIANCE=exact compares it). */
  resolvedKeyId?: string;
  /** HEADs in flight (default the engine's). */
  concurrency?: number;
  /** Objects looked at so far and listed so far, for a progress bar. */
  onProgress?: (done: number, listed: number) => void;
}

/** The rule as text: "none", "AES256", "KMS/<key>/SM4". */
export function describeRule(rule: Pick<Rule, 'algorithm' | 'kmsKeyId' | 'dataEncryption'>): string {
  return rule.algorithm === null ? 'none' : [rule.algorithm, rule.kmsKeyId, rule.dataEncryption].filter((p) => p !== null).join('/');
}

export function judgeRule(policy: Policy, rule: SseSpec | undefined, resolvedKeyId: string | undefined): Rule {
  const decision = decideBucketRule(policy, rule, resolvedKeyId);
  return {
    algorithm: rule?.algorithm ?? null,
    kmsKeyId: rule?.keyId ?? null,
    dataEncryption: rule?.dataEncryption ?? null,
    compliant: rule !== undefined && sseShortfall(policy, rule, resolvedKeyId) === undefined,
    decision: decision.action === 'compliant' ? 'compliant' : decision.reason,
  };
}

/** Every object of the bucket, as ListObjectsV2 pages it. */
export async function* listedObjects(oss: Pick<OssPort, 'listObjectsV2'>, bucket: string): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await oss.listObjectsV2(bucket, { maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
    yield* page.objects;
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
}

const encryptionOf = (sse: SseSpec | undefined): ObjectEncryption =>
  !sse
    ? { encryption: 'none' }
    : {
        encryption: sse.algorithm,
        ...(sse.algorithm === 'KMS' && sse.keyId ? { kmsKeyId: sse.keyId } : {}),
        ...(sse.dataEncryption ? { dataEncryption: sse.dataEncryption } : {}),
      };

const UNKNOWN: ObjectEncryption = { encryption: 'unknown' };

/**
 * HEADs the items with the backfill engine (dry run: nothing is written) and hands every
 * object's HEAD and decision to `tally`. Objects under KEY_EXCLUDE_PREFIXES are not looked at,
 * as scan does not look at them.
 */
async function headAll(
  objects: AsyncIterable<ListedObject>,
  bucket: string,
  tally: BucketTally,
  opts: GatherOptions & { onListed?: (o: ListedObject) => void },
): Promise<void> {
  const { policy, resolvedKeyId } = opts;
  // Sizes of the objects in flight: what the listing said, which is what the report counts.
  const pending = new Map<string, number>();
  let listed = 0;
  let done = 0;
  async function* items() {
    for await (const o of objects) {
      listed++;
      opts.onListed?.(o);
      if (keyExcluded(policy, o.key)) {
        done++;
        tally.classify({ key: o.key, size: o.size, encryption: UNKNOWN, nonCompliant: false, skipped: 'excluded-prefix' });
        continue;
      }
      pending.set(o.key, o.size);
      yield { key: o.key, cursor: o.key, etag: o.etag, size: o.size };
    }
  }
  const observe = (head: ObjectHead | undefined, key: string): void => {
    const size = pending.get(key);
    if (size === undefined) return;
    pending.delete(key);
    done++;
    const decision = decideObject(policy, bucket, key, head, resolvedKeyId);
    const skipped = decision.action === 'skip' ? decision.reason : undefined;
    if (!head || skipped === 'symlink') {
      // A symlink holds no data (its HEAD describes the target); a vanished object has none left.
      tally.classify({ key, size, encryption: head ? undefined : UNKNOWN, nonCompliant: false, ...(skipped ? { skipped } : {}) });
      return;
    }
    tally.classify({
      key,
      size,
      encryption: encryptionOf(head.sse),
      nonCompliant: sseShortfall(policy, head.sse, resolvedKeyId) !== undefined,
      ...(skipped ? { skipped } : {}),
    });
  };
  const observed = decorateOssPort(opts.oss, {
    after: { headObject: (head, [headBucket, key, versionId]) => headBucket === bucket && versionId === undefined && observe(head, key) },
  });
  const run = await runBackfill({
    bucket,
    items: items(),
    oss: observed,
    policy,
    log: opts.log,
    dryRun: true,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(resolvedKeyId ? { resolvedKeyId } : {}),
    onProgress: () => opts.onProgress?.(done, listed),
  });
  for (const [code, n] of Object.entries(run.failed)) tally.fail(code, n);
  // Objects whose HEAD failed: counted, of unknown encryption.
  for (const [key, size] of pending) tally.classify({ key, size, encryption: UNKNOWN, nonCompliant: false });
}

const scaled = (n: number, factor: number): number => Math.round(n * factor);

async function gatherSample(bucket: string, opts: GatherOptions & { source: { kind: 'sample' } }): Promise<Pick<BucketReport, 'objects' | 'source' | 'topPlaintextPrefixes' | 'skipped' | 'failed'>> {
  const { size, seed } = opts.source;
  const listing = new BucketTally();
  const reservoir = new Reservoir<ListedObject>(size, seed);
  for await (const o of listedObjects(opts.oss, bucket)) {
    listing.count(o.size, asSent(o.storageClass));
    reservoir.offer(o);
    opts.onProgress?.(0, reservoir.population);
  }
  const drawn = new BucketTally();
  const sorted = [...reservoir.items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  async function* fromDraw() {
    yield* sorted;
  }
  await headAll(fromDraw(), bucket, drawn, {
    ...opts,
    onListed: (o) => drawn.count(o.size, asSent(o.storageClass)),
    onProgress: (done) => opts.onProgress?.(done, sorted.length),
  });
  const population = reservoir.population;
  const n = drawn.total;
  const plaintextShare = shareInterval(drawn.plaintext, n, population);
  const nonCompliantShare = shareInterval(drawn.nonCompliant, n, population);
  const objectFactor = n === 0 ? 0 : population / n;
  const byteFactor = drawn.bytes === 0 ? 0 : listing.bytes / drawn.bytes;
  const source: Source = {
    kind: 'sample',
    sampleSize: n,
    population,
    seed,
    plaintextShare,
    nonCompliantShare,
    sampled: { objects: n, plaintext: drawn.plaintext, nonCompliant: drawn.nonCompliant, bytes: drawn.bytes, plaintextBytes: drawn.plaintextBytes },
  };
  const exact = n === population;
  return {
    source,
    objects: {
      total: listing.total,
      bytes: listing.bytes,
      plaintext: exact ? drawn.plaintext : scaled(plaintextShare.estimate, population),
      plaintextBytes: exact ? drawn.plaintextBytes : scaled(drawn.plaintextBytes, byteFactor),
      nonCompliant: exact ? drawn.nonCompliant : scaled(nonCompliantShare.estimate, population),
      byEncryption: drawn
        .objects()
        .byEncryption.map((e) => ({ ...e, objects: scaled(e.objects, objectFactor), bytes: scaled(e.bytes, byteFactor) })),
      byStorageClass: listing.byStorageClass(),
    },
    topPlaintextPrefixes: drawn.topPlaintextPrefixes(),
    skipped: drawn.skipped,
    failed: drawn.failed,
  };
}

const ARCHIVE_CLASSES = new Set(['Archive', 'ColdArchive', 'DeepColdArchive']);

/** What an inventory row's EncryptionStatus says: an algorithm when it names one, else only encrypted or not. */
function rowEncryption(row: InventoryRow): ObjectEncryption {
  if (row.encrypted === undefined) return UNKNOWN;
  if (!row.encrypted) return { encryption: 'none' };
  const status = (row.encryptionStatus ?? '').trim().toUpperCase();
  if (isSseAlgorithm(status)) return { encryption: status };
  return status === 'SSE-KMS' ? { encryption: 'KMS' } : { encryption: 'encrypted' };
}

async function gatherInventory(
  bucket: string,
  location: { manifest: ManifestRef; inventoryId: string },
  opts: GatherOptions,
): Promise<Pick<BucketReport, 'objects' | 'source' | 'topPlaintextPrefixes' | 'skipped' | 'failed'>> {
  const { policy } = opts;
  const source = ossInventorySource(opts.oss);
  const manifest = await loadManifestOfBucket(source, location.manifest, bucket);
  const tally = new BucketTally();
  for await (const row of readInventoryRows(source, manifest, { bucket: inventoryDataBucket(manifest, undefined, bucket) })) {
    // Delete markers and noncurrent versions are not objects a listing shows.
    if (row.skip !== undefined) continue;
    const size = row.size ?? 0;
    const storageClass = row.storageClass ?? 'unknown';
    if (row.objectType === 'Symlink') {
      tally.add({ key: row.key, size, storageClass, encryption: undefined, nonCompliant: false, skipped: 'symlink' });
      continue;
    }
    if (keyExcluded(policy, row.key)) {
      tally.add({ key: row.key, size, storageClass, encryption: UNKNOWN, nonCompliant: false, skipped: 'excluded-prefix' });
      continue;
    }
    const encryption = rowEncryption(row);
    // The report says encrypted or not; which algorithm and key it does not say, so under
    // COMPLIANCE=exact only a plaintext row is known to fall short (the source's note says so).
    const nonCompliant = encryption.encryption === 'none';
    const skipped = !nonCompliant
      ? undefined
      : row.objectType === 'Appendable'
        ? 'appendable'
        : ARCHIVE_CLASSES.has(storageClass)
          ? 'archived-not-restored'
          : undefined;
    tally.add({ key: row.key, size, storageClass, encryption, nonCompliant, ...(skipped ? { skipped } : {}) });
    opts.onProgress?.(tally.total, tally.total);
  }
  return {
    source: {
      kind: 'inventory',
      manifest: `oss://${location.manifest.bucket}/${location.manifest.manifestKey}`,
      inventoryId: location.inventoryId,
      ...(manifest.creationTimestamp !== undefined ? { createdAt: manifest.creationTimestamp } : {}),
      ...(policy.compliance === 'exact'
        ? { note: 'COMPLIANCE=exact: an inventory says whether an object is encrypted, not with which algorithm or key; only plaintext objects are counted as falling short' }
        : {}),
    },
    objects: tally.objects(),
    topPlaintextPrefixes: tally.topPlaintextPrefixes(),
    skipped: tally.skipped,
    failed: tally.failed,
  };
}

async function gatherListing(bucket: string, opts: GatherOptions, note?: string): Promise<Pick<BucketReport, 'objects' | 'source' | 'topPlaintextPrefixes' | 'skipped' | 'failed'>> {
  const tally = new BucketTally();
  await headAll(listedObjects(opts.oss, bucket), bucket, tally, { ...opts, onListed: (o) => tally.count(o.size, asSent(o.storageClass)) });
  return {
    source: { kind: 'listing', ...(note ? { note } : {}) },
    objects: tally.objects(),
    topPlaintextPrefixes: tally.topPlaintextPrefixes(),
    skipped: tally.skipped,
    failed: tally.failed,
  };
}

/**
 * One bucket's report. The bucket was chosen by the caller: the policy's bucket globs do not
 * apply to the objects' decisions here (an excluded bucket asked for by name is still judged).
 */
export async function gatherBucket(bucket: string, options: GatherOptions): Promise<BucketReport> {
  const opts: GatherOptions = { ...options, policy: { ...options.policy, bucketInclude: [], bucketExclude: [] } };
  const [ruleSpec, versioning] = await Promise.all([opts.oss.getBucketEncryption(bucket), opts.oss.getBucketVersioning(bucket)]);
  const rule = judgeRule(opts.policy, ruleSpec, opts.resolvedKeyId);
  let content: Pick<BucketReport, 'objects' | 'source' | 'topPlaintextPrefixes' | 'skipped' | 'failed'>;
  const source = opts.source;
  if (source.kind === 'sample') content = await gatherSample(bucket, { ...opts, source });
  else if (source.kind === 'inventory') {
    const location = await source.locate(bucket);
    content = 'none' in location ? await gatherListing(bucket, opts, location.none) : await gatherInventory(bucket, location, opts);
  } else content = await gatherListing(bucket, opts);
  return {
    name: bucket,
    compliant: rule.compliant && content.objects.nonCompliant === 0,
    rule,
    versioning: versioning ?? 'Off',
    ...content,
  };
}
