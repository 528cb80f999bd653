/**
 * What a Function Compute handler gets and what every oss-sse function
 * builds from it: validated configuration (once, at cold start), the OSS client, a
 * scrubbing logger, and the invocation's deadline.
 * See docs/oss-behaviour.md#function-compute-runtime.
 */
import { checkSseKey, createKmsPort, type KmsPort } from './kms';
import type { Credentials } from './signing';
import { createLogger, type Logger } from './log';
import { OssHttpClient } from './oss/http-client';
import { policyFromConfig, type Policy } from './policy';
import { loadConfig, type Config } from './validation/config';

export interface FcContext {
  requestId: string;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  region: string;
  accountId?: string;
  function: { name: string; handler?: string; memory?: number; timeout: number };
}

export interface InvocationDeps {
  config: Config;
  policy: Policy;
  oss: OssHttpClient;
  log: Logger;
  /** Epoch ms by which the invocation must have finished its work (timeout minus a safety margin). */
  deadline: number;
  context: FcContext;
  /**
   * Validates the policy's KMS key with DescribeKey (exists, Enabled, ENCRYPT/DECRYPT,
   * symmetric, SM4 when asked) and returns its key id; undefined when the policy names no
   * key. Throws KmsKeyError for a key that cannot be used.
   */
  resolveKmsKey(): Promise<string | undefined>;
}

export class KmsKeyError extends Error {
  override readonly name = 'KmsKeyError';
  readonly code = 'InvalidKmsKey';
}

/** How long a successful key check is trusted before DescribeKey is asked again. */
const KEY_CHECK_TTL_MS = 5 * 60_000;

/**
 * Leave this much of the function's timeout for saving state and reporting: 10% (at least
 * 2 s, at most 30 s), but never more than half, so every invocation gets time to make progress.
 */
export function safetyMarginMs(timeoutSeconds: number): number {
  return Math.min(timeoutSeconds * 500, Math.min(30_000, Math.max(2_000, timeoutSeconds * 100)));
}

/**
 * Validates the configuration now — a bad value fails the cold start, naming the variable —
 * and returns a factory for per-invocation dependencies. The OSS client's keep-alive
 * connections are shared by the invocations of one instance; credentials are read per
 * request from the latest context because FC rotates the role's STS token.
 */
export function functionSetup(env: Record<string, string | undefined>) {
  const config = loadConfig(env);
  const policy = policyFromConfig(config);
  let credentials: Credentials | undefined;
  const clients = new Map<string, OssHttpClient>();
  let kms: KmsPort | undefined;
  let keyCheck: { at: number; keyId: Promise<string | undefined> } | undefined;

  const resolveKmsKey = (region: string): Promise<string | undefined> => {
    const keyRef = policy.target.algorithm === 'KMS' ? policy.target.keyId : undefined;
    if (keyRef === undefined) return Promise.resolve(undefined);
    if (keyCheck && Date.now() - keyCheck.at < KEY_CHECK_TTL_MS) return keyCheck.keyId;
    kms ??= createKmsPort({
      region,
      ...(config.KMS_ENDPOINT ? { endpoint: config.KMS_ENDPOINT } : {}),
      credentials: () => credentials as Credentials,
    });
    const port = kms;
    const keyId = (async () => {
      const check = await checkSseKey(port, keyRef, policy.target.dataEncryption ? { dataEncryption: policy.target.dataEncryption } : {});
      if (!check.ok) throw new KmsKeyError(`KMS_KEY_ID ${keyRef} cannot be used for SSE-KMS: ${check.message}`);
      return check.keyId;
    })();
    keyCheck = { at: Date.now(), keyId };
    // Only a good answer is cached; a failure is asked again next time.
    keyId.catch(() => {
      if (keyCheck?.keyId === keyId) keyCheck = undefined;
    });
    return keyId;
  };

  return {
    config,
    policy,
    deps(context: FcContext, startedAt = Date.now()): InvocationDeps {
      credentials = context.credentials;
      const deadline = startedAt + context.function.timeout * 1000 - safetyMarginMs(context.function.timeout);
      let oss = clients.get(context.region);
      if (!oss) {
        oss = new OssHttpClient({
          ...(config.OSS_ENDPOINT ? { endpoint: config.OSS_ENDPOINT } : {}),
          region: context.region,
          internal: true,
          credentials: () => credentials as Credentials,
        });
        clients.set(context.region, oss);
      }
      const log = createLogger({
        secrets: () => [credentials?.accessKeySecret, credentials?.securityToken, credentials?.accessKeyId],
        base: { requestId: context.requestId, function: context.function.name },
      });
      // Each invocation's retries stop at its own deadline (an instance may serve several at once).
      return {
        config,
        policy,
        oss: oss.withDeadline(deadline),
        log,
        deadline,
        context,
        resolveKmsKey: () => resolveKmsKey(context.region),
      };
    },
  };
}
