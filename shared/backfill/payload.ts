/** The backfill function's payload (zod), as a person sends it and as the function continues itself. */
import { z } from 'zod';
import { BucketNameSchema } from '../validation/names';

const KeySchema = z.string().min(1).max(1023);

export const BackfillPayloadSchema = z
  .strictObject({
    bucket: BucketNameSchema,
    prefix: z.string().max(1023).optional(),
    startAfter: KeySchema.optional(),
    endBefore: KeySchema.optional(),
    dryRun: z.boolean().optional(),
    concurrency: z.int().min(1).max(1024).optional(),
    qps: z.number().positive().max(100_000).optional(),
    /** Split the key space into this many shards, each run by its own invocation chain. */
    shards: z.int().min(1).max(256).optional(),
    /**
     * Inventory mode: read this OSS inventory report instead of listing the bucket (only the
     * rows not reported encrypted are HEADed). `bucket`: where manifest.json is, and the data
     * files unless the manifest names its destinationBucket; default the bucket being backfilled.
     */
    inventory: z
      .strictObject({
        manifestKey: KeySchema,
        bucket: BucketNameSchema.optional(),
      })
      .optional(),
    /** Set by the function itself: the job, the shard and the continuation generation. */
    jobId: z
      .string()
      .regex(/^[a-z0-9-]{8,64}$/)
      .optional(),
    shard: z.int().min(0).max(255).optional(),
    generation: z.int().min(0).optional(),
  })
  .refine((p) => (p.jobId === undefined) === (p.shard === undefined), { message: 'jobId and shard go together', path: ['shard'] })
  // An inventory report is read in its own order, one reader: there is no key range to split.
  .refine((p) => p.inventory === undefined || (p.shards ?? 1) === 1, {
    message: 'inventory and shards do not go together: an inventory backfill runs as one shard (omit shards)',
    path: ['shards'],
  })
  .refine((p) => p.inventory === undefined || (p.startAfter === undefined && p.endBefore === undefined), {
    message: 'inventory and startAfter/endBefore do not go together: an inventory backfill reads the whole report (prefix still applies)',
    path: ['inventory'],
  });

export type BackfillPayload = z.infer<typeof BackfillPayloadSchema>;
