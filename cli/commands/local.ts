/** `oss-sse local`: runs the local stack on loopback until SIGINT/SIGTERM. */
import { Command, InvalidArgumentError } from 'commander';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadRamPolicy, RamPolicyError, type RamPolicy } from '../../shared/ram/policy';
import { startLocalStack } from '../../local/stack';
import { runDemo } from '../../local/demo';
import {
  FAULT_KINDS,
  parseFaultKinds,
  validateFaultOptions,
  type FaultInjector,
  type FaultKind,
  type FaultOptions,
  type TrafficSnapshot,
} from '../../local/oss/faults';
import { CliError, EXIT } from '../environment';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535 (0 = any free port)');
  return n;
}

function milliseconds(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('must be a whole number of milliseconds ≥ 0');
  return Number(value);
}

function rate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('must be a rate between 0 and 1, e.g. 0.1');
  return n;
}

function qpsLimit(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of requests per second > 0');
  return n;
}

function selfCopyMetadata(value: string): 'copy' | 'replace' {
  if (value !== 'copy' && value !== 'replace') throw new InvalidArgumentError('must be copy or replace');
  return value;
}

function faultKinds(value: string): FaultKind[] {
  try {
    return parseFaultKinds(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function seed(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

export const DEFAULT_ACCESS_KEY_ID = 'oss-sse-local';
export const DEFAULT_ACCESS_KEY_SECRET = 'oss-sse-local-secret';

/** The functions' policy variables, passed from this process's environment to the functions it runs. */
const POLICY_VARIABLES = [
  'SSE_ALGORITHM',
  'KMS_KEY_ID',
  'KMS_DATA_ENCRYPTION',
  'COMPLIANCE',
  'BUCKET_INCLUDE',
  'BUCKET_EXCLUDE',
  'KEY_EXCLUDE_PREFIXES',
  'OVERRIDE_BUCKET_RULE',
  'MULTIPART_THRESHOLD_BYTES',
  'PART_SIZE_BYTES',
  'PART_CONCURRENCY',
  'PRESERVE_ACL',
  'DELETE_PLAINTEXT_VERSIONS',
  'OBJECT_EVENTS',
  'BUCKET_REENCRYPT_LIMIT',
  'STATE_PREFIX',
  'BACKFILL_CONCURRENCY',
];

interface LocalOptions {
  ossPort: number;
  kmsPort: number;
  fcPort: number;
  dataDir: string;
  memory?: boolean;
  accessKeyId: string;
  accessKeySecret: string;
  region: string;
  enforce: boolean;
  demo?: boolean;
  quiet?: boolean;
  latencyMs?: number;
  jitterMs?: number;
  faultRate?: number;
  faultKinds?: FaultKind[];
  faultQps503Rate?: number;
  faultMeta503Rate?: number;
  faultInternal500Rate?: number;
  faultResetRate?: number;
  faultSlowRate?: number;
  qpsLimit?: number;
  slowMs?: number;
  faultSeed?: number;
  policy?: string;
  selfCopyMetadata?: 'copy' | 'replace';
}

/** `--policy FILE`: a RAM policy document, refused (exit 2) with what is wrong in it, naming the field. */
function policyFromFile(file: string): RamPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`--policy ${file}: ${(e as Error).message}`, EXIT.usage);
  }
  try {
    return loadRamPolicy(doc, `--policy ${file}`);
  } catch (e) {
    throw new CliError(e instanceof RamPolicyError ? e.message : String(e), EXIT.usage);
  }
}

/** The OSS server's fault options from the flags; undefined when none is given (no injector at all). */
function faultOptions(opts: LocalOptions): FaultOptions | undefined {
  const kinds: Partial<Record<FaultKind, number>> = {};
  const perKind: Record<FaultKind, number | undefined> = {
    qps503: opts.faultQps503Rate,
    meta503: opts.faultMeta503Rate,
    internal500: opts.faultInternal500Rate,
    reset: opts.faultResetRate,
    slow: opts.faultSlowRate,
  };
  for (const kind of FAULT_KINDS) {
    const v = perKind[kind];
    if (v !== undefined) kinds[kind] = v;
  }
  const o: FaultOptions = {
    ...(opts.latencyMs !== undefined ? { latencyMs: opts.latencyMs } : {}),
    ...(opts.jitterMs !== undefined ? { jitterMs: opts.jitterMs } : {}),
    ...(opts.faultRate !== undefined ? { faultRate: opts.faultRate } : {}),
    ...(opts.faultKinds !== undefined ? { faultKinds: opts.faultKinds } : {}),
    ...(Object.keys(kinds).length > 0 ? { kinds } : {}),
    ...(opts.qpsLimit !== undefined ? { qpsLimit: opts.qpsLimit } : {}),
    ...(opts.slowMs !== undefined ? { slowMs: opts.slowMs } : {}),
    ...(opts.faultSeed !== undefined ? { seed: opts.faultSeed } : {}),
  };
  if (Object.keys(o).length === 0) return undefined;
  if (opts.faultKinds !== undefined && opts.faultRate === undefined) {
    throw new CliError('--fault-kinds only says what --fault-rate is spread over: give --fault-rate too', EXIT.usage);
  }
  try {
    validateFaultOptions(o);
  } catch (e) {
    // Flags that are each valid but do not fit together (rates adding up past 1).
    throw new CliError(`invalid fault flags: ${(e as Error).message}`, EXIT.usage);
  }
  return o;
}

/** The message a parent sends over an IPC channel to read the OSS server's request counters, and the type of the answer. */
export const TRAFFIC_MESSAGE = 'oss-sse:oss-traffic';

type TrafficAnswer = { type: typeof TRAFFIC_MESSAGE; traffic?: TrafficSnapshot; error?: string };

/** The parent's side: asks an `oss-sse local` child started with an IPC channel for its OSS request counts. */
export function readTraffic(child: ChildProcess): Promise<TrafficSnapshot> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      const answer = message as Partial<TrafficAnswer> | null;
      if (answer?.type !== TRAFFIC_MESSAGE) return;
      child.off('message', onMessage);
      if (answer.traffic) resolve(answer.traffic);
      else reject(new Error(answer.error ?? 'oss-sse local sent no request counts'));
    };
    child.on('message', onMessage);
    child.send(TRAFFIC_MESSAGE);
  });
}

