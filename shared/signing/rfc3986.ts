/** RFC 3986 percent-encoding, the one form OSS V4, the RPC (KMS) signature and OSS request paths agree on. */

// Compiled once: encodeURIComponent leaves these unescaped, RFC 3986 does not.
const NOT_RFC3986_RE = /[!'()*]/g;

function escapeChar(c: string): string {
  return '%' + c.charCodeAt(0).toString(16).toUpperCase();
}

/**
 * Only A-Z a-z 0-9 - . _ ~ stay as they are (ali-oss encodeString, rpc-util encode).
 * Runs on every signature the local servers verify, so the rare-character pass is skipped
 * (with its allocation) when none of those characters is there.
 */
export function encodeRfc3986(s: string): string {
  const e = encodeURIComponent(s);
  for (let i = 0; i < e.length; i++) {
    const c = e.charCodeAt(i);
    if (c === 33 || c === 39 || c === 40 || c === 41 || c === 42) return e.replace(NOT_RFC3986_RE, escapeChar);
  }
  return e;
}
