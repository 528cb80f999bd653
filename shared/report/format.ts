/**
 * Text helpers the Markdown and HTML renderings share: escaping of names that come from
 * buckets and keys (any character may be in a key), sizes and shares for people.
 */
import type { BucketReport, Change, EncryptionCount } from './schema';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Control characters (a key may hold a newline or a NUL) shown as \u{…} rather than acted on. */
const visible = (s: string): string =>
  // Every C0/C1 control character, plus the line and paragraph separators.
  s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);

/** Safe as HTML text and inside a quoted attribute. */
export function escapeHtml(s: string): string {
  return visible(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/**
 * Safe in a Markdown table cell: what could start emphasis, code, a link, an HTML tag or an
 * entity, or end the cell, is backslash-escaped (CommonMark lets any ASCII punctuation be).
 */
export function escapeMarkdown(s: string): string {
  return visible(s).replace(/[\\`*_[\]<>|&~]/g, (c) => `\\${c}`);
}

/** A prefix as shown: "" (keys at the root) reads "(root)". */
export const prefixLabel = (prefix: string): string => (prefix === '' ? '(root)' : prefix);

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export const formatPercent = (share: number): string => `${(share * 100).toFixed(share > 0 && share < 0.001 ? 2 : 1)}%`;

export const formatCount = (n: number): string => n.toLocaleString('en-US');

/** A signed change: "+3", "-1", "0". */
export const formatDelta = (n: number, format: (n: number) => string = formatCount): string => (n > 0 ? `+${format(n)}` : n < 0 ? `-${format(-n)}` : '0');

/** "AES256", "KMS key-id +SM4", "none (plaintext)". */
export function encryptionLabel(e: Pick<EncryptionCount, 'encryption' | 'kmsKeyId' | 'dataEncryption'>): string {
  switch (e.encryption) {
    case 'none':
      return 'none (plaintext)';
    case 'KMS':
      return `KMS ${e.kmsKeyId ?? '(managed key)'}${e.dataEncryption ? ' +SM4' : ''}`;
    case 'encrypted':
      return 'encrypted (algorithm not reported)';
    case 'unknown':
      return 'unknown';
    default:
      return e.encryption;
  }
}

/** The bucket's source in a few words: "listing", "inventory <id>", "sample 200 of 5,000" (a note is shown apart). */
export function sourceLabel(b: BucketReport): string {
  const s = b.source;
  if (s.kind === 'listing') return 'listing';
  if (s.kind === 'inventory') return `inventory ${s.inventoryId}`;
  return `sample ${formatCount(s.sampleSize)} of ${formatCount(s.population)}`;
}

/** The plaintext share of a bucket's objects as text, with the interval for a sample. */
export function plaintextShareLabel(b: BucketReport): string {
  if (b.source.kind === 'sample' && b.source.plaintextShare.method === 'wilson') {
    const i = b.source.plaintextShare;
    return `${formatPercent(i.estimate)} (95%: ${formatPercent(i.low)}–${formatPercent(i.high)})`;
  }
  return b.objects.total === 0 ? '–' : formatPercent(b.objects.plaintext / b.objects.total);
}

/** What the source could not do or tell, when anything (why a bucket was listed under --inventory, say). */
export const sourceNote = (b: BucketReport): string | undefined => (b.source.kind === 'sample' ? undefined : b.source.note);

/** Buckets whose figures moved, or that came or went, in a change. */
export const changedBuckets = (c: Change): Change['buckets'] =>
  c.buckets.filter((b) => b.status !== 'kept' || b.ruleChanged || b.plaintextObjects !== 0 || b.plaintextBytes !== 0);
