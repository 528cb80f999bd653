/** `oss-sse invoke` (a deployed function, through Function Compute) and `oss-sse status` (a backfill job's state objects). */
import { Command, Option } from 'commander';
import { readJobProgress } from '../../shared/backfill/job';
import { BackfillStateError } from '../../shared/backfill/records';
import { createFcInvoker } from '../../shared/fc-invoke';
import { BucketNameSchema } from '../../shared/validation/names';
import { CliError, cloudContext, credentialsFromEnv, EXIT, regionFrom, withCloudOptions, type CloudOptions } from '../environment';

export function invokeCommand(): Command {
  return withCloudOptions(new Command('invoke'), { policyFlags: false })
    .argument('<function-name>', 'e.g. oss-sse-backfill')
    .description('invoke a deployed function through Function Compute; prints its result (sync) or the request id (--async)')
    .requiredOption('--payload <json>', 'the event, as JSON')
    .option('--async', 'do not wait for the result')
    .option('--account-id <id>', 'Alibaba Cloud account id (default $ALIBABA_CLOUD_ACCOUNT_ID), for the FC endpoint')
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
      const accountId = opts.accountId ?? process.env.ALIBABA_CLOUD_ACCOUNT_ID;
      const endpoint = opts.fcEndpoint ?? process.env.FC_ENDPOINT;
      if (!accountId && !endpoint)
        throw new CliError('Set --account-id or ALIBABA_CLOUD_ACCOUNT_ID (it names the FC endpoint), or --fc-endpoint.', EXIT.usage);
      const invoker = createFcInvoker({
        ...(endpoint ? { endpoint } : {}),
        region,
        accountId: accountId ?? '',
        credentials: () => credentials,
      });
      const res = await invoker.invoke(name, payload, { async: opts.async === true });
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
