/**
 * The local FC server's side of Function Compute signatures (`FC ak:sig`): verifying a
 * request against shared/signing's string to sign, and checking the body's Content-MD5.
 * Error codes are Function Compute's documented ones ("Error codes", FC API reference):
 * 403 SignatureNotMatch, 403 InvalidAccessKeyID (`invalid access key ID '%s'`), 400
 * MissingRequiredHeader (`required HTTP header %s was not specified`), 400 InvalidArgument.
 * The fc-nodejs-sdk's own tests against the real service pin the first two (403,
 * FCSignatureNotMatchError / FCInvalidAccessKeyIDError). A skewed Date is refused with
 * RequestTimeTooSkewed (403): UNCONFIRMED for FC, no FC source shows it (it is the code
 * OSS uses), 15 minutes like the other Alibaba Cloud gateways. See docs/oss-behaviour.md#signatures.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { fcSignature, fcSignsQuery, fcStringToSign, findFcHeader, type FcHeaders, type FcQuery } from '../../shared/signing';

const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
const AUTH_RE = /^FC ([^:\s]+):(\S+)$/;

/** True when `header` is the body's MD5 in fc2's form (base64 of hex) or the RFC 1864 form (base64 of the digest). */
export function fcContentMd5Matches(header: string, body: Buffer): boolean {
  const digest = createHash('md5').update(body).digest();
  return header === Buffer.from(digest.toString('hex'), 'utf8').toString('base64') || header === digest.toString('base64');
}

export type FcVerifyFailure = {
  ok: false;
  status: 400 | 403;
  code: 'MissingRequiredHeader' | 'InvalidArgument' | 'InvalidAccessKeyID' | 'SignatureNotMatch' | 'RequestTimeTooSkewed';
  message: string;
};

export type FcVerifyResult = { ok: true; accessKeyId: string; securityToken?: string } | FcVerifyFailure;

export interface FcVerifyOptions {
  lookupSecret: (accessKeyId: string) => string | undefined;
  now?: Date;
  /** Allowed difference between the Date header and now; default 15 minutes. */
  maxSkewMs?: number;
}

function refusal(status: 400 | 403, code: FcVerifyFailure['code'], message: string): FcVerifyFailure {
  return { ok: false, status, code, message };
}

function sameSignature(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(provided, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function decodedPath(path: string): string | undefined {
  try {
    const d = decodeURIComponent(path);
    return d === path ? undefined : d;
  } catch {
    return undefined;
  }
}

/**
 * Verify an FC request. `path` is the request path without the query, as received (it may be
 * percent-encoded: fc2 signs the unencoded path, so a path that differs once decoded is tried
 * both ways); `query` the decoded query parameters (signed only for proxy paths); `headers`
 * as node delivers them. Order: Authorization and Date present → Authorization well-formed →
 * access key known → Date within maxSkewMs → signature. The body's Content-MD5 is the
 * caller's to check (fcContentMd5Matches): the signature covers the header, not the bytes.
 */
export function verifyFcRequest(method: string, path: string, query: FcQuery, headers: FcHeaders, opts: FcVerifyOptions): FcVerifyResult {
  const auth = findFcHeader(headers, 'authorization');
  if (auth === undefined || auth === '')
    return refusal(400, 'MissingRequiredHeader', 'required HTTP header Authorization was not specified');
  const dateHeader = findFcHeader(headers, 'date');
  if (dateHeader === undefined || dateHeader === '')
    return refusal(400, 'MissingRequiredHeader', 'required HTTP header Date was not specified');
  const m = AUTH_RE.exec(auth);
  if (!m) return refusal(400, 'InvalidArgument', 'the Authorization header must be "FC <AccessKeyId>:<Signature>"');
  const accessKeyId = m[1] as string;
  const provided = m[2] as string;

  const date = Date.parse(dateHeader);
  if (Number.isNaN(date)) return refusal(400, 'InvalidArgument', `the Date header "${dateHeader}" is not an RFC 1123 date`);

  const secret = opts.lookupSecret(accessKeyId);
  if (secret === undefined) return refusal(403, 'InvalidAccessKeyID', `invalid access key ID '${accessKeyId}'`);

  const now = opts.now === undefined ? Date.now() : opts.now.getTime();
  if (Math.abs(now - date) > (opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) {
    return refusal(403, 'RequestTimeTooSkewed', 'the difference between the request time (Date header) and the server time is too large');
  }

  const signedQuery = fcSignsQuery(path) ? query : undefined;
  let ok = sameSignature(fcSignature(fcStringToSign(method, path, headers, signedQuery), secret), provided);
  if (!ok) {
    const alt = decodedPath(path);
    if (alt !== undefined) ok = sameSignature(fcSignature(fcStringToSign(method, alt, headers, signedQuery), secret), provided);
  }
  if (!ok) {
    // FC's documented message; the StringToSign is not echoed (it carries the STS token).
    return refusal(
      403,
      'SignatureNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your access key and signing method',
    );
  }
  const token = findFcHeader(headers, 'x-fc-security-token');
  return token === undefined || token === '' ? { ok: true, accessKeyId } : { ok: true, accessKeyId, securityToken: token };
}