/**
 * When a parent started this process with an IPC channel (the benchmarks do), answers its
 * TRAFFIC_MESSAGE with the OSS server's own request counts (faults.ts): requests per
 * operation and per second, counted where they arrive rather than by a client.
 */
function answerTrafficRequests(faults: FaultInjector | undefined): void {
  if (!process.send) return;
  process.on('message', (message: unknown) => {
    if (message !== TRAFFIC_MESSAGE) return;
    const answer: TrafficAnswer = faults
      ? { type: TRAFFIC_MESSAGE, traffic: faults.traffic.snapshot() }
      : {
          type: TRAFFIC_MESSAGE,
          error: 'the OSS server counts requests with an injector only: start it with --latency-ms 0 or --qps-limit',
        };
    process.send?.(answer);
  });
  // The server keeps the process up; the channel must not on its own.
  process.channel?.unref();
}

export function localCommand(): Command {
  return new Command('local')
    .description(
      'run the local OSS-, KMS- and Function-Compute-compatible stack on 127.0.0.1 with the functions enforcing the policy (prints one JSON ready line on stdout: the endpoints, region, accountId and credentials a client needs)',
    )
    .option('--oss-port <port>', 'OSS server port (0 = any free port)', port, 0)
    .option('--kms-port <port>', 'KMS server port (0 = any free port)', port, 0)
    .option('--fc-port <port>', 'Function Compute endpoint port (0 = any free port)', port, 0)
    .option('--data-dir <dir>', 'keep buckets and objects on disk here', './.oss-sse-data')
    .option('--memory', 'keep everything in memory (nothing survives a restart)')
    .option('--access-key-id <id>', 'access key id the stack accepts', DEFAULT_ACCESS_KEY_ID)
    .option('--access-key-secret <secret>', 'access key secret the stack accepts', DEFAULT_ACCESS_KEY_SECRET)
    .option('--region <region>', 'region the stack reports', 'cn-hangzhou')
    .option('--no-enforce', "do not run the functions on the stack's events")
    .option('--demo', 'after start-up, show each function at work (on stderr), then keep serving')
    .option('--quiet', 'do not log requests to stderr')
    .option('--latency-ms <ms>', 'add this latency to every OSS request', milliseconds)
    .option('--jitter-ms <ms>', 'plus a random extra latency below this (default a fifth of --latency-ms)', milliseconds)
    .option('--fault-rate <rate>', `share of OSS requests that fail, spread over --fault-kinds`, rate)
    .option(
      '--fault-kinds <kinds>',
      `comma-separated kinds --fault-rate is spread over: ${FAULT_KINDS.join(',')} (default all)`,
      faultKinds,
    )
    .option('--fault-qps503-rate <rate>', 'share of object requests answered 503 TotalQpsLimitExceeded', rate)
    .option('--fault-meta503-rate <rate>', 'share of bucket requests answered 503 MetaOperationQpsLimitExceeded', rate)
    .option('--fault-internal500-rate <rate>', 'share of requests answered 500 InternalError', rate)
    .option('--fault-reset-rate <rate>', 'share of requests whose connection is reset instead of answered', rate)
    .option('--fault-slow-rate <rate>', 'share of requests answered only after --slow-ms', rate)
    .option('--slow-ms <ms>', "how late a slow answer comes (default 61000: past the SDKs' 60 s timeout)", milliseconds)
    .option('--qps-limit <n>', 'answer 503 to OSS requests beyond this many per second', qpsLimit)
    .option('--fault-seed <n>', 'seed of the fault draws, to repeat a run', seed)
    .option(
      '--self-copy-metadata <mode>',
      "what a CopyObject onto the same key does with metadata and content headers (unconfirmed on OSS): copy — x-oss-metadata-directive decides (COPY keeps the source's); replace — takes what the request carries, whatever the directive",
      selfCopyMetadata,
      'copy',
    )
    .option(
      '--policy <file>',
      'bind the printed access key to this RAM policy document (JSON): the OSS, KMS and FC endpoints refuse what it does not allow, as Alibaba Cloud does; without it the key may do everything',
    )
    .addHelpText(
      'after',
      `\nThe functions read their policy from these environment variables: ${POLICY_VARIABLES.join(', ')}.\n\nFaults: a faulted write fails either before it is handled (nothing stored) or after (stored whole, only the answer lost); the client cannot tell which.\n\nExamples:\n  oss-sse local --memory --demo\n  SSE_ALGORITHM=KMS KMS_KEY_ID=alias/oss-sse-default oss-sse local --data-dir ./data --oss-port 9000\n  oss-sse local --memory --policy deploy/ram/oss-sse-object-encryption.json\n\nEach function runs with STS credentials of its own role, bound to the policy deploy/ renders for it (this account, region and environment).`,
    )
    .action(async (opts: LocalOptions) => {
      const functionEnv: Record<string, string> = {};
      for (const name of POLICY_VARIABLES) {
        const v = process.env[name];
        if (v !== undefined) functionEnv[name] = v;
      }
      const ossFaults = faultOptions(opts);
      const policy = opts.policy === undefined ? undefined : policyFromFile(opts.policy);
      const stack = await startLocalStack({
        ossPort: opts.ossPort,
        kmsPort: opts.kmsPort,
        fcPort: opts.fcPort,
        region: opts.region,
        accessKeyId: opts.accessKeyId,
        accessKeySecret: opts.accessKeySecret,
        dataDir: opts.memory ? undefined : resolve(opts.dataDir),
        enforce: opts.enforce,
        functionEnv,
        ...(ossFaults ? { ossFaults } : {}),
        ...(policy ? { policy } : {}),
        ...(opts.selfCopyMetadata ? { selfCopyMetadata: opts.selfCopyMetadata } : {}),
        log: opts.quiet || opts.demo ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${stack.readyLine()}\n`);
      if (policy && !opts.quiet)
        process.stderr.write(`oss-sse local: the printed access key is bound to the RAM policy in ${opts.policy}\n`);
      answerTrafficRequests(stack.oss.faults);
      if (stack.oss.faults && !opts.quiet) {
        process.stderr.write(`oss-sse local: injecting OSS latency/faults ${JSON.stringify(ossFaults)} (seed ${stack.oss.faults.seed})\n`);
      }
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        void stack.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      if (opts.demo) await runDemo(stack, (line) => process.stderr.write(`${line}\n`));
    });
}
