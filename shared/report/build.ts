/**
 * The whole posture report: which buckets (ListBuckets, then --bucket globs or the policy's
 * BUCKET_INCLUDE/BUCKET_EXCLUDE), each gathered in turn, the summary, and the change since a
 * previous report.
 */
import { InventoryError } from '../backfill/inventory';
import { OssRequestError, type OssPort } from '../oss/port';
import { bucketSelected, type Policy } from '../policy';
import { describeRule, gatherBucket, type GatherOptions } from './gather';
import {
  PostureReportSchema,
  REPORT_SCHEMA_VERSION,
  type BucketChange,
  type BucketReport,
  type Change,
  type PolicySummary,
  type PostureReport,
  type Summary,
} from './schema';

/** Every bucket of the account, through ListBuckets' pages. */
export async function allBucketNames(oss: Pick<OssPort, 'listBuckets'>): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await oss.listBuckets({ maxKeys: 1000, ...(marker ? { marker } : {}) });
    names.push(...page.buckets);
    marker = page.nextMarker;
  } while (marker);
  return names;
}

/** --bucket globs when given (any of them), else the policy's include/exclude globs. */
export function selectBuckets(names: readonly string[], policy: Policy, globs: readonly string[]): string[] {
  const byGlobs = { ...policy, bucketInclude: globs, bucketExclude: [] };
  return names.filter((name) => bucketSelected(globs.length > 0 ? byGlobs : policy, name));
}

export function policySummary(policy: Policy): PolicySummary {
  return {
    algorithm: policy.target.algorithm,
    ...(policy.target.keyId ? { kmsKeyId: policy.target.keyId } : {}),
    ...(policy.target.dataEncryption ? { kmsDataEncryption: policy.target.dataEncryption } : {}),
    compliance: policy.compliance,
    bucketInclude: [...policy.bucketInclude],
    bucketExclude: [...policy.bucketExclude],
    keyExcludePrefixes: [...policy.keyExcludePrefixes],
  };
}

export function summarize(buckets: readonly BucketReport[]): Summary {
  const sum = (f: (b: BucketReport) => number): number => buckets.reduce((a, b) => a + f(b), 0);
  return {
    buckets: buckets.length,
    bucketsCompliant: buckets.filter((b) => b.compliant).length,
    objects: sum((b) => b.objects.total),
    plaintextObjects: sum((b) => b.objects.plaintext),
    bytes: sum((b) => b.objects.bytes),
    plaintextBytes: sum((b) => b.objects.plaintextBytes),
    nonCompliantObjects: sum((b) => b.objects.nonCompliant),
    estimated: buckets.some((b) => b.source.kind === 'sample' && b.source.sampleSize < b.source.population),
  };
}

/** What changed from `previous` to `current`: buckets added and removed, rules, plaintext up or down. */
export function compareReports(previous: PostureReport, current: Pick<PostureReport, 'buckets'>): Change {
  const before = new Map(previous.buckets.map((b) => [b.name, b]));
  const after = new Map(current.buckets.map((b) => [b.name, b]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const buckets: BucketChange[] = names.map((name) => {
    const was = before.get(name);
    const is = after.get(name);
    const from = was ? describeRule(was.rule) : undefined;
    const to = is ? describeRule(is.rule) : undefined;
    return {
      name,
      status: !was ? 'added' : !is ? 'removed' : 'kept',
      ...(from !== undefined && to !== undefined && from !== to ? { ruleChanged: { from, to } } : {}),
      plaintextObjects: (is?.objects.plaintext ?? 0) - (was?.objects.plaintext ?? 0),
      plaintextBytes: (is?.objects.plaintextBytes ?? 0) - (was?.objects.plaintextBytes ?? 0),
    };
  });
  return {
    previousGeneratedAt: previous.generatedAt,
    bucketsAdded: buckets.filter((b) => b.status === 'added').map((b) => b.name),
    bucketsRemoved: buckets.filter((b) => b.status === 'removed').map((b) => b.name),
    rulesChanged: buckets.filter((b) => b.ruleChanged).length,
    plaintextObjects: buckets.reduce((a, b) => a + b.plaintextObjects, 0),
    plaintextBytes: buckets.reduce((a, b) => a + b.plaintextBytes, 0),
    buckets,
  };
}

/** A bucket that could not be read: no figures, not compliant, and why. */
function unreadableBucket(name: string, error: string): BucketReport {
  return {
    name,
    compliant: false,
    rule: { algorithm: null, kmsKeyId: null, dataEncryption: null, compliant: false, decision: 'missing' },
    versioning: 'Off',
    source: { kind: 'listing', note: 'the bucket could not be read' },
    objects: { total: 0, plaintext: 0, bytes: 0, plaintextBytes: 0, nonCompliant: 0, byEncryption: [], byStorageClass: [] },
    topPlaintextPrefixes: [],
    skipped: {},
    failed: {},
    error,
  };
}

export interface BuildOptions extends Omit<GatherOptions, 'onProgress'> {
  region: string;
  /** --bucket globs; empty: the policy's. */
  globs: readonly string[];
  previous?: PostureReport;
  /** Defaults to now. */
  now?: Date;
  onBucket?: (bucket: string, index: number, of: number) => void;
  onProgress?: (bucket: string, done: number, listed: number) => void;
}

export async function buildReport(opts: BuildOptions): Promise<PostureReport> {
  const names = selectBuckets(await allBucketNames(opts.oss), opts.policy, opts.globs);
  const buckets: BucketReport[] = [];
  for (const [i, name] of names.entries()) {
    opts.onBucket?.(name, i, names.length);
    try {
      buckets.push(await gatherBucket(name, { ...opts, onProgress: (done, listed) => opts.onProgress?.(name, done, listed) }));
    } catch (e) {
      // One bucket that cannot be read (AccessDenied, gone since ListBuckets, a broken inventory
      // report) is reported as such; the others are still worth reporting.
      if (!(e instanceof OssRequestError) && !(e instanceof InventoryError)) throw e;
      buckets.push(unreadableBucket(name, e instanceof OssRequestError ? `${e.code}: ${e.message}${e.requestId ? ` [request ${e.requestId}]` : ''}` : e.message));
    }
  }
  const report: PostureReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    region: opts.region,
    policy: policySummary(opts.policy),
    selection: opts.globs.length > 0 ? { by: 'flag', globs: [...opts.globs] } : { by: 'policy', globs: [...opts.policy.bucketInclude] },
    summary: summarize(buckets),
    buckets,
    ...(opts.previous ? { change: compareReports(opts.previous, { buckets }) } : {}),
  };
  // What is written must be what the schema promises readers.
  return PostureReportSchema.parse(report);
}
