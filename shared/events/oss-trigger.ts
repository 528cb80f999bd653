import * as z from 'zod';
import { BucketNameSchema } from '../validation/names';

/**
 * The OSS trigger event Function Compute hands an OSS-triggered function. Objects are loose: OSS adds fields over
 * time and a new one must not stop enforcement; the fields we rely on are required and typed.
 *
 * The object key is only required to be a non-empty string here. Whether it is a valid
 * OSS key is checked per record by parseObjectEventRecords, so one bad key fails one
 * record with a reason instead of rejecting the whole event.
 * See docs/oss-behaviour.md#oss-trigger-events.
 */

export const OssEventBucketSchema = z.looseObject({
  name: BucketNameSchema,
  arn: z.string(),
  ownerIdentity: z.string(),
  virtualBucket: z.string().optional(),
});

export const OssEventObjectSchema = z.looseObject({
  key: z.string().min(1),
  size: z.number().int().nonnegative(),
  // Negative when an overwrite shrank the object.
  deltaSize: z.number().int().optional(),
  // `""` is a non-empty string but no ETag: check what remains once normalized.
  // Empty for events that create no content (InitiateMultipartUpload, ObjectRemoved:*); the
  // object function HEADs the object anyway, so an empty ETag is not a reason to refuse a record.
  eTag: z.string(),
  objectMeta: z.looseObject({ mimeType: z.string().optional() }).optional(),
  // UNCONFIRMED: the documented event has none; used when present. See docs/oss-behaviour.md#oss-trigger-events.
  versionId: z.string().optional(),
});

export const OssEventRecordSchema = z.looseObject({
  // No `oss:` prefix in the payload (the trigger configuration uses the prefixed form).
  eventName: z.string().min(1),
  eventSource: z.literal('acs:oss'),
  // Only logged, and its exact format is not pinned beyond the template: any non-empty string.
  eventTime: z.string().min(1),
  eventVersion: z.string().min(1),
  oss: z.looseObject({
    bucket: OssEventBucketSchema,
    object: OssEventObjectSchema,
    ossSchemaVersion: z.string().optional(),
    ruleId: z.string().optional(),
  }),
  region: z.string().min(1),
  requestParameters: z.looseObject({ sourceIPAddress: z.string().optional() }).optional(),
  responseElements: z.looseObject({ requestId: z.string().optional() }).optional(),
  userIdentity: z.looseObject({ principalId: z.string().optional() }).optional(),
});
export type OssEventRecord = z.infer<typeof OssEventRecordSchema>;

export const OssTriggerEventSchema = z.looseObject({
  events: z.array(OssEventRecordSchema).min(1),
});
export type OssTriggerEvent = z.infer<typeof OssTriggerEventSchema>;

/** `oss:ObjectCreated:PutObject` → `ObjectCreated:PutObject`; already bare names unchanged. */
export function stripOssPrefix(eventName: string): string {
  return eventName.startsWith('oss:') ? eventName.slice(4) : eventName;
}
