/** Backfill function: invoked by hand (or by itself to continue) → re-encrypt a bucket's existing objects, sharded and resumable. */
import { InventoryError } from '../../shared/backfill/inventory';
import { handleBackfill } from '../../shared/backfill/job';
import { parseBackfillPayload, type BackfillPayload } from '../../shared/backfill/payload';
import { functionSetup, type FcContext, type InvocationDeps } from '../../shared/fc';
import { createFcInvoker } from '../../shared/fc-invoke';
import { OssRequestError } from '../../shared/oss/port';
import { isTransientOssError } from '../../shared/retry';

// Cold start: an invalid configuration fails here, naming the variable.
const setup = functionSetup(process.env);
const stateBucket = setup.config.STATE_BUCKET;
if (!stateBucket) throw new Error('Invalid configuration: STATE_BUCKET must name the bucket where backfill jobs keep their state');
const state = { bucket: stateBucket, prefix: setup.config.STATE_PREFIX };

export async function handler(event: Buffer, context: FcContext) {
  const deps = setup.deps(context);
  const parsed = parseBackfillPayload(event);
  if ('error' in parsed) {
    deps.log.error('invalid payload', { error: parsed.error });
    return { error: 'InvalidPayload', message: parsed.error };
  }
  const payload = { ...parsed.payload, concurrency: parsed.payload.concurrency ?? setup.config.BACKFILL_CONCURRENCY };
  let resolvedKeyId: string | undefined;
  try {
    resolvedKeyId = await deps.resolveKmsKey();
  } catch (err) {
    // A key that cannot be used is a configuration problem: report it, do not retry.
    const message = err instanceof Error ? err.message : String(err);
    deps.log.error('KMS key cannot be used', { error: message });
    return { error: 'InvalidKmsKey', message };
  }
  try {
    return await runJob(payload, deps, resolvedKeyId, context);
  } catch (err) {
    // A missing or malformed inventory report, an unknown bucket, a denied request: none will
    // get better on a retry, so they are answered, not thrown (FC retries what is thrown).
    if (err instanceof InventoryError) {
      deps.log.error('inventory report cannot be used', { error: err.message });
      return { error: 'InvalidInventory', message: err.message };
    }
    if (err instanceof OssRequestError && !isTransientOssError(err)) {
      deps.log.error('backfill refused by OSS', { code: err.code, requestId: err.requestId, error: err.message });
      return { error: err.code, message: err.message, ...(err.requestId ? { requestId: err.requestId } : {}) };
    }
    throw err;
  }
}

function runJob(payload: BackfillPayload, deps: InvocationDeps, resolvedKeyId: string | undefined, context: FcContext) {
  const invoker = createFcInvoker({
    ...(setup.config.FC_ENDPOINT ? { endpoint: setup.config.FC_ENDPOINT } : {}),
    region: context.region,
    accountId: context.accountId ?? '',
    credentials: () => context.credentials,
    internal: true,
  });
  return handleBackfill(payload, {
    oss: deps.oss,
    policy: setup.policy,
    log: deps.log,
    state,
    invokeSelf: async (next) => {
      await invoker.invoke(context.function.name, next, { async: true });
    },
    deadline: deps.deadline,
    ...(resolvedKeyId ? { resolvedKeyId } : {}),
    requestCount: () => deps.oss.requestCount,
  });
}
