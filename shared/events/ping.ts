/**
 * `{"ping": true}`: what `oss-sse doctor` sends each deployed function to prove the invoke
 * path and read the function's configuration. A ping is answered from the validated
 * configuration alone — no OSS or KMS request, no side effect — and is recognised before any
 * event schema, so it is never reported as a malformed event.
 */
import * as z from 'zod';
import { SSE_ALGORITHMS } from '../oss/port';
import { OSS_SSE_VERSION } from '../version';
import { decodeEvent } from '../validation/event';
import { COMPLIANCE_MODES, KMS_DATA_ENCRYPTIONS, type Config } from '../validation/config';

/** Exactly `{"ping": true}`: anything more is an event for the function's own schema. */
export const PingEventSchema = z.strictObject({ ping: z.literal(true) });

/** The configuration summary a function answers a ping with. */
export const PingAnswerSchema = z.strictObject({
  pong: z.literal(true),
  function: z.string(),
  version: z.string(),
  algorithm: z.enum(SSE_ALGORITHMS),
  kmsKeyId: z.string().optional(),
  dataEncryption: z.enum(KMS_DATA_ENCRYPTIONS).optional(),
  compliance: z.enum(COMPLIANCE_MODES),
});
export type PingAnswer = z.infer<typeof PingAnswerSchema>;

/** A ping fits in this many bytes; a larger event is not decoded twice to find out. */
const MAX_PING_BYTES = 1024;

/** Whether the invocation's event (bytes, text or value, as FC or a test hands it over) is a ping. */
export function isPing(event: unknown): boolean {
  const size = typeof event === 'string' ? event.length : event instanceof Uint8Array ? event.byteLength : 0;
  if (size > MAX_PING_BYTES) return false;
  let value: unknown;
  try {
    value = decodeEvent(event);
  } catch {
    return false; // not JSON: the function's own parser reports it
  }
  return PingEventSchema.safeParse(value).success;
}

/** The answer to a ping: the function's name and the policy its configuration sets. */
export function pingAnswer(functionName: string, config: Config): PingAnswer {
  return {
    pong: true,
    function: functionName,
    version: OSS_SSE_VERSION,
    algorithm: config.SSE_ALGORITHM,
    ...(config.KMS_KEY_ID ? { kmsKeyId: config.KMS_KEY_ID } : {}),
    ...(config.KMS_DATA_ENCRYPTION ? { dataEncryption: config.KMS_DATA_ENCRYPTION } : {}),
    compliance: config.COMPLIANCE,
  };
}
