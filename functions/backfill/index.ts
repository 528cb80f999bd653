/** Backfill function: invoked by hand (or by itself to continue) → re-encrypt a bucket's existing objects, sharded and resumable. */
import { InventoryError } from '../../shared/backfill/inventory';
import { handleBackfill } from '../../shared/backfill/job';
import { BackfillPayloadSchema, type BackfillPayload } from '../../shared/backfill/payload';
import { decodeEvent, EventValidationError, formatZodIssues } from '../../shared/events';
import { functionSetup, type FcContext, type InvocationDeps } from '../../shared/fc';
import { createFcInvoker } from '../../shared/fc-invoke';

// Cold start: an invalid configuration fails here, naming the variable.
const setup = functionSetup(process.env);
const stateBucket = setup.config.STATE_BUCKET;
if (!stateBucket) throw new Error('Invalid configuration: STATE_BUCKET must name the bucket where backfill jobs keep their state');
const state = { bucket: stateBucket, prefix: setup.config.STATE_PREFIX };

export async function handler(event: Buffer, context: FcContext) {
  const deps = setup.deps(context);
  let input: unknown;
  try {
    input = decodeEvent(event);
  } catch (err) {
    if (!(err instanceof EventValidationError)) throw err;
    return { error: 'InvalidPayload', message: err.message };
  }
  const parsed = BackfillPayloadSchema.safeParse(input);
  if (!parsed.success) {
    // A bad payload will not get better on a retry: report it instead of throwing.
    const message = `invalid backfill payload: ${formatZodIssues(parsed.error.issues).join('; ')}`;
    deps.log.error('invalid payload', { error: message });
    return { error: 'InvalidPayload', message };
  }
  const payload = { ...parsed.data, concurrency: parsed.data.concurrency ?? setup.config.BACKFILL_CONCURRENCY };
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
    // A missing or malformed inventory report will not get better on a retry.
    if (!(err instanceof InventoryError)) throw err;
    deps.log.error('inventory report cannot be used', { error: err.message });
    return { error: 'InvalidInventory', message: err.message };
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
