/**
 * The object function's work: for each record of an OSS object event, re-encrypt the object
 * if it is not encrypted as the policy demands. Every record is handled even when another
 * fails; a malformed envelope is refused before any request is sent.
 */
import { normalizeEtag } from './etag';
import { EventValidationError, parseObjectEventRecords } from './events';
import type { Logger } from './log';
import type { OssPort } from './oss/port';
import type { Policy } from './policy';
import { reencryptObject, type ObjectOutcome, type VerificationCounts } from './reencrypt';
import { objectKeyProblem } from './validation/names';

export type RecordResult =
  | ({ index: number; eventName: string } & ObjectOutcome)
  | { index: number; eventName?: string; bucket?: string; key?: string; action: 'ignored' | 'invalid'; reason: string };

export interface ObjectEventSummary {
  records: RecordResult[];
  /** Records whose failure may succeed on a retry (throttling, 5xx, network). */
  retryableFailures: number;
  /** How this invocation's re-encrypted copies were verified (each record says too, as verifiedBy). */
  verified: VerificationCounts;
}

/** Thrown after every record was handled, so FC retries the invocation (async): only for transient failures. */
export class TransientFailure extends Error {
  override readonly name = 'TransientFailure';
  constructor(readonly summary: ObjectEventSummary) {
    super(`${summary.retryableFailures} record(s) failed transiently; the invocation should be retried`);
  }
}

export interface ObjectEventDeps {
  oss: OssPort;
  policy: Policy;
  log: Logger;
  /** Resolves the configured KMS alias/ARN to a key id, when the policy names one (lazy: KMS is only loaded then). */
  resolveKeyId?: () => Promise<string | undefined>;
}

/**
 * Copies this instance wrote that did not verify, by bucket and key → the ETag of that copy.
 * A multipart copy ends with CompleteMultipartUpload, which fires the trigger again; a copy
 * that verified is simply compliant then, but one that did not would be copied again and
 * again. Recognising that event by its ETag stops the loop. Only failed copies are kept: a
 * user re-uploading identical bytes later must still be looked at. Bounded: oldest go first.
 */
const ownWrites = new Map<string, string>();
const OWN_WRITES_LIMIT = 10_000;

function rememberOwnWrite(bucket: string, key: string, etag: string): void {
  const id = `${bucket}\u0000${key}`;
  ownWrites.delete(id);
  ownWrites.set(id, normalizeEtag(etag));
  if (ownWrites.size > OWN_WRITES_LIMIT) ownWrites.delete(ownWrites.keys().next().value as string);
}

export async function handleObjectEvent(input: unknown, deps: ObjectEventDeps): Promise<ObjectEventSummary> {
  const { records } = parseObjectEventRecords(input); // throws EventValidationError naming the bad field
  const results: RecordResult[] = [];
  let resolvedKeyId: string | undefined;
  let resolved = false;
  for (const entry of records) {
    if ('error' in entry) {
      deps.log.error('invalid event record', { index: entry.index, reason: entry.error });
      results.push({ index: entry.index, action: 'invalid', reason: entry.error });
      continue;
    }
    const { index, record } = entry;
    const base = { index, eventName: record.eventName, bucket: record.bucket, key: record.key };
    const shortName = record.eventName.replace(/^ObjectCreated:/, '');
    if (!record.eventName.startsWith('ObjectCreated:') || !deps.policy.objectEvents.includes(shortName)) {
      // CopyObject events land here too: our own copies never trigger another copy.
      results.push({ ...base, action: 'ignored', reason: `event ${record.eventName} is not handled` });
      continue;
    }
    if (record.eTag && ownWrites.get(`${record.bucket}\u0000${record.key}`) === normalizeEtag(record.eTag)) {
      deps.log.error('event for our own copy that did not verify: not copying again', base);
      results.push({ ...base, action: 'ignored', reason: 'the event is for our own copy that did not verify' });
      continue;
    }
    const problem = objectKeyProblem(record.key);
    if (problem) {
      deps.log.error('invalid object key in event', { ...base, reason: problem });
      results.push({ ...base, action: 'invalid', reason: `object key ${problem}` });
      continue;
    }
    if (!resolved && deps.resolveKeyId) {
      try {
        resolvedKeyId = await deps.resolveKeyId();
        resolved = true;
      } catch (err) {
        // A key that cannot be used fails this record (and the next ones the same way) without a
        // request; only a transient KMS error is worth FC retrying the event for.
        const e = err as { code?: string; name?: string; message?: string; requestId?: string; transient?: boolean };
        const code = e.code ?? e.name ?? 'KmsError';
        deps.log.error('KMS key cannot be resolved', { ...base, error: { code, message: e.message } });
        results.push({
          index,
          eventName: record.eventName,
          bucket: record.bucket,
          key: record.key,
          action: 'failed',
          reason: code,
          bytes: 0,
          durationMs: 0,
          requestIds: [],
          error: { code, message: e.message ?? String(err), ...(e.requestId ? { requestId: e.requestId } : {}) },
          retryable: e.transient === true,
        });
        continue;
      }
    }
    const outcome = await reencryptObject(
      deps.oss,
      deps.policy,
      deps.log,
      { bucket: record.bucket, key: record.key },
      {
        tryDecodedKey: true,
        ...(resolvedKeyId ? { resolvedKeyId } : {}),
      },
    );
    if (outcome.action === 'failed' && outcome.writtenEtag) rememberOwnWrite(outcome.bucket, outcome.key, outcome.writtenEtag);
    results.push({ index, eventName: record.eventName, ...outcome });
  }
  const verified: VerificationCounts = { answer: 0, head: 0, unsampled: 0 };
  for (const r of results) if (r.action === 'reencrypted' && r.verifiedBy) verified[r.verifiedBy]++;
  const summary: ObjectEventSummary = {
    records: results,
    retryableFailures: results.filter((r) => r.action === 'failed' && 'retryable' in r && r.retryable).length,
    verified,
  };
  if (summary.retryableFailures > 0) throw new TransientFailure(summary);
  return summary;
}

export { EventValidationError };
