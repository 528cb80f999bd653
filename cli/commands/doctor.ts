/** `oss-sse doctor`: a preflight of an account (shared/doctor), printed one line per check or as JSON. */
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEPLOYED_FUNCTIONS, formatCheck, ROLE_POLICIES, runDoctor, type DoctorReport } from '../../shared/doctor';
import { accountIdProblem, createFcInvoker, FC_ACCOUNT_ID_RE, FC_FUNCTION_NAME_RE, fcEndpoint } from '../../shared/fc-invoke';
import { createKmsPort } from '../../shared/kms';
import { OssHttpClient } from '../../shared/oss/http-client';
import { BucketNameSchema } from '../../shared/validation/names';
import {
  CliError,
  credentialsFromEnv,
  EXIT,
  policyFrom,
  publicKmsEndpoint,
  regionFrom,
  withCloudOptions,
  type CloudOptions,
} from '../environment';

interface DoctorFlags extends CloudOptions {
  bucket: string[];
  function: string[];
  canary?: string;
  canaryTimeout: string;
  maxBuckets: string;
  accountId?: string;
  fcEndpoint?: string;
  kmsEndpoint?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function positiveInteger(flag: string, value: string, max: number): number {
  const n = /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) throw new CliError(`${flag} must be an integer from 1 to ${max}, not ${JSON.stringify(value)}.`, EXIT.usage);
  return n;
}

/** Per request: a doctor reports a slow or dead endpoint instead of waiting minutes on retries. */
const OSS_TIMEOUT_MS = 15_000;
/** A ping answers at once; the canary's direct invocation re-encrypts one small object. */
const FC_SYNC_TIMEOUT_MS = 120_000;

export function doctorCommand(): Command {
  return withCloudOptions(new Command('doctor'))
    .description(
      'check an account before and after deploying: credentials, endpoints, buckets, permissions, KMS key, functions; --canary end to end',
    )
    .option('--bucket <name>', 'a bucket to check (repeatable; default: the buckets BUCKET_INCLUDE/BUCKET_EXCLUDE select)', collect, [])
    .option('--function <name>', `a deployed function to ping (repeatable; default ${DEPLOYED_FUNCTIONS.join(', ')})`, collect, [])
    .option(
      '--canary <bucket>',
      'write one small object under .oss-sse-canary/, wait for the object function to re-encrypt it, verify, delete it',
    )
    .option('--canary-timeout <seconds>', 'how long the canary waits for the object function', '60')
    .option('--max-buckets <n>', 'at most this many buckets found by ListBuckets are checked', '50')
    .option('--account-id <id>', 'id of the account that owns the functions (default $ALIBABA_CLOUD_ACCOUNT_ID)')
    .option('--fc-endpoint <url>', "Function Compute endpoint (default $FC_ENDPOINT, else the region's)")
    .addOption(new Option('--kms-endpoint <url>', "KMS endpoint (default $KMS_ENDPOINT, else the region's public one)"))
    .option('--json', 'print { "checks": [ { "name", "ok", "detail", "fix"?, "requestId"? } ] }')
    .addHelpText(
      'after',
      '\nExit codes: 0 every check passed, 1 one failed, 2 bad command line.\n\nExamples:\n  oss-sse doctor --bucket my-data-bucket\n  oss-sse doctor --bucket my-data-bucket --canary my-data-bucket --json',
    )
    .action(async (opts: DoctorFlags) => {
      for (const b of [...opts.bucket, ...(opts.canary ? [opts.canary] : [])]) {
        if (!BucketNameSchema.safeParse(b).success) throw new CliError(`${JSON.stringify(b)} is not a valid bucket name.`, EXIT.usage);
      }
      for (const f of opts.function) {
        if (!FC_FUNCTION_NAME_RE.test(f))
          throw new CliError(`--function: ${JSON.stringify(f)} is not a Function Compute function name.`, EXIT.usage);
      }
      const canaryTimeoutS = positiveInteger('--canary-timeout', opts.canaryTimeout, 3600);
      const maxBuckets = positiveInteger('--max-buckets', opts.maxBuckets, 10_000);
      const accountId = opts.accountId ?? process.env.ALIBABA_CLOUD_ACCOUNT_ID ?? '';
      if (!FC_ACCOUNT_ID_RE.test(accountId)) {
        throw new CliError(
          accountId === ''
            ? 'Set --account-id or ALIBABA_CLOUD_ACCOUNT_ID to the id of the account that owns the functions (`oss-sse local` prints it as accountId).'
            : `--account-id / ALIBABA_CLOUD_ACCOUNT_ID: ${accountIdProblem(accountId)}.`,
          EXIT.usage,
        );
      }
      const { policy } = policyFrom(opts);
      const region = regionFrom(opts);
      const credentials = credentialsFromEnv();
      let lastRequestId: string | undefined;
      const ossEndpoint = opts.endpoint ?? process.env.OSS_ENDPOINT;
      const oss = new OssHttpClient({
        ...(ossEndpoint ? { endpoint: ossEndpoint } : {}),
        region,
        credentials: () => credentials,
        timeoutMs: OSS_TIMEOUT_MS,
        retry: { maxAttempts: 2 },
        onRequest: (info) => {
          lastRequestId = info.requestId;
        },
      });
      const kmsUrl = opts.kmsEndpoint ?? process.env.KMS_ENDPOINT ?? publicKmsEndpoint(region);
      const fcUrlOverride = opts.fcEndpoint ?? process.env.FC_ENDPOINT;
      const checks = await runDoctor(
        {
          oss,
          lastOssRequestId: () => lastRequestId,
          kms: createKmsPort({ region, endpoint: kmsUrl, credentials: () => credentials, connectTimeoutMs: 5_000, readTimeoutMs: 15_000 }),
          fc: createFcInvoker({
            ...(fcUrlOverride ? { endpoint: fcUrlOverride } : {}),
            region,
            accountId,
            credentials: () => credentials,
            syncTimeoutMs: FC_SYNC_TIMEOUT_MS,
          }),
          policy,
          region,
          accountId,
          endpoints: {
            oss: `${oss.endpoint.protocol}//${oss.endpoint.host}${oss.endpoint.ipStyle || ossEndpoint ? `:${oss.endpoint.port}` : ''}`,
            kms: kmsUrl,
            fc: fcEndpoint({ accountId, region, ...(fcUrlOverride ? { endpoint: fcUrlOverride } : {}) }),
          },
          rolePolicies: ROLE_POLICIES,
          sleep: (ms) => sleep(ms),
          now: Date.now,
          randomId: () => randomBytes(8).toString('hex'),
        },
        {
          buckets: opts.bucket,
          functions: opts.function.length > 0 ? opts.function : DEPLOYED_FUNCTIONS,
          ...(opts.canary ? { canary: { bucket: opts.canary, timeoutMs: canaryTimeoutS * 1000 } } : {}),
          maxBuckets,
        },
      ).finally(() => oss.destroy());
      const report: DoctorReport = { checks };
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : `${checks.map(formatCheck).join('\n')}\n`);
      process.exitCode = checks.every((c) => c.ok) ? EXIT.ok : EXIT.error;
    });
}
