import * as z from 'zod';
import { objectKeyProblem } from '../validation/names';
import { normalizeEtag } from '../etag';
import { decodeEvent, EventValidationError } from '../validation/event';
import { describeFields, describeValue, formatPath, formatZodIssues } from '../validation/issues';
import { CloudEventSchema, OssObjectEventTypeSchema } from './eventbridge';
import { OssEventRecordSchema, stripOssPrefix } from './oss-trigger';

/** What the object function needs from one object event, whichever way it arrived. */
export interface ObjectEventRecord {
  /** Without the `oss:` prefix, e.g. `ObjectCreated:PutObject`. */
  eventName: string;
  bucket: string;
  /** Exactly as the event gave it (not URL-decoded). See docs/oss-behaviour.md#oss-trigger-events.. */
  key: string;
  /** Unquoted upper-case (normalizeEtag). */
  eTag: string;
  size: number;
  region?: string;
  requestId?: string;
  versionId?: string;
}

export type ObjectEventRecordResult = { index: number; record: ObjectEventRecord } | { index: number; error: string };

export interface ParsedObjectEventRecords {
  /** Which envelope the records came in. */
  source: 'oss-trigger' | 'eventbridge' | 'record';
  /** One entry per record, in event order; `error` is `path: problem` lines joined by `; `. */
  records: ObjectEventRecordResult[];
}

// Records are validated one at a time, so the envelopes only check their own fields.
const TriggerEnvelopeSchema = z.looseObject({ events: z.array(z.unknown()).min(1) });
const ObjectCloudEventEnvelopeSchema = CloudEventSchema(z.unknown()).extend({ type: OssObjectEventTypeSchema });

/** Issues carry their input so messages can say what was found (values are truncated). */
const PARSE_OPTIONS = { reportInput: true } as const;

interface Item {
  value: unknown;
  /** Where the record sits in the event, prefixed to every problem path. */
  path: PropertyKey[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const SHAPES = 'an OSS trigger event ({"events":[…]}), an EventBridge object event (CloudEvent) or one OSS event record';

function openEnvelope(input: unknown): { source: ParsedObjectEventRecords['source']; items: Item[] } {
  const event = decodeEvent(input);
  if (!isObject(event)) {
    throw new EventValidationError('not an OSS object event', [`event: expected ${SHAPES}, got ${describeValue(event)}`]);
  }
  if (Object.hasOwn(event, 'events')) {
    const r = TriggerEnvelopeSchema.safeParse(event, PARSE_OPTIONS);
    if (!r.success) throw new EventValidationError('malformed OSS trigger event', formatZodIssues(r.error.issues));
    return { source: 'oss-trigger', items: r.data.events.map((value, i) => ({ value, path: ['events', i] })) };
  }
  if (Object.hasOwn(event, 'specversion') || (Object.hasOwn(event, 'type') && Object.hasOwn(event, 'data'))) {
    const r = ObjectCloudEventEnvelopeSchema.safeParse(event, PARSE_OPTIONS);
    if (!r.success) throw new EventValidationError('malformed EventBridge object event', formatZodIssues(r.error.issues));
    return { source: 'eventbridge', items: [{ value: r.data.data, path: ['data'] }] };
  }
  if (Object.hasOwn(event, 'oss') || Object.hasOwn(event, 'eventSource') || Object.hasOwn(event, 'eventName')) {
    return { source: 'record', items: [{ value: event, path: [] }] };
  }
  throw new EventValidationError('not an OSS object event', [`event: expected ${SHAPES}; found ${describeFields(event)}`]);
}

function normalizeRecord(item: Item): { record: ObjectEventRecord } | { issues: string[] } {
  const r = OssEventRecordSchema.safeParse(item.value, PARSE_OPTIONS);
  if (!r.success) return { issues: formatZodIssues(r.error.issues, item.path) };
  const rec = r.data;
  const { key, eTag, size, versionId } = rec.oss.object;
  // Checked here, not in the schema, so a bad key fails only its own record.
  const keyProblem = objectKeyProblem(key);
  if (keyProblem !== undefined) {
    return { issues: [`${formatPath([...item.path, 'oss', 'object', 'key'])}: invalid object key: ${keyProblem}`] };
  }
  const requestId = rec.responseElements?.requestId;
  return {
    record: {
      eventName: stripOssPrefix(rec.eventName),
      bucket: rec.oss.bucket.name,
      key,
      eTag: normalizeEtag(eTag),
      size,
      region: rec.region,
      ...(requestId ? { requestId } : {}),
      ...(versionId ? { versionId } : {}),
    },
  };
}

type RecordOutcome = { index: number; record: ObjectEventRecord } | { index: number; issues: string[] };

function validateRecords(input: unknown): { source: ParsedObjectEventRecords['source']; outcomes: RecordOutcome[] } {
  const { source, items } = openEnvelope(input);
  return { source, outcomes: items.map((item, index) => ({ index, ...normalizeRecord(item) })) };
}

/**
 * Validates each record on its own so one bad record does not hide the others. Throws
 * EventValidationError only when the envelope itself is malformed (not an object,
 * `events` missing or empty, CloudEvent fields wrong), naming the field path.
 */
export function parseObjectEventRecords(input: unknown): ParsedObjectEventRecords {
  const { source, outcomes } = validateRecords(input);
  const records = outcomes.map((o): ObjectEventRecordResult => ('record' in o ? o : { index: o.index, error: o.issues.join('; ') }));
  return { source, records };
}

/**
 * All-or-nothing form: the normalized records, or EventValidationError listing every bad
 * record's problems. Accepts the OSS trigger event, an EventBridge object CloudEvent or a
 * bare record, as a Buffer, a JSON string or a parsed value. Handlers that act per record
 * should use parseObjectEventRecords instead.
 */
export function parseObjectEvent(input: unknown): ObjectEventRecord[] {
  const { outcomes } = validateRecords(input);
  const records: ObjectEventRecord[] = [];
  const issues: string[] = [];
  for (const o of outcomes) {
    if ('record' in o) records.push(o.record);
    else issues.push(...o.issues);
  }
  const bad = outcomes.length - records.length;
  if (bad > 0) throw new EventValidationError(`invalid OSS object event (${bad} of ${outcomes.length} records)`, issues);
  return records;
}
