/** Backfill function: invoked by hand (or by itself to continue) → re-encrypt a bucket's existing objects, sharded and resumable. */
import { backfillInvocation } from '../../shared/backfill/invocation';
import { isPing, pingAnswer } from '../../shared/events/ping';
import { functionSetup, type FcContext } from '../../shared/fc';
import { createFcInvoker } from '../../shared/fc-invoke';

// Cold start: an invalid configuration fails here, naming the variable.
const setup = functionSetup(process.env);
const stateBucket = setup.config.STATE_BUCKET;
if (!stateBucket) throw new Error('Invalid configuration: STATE_BUCKET must name the bucket where backfill jobs keep their state');
const state = { bucket: stateBucket, prefix: setup.config.STATE_PREFIX };

export async function handler(event: Buffer, context: FcContext) {
  if (isPing(event)) return pingAnswer(context.function.name, setup.config);
  const { oss, log, deadline, resolveKmsKey } = setup.deps(context);
  const invoker = createFcInvoker({
    ...(setup.config.FC_ENDPOINT ? { endpoint: setup.config.FC_ENDPOINT } : {}),
    region: context.region,
    accountId: context.accountId ?? '',
    credentials: () => context.credentials,
    internal: true,
  });
  return backfillInvocation(event, {
    oss,
    policy: setup.policy,
    log,
    state,
    deadline,
    resolveKmsKey,
    defaultConcurrency: setup.config.BACKFILL_CONCURRENCY,
    invokeSelf: async (next) => void (await invoker.invoke(context.function.name, next, { async: true })),
    requestCount: () => oss.requestCount,
  });
}
