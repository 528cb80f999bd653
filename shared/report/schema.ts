/**
 * report.json, the encryption posture report (`oss-sse report`): its zod schema, exported so
 * other tools can read and validate the file (docs/report-schema.md describes every field).
 * Counts are objects (current versions, as a listing shows them) and bytes; a sampled bucket
 * gives estimates for what only a HEAD can tell, and says so in its `source`.
 */
import * as z from 'zod';
import { SSE_ALGORITHMS } from '../oss/port';
import { COMPLIANCE_MODES } from '../validation/config';

export const REPORT_SCHEMA_VERSION = 1;

const count = z.number().int().nonnegative();

/** What one object's encryption is, as HEAD (or an inventory row) tells it. */
export const EncryptionKindSchema = z
  .enum(['AES256', 'SM4', 'KMS', 'none', 'encrypted', 'unknown'])
  .describe(
    'AES256, SM4, KMS: SSE-OSS or SSE-KMS as HEAD reports it; none: plaintext; encrypted: an inventory row says encrypted without the algorithm; unknown: not looked at (an excluded prefix) or the inventory could not tell',
  );
export type EncryptionKind = z.infer<typeof EncryptionKindSchema>;

export const EncryptionCountSchema = z.object({
  encryption: EncryptionKindSchema,
  /** KMS only: the key id OSS reports (absent: OSS's managed key, or not known). */
  kmsKeyId: z.string().optional(),
  /** KMS only: SM4 data encryption. */
  dataEncryption: z.literal('SM4').optional(),
  objects: count,
  bytes: count,
});
export type EncryptionCount = z.infer<typeof EncryptionCountSchema>;

export const StorageClassCountSchema = z.object({ storageClass: z.string(), objects: count, bytes: count });
export type StorageClassCount = z.infer<typeof StorageClassCountSchema>;

export const PrefixCountSchema = z.object({
  /** A key prefix ending in "/" at the first or second level; "" for keys at the bucket's root. */
  prefix: z.string(),
  objects: count,
  bytes: count,
});
export type PrefixCount = z.infer<typeof PrefixCountSchema>;

export const IntervalSchema = z.object({
  estimate: z.number().min(0).max(1),
  low: z.number().min(0).max(1),
  high: z.number().min(0).max(1),
  confidence: z.literal(0.95),
  /** wilson: the Wilson score interval; exact: every object was drawn. */
  method: z.enum(['wilson', 'exact']),
});
export type Interval = z.infer<typeof IntervalSchema>;

export const SourceSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('listing'),
    /** Why a listing was used when --inventory asked for the inventory (no configuration, no report yet). */
    note: z.string().optional(),
  }),
  z.object({
    kind: z.literal('inventory'),
    /** oss://bucket/key of the manifest.json read. */
    manifest: z.string(),
    /** The manifest's creationTimestamp (epoch seconds as OSS writes it), when it has one. */
    createdAt: z.string().optional(),
    inventoryId: z.string(),
    /** What the report cannot tell (under COMPLIANCE=exact: the algorithm and key of encrypted rows). */
    note: z.string().optional(),
  }),
  z.object({
    kind: z.literal('sample'),
    /** Objects drawn and HEADed. */
    sampleSize: count,
    /** Objects listed (what was drawn from). */
    population: count,
    seed: z.number().int(),
    /** Share of the listed objects that are plaintext, with its 95% interval. */
    plaintextShare: IntervalSchema,
    /** Share of the drawn objects that fall short of the policy, with its 95% interval. */
    nonCompliantShare: IntervalSchema,
    /** What the draw saw, before scaling to the population. */
    sampled: z.object({ objects: count, plaintext: count, nonCompliant: count, bytes: count, plaintextBytes: count }),
  }),
]);
export type Source = z.infer<typeof SourceSchema>;

export const RuleSchema = z.object({
  /** null: the bucket has no default encryption rule. */
  algorithm: z.enum(SSE_ALGORITHMS).nullable(),
  kmsKeyId: z.string().nullable(),
  dataEncryption: z.literal('SM4').nullable(),
  /** The rule satisfies the policy (under COMPLIANCE=any, any rule does; under exact, only the policy's). */
  compliant: z.boolean(),
  /** What the bucket function would do with it (shared/policy.ts decideBucketRule). */
  decision: z.enum(['compliant', 'missing', 'replace', 'different-rule']),
});
export type Rule = z.infer<typeof RuleSchema>;

