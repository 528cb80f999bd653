/**
 * report.html: one self-contained page — styles, charts (inline SVG) and data inline, a
 * Content-Security-Policy that lets it load nothing — with the summary, the two charts, a
 * sortable table of buckets (the one small inline script, allowed by its hash), the policy,
 * the time, each bucket's details and the change since the previous report.
 */
import { createHash } from 'node:crypto';
import { algorithmChart, shareChart } from './charts';
import {
  encryptionLabel,
  escapeHtml,
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

const h = escapeHtml;

/** Click a header to sort by it (again: the other way). Cells sort by data-sort, numbers as numbers. */
const SORT_SCRIPT = `
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (o) { o.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var key = function (row) { var c = row.cells[col]; return c.getAttribute('data-sort') || c.textContent; };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = Number(x), ny = Number(y);
        var d = (x !== '' && y !== '' && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x < y ? -1 : x > y ? 1 : 0;
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
`;

const STYLE = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; }
body { margin: 0 auto; max-width: 1120px; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
.meta { color: #555; margin: 0 0 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px; min-width: 180px; }
.card b { display: block; font-size: 1.5rem; }
.card.bad b { color: #c62828; } .card.good b { color: #2e7d32; }
figure { margin: 16px 0; border: 1px solid #eee; border-radius: 8px; padding: 8px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 6px 8px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; background: #fafafa; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
.bad { color: #c62828; } .good { color: #2e7d32; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
code { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
#buckets td:first-child { white-space: nowrap; }
`;

const num = (n: number, text: string = formatCount(n)): string => `<td class="n" data-sort="${n}">${h(text)}</td>`;

function bucketRow(b: BucketReport): string {
  const status = b.error ? 'error' : b.compliant ? 'compliant' : 'not compliant';
  const share = b.objects.total === 0 ? 0 : b.objects.plaintext / b.objects.total;
  return `<tr data-bucket="${h(b.name)}">
<td><code>${h(b.name)}</code></td>
<td class="${b.rule.compliant ? 'good' : 'bad'}">${h(describeRule(b.rule))}</td>
<td>${h(b.versioning)}</td>
<td${sourceNote(b) ? ` title="${h(sourceNote(b) ?? '')}"` : ''}>${h(sourceLabel(b))}${sourceNote(b) ? ' *' : ''}</td>
${num(b.objects.total)}
${num(b.objects.plaintext)}
${num(share, plaintextShareLabel(b))}
${num(b.objects.plaintextBytes, formatBytes(b.objects.plaintextBytes))}
${num(b.objects.nonCompliant)}
<td class="${b.compliant ? 'good' : 'bad'}">${status}</td>
</tr>`;
}

/** Cells are HTML already; the first `textColumns` are text, the rest numbers (right-aligned). */
function smallTable(head: string[], rows: string[][], textColumns = 1): string {
  const cls = (i: number): string => (i >= textColumns ? ' class="n"' : '');
  return `<table><thead><tr>${head.map((c, i) => `<th${cls(i)}>${h(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function bucketDetails(b: BucketReport): string {
  const parts = [
    `<p>Rule: ${h(describeRule(b.rule))} (${b.rule.compliant ? 'satisfies the policy' : 'falls short of it'}; the bucket function's decision: ${h(
      b.rule.decision,
    )}). Versioning: ${h(b.versioning)}. Source: ${h(sourceLabel(b))}.</p>`,
  ];
  if (b.error) parts.push(`<p class="bad">Could not be read: ${h(b.error)}</p>`);
  if (b.source.kind === 'inventory') parts.push(`<p>Inventory report: <code>${h(b.source.manifest)}</code></p>`);
  const note = sourceNote(b);
  if (note) parts.push(`<p>Note: ${h(note)}</p>`);
  parts.push(
    smallTable(
      ['encryption', 'objects', 'bytes'],
      b.objects.byEncryption.map((e) => [h(encryptionLabel(e)), h(formatCount(e.objects)), h(formatBytes(e.bytes))]),
    ),
    smallTable(
      ['storage class', 'objects', 'bytes'],
      b.objects.byStorageClass.map((c) => [h(c.storageClass), h(formatCount(c.objects)), h(formatBytes(c.bytes))]),
    ),
  );
  if (b.topPlaintextPrefixes.length > 0) {
    parts.push(
      smallTable(
        ['prefix holding plaintext', 'objects', 'bytes'],
        b.topPlaintextPrefixes.map((p) => [`<code>${h(prefixLabel(p.prefix))}</code>`, h(formatCount(p.objects)), h(formatBytes(p.bytes))]),
      ),
    );
  }
  const skipped = Object.entries(b.skipped);
  if (skipped.length > 0) parts.push(`<p>Skipped by the backfill: ${skipped.map(([k, v]) => `${h(k)} ${v}`).join(', ')}.</p>`);
  const failed = Object.entries(b.failed);
  if (failed.length > 0) parts.push(`<p class="bad">Not looked at (errors): ${failed.map(([k, v]) => `${h(k)} ${v}`).join(', ')}.</p>`);
  return `<details><summary><code>${h(b.name)}</code></summary>${parts.join('\n')}</details>`;
}

function changeSection(r: PostureReport): string {
  const c = r.change;
  if (!c) return '';
  const list = (names: string[]): string => (names.length > 0 ? names.map((n) => `<code>${h(n)}</code>`).join(', ') : 'none');
  return `<section id="change"><h2>Change since the previous report</h2>
<p>Previous report: ${h(c.previousGeneratedAt)}. Plaintext objects <b>${h(formatDelta(c.plaintextObjects))}</b>, plaintext bytes <b>${h(
    formatDelta(c.plaintextBytes, formatBytes),
  )}</b>. Buckets added: ${list(c.bucketsAdded)}; removed: ${list(c.bucketsRemoved)}; rules changed: ${c.rulesChanged}.</p>
${smallTable(
  ['bucket', 'status', 'rule', 'plaintext objects', 'plaintext bytes'],
  changedBuckets(c).map((b) => [
    `<code>${h(b.name)}</code>`,
    h(b.status),
    b.ruleChanged ? `${h(b.ruleChanged.from)} → ${h(b.ruleChanged.to)}` : 'unchanged',
    h(formatDelta(b.plaintextObjects)),
    h(formatDelta(b.plaintextBytes, formatBytes)),
  ]),
  3,
)}</section>`;
}

export function renderHtml(r: PostureReport): string {
  const s = r.summary;
  const p = r.policy;
  const scriptHash = createHash('sha256').update(SORT_SCRIPT).digest('base64');
  const csp = `default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-${scriptHash}'; base-uri 'none'; form-action 'none'`;
  const target = [p.algorithm, p.kmsKeyId, p.kmsDataEncryption].filter((x) => x !== undefined).join('/');
  const globs = r.selection.globs.length > 0 ? r.selection.globs.join(', ') : 'all buckets';
  const allCompliant = s.bucketsCompliant === s.buckets;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Encryption posture report, ${h(r.generatedAt)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Encryption posture report</h1>
<p class="meta">Generated <time datetime="${h(r.generatedAt)}">${h(r.generatedAt)}</time> · region ${h(r.region)} · policy ${h(target)}, COMPLIANCE=${h(
    p.compliance,
  )} · buckets: ${h(globs)}${p.bucketExclude.length > 0 ? ` excluding ${h(p.bucketExclude.join(', '))}` : ''}${
    p.keyExcludePrefixes.length > 0 ? ` · key prefixes never touched: ${h(p.keyExcludePrefixes.join(', '))}` : ''
  }</p>
<section class="cards" id="summary">
<div class="card ${allCompliant ? 'good' : 'bad'}" data-figure="buckets-compliant"><b>${s.bucketsCompliant} of ${s.buckets}</b>buckets satisfy the policy</div>
<div class="card ${s.plaintextObjects > 0 ? 'bad' : 'good'}" data-figure="plaintext-objects"><b>${h(formatCount(s.plaintextObjects))}</b>plaintext objects of ${h(
    formatCount(s.objects),
  )}${s.estimated ? ' (estimated)' : ''}</div>
<div class="card ${s.plaintextBytes > 0 ? 'bad' : 'good'}" data-figure="plaintext-bytes"><b>${h(formatBytes(s.plaintextBytes))}</b>plaintext of ${h(
    formatBytes(s.bytes),
  )}</div>
<div class="card ${s.nonCompliantObjects > 0 ? 'bad' : 'good'}" data-figure="non-compliant-objects"><b>${h(
    formatCount(s.nonCompliantObjects),
  )}</b>objects short of the policy</div>
</section>
${changeSection(r)}
<figure id="chart-share" data-chart="share">${shareChart(r)}</figure>
<figure id="chart-algorithms" data-chart="algorithms">${algorithmChart(r)}</figure>
<h2>Buckets</h2>
<table class="sortable" id="buckets">
<thead><tr><th>bucket</th><th>default rule</th><th>versioning</th><th>source</th><th class="n">objects</th><th class="n">plaintext</th><th class="n">plaintext share</th><th class="n">plaintext bytes</th><th class="n">short of policy</th><th>status</th></tr></thead>
<tbody>
${r.buckets.map(bucketRow).join('\n')}
</tbody>
</table>
<p class="meta">* the source has a note: see the bucket below. Plaintext share: of the bucket's objects; a sampled bucket shows its 95% interval.</p>
<h2>Per bucket</h2>
${r.buckets.map(bucketDetails).join('\n')}
<script>${SORT_SCRIPT}</script>
</body>
</html>
`;
}
