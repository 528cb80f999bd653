/**
 * One invocation of the backfill function, FC aside: parse the payload, check the KMS key,
 * run the job. What no retry can fix is answered, not thrown — FC retries what is thrown.
 */
import { OssRequestError } from '../oss/port';
import { isTransientOssError } from '../retry';
import { InventoryError } from './inventory';
import { handleBackfill, type BackfillResult, type JobDeps } from './job';
import { parseBackfillPayload } from './payload';
import { BackfillStateError } from './records';

export type BackfillAnswer = BackfillResult | { error: string; message: string; requestId?: string };

export interface BackfillInvocationDeps extends Omit<JobDeps, 'resolvedKeyId'> {
  /** The policy's KMS key id (resolved from an alias), or undefined when SSE is not KMS. */
  resolveKmsKey(): Promise<string | undefined>;
  /** BACKFILL_CONCURRENCY: for a payload that does not say; undefined: what fills the job's QPS cap. */
  defaultConcurrency: number | undefined;
}

export async function backfillInvocation(event: unknown, deps: BackfillInvocationDeps): Promise<BackfillAnswer> {
  const { log } = deps;
  const parsed = parseBackfillPayload(event);
  if ('error' in parsed) {
    log.error('invalid payload', { error: parsed.error });
    return { error: 'InvalidPayload', message: parsed.error };
  }
  let resolvedKeyId: string | undefined;
  try {
    resolvedKeyId = await deps.resolveKmsKey();
  } catch (err) {
    // A key that cannot be used is a configuration problem.
    const message = err instanceof Error ? err.message : String(err);
    log.error('KMS key cannot be used', { error: message });
    return { error: 'InvalidKmsKey', message };
  }
  try {
    const concurrency = parsed.payload.concurrency ?? deps.defaultConcurrency;
    const payload = { ...parsed.payload, ...(concurrency !== undefined ? { concurrency } : {}) };
    return await handleBackfill(payload, { ...deps, ...(resolvedKeyId ? { resolvedKeyId } : {}) });
  } catch (err) {
    // A missing or malformed inventory report, an unknown bucket, a denied request.
    // A state object that does not parse reads the same on a retry: a person must look at it.
    if (err instanceof BackfillStateError) {
      log.error('backfill job state cannot be read', { error: err.message });
      return { error: 'InvalidJobState', message: err.message };
    }
    if (err instanceof InventoryError) {
      log.error('inventory report cannot be used', { error: err.message });
      return { error: 'InvalidInventory', message: err.message };
    }
    if (err instanceof OssRequestError && !isTransientOssError(err)) {
      log.error('backfill refused by OSS', { code: err.code, requestId: err.requestId, error: err.message });
      return { error: err.code, message: err.message, ...(err.requestId ? { requestId: err.requestId } : {}) };
    }
    throw err;
  }
}