export const ObjectsSchema = z.object({
  /** Current objects (symlinks, appendable and archived objects included). */
  total: count,
  /** Objects stored without server-side encryption (symlinks excluded: they hold no data). Sample: an estimate. */
  plaintext: count,
  bytes: count,
  plaintextBytes: count,
  /** Objects whose encryption falls short of the policy, including those the backfill cannot fix (appendable, archived). Sample: an estimate. */
  nonCompliant: count,
  /** By encryption; sums to total minus symlinks. Sample: the draw scaled to the population. */
  byEncryption: z.array(EncryptionCountSchema),
  /** By storage class; sums to total. */
  byStorageClass: z.array(StorageClassCountSchema),
});
export type Objects = z.infer<typeof ObjectsSchema>;

export const BucketReportSchema = z.object({
  name: z.string(),
  /** The rule satisfies the policy and no object falls short of it. */
  compliant: z.boolean(),
  rule: RuleSchema,
  versioning: z.enum(['Enabled', 'Suspended', 'Off']),
  source: SourceSchema,
  objects: ObjectsSchema,
  /** Up to 10 prefixes (first two "/" levels) by plaintext bytes, then objects. Sample: of the draw. */
  topPlaintextPrefixes: z.array(PrefixCountSchema).max(10),
  /** What the backfill skips, by reason: symlink, appendable, archived-not-restored, excluded-prefix (as `scan` counts them). */
  skipped: z.record(z.string(), count),
  /** Objects that could not be looked at, by error code. */
  failed: z.record(z.string(), count),
  /** Set when the bucket could not be read at all (its rule, versioning and counts are then placeholders: null, Off, zero). */
  error: z.string().optional(),
});
export type BucketReport = z.infer<typeof BucketReportSchema>;

export const PolicySummarySchema = z.object({
  algorithm: z.enum(SSE_ALGORITHMS),
  kmsKeyId: z.string().optional(),
  kmsDataEncryption: z.literal('SM4').optional(),
  compliance: z.enum(COMPLIANCE_MODES),
  bucketInclude: z.array(z.string()),
  bucketExclude: z.array(z.string()),
  keyExcludePrefixes: z.array(z.string()),
});
export type PolicySummary = z.infer<typeof PolicySummarySchema>;

export const SummarySchema = z.object({
  buckets: count,
  bucketsCompliant: count,
  objects: count,
  plaintextObjects: count,
  bytes: count,
  plaintextBytes: count,
  nonCompliantObjects: count,
  /** Some bucket's plaintext figures are sample estimates. */
  estimated: z.boolean(),
});
export type Summary = z.infer<typeof SummarySchema>;

export const BucketChangeSchema = z.object({
  name: z.string(),
  /** added: only in this report; removed: only in the previous one. */
  status: z.enum(['added', 'removed', 'kept']),
  /** The rule as described in each report ("AES256", "KMS/<key>/SM4", "none"), when it changed. */
  ruleChanged: z.object({ from: z.string(), to: z.string() }).optional(),
  plaintextObjects: z.number().int(),
  plaintextBytes: z.number().int(),
});
export type BucketChange = z.infer<typeof BucketChangeSchema>;

export const ChangeSchema = z.object({
  previousGeneratedAt: z.string(),
  bucketsAdded: z.array(z.string()),
  bucketsRemoved: z.array(z.string()),
  rulesChanged: count,
  /** This report minus the previous one (negative: fewer). */
  plaintextObjects: z.number().int(),
  plaintextBytes: z.number().int(),
  buckets: z.array(BucketChangeSchema),
});
export type Change = z.infer<typeof ChangeSchema>;

export const PostureReportSchema = z.object({
  schemaVersion: z.literal(REPORT_SCHEMA_VERSION),
  /** ISO 8601, UTC. */
  generatedAt: z.string().datetime(),
  region: z.string(),
  policy: PolicySummarySchema,
  /** How buckets were chosen: --bucket globs, or the policy's BUCKET_INCLUDE/BUCKET_EXCLUDE. */
  selection: z.object({ by: z.enum(['flag', 'policy']), globs: z.array(z.string()) }),
  summary: SummarySchema,
  buckets: z.array(BucketReportSchema),
  /** With --previous: the change since that report. */
  change: ChangeSchema.optional(),
});
export type PostureReport = z.infer<typeof PostureReportSchema>;

/** report.json's JSON Schema (draft 2020-12), for readers without zod: docs/report.schema.json. */
export function reportJsonSchema(): Record<string, unknown> {
  return {
    title: 'oss-sse encryption posture report (report.json)',
    ...z.toJSONSchema(PostureReportSchema, { target: 'draft-2020-12', io: 'output' }),
  };
}
