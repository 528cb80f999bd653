/** The backfill function's payload (zod), as a person sends it and as the function continues itself. */
import * as z from 'zod';
import { decodeEvent, EventValidationError } from '../validation/event';
import { formatZodIssues } from '../validation/issues';
import { BucketNameSchema, ObjectKeySchema, objectKeyProblem } from '../validation/names';

// Key positions and prefixes are sent to OSS: each must be (the start of) a key OSS could hold.
const PrefixSchema = z.string().superRefine((prefix, ctx) => {
  const problem = prefix === '' ? undefined : objectKeyProblem(prefix);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid key prefix: ${problem}` });
});

export const BackfillPayloadSchema = z
  .strictObject({
    bucket: BucketNameSchema,
    prefix: PrefixSchema.optional(),
    startAfter: ObjectKeySchema.optional(),
    endBefore: ObjectKeySchema.optional(),
    dryRun: z.boolean().optional(),
    concurrency: z.int().min(1).max(1024).optional(),
    /** Requests per second for the whole job (at least 1: a smaller cap would stall it). */
    qps: z.number().min(1).max(100_000).optional(),
    /**
     * Split the work into this many shards, each run by its own invocation chain: key ranges,
     * or in inventory mode runs of data files (default: by bucket or report size, AUTO_SHARDS).
     */
    shards: z.int().min(1).max(256).optional(),
    /**
     * Inventory mode: read this OSS inventory report instead of listing the bucket (only the
     * rows not reported encrypted are HEADed). `bucket`: where manifest.json is, and the data
     * files unless the manifest names its destinationBucket; default the bucket being backfilled.
     */
    inventory: z
      .strictObject({
        manifestKey: ObjectKeySchema,
        bucket: BucketNameSchema.optional(),
      })
      .optional(),
    /** Set by the function itself: the job, the shard and the continuation generation. */
    jobId: z
      .string()
      .regex(/^[a-z0-9-]{8,64}$/, {
        error: 'must be 8-64 characters of a-z, 0-9 and -, as the backfill sets it (omit jobId and shard to start a job)',
      })
      .optional(),
    shard: z.int().min(0).max(255).optional(),
    generation: z.int().min(0).optional(),
  })
  .refine((p) => (p.jobId === undefined) === (p.shard === undefined), { message: 'jobId and shard go together', path: ['shard'] })
  .refine((p) => p.inventory === undefined || (p.startAfter === undefined && p.endBefore === undefined), {
    message: 'inventory and startAfter/endBefore do not go together: an inventory backfill reads the whole report (prefix still applies)',
    path: ['inventory'],
  });

export type BackfillPayload = z.infer<typeof BackfillPayloadSchema>;

/**
 * An invocation's payload (JSON bytes, text or a value), decoded and validated. Never throws:
 * a bad payload will not get better on a retry, so the caller reports `error`, which names
 * every field that is wrong.
 */
export function parseBackfillPayload(event: unknown): { payload: BackfillPayload } | { error: string } {
  let input: unknown;
  try {
    input = decodeEvent(event);
  } catch (err) {
    if (!(err instanceof EventValidationError)) throw err;
    return { error: err.message };
  }
  const parsed = BackfillPayloadSchema.safeParse(input);
  if (parsed.success) return { payload: parsed.data };
  return { error: `invalid backfill payload: ${formatZodIssues(parsed.error.issues, [], 'payload').join('; ')}` };
}
