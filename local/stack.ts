/**
 * The local stack: OSS- and KMS-compatible servers on loopback and, unless enforcement is
 * off, the bundled functions running in the FC-like runtime, fed the OSS server's events
 * through the same trigger filters s.yaml declares.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { bucketTriggerMatches, objectTriggerMatches } from '../shared/triggers';
import { startFcServer, type FcServer } from './fc/server';
import { startKmsServer, type KmsServer } from './kms/server';
import { validateFaultOptions, type FaultOptions } from './oss/faults';
import { startOssServer, type OssServer } from './oss/server';
import { createRuntime, type FunctionRuntime } from './runtime';
import { loadRamPolicy, type RamPolicy } from '../shared/ram/policy';
import { RamAuthority, type RamDenial, type StsCredentials } from './ram/authority';
import { localFunctionPolicies, parsePolicyMutations, type PolicyMutation } from './ram/function-policies';

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
  /** What a self-copy does with metadata (`oss-sse local --self-copy-metadata`; ServerSettings.selfCopyMetadata). Default copy. */
  selfCopyMetadata?: 'copy' | 'replace';
  /**
   * The RAM policy the printed access key is bound to (`oss-sse local --policy FILE`): the OSS,
   * KMS and FC servers refuse what it does not allow. Without it the key may do everything.
   */
  policy?: RamPolicy;
  /**
   * `generated` (default): each function runs with STS credentials of its own role, bound to the
   * policy deploy/ renders for it (local/ram/function-policies.ts), as in Function Compute.
   * `unrestricted`: the functions get the printed key's rights.
   */
  functionPolicies?: 'generated' | 'unrestricted';
  /**
   * Actions taken out of the generated policies, for the mutation test; defaults to the
   * OSS_SSE_RAM_WITHOUT environment variable (`<function>:<action>,…`), so that it reaches the
   * stacks the test files start.
   */
  functionPolicyMutations?: readonly PolicyMutation[];
  /** Called with every RAM refusal (also logged); OSS_SSE_RAM_DENIALS names a file each is appended to, as a JSON line. */
  onDenied?: (denial: RamDenial) => void;
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
  /** Who may do what: the printed key's policy, the functions' roles; tests issue their own STS credentials here. */
  ram: RamAuthority;
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

/** The stack's RAM authority: the printed key bound to `options.policy`, refusals reported. */
function ramAuthority(options: LocalStackOptions): RamAuthority {
  const denialsFile = process.env.OSS_SSE_RAM_DENIALS;
  const authority = new RamAuthority({
    onDenied: (denial) => {
      options.log?.(
        `RAM ${denial.service} denied ${denial.principal.type} ${denial.principal.name}: ${denial.action} on ${denial.resource} (${denial.reason})`,
      );
      options.onDenied?.(denial);
      if (denialsFile) appendFileSync(denialsFile, `${JSON.stringify(denial)}\n`);
    },
  });
  authority.addUser(options.accessKeyId, options.accessKeySecret, {
    name: 'oss-sse-local',
    ...(options.policy ? { policies: [options.policy] } : {}),
  });
  return authority;
}

/** STS credentials per function: its role bound to its generated policy (or undefined: the printed key's rights). */
function functionCredentials(
  options: LocalStackOptions,
  authority: RamAuthority,
  accountId: string,
  functionEnv: Readonly<Record<string, string>>,
): Map<string, StsCredentials> | undefined {
  if (options.functionPolicies === 'unrestricted') return undefined;
  const documents = localFunctionPolicies({
    env: functionEnv,
    accountId,
    region: options.region,
    without: options.functionPolicyMutations ?? parsePolicyMutations(process.env.OSS_SSE_RAM_WITHOUT),
  });
  const out = new Map<string, StsCredentials>();
  for (const name of FUNCTION_NAMES) {
    const doc = documents[name];
    // A mutation may leave no statement at all: the role then holds no policy (everything denied).
    const policies = doc.Statement.length > 0 ? [loadRamPolicy(doc, `the role ${deployedName(name)}`)] : [];
    out.set(name, authority.issueRoleCredentials(deployedName(name), policies));
  }
  return out;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const credentials = { [options.accessKeyId]: options.accessKeySecret };
  // Bad fault options fail before any server listens (none is left running).
  if (options.ossFaults) validateFaultOptions(options.ossFaults);
  const ram = ramAuthority(options);
  const kms = await startKmsServer({ port: options.kmsPort ?? 0, region: options.region, credentials, log: options.log, ram });
  const oss = await startOssServer({
    port: options.ossPort ?? 0,
    region: options.region,
    credentials,
    storage: options.dataDir === undefined ? { kind: 'memory' } : { kind: 'disk', dir: options.dataDir },
    log: options.log,
    kms: kms.keys,
    ...(options.ossFaults ? { faults: options.ossFaults } : {}),
    ...(options.selfCopyMetadata ? { settings: { selfCopyMetadata: options.selfCopyMetadata } } : {}),
    ram,
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
      ram,
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
    const functionEnv = { STATE_BUCKET: LOCAL_STATE_BUCKET, ...options.functionEnv };
    // Like the role FC assumes for each function: short-lived credentials with an STS token.
    const roles = functionCredentials(options, ram, oss.events.accountId, functionEnv);
    const securityToken = `local-sts-${randomBytes(16).toString('hex')}`;
    const unrestricted = { accessKeyId: options.accessKeyId, accessKeySecret: options.accessKeySecret, securityToken };
    const rt = createRuntime({
      functions: FUNCTION_NAMES.map((name) => ({
        name,
        fcName: deployedName(name),
        bundlePath: join(functionsDir, name, 'index.js'),
        env: {
          ...functionEnv,
          OSS_ENDPOINT: oss.url,
          KMS_ENDPOINT: kms.url,
          FC_ENDPOINT: (fc as FcServer).url,
        },
        timeoutSeconds: options.functionTimeoutSeconds ?? (name === 'backfill' ? 600 : 60),
      })),
      region: options.region,
      accountId: oss.events.accountId,
      credentials: (name) => roles?.get(name) ?? unrestricted,
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
    ram,
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
