/**
 * The local stack: OSS- and KMS-compatible servers on loopback and, unless enforcement is
 * off, the bundled functions running in the FC-like runtime, fed the OSS server's events
 * through the same trigger filters s.yaml declares.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { bucketTriggerMatches, objectTriggerMatches } from '../shared/triggers';
import { startFcServer, type FcServer } from './fc/server';
import { startKmsServer, type KmsServer } from './kms/server';
import { validateFaultOptions, type FaultOptions } from './oss/faults';
import { startOssServer, type OssServer } from './oss/server';
import { createRuntime, type FunctionRuntime } from './runtime';

export interface LocalStackOptions {
  ossPort?: number;
  kmsPort?: number;
  fcPort?: number;
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
  /** Injected latency, faults and QPS limit of the OSS server (`oss-sse local --latency-ms/--fault-rate/--qps-limit`). */
  ossFaults?: FaultOptions;
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
  /** The FC invoke endpoint for the bundled functions (only when they run). */
  fc?: FcServer;
  runtime?: FunctionRuntime;
  triggers: Triggers;
  /** Resolves when every event delivered so far has been handled. */
  idle(): Promise<void>;
  /** The one JSON line `oss-sse local` prints once every server listens (DESIGN.md contract). */
  readyLine(): string;
  close(): Promise<void>;
}

export const FUNCTION_NAMES = ['bucket-encryption', 'object-encryption', 'backfill'] as const;
/** The names s.yaml deploys them under: the local FC endpoint answers to these. */
export const deployedName = (name: (typeof FUNCTION_NAMES)[number]): string => `oss-sse-${name}`;
/** Where the local backfill keeps job state. */
export const LOCAL_STATE_BUCKET = 'oss-sse-state';

/** `oss-sse-backfill` → `backfill`; other names are passed through (and are not found). */
const localName = (deployed: string): string => deployed.replace(/^oss-sse-/, '');

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const credentials = { [options.accessKeyId]: options.accessKeySecret };
  // Bad fault options fail before any server listens (none is left running).
  if (options.ossFaults) validateFaultOptions(options.ossFaults);
  const kms = await startKmsServer({ port: options.kmsPort ?? 0, region: options.region, credentials, log: options.log });
  const oss = await startOssServer({
    port: options.ossPort ?? 0,
    region: options.region,
    credentials,
    storage: options.dataDir === undefined ? { kind: 'memory' } : { kind: 'disk', dir: options.dataDir },
    log: options.log,
    kms: kms.keys,
    ...(options.ossFaults ? { faults: options.ossFaults } : {}),
  });
  const triggers: Triggers = { object: true, bucket: true };
  let runtime: FunctionRuntime | undefined;
  let fc: FcServer | undefined;
  if (options.enforce ?? true) {
    // The FC endpoint is up before the functions start, so they can be told where it is.
    const pendingRuntime: { current?: FunctionRuntime } = {};
    fc = await startFcServer({
      port: options.fcPort ?? 0,
      region: options.region,
      accountId: oss.events.accountId,
      credentials,
      runtime: {
        has: (name) => pendingRuntime.current?.has(localName(name)) ?? false,
        invoke: (name, event, opts) => {
          const rt = pendingRuntime.current as FunctionRuntime;
          return opts.async
            ? rt.invoke(localName(name), event, { async: true, requestId: opts.requestId })
            : rt.invoke(localName(name), event, { requestId: opts.requestId });
        },
      },
      ...(options.log ? { log: options.log } : {}),
    });
    if (!oss.store.hasBucket(LOCAL_STATE_BUCKET)) {
      await oss.store.createBucket({
        name: LOCAL_STATE_BUCKET,
        region: options.region,
        creationDate: Date.now(),
        storageClass: 'Standard',
        acl: 'private',
        owner: oss.events.accountId,
        encryption: { algorithm: 'AES256' },
      });
    }
    const functionsDir = options.functionsDir ?? join(__dirname, '..', 'functions');
    // Like the role FC assumes for the functions: short-lived credentials with an STS token.
    const securityToken = `local-sts-${randomBytes(16).toString('hex')}`;
    const rt = createRuntime({
      functions: FUNCTION_NAMES.map((name) => ({
        name,
        bundlePath: join(functionsDir, name, 'index.js'),
        env: {
          STATE_BUCKET: LOCAL_STATE_BUCKET,
          ...options.functionEnv,
          OSS_ENDPOINT: oss.url,
          KMS_ENDPOINT: kms.url,
          FC_ENDPOINT: (fc as FcServer).url,
        },
        timeoutSeconds: options.functionTimeoutSeconds ?? (name === 'backfill' ? 600 : 60),
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
    pendingRuntime.current = rt;
  }
  return {
    oss,
    kms,
    ...(fc ? { fc } : {}),
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
        ...(fc ? { fc: fc.url } : {}),
        region: options.region,
        // What FC clients need besides the endpoint: it names the account (fc2's x-fc-account-id).
        accountId: oss.events.accountId,
        accessKeyId: options.accessKeyId,
        accessKeySecret: options.accessKeySecret,
      }),
    close: async () => {
      await fc?.close();
      await runtime?.close();
      await Promise.all([oss.close(), kms.close()]);
    },
  };
}
