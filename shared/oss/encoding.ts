/** How keys, copy sources, queries and header values are written on the wire to OSS, and keys read back. */
import { encodeRfc3986 } from '../signing';

/** The request path for a key: every byte escaped but '/', as ali-oss and the Go SDK v2 do. */
export function keyPath(key: string): string {
  return '/' + encodeRfc3986(key).replace(/%2F/g, '/');
}

/**
 * `x-oss-copy-source: /<bucket>/<key>[?versionId=<id>]`, everything but unreserved characters
 * escaped ('/' included): the one form every SDK's decoder maps back to the same key. The
 * version id is escaped too (a raw '+' would be ambiguous to a form decoder).
 * See docs/oss-behaviour.md#ali-oss-quirks.
 */
export function copySourceHeader(bucket: string, key: string, versionId?: string): string {
  return `/${bucket}/${encodeRfc3986(key)}` + (versionId === undefined ? '' : `?versionId=${encodeRfc3986(versionId)}`);
}

/** `?name&name=value…` in the given order; '' for no parameters. */
export function queryString(query: Record<string, string> | undefined): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    parts.push(value === '' ? encodeRfc3986(name) : `${encodeRfc3986(name)}=${encodeRfc3986(value)}`);
  }
  return parts.length === 0 ? '' : '?' + parts.join('&');
}

/**
 * Keys and prefixes under `encoding-type=url`, decoded like Go's url.QueryUnescape ('+' is a
 * space); OSS emits neither a literal '+' nor a space, so this agrees with every SDK's decoder.
 * See docs/oss-behaviour.md#ali-oss-quirks.
 */
export function urlDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

/**
 * Header values are byte strings on the wire. Node reads them as latin1 (one char per byte),
 * so a value from a HEAD, sent back unchanged, writes the very bytes OSS stored. A value with
 * characters above U+00FF cannot be such a byte string: it is text, sent as its UTF-8 bytes.
 */
export function toWireValue(v: string): string {
  return /[^\x00-\xff]/.test(v) ? Buffer.from(v, 'utf8').toString('latin1') : v;
}

/** Header names lower-cased, as OssPort callers' headers are sent. */
export function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}
