/** Object function: OSS trigger or EventBridge object events → re-encrypt what is not encrypted as the policy demands. */
import { decodeEvent, EventValidationError, isPing, pingAnswer } from '../../shared/events';
import { functionSetup, type FcContext } from '../../shared/fc';
import { handleObjectEvent } from '../../shared/object-encryption';

// Cold start: an invalid configuration fails here, naming the variable.
const setup = functionSetup(process.env);
// Aliases and ARNs must be resolved to the key id OSS reports; a bare key id needs no KMS call.
const keyNeedsResolving = /^(alias\/|acs:kms:)/.test(setup.policy.target.keyId ?? '');

export async function handler(event: Buffer, context: FcContext) {
  if (isPing(event)) return pingAnswer(context.function.name, setup.config);
  const deps = setup.deps(context);
  try {
    return await handleObjectEvent(decodeEvent(event), { ...deps, ...(keyNeedsResolving ? { resolveKeyId: deps.resolveKmsKey } : {}) });
  } catch (err) {
    // A malformed event will not get better on a retry: report it instead of throwing.
    if (!(err instanceof EventValidationError)) throw err;
    deps.log.error('invalid event', { error: err.message });
    return { error: 'InvalidEvent', message: err.message };
  }
}
