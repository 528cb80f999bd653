/**
 * What fires each function: the trigger filters s.yaml declares and the local stack applies,
 * kept in one place so what runs locally is what deploys.
 */

/** OSS trigger events of the object function. Never ObjectCreated:* or CopyObject: those fire per part and for our own copies. */
export const OBJECT_TRIGGER_EVENTS = [
  'oss:ObjectCreated:PutObject',
  'oss:ObjectCreated:PostObject',
  'oss:ObjectCreated:CompleteMultipartUpload',
] as const;

/** EventBridge event types of the bucket function. */
export const BUCKET_CREATED_TYPE = 'oss:BucketCreated:PutBucket';
/** ActionTrail API calls the bucket function reacts to (creation, and drift of the rule). */
export const BUCKET_ACTION_TRAIL_EVENTS = ['PutBucket', 'PutBucketEncryption', 'DeleteBucketEncryption'] as const;

/** Whether an OSS trigger payload event name (no `oss:` prefix) matches the object function's trigger. */
export function objectTriggerMatches(eventName: string): boolean {
  return (OBJECT_TRIGGER_EVENTS as readonly string[]).includes(`oss:${eventName}`);
}

/** Whether an EventBridge event matches the bucket function's rules. */
export function bucketTriggerMatches(event: { type: string; data?: unknown }): boolean {
  if (event.type === BUCKET_CREATED_TYPE) return true;
  if (!/:ActionTrail:(ApiCall|ConsoleOperation)$/.test(event.type)) return false;
  const name = (event.data as { eventName?: unknown } | undefined)?.eventName;
  return typeof name === 'string' && (BUCKET_ACTION_TRAIL_EVENTS as readonly string[]).includes(name);
}
