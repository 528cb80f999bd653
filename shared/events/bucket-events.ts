import * as z from 'zod';
import { BucketNameSchema, isValidBucketName } from '../validation/names';
import { decodeEvent, EventValidationError } from '../validation/event';
import { describeFields, describeValue, formatPath, formatZodIssues, truncate } from '../validation/issues';
import { CloudEventSchema } from './eventbridge';

/**
 * Events for the bucket-encryption function: EventBridge
 * `oss:BucketCreated:PutBucket`, ActionTrail API-call / console-operation events, and the
 * manual payloads `{ "bucket": "name" }` and `{ "allBuckets": true }`.
 * See docs/oss-behaviour.md#bucket-creation-events.
 */

export const BUCKET_CREATED_EVENT_TYPE = 'oss:BucketCreated:PutBucket';
/** `acs.oss:ActionTrail:ApiCall`, `oss:ActionTrail:ConsoleOperation`, …: the service prefix varies. */
export const ACTION_TRAIL_EVENT_TYPE_RE = /:ActionTrail:(?:ApiCall|ConsoleOperation)$/;
/** The ActionTrail calls the bucket function is subscribed to. */
export const BUCKET_ACTION_TRAIL_EVENT_NAMES = ['PutBucket', 'PutBucketEncryption', 'DeleteBucketEncryption'] as const;

/** Logged only: a wrong type here must not stop a bucket from being encrypted. */
const informational = () => z.string().optional().catch(undefined);

// The data schema of oss:BucketCreated:PutBucket is UNCONFIRMED (no document or test shows one):
// accept anything, even no data. See docs/oss-behaviour.md#bucket-creation-events.
export const BucketCreatedCloudEventSchema = CloudEventSchema(z.unknown().optional()).extend({
  type: z.literal(BUCKET_CREATED_EVENT_TYPE),
});
export type BucketCreatedCloudEvent = z.infer<typeof BucketCreatedCloudEventSchema>;

export const ActionTrailUserIdentitySchema = z.looseObject({
  accountId: informational(),
  principalId: informational(),
  type: informational(),
  userName: informational(),
  // Listed so its presence is documented; never copied into results or messages.
  accessKeyId: informational(),
});

export const ActionTrailRecordSchema = z.looseObject({
  eventId: informational(),
  // Kept open: the rule may route other bucket calls here ('other-api-call').
  eventName: z.string().min(1),
  /** `<bucket>.oss-<region>.aliyuncs.com` for OSS bucket calls. */
  eventSource: z.string().min(1),
  eventType: informational(),
  eventTime: informational(),
  acsRegion: z.string().min(1),
  requestId: informational(),
  errorCode: informational(),
  // Kept loose so a malformed entry is reported by the bucket-name search, which names it.
  referencedResources: z.record(z.string(), z.unknown()).optional(),
  requestParameters: z.record(z.string(), z.unknown()).optional(),
  userIdentity: ActionTrailUserIdentitySchema,
});
export type ActionTrailRecord = z.infer<typeof ActionTrailRecordSchema>;

export const ActionTrailCloudEventSchema = CloudEventSchema(ActionTrailRecordSchema).extend({
  type: z.string().regex(ACTION_TRAIL_EVENT_TYPE_RE, { error: 'must end with :ActionTrail:ApiCall or :ActionTrail:ConsoleOperation' }),
});
export type ActionTrailCloudEvent = z.infer<typeof ActionTrailCloudEventSchema>;

export const ManualBucketPayloadSchema = z.looseObject({ bucket: BucketNameSchema });
export type ManualBucketPayload = z.infer<typeof ManualBucketPayloadSchema>;

export const AllBucketsPayloadSchema = z.looseObject({ allBuckets: z.literal(true) });
export type AllBucketsPayload = z.infer<typeof AllBucketsPayloadSchema>;

export type BucketTrigger = 'created' | 'encryption-changed' | 'manual' | 'other-api-call';

/** Who caused the event, for logs. Never carries access key ids or other credentials. */
export interface BucketEventActor {
  principalId?: string;
  userName?: string;
  type?: string;
  accountId?: string;
}

export type BucketEvent =
  { kind: 'bucket'; bucket: string; trigger: BucketTrigger; eventName?: string; actor?: BucketEventActor } | { kind: 'all-buckets' };

