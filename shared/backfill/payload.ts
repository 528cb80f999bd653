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
    /** Set by the function itself: the job, the shard and the continuation generation. */
    jobId: z
      .string()
      .regex(/^[a-z0-9-]{8,64}$/)
      .optional(),
    shard: z.int().min(0).max(255).optional(),
    generation: z.int().min(0).optional(),
  })
  .refine((p) => (p.jobId === undefined) === (p.shard === undefined), { message: 'jobId and shard go together', path: ['shard'] });

export type BackfillPayload = z.infer<typeof BackfillPayloadSchema>;
