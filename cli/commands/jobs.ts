/** `oss-sse invoke` (a deployed function, through Function Compute) and `oss-sse status` (a backfill job's state objects). */
import { Command, Option } from 'commander';
import { readJobProgress } from '../../shared/backfill/job';
import { BackfillStateError } from '../../shared/backfill/records';
import { accountIdProblem, createFcInvoker, FC_ACCOUNT_ID_RE, FcInvokeError } from '../../shared/fc-invoke';
import { BucketNameSchema } from '../../shared/validation/names';
import { CliError, cloudContext, credentialsFromEnv, EXIT, regionFrom, withCloudOptions, type CloudOptions } from '../environment';

/** FC's refusals that say the credentials are wrong, not the account or the permissions. */
const CREDENTIAL_REFUSALS = new Set(['SignatureNotMatch', 'InvalidAccessKeyID', 'RequestTimeTooSkewed']);

/**
 * A 403 that is not about the credentials: FC answers an account id that is not the caller's
 * with AccessDenied (see docs/oss-behaviour.md#function-compute-invoke-api), and a body in
 * the 2023-03-30 shape reaches us without its code.
 */
const refusesTheAccount = (e: FcInvokeError): boolean => e.status === 403 && !CREDENTIAL_REFUSALS.has(e.code);

function withAccountHint(e: FcInvokeError, accountId: string): CliError {
  return new CliError(
    `${e.code}: ${e.message}${e.requestId ? ` [request ${e.requestId}]` : ''}\n` +
      `Check the account id ${accountId} (--account-id or ALIBABA_CLOUD_ACCOUNT_ID): it must be the id of the account that owns the function` +
      ' (the main account, not a RAM user), and the AccessKey must be allowed fc:InvokeFunction on it.',
  );
}

export function invokeCommand(): Command {
  return withCloudOptions(new Command('invoke'), { policyFlags: false })
    .argument('<function-name>', 'e.g. oss-sse-backfill')
    .description('invoke a deployed function through Function Compute; prints its result (sync) or the request id (--async)')
    .requiredOption('--payload <json>', 'the event, as JSON')
    .option('--async', 'do not wait for the result')
    .option(
      '--account-id <id>',
      'id of the Alibaba Cloud account that owns the function (default $ALIBABA_CLOUD_ACCOUNT_ID; oss-sse local prints it as accountId)',
    )
    .option('--fc-endpoint <url>', "Function Compute endpoint (default $FC_ENDPOINT, else the region's)")
    .addHelpText(
      'after',
      `\nExamples:\n  oss-sse invoke oss-sse-backfill --payload '{"bucket":"my-bucket","shards":8}' --async\n  oss-sse invoke oss-sse-bucket-encryption --payload '{"allBuckets":true}'`,
    )
    .action(async (name: string, opts: CloudOptions & { payload: string; async?: boolean; accountId?: string; fcEndpoint?: string }) => {
      let payload: unknown;
      try {
        payload = JSON.parse(opts.payload);
      } catch (e) {
        throw new CliError(`--payload is not valid JSON: ${(e as Error).message}`, EXIT.usage);
      }
      const credentials = credentialsFromEnv();
      const region = regionFrom(opts);
      const accountId = opts.accountId ?? process.env.ALIBABA_CLOUD_ACCOUNT_ID ?? '';
      // FC wants the account id even at an explicit endpoint (fc2 sends it in x-fc-account-id).
      if (!FC_ACCOUNT_ID_RE.test(accountId)) {
        throw new CliError(
          accountId === ''
            ? 'Set --account-id or ALIBABA_CLOUD_ACCOUNT_ID to the id of the Alibaba Cloud account that owns the function ' +
                '(FC endpoints are https://<account-id>.<region>.fc.aliyuncs.com; `oss-sse local` prints it as accountId).'
            : `--account-id / ALIBABA_CLOUD_ACCOUNT_ID: ${accountIdProblem(accountId)}.`,
          EXIT.usage,
        );
      }
      const endpoint = opts.fcEndpoint ?? process.env.FC_ENDPOINT;
      const invoker = createFcInvoker({
        ...(endpoint ? { endpoint } : {}),
        region,
        accountId,
        credentials: () => credentials,
      });
      const res = await invoker.invoke(name, payload, { async: opts.async === true }).catch((e: unknown) => {
        throw e instanceof FcInvokeError && refusesTheAccount(e) ? withAccountHint(e, accountId) : e;
      });
      process.stdout.write(
        `${JSON.stringify(opts.async ? { requestId: res.requestId } : { requestId: res.requestId, result: res.result })}\n`,
      );
    });
}

export function statusCommand(): Command {
  return withCloudOptions(new Command('status'), { policyFlags: false })
    .argument('<job-id>')
    .description("print a backfill job's progress per shard and in total, from its state objects")
    .addOption(new Option('--state-bucket <bucket>', 'bucket holding the job state (default $STATE_BUCKET)'))
    .option('--state-prefix <prefix>', 'prefix of the job state (default $STATE_PREFIX or oss-sse/jobs/)')
    .option('--json', 'print the progress as JSON')
    .addHelpText('after', '\nExample:\n  oss-sse status 20261127035512-1a2b3c4d --state-bucket my-oss-sse-state')
    .action(async (jobId: string, opts: CloudOptions & { stateBucket?: string; statePrefix?: string; json?: boolean }) => {
      const bucket = opts.stateBucket ?? process.env.STATE_BUCKET;
      if (!bucket || !BucketNameSchema.safeParse(bucket).success)
        throw new CliError('Set --state-bucket or STATE_BUCKET to a valid bucket name.', EXIT.usage);
      const prefix = opts.statePrefix ?? process.env.STATE_PREFIX ?? 'oss-sse/jobs/';
      const { oss } = cloudContext(opts);
      const progress = await readJobProgress(oss, { bucket, prefix }, jobId)
        .catch((e: unknown) => {
          throw e instanceof BackfillStateError ? new CliError(e.message) : e;
        })
        .finally(() => oss.destroy());
      if (!progress) throw new CliError(`no backfill job ${jobId} in oss://${bucket}/${prefix}`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(progress)}\n`);
        return;
      }
      const t = progress.totals;
      const lines = [
        `job ${jobId}: bucket ${progress.job.bucket}${progress.job.prefix ? ` prefix ${progress.job.prefix}` : ''}${progress.job.dryRun ? ' (dry run)' : ''}, ${progress.done ? 'done' : 'running'}`,
        'shard  done  invocations  scanned  re-encrypted  failed  cursor',
        ...progress.shards.map((s) =>
          [
            String(s.shard).padEnd(5),
            (s.done ? 'yes' : 'no').padEnd(4),
            String(s.invocations).padEnd(11),
            String(s.totals.scanned).padEnd(7),
            String(s.totals.reencrypted + s.totals.wouldReencrypt).padEnd(12),
            String(Object.values(s.totals.failed).reduce((a, b) => a + b, 0)).padEnd(6),
            s.cursor ?? '-',
          ].join('  '),
        ),
        `total: scanned ${t.scanned}, compliant ${t.compliant}, ${progress.job.dryRun ? `would re-encrypt ${t.wouldReencrypt}` : `re-encrypted ${t.reencrypted}`}, skipped ${JSON.stringify(t.skipped)}, failed ${JSON.stringify(t.failed)}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