const PARSE_OPTIONS = { reportInput: true } as const;
const ENVELOPE_FIELDS = CloudEventSchema(z.unknown().optional());
const ACTOR_FIELDS = ['principalId', 'userName', 'type', 'accountId'] as const;
const MAX_ACTOR_CHARS = 256;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own-property navigation that never throws and never walks the prototype chain. */
function dig(value: unknown, path: readonly (string | number)[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function triggerFor(eventName: string): BucketTrigger {
  if (eventName === 'PutBucket') return 'created';
  if (eventName === 'PutBucketEncryption' || eventName === 'DeleteBucketEncryption') return 'encryption-changed';
  return 'other-api-call';
}

/** Whitelist, not blacklist: only these fields can ever leave the event. */
function actorOf(userIdentity: unknown): BucketEventActor | undefined {
  if (!isObject(userIdentity)) return undefined;
  const actor: BucketEventActor = {};
  for (const f of ACTOR_FIELDS) {
    const v = Object.hasOwn(userIdentity, f) ? userIdentity[f] : undefined;
    if (typeof v === 'string' && v !== '') actor[f] = truncate(v, MAX_ACTOR_CHARS);
  }
  return Object.keys(actor).length > 0 ? actor : undefined;
}

// Linear: labels exclude '.', so no backtracking blow-up on long input.
const EVENT_SOURCE_RE = /^([^.]+)\.oss-[a-z0-9-]+(?:\.[a-z0-9-]+)*\.aliyuncs\.com$/i;
const SUBJECT_RE = /^acs:oss:[^:]*:[^:]*:([^:/]+)(?:\/.*)?$/s;

interface Lookup {
  where: string;
  /** The raw value found there (or a string derived from it). */
  value: unknown;
  /** For derived lookups: the bucket-shaped part, or why there is none. */
  derive?: (s: string) => string | { notLike: string };
}

function bucketLookups(data: unknown, subject: unknown): Lookup[] {
  const inData = (...path: (string | number)[]) => ({ where: formatPath(['data', ...path]), value: dig(data, path) });
  return [
    inData('referencedResources', 'ACS::OSS::Bucket', 0),
    inData('requestParameters', 'BucketName'),
    inData('requestParameters', 'bucketName'),
    inData('oss', 'bucket', 'name'),
    {
      ...inData('eventSource'),
      derive: (s) => EVENT_SOURCE_RE.exec(s)?.[1] ?? { notLike: '<bucket>.oss-<region>….aliyuncs.com' },
    },
    {
      where: 'subject',
      value: subject,
      derive: (s) => SUBJECT_RE.exec(s)?.[1] ?? { notLike: 'acs:oss:<region>:<account>:<bucket>' },
    },
  ];
}

/** The first lookup that yields a valid bucket name wins; otherwise the error lists every one. */
function findBucket(data: unknown, subject: unknown): string {
  const tried: string[] = [];
  for (const { where, value, derive } of bucketLookups(data, subject)) {
    if (value === undefined) {
      tried.push(`${where}: absent`);
      continue;
    }
    if (typeof value !== 'string') {
      tried.push(`${where}: not a string (${describeValue(value)})`);
      continue;
    }
    const shown = JSON.stringify(truncate(value, 80));
    const name = derive ? derive(value) : value;
    if (typeof name !== 'string') {
      tried.push(`${where}: ${shown} does not look like ${name.notLike}`);
      continue;
    }
    if (isValidBucketName(name)) return name;
    tried.push(`${where}: ${derive ? `${shown} gives ${JSON.stringify(truncate(name, 80))}, which` : shown} is not a valid bucket name`);
  }
  throw new EventValidationError('no valid bucket name in the event; looked at', tried);
}

function parseCloudEvent(event: Record<string, unknown>): BucketEvent {
  const envelope = ENVELOPE_FIELDS.safeParse(event, PARSE_OPTIONS);
  if (!envelope.success) throw new EventValidationError('malformed EventBridge bucket event', formatZodIssues(envelope.error.issues));
  const { type, subject, data } = envelope.data;

  if (type === BUCKET_CREATED_EVENT_TYPE) {
    const actor = actorOf(dig(data, ['userIdentity']));
    return { kind: 'bucket', bucket: findBucket(data, subject), trigger: 'created', eventName: 'PutBucket', ...(actor ? { actor } : {}) };
  }
  if (ACTION_TRAIL_EVENT_TYPE_RE.test(type)) {
    const record = ActionTrailRecordSchema.safeParse(data, PARSE_OPTIONS);
    if (!record.success) throw new EventValidationError('malformed ActionTrail event', formatZodIssues(record.error.issues, ['data']));
    const actor = actorOf(record.data.userIdentity);
    return {
      kind: 'bucket',
      bucket: findBucket(record.data, subject),
      trigger: triggerFor(record.data.eventName),
      eventName: record.data.eventName,
      ...(actor ? { actor } : {}),
    };
  }
  throw new EventValidationError('unsupported EventBridge event for the bucket function', [
    `type: expected ${JSON.stringify(BUCKET_CREATED_EVENT_TYPE)} or one ending in :ActionTrail:ApiCall / :ActionTrail:ConsoleOperation, got ${describeValue(type)}`,
  ]);
}

const SHAPES = 'an EventBridge bucket event (CloudEvent), {"bucket":"<name>"} or {"allBuckets":true}';

/**
 * Any event the bucket-encryption function accepts → which bucket(s) to enforce and why.
 * Accepts a Buffer, a JSON string or a parsed value. Throws EventValidationError, naming
 * the field (or, when no bucket name is found, every place it looked and what was there).
 */
export function parseBucketEvent(input: unknown): BucketEvent {
  const event = decodeEvent(input);
  if (!isObject(event)) throw new EventValidationError('not a bucket event', [`event: expected ${SHAPES}, got ${describeValue(event)}`]);

  if (Object.hasOwn(event, 'specversion') || Object.hasOwn(event, 'type')) return parseCloudEvent(event);

  const hasAll = Object.hasOwn(event, 'allBuckets');
  const hasBucket = Object.hasOwn(event, 'bucket');
  if (hasAll && hasBucket)
    throw new EventValidationError('ambiguous manual payload', ['event: give either "bucket" or "allBuckets", not both']);
  if (hasAll) {
    const r = AllBucketsPayloadSchema.safeParse(event, PARSE_OPTIONS);
    if (!r.success) throw new EventValidationError('invalid manual payload', formatZodIssues(r.error.issues));
    return { kind: 'all-buckets' };
  }
  if (hasBucket) {
    const r = ManualBucketPayloadSchema.safeParse(event, PARSE_OPTIONS);
    if (!r.success) throw new EventValidationError('invalid manual payload', formatZodIssues(r.error.issues));
    return { kind: 'bucket', bucket: r.data.bucket, trigger: 'manual' };
  }
  throw new EventValidationError('not a bucket event', [`event: expected ${SHAPES}; found ${describeFields(event)}`]);
}
