/** report.md: the posture report for a ticket or a pull request (GitHub-flavoured Markdown tables). */
import {
  encryptionLabel,
  escapeMarkdown,
  formatBytes,
  formatCount,
  formatDelta,
  changedBuckets,
  plaintextShareLabel,
  prefixLabel,
  sourceLabel,
  sourceNote,
} from './format';
import { describeRule } from './gather';
import type { BucketReport, PostureReport } from './schema';

const row = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`;

function table(head: string[], rows: Array<Array<string | number>>): string[] {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)];
}

const md = escapeMarkdown;

function policyLine(r: PostureReport): string {
  const p = r.policy;
  const target = [p.algorithm, p.kmsKeyId, p.kmsDataEncryption].filter((x) => x !== undefined).join('/');
  const globs = r.selection.globs.length > 0 ? r.selection.globs.map(md).join(', ') : 'all';
  return `Policy: ${md(target)}, COMPLIANCE=${p.compliance}; buckets: ${globs} (${r.selection.by === 'flag' ? '--bucket' : 'BUCKET_INCLUDE'})${
    p.bucketExclude.length > 0 ? `, excluding ${p.bucketExclude.map(md).join(', ')}` : ''
  }${p.keyExcludePrefixes.length > 0 ? `; key prefixes never touched: ${p.keyExcludePrefixes.map(md).join(', ')}` : ''}.`;
}

function bucketSection(b: BucketReport): string[] {
  const out = [`### ${md(b.name)}`, ''];
  out.push(
    `Rule: ${md(describeRule(b.rule))} (${b.rule.compliant ? 'satisfies the policy' : 'falls short'}; bucket function: ${b.rule.decision}). ` +
      `Versioning: ${b.versioning}. Source: ${md(sourceLabel(b))}.`,
  );
  if (b.error) out.push('', `**Could not be read:** ${md(b.error)}`);
  if (b.source.kind === 'inventory') out.push('', `Inventory report: ${md(b.source.manifest)}`);
  const note = sourceNote(b);
  if (note) out.push('', `Note: ${md(note)}`);
  out.push('', ...table(['encryption', 'objects', 'bytes'], b.objects.byEncryption.map((e) => [md(encryptionLabel(e)), formatCount(e.objects), formatBytes(e.bytes)])));
  out.push('', ...table(['storage class', 'objects', 'bytes'], b.objects.byStorageClass.map((c) => [md(c.storageClass), formatCount(c.objects), formatBytes(c.bytes)])));
  if (b.topPlaintextPrefixes.length > 0) {
    out.push(
      '',
      ...table(
        ['prefix holding plaintext', 'objects', 'bytes'],
        b.topPlaintextPrefixes.map((p) => [md(prefixLabel(p.prefix)), formatCount(p.objects), formatBytes(p.bytes)]),
      ),
    );
  }
  const skipped = Object.entries(b.skipped);
  if (skipped.length > 0) out.push('', `Skipped by the backfill: ${skipped.map(([k, v]) => `${md(k)} ${v}`).join(', ')}.`);
  const failed = Object.entries(b.failed);
  if (failed.length > 0) out.push('', `Not looked at (errors): ${failed.map(([k, v]) => `${md(k)} ${v}`).join(', ')}.`);
  return out;
}

export function renderMarkdown(r: PostureReport): string {
  const s = r.summary;
  const out = [
    '# Encryption posture report',
    '',
    `Generated ${r.generatedAt} for region ${md(r.region)}. ${policyLine(r)}`,
    '',
    `- Buckets satisfying the policy: **${s.bucketsCompliant} of ${s.buckets}**`,
    `- Plaintext objects: **${formatCount(s.plaintextObjects)}** of ${formatCount(s.objects)}${s.estimated ? ' (some buckets sampled: estimates)' : ''}`,
    `- Plaintext bytes: **${formatBytes(s.plaintextBytes)}** of ${formatBytes(s.bytes)}`,
    `- Objects falling short of the policy: **${formatCount(s.nonCompliantObjects)}**`,
    '',
    '## Buckets',
    '',
    ...table(
      ['bucket', 'rule', 'versioning', 'source', 'objects', 'plaintext', 'plaintext share', 'plaintext bytes', 'short of policy', 'status'],
      r.buckets.map((b) => [
        md(b.name),
        `${md(describeRule(b.rule))}${b.rule.compliant ? '' : ' ✗'}`,
        b.versioning,
        md(sourceLabel(b)),
        formatCount(b.objects.total),
        formatCount(b.objects.plaintext),
        plaintextShareLabel(b),
        formatBytes(b.objects.plaintextBytes),
        formatCount(b.objects.nonCompliant),
        b.error ? 'error' : b.compliant ? 'compliant' : 'not compliant',
      ]),
    ),
  ];
  if (r.change) {
    const c = r.change;
    out.push(
      '',
      '## Change since the previous report',
      '',
      `Previous report: ${c.previousGeneratedAt}. Plaintext objects ${formatDelta(c.plaintextObjects)}, plaintext bytes ${formatDelta(c.plaintextBytes, formatBytes)}; ` +
        `buckets added: ${c.bucketsAdded.length > 0 ? c.bucketsAdded.map(md).join(', ') : 'none'}; removed: ${
          c.bucketsRemoved.length > 0 ? c.bucketsRemoved.map(md).join(', ') : 'none'
        }; rules changed: ${c.rulesChanged}.`,
      '',
      ...table(
        ['bucket', 'status', 'rule', 'plaintext objects', 'plaintext bytes'],
        changedBuckets(c).map((b) => [
          md(b.name),
          b.status,
          b.ruleChanged ? `${md(b.ruleChanged.from)} → ${md(b.ruleChanged.to)}` : 'unchanged',
          formatDelta(b.plaintextObjects),
          formatDelta(b.plaintextBytes, formatBytes),
        ]),
      ),
    );
  }
  out.push('', '## Per bucket', '');
  for (const b of r.buckets) out.push(...bucketSection(b), '');
  return `${out.join('\n').trimEnd()}\n`;
}
