/**
 * `oss-sse report`: the encryption posture of every selected bucket, written as report.json
 * (the schema in shared/report/schema.ts), report.md and a self-contained report.html; with
 * --json, report.json on stdout too. Exit 3 when anything falls short of the policy, 1 when a
 * bucket could not be read (the files are written all the same).
 */
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar } from 'cli-progress';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InventoryError } from '../../shared/backfill/inventory';
import { OssRequestError } from '../../shared/oss/port';
import {
  buildReport,
  PostureReportSchema,
  renderHtml,
  renderMarkdown,
  type PostureReport,
  type SourceRequest,
} from '../../shared/report';
import { locateLatestInventory } from '../../shared/report/inventory-locate';
import { formatZodIssues } from '../../shared/validation/issues';
import { CliError, cloudContext, EXIT, policyFrom, resolvePolicyKey, withCloudOptions, type CloudOptions } from '../environment';

interface ReportFlags extends CloudOptions {
  bucket?: string[];
  inventory?: boolean;
  sample?: number;
  seed?: number;
  out?: string;
  json?: boolean;
  previous?: string;
  concurrency?: number;
  verbose?: boolean;
}

const integer = (name: string, min: number, max: number) => (v: string): number => {
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};

const collect = (v: string, previous: string[] | undefined): string[] => [...(previous ?? []), v];

/** An earlier report.json, validated: a bad file is an error that names it. */
export function readPreviousReport(file: string): PostureReport {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`--previous ${file}: cannot be read (${e instanceof Error ? e.message : String(e)})`, EXIT.usage);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--previous ${file} is not JSON: ${e instanceof Error ? e.message : String(e)}`, EXIT.usage);
  }
  const parsed = PostureReportSchema.safeParse(json);
  if (!parsed.success) {
    throw new CliError(`--previous ${file} is not an oss-sse report.json: ${formatZodIssues(parsed.error.issues, [], 'report').slice(0, 5).join('; ')}`, EXIT.usage);
  }
  return parsed.data;
}

/** Each file whole or not at all (temp file + rename). */
function writeAtomically(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

export function writeReportFiles(dir: string, report: PostureReport): { json: string; md: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const files = { json: join(dir, 'report.json'), md: join(dir, 'report.md'), html: join(dir, 'report.html') };
  writeAtomically(files.json, `${JSON.stringify(report, null, 2)}\n`);
  writeAtomically(files.md, renderMarkdown(report));
  writeAtomically(files.html, renderHtml(report));
  return files;
}

async function execute(flags: ReportFlags): Promise<number> {
  if (flags.inventory && flags.sample !== undefined) throw new CliError('--inventory and --sample cannot be used together', EXIT.usage);
  if (flags.seed !== undefined && flags.sample === undefined) throw new CliError('--seed needs --sample <n>', EXIT.usage);
  const previous = flags.previous === undefined ? undefined : readPreviousReport(flags.previous);
  const { policy, config } = policyFrom(flags);
  const ctx = cloudContext(flags);
  const now = new Date();
  const outDir = resolve(flags.out ?? `oss-sse-report-${now.toISOString().slice(0, 10)}`);
  if (existsSync(outDir) && !flags.out) process.stderr.write(`${outDir} exists: its report files are replaced\n`);
  const source: SourceRequest = flags.inventory
    ? { kind: 'inventory', locate: (bucket) => locateLatestInventory(ctx.oss, bucket) }
    : flags.sample !== undefined
      ? { kind: 'sample', size: flags.sample, seed: flags.seed ?? randomInt(2 ** 31) }
      : { kind: 'listing' };
  const bar =
    process.stderr.isTTY && !flags.json
      ? new SingleBar({ format: '{bucket} {bar} {value}/{total} objects | bucket {index} of {of}', hideCursor: true, etaBuffer: 200 })
      : undefined;
  let report: PostureReport;
  try {
    const resolvedKeyId = await resolvePolicyKey(ctx, policy, config.KMS_ENDPOINT);
    bar?.start(0, 0, { bucket: '', index: 0, of: 0 });
    report = await buildReport({
      oss: ctx.oss,
      policy,
      log: ctx.log,
      region: ctx.region,
      source,
      globs: flags.bucket ?? [],
      now,
      ...(resolvedKeyId ? { resolvedKeyId } : {}),
      ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
      ...(previous ? { previous } : {}),
      onBucket: (bucket, index, of) => bar?.update(0, { bucket, index: index + 1, of }),
      onProgress: (_bucket, done, listed) => {
        bar?.setTotal(listed);
        bar?.update(done);
      },
    });
  } catch (e) {
    if (e instanceof OssRequestError) {
      throw new CliError(`${e.code}: ${e.message}${e.requestId ? ` [request ${e.requestId}]` : ''}`);
    }
    if (e instanceof InventoryError) throw new CliError(`the inventory report cannot be used: ${e.message}`);
    throw e;
  } finally {
    bar?.stop();
    ctx.oss.destroy();
  }
  const files = writeReportFiles(outDir, report);
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    const s = report.summary;
    process.stdout.write(
      `${s.bucketsCompliant} of ${s.buckets} buckets satisfy the policy; ${s.plaintextObjects} plaintext objects of ${s.objects}` +
        `${s.estimated ? ' (estimated)' : ''}; ${s.nonCompliantObjects} objects short of the policy\n` +
        `${files.json}\n${files.md}\n${files.html}\n`,
    );
  }
  const unreadable = report.buckets.filter((b) => b.error !== undefined);
  for (const b of unreadable) process.stderr.write(`oss-sse: bucket ${b.name} could not be read: ${b.error}\n`);
  // A report with a hole in it is not a verdict: that is an error, not "falls short".
  if (unreadable.length > 0) return EXIT.error;
  return report.buckets.every((b) => b.compliant) ? EXIT.ok : EXIT.nonCompliant;
}

export function reportCommand(): Command {
  return withCloudOptions(new Command('report'))
    .description(
      'encryption posture of every bucket (rule, versioning, objects and bytes by encryption and storage class, where the plaintext is) ' +
        'as report.json, report.md and report.html; exit 0: everything satisfies the policy, 3: something falls short',
    )
    .option('--bucket <glob>', "only buckets matching this glob (* and ?; repeatable; default the policy's BUCKET_INCLUDE/BUCKET_EXCLUDE)", collect)
    .option('--inventory', "read each bucket's latest inventory report (found through its inventory rules) instead of HEADing every object")
    .option('--sample <n>', 'HEAD n objects drawn uniformly per bucket and estimate the plaintext share with its 95% interval', integer('--sample', 1, 1_000_000))
    .option('--seed <n>', 'seed of the --sample draw, to repeat it (default random; the report records it)', integer('--seed', 0, 2 ** 31 - 1))
    .option('--out <dir>', 'directory for report.json, report.md and report.html (default ./oss-sse-report-<date>)')
    .option('--json', 'print report.json on stdout too')
    .option('--previous <report.json>', 'an earlier report.json: show the change since it')
    .option('--concurrency <n>', 'HEADs in flight (default 64)', integer('--concurrency', 1, 1024))
    .option('--verbose', 'one JSON line per object decision on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  oss-sse report --region cn-hangzhou\n  oss-sse report --bucket "prod-*" --sample 1000 --out posture/\n' +
        '  oss-sse report --inventory --previous posture-2026-11/report.json',
    )
    .action(async (flags: ReportFlags) => {
      process.exitCode = await execute(flags);
    });
}
