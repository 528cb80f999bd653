/**
 * What the backfill persists — a job's record and its shards' state in OSS, the checkpoint a
 * run resumes from — as zod schemas, parsed whenever they are read back: a record that does
 * not parse is an error naming the object and what is wrong with it, not a crash later.
 */
import * as z from 'zod';
import { formatZodIssues } from '../validation/issues';
import type { VerificationCounts } from '../reencrypt';
import type { FileRange } from './inventory/cursor';
import type { SelfCopyProbe } from './self-copy-probe';
import type { KeyRange } from './shards';

const Count = z.int().nonnegative();
const Counts = z.record(z.string(), Count);

/**
 * How a run's re-encrypted copies were verified (VerifiedBy in shared/reencrypt.ts): from the
 * copy's own answer, with a HEAD, or — the answer lacking a field, outside the HEAD sample — not
 * beyond what the answer carried. Absent in state written before it existed: zeros.
 */
export const VerificationCountsSchema = z.object({ answer: Count, head: Count, unsampled: Count }) satisfies z.ZodType<VerificationCounts>;

/** The counters of a run: what one invocation adds to a job's totals. */
export const TotalsSchema = z.object({
  scanned: Count,
  compliant: Count,
  reencrypted: Count,
  wouldReencrypt: Count,
  skipped: Counts,
  failed: Counts,
  bytesReencrypted: Count,
  requests: Count,
  durationMs: z.number().nonnegative(),
  /** Versioned buckets: plaintext versions left behind by re-encryption (not deleted). */
  plaintextVersionsKept: Count,
  verified: VerificationCountsSchema.default({ answer: 0, head: 0, unsampled: 0 }),
});
export type Totals = z.infer<typeof TotalsSchema>;

/** A run's low-water mark. */
export const CheckpointSchema = z.object({
  bucket: z.string().min(1),
  /** Everything at or before this cursor is finished; undefined = nothing yet. */
  cursor: z.string().optional(),
  done: z.boolean(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;

const KeyRangeSchema = z.object({
  startAfter: z.string().optional(),
  endAt: z.string().optional(),
  endBefore: z.string().optional(),
}) satisfies z.ZodType<KeyRange>;

const FileRangeSchema = z.object({ from: Count, to: Count }) satisfies z.ZodType<FileRange>;

/** A shard's part of the job: a key range, or in inventory mode a range of the report's data files. */
export const ShardRangeSchema = KeyRangeSchema.extend({ files: FileRangeSchema.optional() });
export type ShardRange = z.infer<typeof ShardRangeSchema>;

export const JobInventorySchema = z.object({
  /** Where manifest.json is. */
  bucket: z.string().min(1),
  manifestKey: z.string().min(1),
  /** Where the data files are (resolved when the job started). */
  dataBucket: z.string().min(1),
});
export type JobInventory = z.infer<typeof JobInventorySchema>;

/** The job's self-copy probe (self-copy-probe.ts), run once when it starts; shards read the verdict here. */
export const SelfCopyProbeSchema = z.object({
  verdict: z.enum(['keeps', 'replaces', 'unknown']),
  requests: Count,
  reason: z.string().optional(),
  leftBehind: z.string().optional(),
}) satisfies z.ZodType<SelfCopyProbe>;

/** `<prefix><jobId>/job.json`: what the job does, written once when it starts. */
export const JobRecordSchema = z.object({
  jobId: z.string().min(1),
  bucket: z.string().min(1),
  prefix: z.string().optional(),
  dryRun: z.boolean(),
  concurrency: z.int().positive().optional(),
  qps: z.number().positive().optional(),
  shards: z.array(ShardRangeSchema).min(1),
  /** Inventory mode: the report (shards split its data files; their cursors are inventory cursors, not keys). */
  inventory: JobInventorySchema.optional(),
  /** Inventory mode, not a dry run: `keeps` lets the shards copy plaintext rows with no HEAD. */
  selfCopyProbe: SelfCopyProbeSchema.optional(),
  createdAt: z.string(),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

/** `<prefix><jobId>/shard-<n>.json`: a shard chain's progress, rewritten by each invocation. */
export const ShardStateSchema = z.object({
  jobId: z.string().min(1),
  shard: Count,
  generation: Count,
  /** Low-water cursor: everything at or before it is finished. */
  cursor: z.string().optional(),
  done: z.boolean(),
  invocations: Count,
  totals: TotalsSchema,
  /** Inventory mode: objects whose HEAD found another ETag than the report (changed since it). */
  changedSinceReport: Count.optional(),
  /** Why the chain stopped without finishing (an inventory report that cannot be read); it is not continued. */
  error: z.string().optional(),
  updatedAt: z.string(),
});
export type ShardState = z.infer<typeof ShardStateSchema>;

/** A persisted record that cannot be read back: `where` names it (oss://bucket/key or a file path). */
export class BackfillStateError extends Error {
  override readonly name = 'BackfillStateError';
  constructor(
    readonly where: string,
    problem: string,
  ) {
    super(`${where}: ${problem}`);
  }
}

/** The text of a persisted record, parsed as JSON and by `schema`; throws BackfillStateError naming `where` and the problem. */
export function parseRecord<S extends z.ZodType>(schema: S, text: string, where: string, what: string): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BackfillStateError(where, `${what} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  // Progress and cursors, no secrets: the values found may be shown.
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    throw new BackfillStateError(where, `not a valid ${what}: ${formatZodIssues(parsed.error.issues, [], what).slice(0, 5).join('; ')}`);
  }
  return parsed.data;
}
