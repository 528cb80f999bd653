/**
 * The local stack: OSS- and KMS-compatible servers on loopback and, unless enforcement is
 * off, the bundled functions running in the FC-like runtime, fed the OSS server's events
 * through the same trigger filters s.yaml declares.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { bucketTriggerMatches, objectTriggerMatches } from '../shared/triggers';
import { startKmsServer, type KmsServer } from './kms/server';
import { startOssServer, type OssServer } from './oss/server';
import { createRuntime, type FunctionRuntime } from './runtime';

export interface LocalStackOptions {
  ossPort?: number;
  kmsPort?: number;
  region: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Directory for buckets, objects and metadata; undefined keeps everything in memory. */
  dataDir?: string;
  /** Run the functions on the stack's events (default true). */
  enforce?: boolean;
  /** Where the built bundles are (default: dist/functions beside the running CLI bundle). */
  functionsDir?: string;
  /** Policy variables for the functions (SSE_ALGORITHM, KMS_KEY_ID, COMPLIANCE, …). */
  functionEnv?: Record<string, string>;
  /** Seconds before a function invocation is cut off (FC's timeout). */
  functionTimeoutSeconds?: number;
  /** Retries of failed async invocations (FC's defaults unless given; tests shorten the waits). */
  asyncRetry?: { maxAttempts: number; baseDelayMs: number };
  log?: (line: string) => void;
}

/** Which triggers deliver; the demo pauses one to show the other at work. */
export interface Triggers {
  object: boolean;
  bucket: boolean;
}

export interface LocalStack {
  oss: OssServer;
  kms: KmsServer;
  runtime?: FunctionRuntime;
  triggers: Triggers;
  /** Resolves when every event delivered so far has been handled. */
  idle(): Promise<void>;
  /** The one JSON line `oss-sse local` prints once every server listens (DESIGN.md contract). */
  readyLine(): string;
  close(): Promise<void>;
}

export const FUNCTION_NAMES = ['bucket-encryption', 'object-encryption'] as const;

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const credentials = { [options.accessKeyId]: options.accessKeySecret };
  const kms = await startKmsServer({ port: options.kmsPort ?? 0, region: options.region, credentials, log: options.log });
  const oss = await startOssServer({
    port: options.ossPort ?? 0,
    region: options.region,
    credentials,
    storage: options.dataDir === undefined ? { kind: 'memory' } : { kind: 'disk', dir: options.dataDir },
    log: options.log,
    kms: kms.keys,
  });
  const triggers: Triggers = { object: true, bucket: true };
  let runtime: FunctionRuntime | undefined;
  if (options.enforce ?? true) {
    const functionsDir = options.functionsDir ?? join(__dirname, '..', 'functions');
    // Like the role FC assumes for the functions: short-lived credentials with an STS token.
    const securityToken = `local-sts-${randomBytes(16).toString('hex')}`;
    const rt = createRuntime({
      functions: FUNCTION_NAMES.map((name) => ({
        name,
        bundlePath: join(functionsDir, name, 'index.js'),
        env: { ...options.functionEnv, OSS_ENDPOINT: oss.url, KMS_ENDPOINT: kms.url },
        timeoutSeconds: options.functionTimeoutSeconds ?? 60,
      })),
      region: options.region,
      accountId: oss.events.accountId,
      credentials: () => ({ accessKeyId: options.accessKeyId, accessKeySecret: options.accessKeySecret, securityToken }),
      ...(options.log ? { log: options.log } : {}),
      ...(options.asyncRetry ? { asyncRetry: options.asyncRetry } : {}),
    });
    oss.events.on('object', (event) => {
      const records = event.events.filter((r) => objectTriggerMatches(r.eventName));
      if (triggers.object && records.length > 0) void rt.invoke('object-encryption', { events: records }, { async: true });
    });
    oss.events.on('bucket', (event) => {
      if (triggers.bucket && bucketTriggerMatches(event)) void rt.invoke('bucket-encryption', event, { async: true });
    });
    runtime = rt;
  }
  return {
    oss,
    kms,
    ...(runtime ? { runtime } : {}),
    triggers,
    idle: async () => {
      await runtime?.idle();
    },
    readyLine: () =>
      JSON.stringify({
        ready: true,
        oss: oss.url,
        kms: kms.url,
        region: options.region,
        accessKeyId: options.accessKeyId,
        accessKeySecret: options.accessKeySecret,
      }),
    close: async () => {
      await runtime?.close();
      await Promise.all([oss.close(), kms.close()]);
    },
  };
}
