/** Bucket function: bucket created, encryption rule changed, or invoked by hand → apply the default encryption policy. */
import { handleBucketEvent } from '../../shared/bucket-encryption';
import { decodeEvent, EventValidationError, isPing, pingAnswer } from '../../shared/events';
import { functionSetup, type FcContext } from '../../shared/fc';

// Cold start: an invalid configuration fails here, naming the variable.
const setup = functionSetup(process.env);

export async function handler(event: Buffer, context: FcContext) {
  if (isPing(event)) return pingAnswer(context.function.name, setup.config);
  const deps = setup.deps(context);
  try {
    return await handleBucketEvent(decodeEvent(event), deps);
  } catch (err) {
    if (!(err instanceof EventValidationError)) throw err;
    deps.log.error('invalid event', { error: err.message });
    return { error: 'InvalidEvent', message: err.message };
  }
}
