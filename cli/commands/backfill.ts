/**
 * `oss-sse scan` and `oss-sse backfill`: the backfill engine in-process, with a progress bar
 * on a TTY, a summary table (or --json), a resumable checkpoint file and an NDJSON failure list.
 * With --inventory the objects come from an OSS inventory report instead of a listing.
 */
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar } from 'cli-progress';
import * as z from 'zod';
import { createWriteStream, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { runBackfill, type BackfillReport, type Checkpoint, type EngineOptions, type FailureRecord } from '../../shared/backfill/engine';
import {
  InventoryError,
  InventoryOfAnotherBucketError,
  parseInventoryCursor,
  type InventoryStats,
  type ManifestRef,
} from '../../shared/backfill/inventory';
import { planBackfillRun, type RunPlan, type RunPlanInput } from '../../shared/backfill/plan';
import { BackfillStateError, CheckpointSchema, parseRecord } from '../../shared/backfill/records';
import { probeSelfCopyMetadata, type SelfCopyProbe } from '../../shared/backfill/self-copy-probe';
import { OssRequestError } from '../../shared/oss/port';
import { isValidBucketName } from '../../shared/validation/names';
import { CliError, cloudContext, EXIT, policyFrom, resolvePolicyKey, withCloudOptions, type CloudOptions } from '../environment';

interface BackfillFlags extends CloudOptions {
  prefix?: string;
  dryRun?: boolean;
  concurrency?: number;
  qps?: number;
  checkpoint?: string;
  report?: string;
  json?: boolean;
  maxObjects?: number;
  verbose?: boolean;
  inventory?: string;
  inventoryBucket?: string;
}

function positiveInt(name: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}`);
    return n;
  };
}

/** What the checkpoint file holds: where to resume, for which bucket, prefix and mode. */
const CheckpointFileSchema = z.object({
  bucket: z.string(),
  prefix: z.string(),
  /** A listing cursor is a key, an inventory cursor a row position: never one for the other. Absent in older files: listing. */
  mode: z.enum(['listing', 'inventory']).optional(),
  inventory: z.object({ bucket: z.string(), manifestKey: z.string() }).optional(),
  checkpoint: CheckpointSchema,
  /** The report so far, for a person reading the file; not read back. */
  report: z.unknown().optional(),
});
type CheckpointFile = z.infer<typeof CheckpointFileSchema>;

const describeMode = (inventory: ManifestRef | undefined): string =>
  inventory ? `an inventory backfill from oss://${inventory.bucket}/${inventory.manifestKey}` : 'a listing backfill';

function readCheckpoint(file: string, bucket: string, prefix: string, inventory: ManifestRef | undefined): Checkpoint | undefined {
  if (!existsSync(file)) return undefined;
  let saved: CheckpointFile;
  try {
    saved = parseRecord(CheckpointFileSchema, readFileSync(file, 'utf8'), `checkpoint file ${file}`, 'checkpoint');
  } catch (e) {
    if (!(e instanceof BackfillStateError)) throw e;
    throw new CliError(`${e.message}; remove it to start over`, EXIT.usage);
  }
  if (saved.bucket !== bucket || saved.prefix !== prefix) {
    throw new CliError(
      `checkpoint file ${file} belongs to bucket ${saved.bucket} prefix "${saved.prefix}", not ${bucket} prefix "${prefix}"`,
      EXIT.usage,
    );
  }
  const savedInventory = (saved.mode ?? 'listing') === 'inventory' ? saved.inventory : undefined;
  const sameMode =
    (saved.mode ?? 'listing') === (inventory ? 'inventory' : 'listing') &&
    savedInventory?.bucket === inventory?.bucket &&
    savedInventory?.manifestKey === inventory?.manifestKey;
  if (!sameMode) {
    throw new CliError(
      `checkpoint file ${file} belongs to ${describeMode(savedInventory)}, not ${describeMode(inventory)}: ` +
        'its cursor means nothing here; use another --checkpoint file (or remove this one to start over)',
      EXIT.usage,
    );
  }
  if (inventory && saved.checkpoint.cursor !== undefined) {
    try {
      parseInventoryCursor(saved.checkpoint.cursor);
    } catch {
      throw new CliError(`checkpoint file ${file} holds no inventory cursor (${JSON.stringify(saved.checkpoint.cursor)})`, EXIT.usage);
    }
  }
  return saved.checkpoint;
}

/** Atomic: a crash while writing leaves the previous checkpoint. */
function writeCheckpoint(file: string, content: CheckpointFile): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The report as printed: the engine's, plus the inventory's counters and the error that stopped it. */
type CliReport = BackfillReport & { inventory?: InventoryStats & { manifest: string; selfCopyProbe?: SelfCopyProbe }; error?: string };

function summaryTable(r: CliReport): string {
  const rows: Array<[string, string | number]> = [
    ['bucket', r.bucket],
    ['scanned', r.scanned],
    ['compliant', r.compliant],
    [r.dryRun ? 'would re-encrypt' : 're-encrypted', r.dryRun ? r.wouldReencrypt : r.reencrypted],
    ...Object.entries(r.skipped).map(([k, v]): [string, number] => [`skipped: ${k}`, v]),
    ...Object.entries(r.failed).map(([k, v]): [string, number] => [`failed: ${k}`, v]),
    ['bytes re-encrypted', r.bytesReencrypted],
    ['requests', r.requests],
    ...(r.inventory
      ? ([
          ['inventory', r.inventory.manifest],
          ['rows settled by the report', r.inventory.known],
          ['rows copied with no HEAD', r.inventory.copiedAsReported],
          ['changed since the report', r.inventory.changedSinceReport],
          ...(r.inventory.selfCopyProbe
            ? [
                [
                  'self-copy probe',
                  `${r.inventory.selfCopyProbe.verdict} (${r.inventory.selfCopyProbe.requests} requests)${r.inventory.selfCopyProbe.reason ? `: ${r.inventory.selfCopyProbe.reason}` : ''}`,
                ],
              ]
            : []),
        ] as Array<[string, string | number]>)
      : []),
    ['duration', `${(r.durationMs / 1000).toFixed(1)} s`],
    ['done', r.checkpoint.done ? 'yes' : `no (stopped by ${r.stoppedBy ?? 'error'})`],
  ];
  if (r.plaintextVersionsKept > 0) rows.push(['plaintext versions kept', r.plaintextVersionsKept]);
  if (r.reencrypted > 0) {
    const v = r.verified;
    rows.push(['copies verified', `${v.answer} by their answer, ${v.head} by HEAD, ${v.unsampled} answer incomplete and not sampled`]);
  }
  if (r.error) rows.push(['error', r.error]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

async function execute(bucket: string, flags: BackfillFlags, mode: 'scan' | 'backfill'): Promise<number> {
  if (!isValidBucketName(bucket)) throw new CliError(`"${bucket}" is not a valid bucket name`, EXIT.usage);
  if (flags.inventoryBucket !== undefined && flags.inventory === undefined) {
    throw new CliError('--inventory-bucket needs --inventory <manifest-key>', EXIT.usage);
  }
  if (flags.inventoryBucket !== undefined && !isValidBucketName(flags.inventoryBucket)) {
    throw new CliError(`--inventory-bucket: "${flags.inventoryBucket}" is not a valid bucket name`, EXIT.usage);
  }
  // The manifest is read from --inventory-bucket, else from the bucket itself.
  const inventoryRef: ManifestRef | undefined =
    flags.inventory === undefined ? undefined : { bucket: flags.inventoryBucket ?? bucket, manifestKey: flags.inventory };
  const dryRun = mode === 'scan' || flags.dryRun === true;
  const prefix = flags.prefix ?? '';
  const { policy, config } = policyFrom(flags);
  const ctx = cloudContext(flags);
  // Fail early and clearly: a missing bucket or missing permission changes nothing.
  try {
    await ctx.oss.listObjectsV2(bucket, { maxKeys: 1 });
  } catch (e) {
    if (e instanceof OssRequestError)
      throw new CliError(`cannot list ${bucket}: ${e.code} (${e.message})${e.requestId ? ` [request ${e.requestId}]` : ''}`);
    throw e;
  }
  // Dry runs resolve the key too: under COMPLIANCE=exact an alias must be compared as the key id OSS reports.
  const resolvedKeyId = await resolvePolicyKey(ctx, policy, config.KMS_ENDPOINT);
  const resumeFrom = flags.checkpoint ? readCheckpoint(flags.checkpoint, bucket, prefix, inventoryRef) : undefined;
  if (resumeFrom?.done) {
    process.stderr.write(`checkpoint ${flags.checkpoint} says this backfill is complete; remove it to run again\n`);
    return EXIT.ok;
  }
  // Inventory mode: may plaintext rows be copied with no HEAD? Asked once per run, on a scratch
  // object of our own; a dry run writes nothing, so it does not ask (and HEADs every such row).
  const selfCopyProbe = inventoryRef && !dryRun ? await probeSelfCopyMetadata(ctx.oss, bucket, policy, ctx.log, resolvedKeyId) : undefined;
  // Ctrl-C, and in inventory mode a report that fails to read (stopOnError), stop the run through this.
  const controller = new AbortController();
  const plan = await planRun({
    oss: ctx.oss,
    policy,
    bucket,
    ...(prefix ? { prefix } : {}),
    source: inventoryRef
      ? {
          mode: 'inventory',
          report: inventoryRef,
          // The data files: --inventory-bucket, else where the manifest says it wrote them, else the bucket itself.
          ...(flags.inventoryBucket !== undefined ? { dataBucket: flags.inventoryBucket } : {}),
        }
      : { mode: 'listing' },
    ...(resumeFrom?.cursor !== undefined ? { resumeAfter: resumeFrom.cursor } : {}),
    ...(flags.qps ? { qps: flags.qps } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    stop: controller,
    ...(selfCopyProbe?.verdict === 'keeps' ? { copyWithoutHead: true } : {}),
  });
  const inventory = plan.inventory?.items;
  const failuresFile = flags.report ? `${flags.report}.failures.ndjson` : undefined;
  const failureStream = failuresFile ? createWriteStream(failuresFile) : undefined;
  const onSignal = (): void => {
    // Said at once: the run may take a moment to stop while requests in flight finish.
    if (!controller.signal.aborted) process.stderr.write('interrupt received: finishing the requests in flight, then stopping\n');
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const bar =
    process.stderr.isTTY && !flags.json
      ? new SingleBar({
          format: '{bar} {value}/{total} listed | {rate}/s | re-encrypted {re} | failed {failed} | ETA {eta_formatted}',
          hideCursor: true,
          etaBuffer: 200,
        })
      : undefined;
  bar?.start(0, 0, { rate: 0, re: 0, failed: 0 });
  const started = Date.now();
  const finished = (r: BackfillReport) =>
    r.compliant +
    r.reencrypted +
    r.wouldReencrypt +
    Object.values(r.skipped).reduce((a, b) => a + b, 0) +
    Object.values(r.failed).reduce((a, b) => a + b, 0);

  const options: EngineOptions = {
    ...plan.engine,
    log: ctx.log,
    dryRun,
    requestCount: () => ctx.oss.requestCount,
    ...(flags.maxObjects ? { maxObjects: flags.maxObjects } : {}),
    ...(resolvedKeyId ? { resolvedKeyId } : {}),
    onFailure: (f: FailureRecord) => void failureStream?.write(`${JSON.stringify({ bucket, ...f })}\n`),
    onProgress: (r) => {
      const done = finished(r);
      bar?.setTotal(r.scanned);
      bar?.update(done, {
        rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)),
        re: r.reencrypted + r.wouldReencrypt,
        failed: Object.values(r.failed).reduce((a, b) => a + b, 0),
      });
    },
    ...(flags.checkpoint
      ? {
          onCheckpoint: (c: Checkpoint, r: BackfillReport) =>
            writeCheckpoint(flags.checkpoint as string, {
              bucket,
              prefix,
              mode: inventoryRef ? 'inventory' : 'listing',
              ...(inventoryRef ? { inventory: inventoryRef } : {}),
              checkpoint: c,
              report: r,
            }),
        }
      : {}),
    checkpointEveryMs: 1_000,
  };
  let report: BackfillReport;
  try {
    report = await runBackfill(options);
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await new Promise<void>((resolve) => (failureStream ? failureStream.end(resolve) : resolve()));
    ctx.oss.destroy();
  }
  const reportError = inventory?.stats.error;
  const printed: CliReport = {
    ...report,
    // A report error stops the engine through the abort signal: it was not an interruption.
    ...(reportError ? { stoppedBy: undefined, error: reportError.message } : {}),
    ...(inventory && inventoryRef
      ? {
          inventory: {
            manifest: `oss://${inventoryRef.bucket}/${inventoryRef.manifestKey}`,
            rows: inventory.stats.rows,
            known: inventory.stats.known,
            headed: inventory.stats.headed,
            copiedAsReported: inventory.stats.copiedAsReported,
            changedSinceReport: inventory.stats.changedSinceReport,
            ...(selfCopyProbe ? { selfCopyProbe } : {}),
          },
        }
      : {}),
  };
  if (flags.report) writeFileSync(flags.report, `${JSON.stringify(printed, null, 2)}\n`);
  process.stdout.write(flags.json ? `${JSON.stringify(printed)}\n` : `${summaryTable(printed)}\n`);
  if (reportError) {
    process.stderr.write(
      `oss-sse: the inventory report cannot be used: ${reportError.message}\n` +
        (flags.checkpoint ? `the checkpoint in ${flags.checkpoint} stops before it; fix the report, then rerun to resume\n` : ''),
    );
    return EXIT.error;
  }
  if (report.stoppedBy === 'signal') {
    process.stderr.write(flags.checkpoint ? `interrupted; rerun with --checkpoint ${flags.checkpoint} to resume\n` : 'interrupted\n');
    return EXIT.interrupted;
  }
  const failed = Object.values(report.failed).reduce((a, b) => a + b, 0);
  if (failed > 0) return EXIT.nonCompliant;
  if (mode === 'scan' && report.wouldReencrypt > 0) return EXIT.nonCompliant;
  return EXIT.ok;
}

/** planBackfillRun, with every problem of the inventory manifest as a CliError that names the object. */
async function planRun(input: RunPlanInput): Promise<RunPlan> {
  try {
    return await planBackfillRun(input);
  } catch (e) {
    if (input.source.mode !== 'inventory') throw e;
    const ref = input.source.report;
    if (e instanceof InventoryOfAnotherBucketError) throw new CliError(e.message, EXIT.usage);
    if (e instanceof InventoryError) throw new CliError(e.message);
    if (e instanceof OssRequestError) {
      throw new CliError(
        `cannot read the inventory manifest oss://${ref.bucket}/${ref.manifestKey}: ${e.code} (${e.message})${e.requestId ? ` [request ${e.requestId}]` : ''}`,
      );
    }
    throw e;
  }
}

function engineCommand(name: 'scan' | 'backfill'): Command {
  const cmd = withCloudOptions(new Command(name).argument('<bucket>'))
    .option('--prefix <prefix>', 'only keys under this prefix')
    .option(
      '--inventory <manifest-key>',
      "read the objects from this OSS inventory report's manifest.json instead of listing; only rows not reported encrypted are HEADed",
    )
    .option(
      '--inventory-bucket <bucket>',
      "the bucket holding the inventory report (default: the bucket itself for manifest.json, the manifest's destinationBucket for the data files)",
    )
    .option(
      '--concurrency <n>',
      'objects in flight at most (default 64; under --qps, as many as fill it: the --qps value, up to 1024)',
      positiveInt('--concurrency', 1024),
    )
    .option('--qps <n>', 'cap OSS requests per second', positiveInt('--qps', 100_000))
    .option('--max-objects <n>', 'stop after this many objects', positiveInt('--max-objects', Number.MAX_SAFE_INTEGER))
    .option('--report <file>', 'write the report as JSON to FILE and every failure to FILE.failures.ndjson')
    .option('--json', 'print the report as one JSON line instead of a table')
    .option('--verbose', 'one JSON line per object decision on stderr');
  if (name === 'scan') {
    cmd
      .description(
        'report what is not encrypted as the policy demands, changing nothing (exit 0: everything remediable is compliant, 3: not)',
      )
      .addHelpText('after', '\nExample:\n  oss-sse scan my-bucket --prefix logs/ --region cn-hangzhou');
  } else {
    cmd
      .description('re-encrypt every object that is not encrypted as the policy demands')
      .option('--dry-run', 'decide and report, change nothing')
      .option('--checkpoint <file>', 'resume from and save progress to FILE (Ctrl-C writes it)')
      .addHelpText(
        'after',
        '\nExamples:\n  oss-sse backfill my-bucket --checkpoint my-bucket.ckpt --report my-bucket.report.json\n  oss-sse backfill my-bucket --algorithm KMS --kms-key-id alias/prod --qps 2000' +
          '\n  oss-sse backfill my-bucket --inventory inventory/my-bucket/daily/2024-05-17T16-00Z/manifest.json --inventory-bucket my-reports --checkpoint my-bucket.ckpt',
      );
  }
  return cmd.action(async (bucket: string, flags: BackfillFlags) => {
    process.exitCode = await execute(bucket, flags, name);
  });
}

export const scanCommand = (): Command => engineCommand('scan');
export const backfillCommand = (): Command => engineCommand('backfill');
