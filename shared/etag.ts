/**
 * One spelling for ETags: events carry them unquoted upper-case, HEAD quoted. Hex case
 * carries no meaning, so it is folded too. Compare only normalized values. Idempotent:
 * quotes cannot occur inside an ETag value (RFC 9110), so all are dropped, then any leading
 * weak-validator prefix (`W/`, never meaningful for OSS) and surrounding spaces.
 */
export function normalizeEtag(eTag: string): string {
  return eTag
    .replace(/"/g, '')
    .replace(/^(?:\s|W\/)+/i, '')
    .trim()
    .toUpperCase();
}

/** Whether two ETags (quoted, unquoted, any case) name the same content. */
export function sameEtag(a: string, b: string): boolean {
  return normalizeEtag(a) === normalizeEtag(b);
}
