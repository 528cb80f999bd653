/**
 * The local OSS server's side of OSS signatures: parsing a raw HTTP request into the
 * OssRequest that was signed, and verifying its V1 or V4 Authorization against the canonical
 * strings of shared/signing. Runs on every request: no per-call regex compilation.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  canonicalRequestV4,
  OSS_V4_ALGORITHM,
  OSS_V4_PRODUCT,
  OSS_V4_TERMINATOR,
  ossHeaderValue,
  parseIsoBasic,
  signatureV1,
  signatureV2,
  signatureV4,
  standardRegion,
  stringToSignV1,
  stringToSignV2,
  stringToSignV4,
  type OssRequest,
} from '../../shared/signing';

export type VerifyResult =
  | { ok: true; accessKeyId: string; securityToken?: string; version: 'v1' | 'v2' | 'v4' }
  | {
      ok: false;
      status: 400 | 403;
      code: 'SignatureDoesNotMatch' | 'InvalidAccessKeyId' | 'AccessDenied' | 'RequestTimeTooSkewed' | 'InvalidArgument';
      message: string;
    };

const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
const PLUS_RE = /\+/g;

/** V1 dates: RFC 1123 (`Wed, 28 Dec 2022 10:27:41 GMT`), or ISO basic from newer SDKs. */
function parseRequestDate(s: string): number {
  return s.length === 16 ? parseIsoBasic(s) : Date.parse(s);
}

type VerifyFailure = Extract<VerifyResult, { ok: false }>;

function refusal(status: 400 | 403, code: VerifyFailure['code'], message: string): VerifyFailure {
  return { ok: false, status, code, message };
}

const MSG_MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';

/** Signature comparison without a timing side channel (lengths are public: fixed by the algorithm). */
function sameSignature(expected: string, provided: string): boolean {
  if (expected.length !== provided.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(provided, 'latin1'));
}

function mismatch(what: string, canonical: string, secret: string): VerifyFailure {
  // Like OSS, show what we signed so a client author can diff it; never the secret, even
  // if a client echoed it into a header.
  let message = `${MSG_MISMATCH} ${what}: ${JSON.stringify(canonical)}`;
  if (secret.length > 0 && message.includes(secret)) message = message.split(secret).join('[redacted]');
  return refusal(403, 'SignatureDoesNotMatch', message);
}

function checkSkew(t: number, now: number, maxSkewMs: number): VerifyFailure | undefined {
  if (Number.isNaN(t)) return refusal(403, 'AccessDenied', 'The request date header is not a valid date.');
  if (Math.abs(now - t) > maxSkewMs) {
    return refusal(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
  }
  return undefined;
}

/** V1 and V2 date: x-oss-date, else Date, within maxSkewMs of now. */
function checkV1V2Date(h: OssRequest['headers'], now: number, maxSkewMs: number): VerifyFailure | undefined {
  const date = ossHeaderValue(h['x-oss-date']) ?? ossHeaderValue(h['date']);
  if (date === undefined) return refusal(403, 'AccessDenied', 'The request has neither an x-oss-date nor a Date header.');
  return checkSkew(parseRequestDate(date), now, maxSkewMs);
}

type Verified = Extract<VerifyResult, { ok: true }>;

function accepted(accessKeyId: string, securityToken: string | undefined, version: Verified['version']): Verified {
  return securityToken === undefined ? { ok: true, accessKeyId, version } : { ok: true, accessKeyId, securityToken, version };
}

/** The AdditionalHeaders list of a V2 or V4 Authorization, each name lower-case and sent. */
function additionalHeaderNames(raw: string | undefined, h: OssRequest['headers']): string[] | VerifyFailure {
  if (!raw) return [];
  const names = raw.split(';');
  for (const name of names) {
    if (name === '' || name !== name.toLowerCase() || h[name] === undefined) {
      return refusal(
        400,
        'InvalidArgument',
        `AdditionalHeaders names ${JSON.stringify(name)}, which the request does not carry (names must be lower-case).`,
      );
    }
  }
  return names;
}

function knownSecret(lookupSecret: (accessKeyId: string) => string | undefined, accessKeyId: string): string | VerifyFailure {
  return (
    lookupSecret(accessKeyId) ?? refusal(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.')
  );
}

/**
 * Verify a V1, V2 or V4 Authorization header. Order: header present and well-formed → access
 * key known → date present and within maxSkewMs → (V4) scope, x-oss-content-sha256 and
 * AdditionalHeaders well-formed → signature.
 */
export function verifyOssRequest(
  req: OssRequest,
  opts: {
    lookupSecret: (accessKeyId: string) => string | undefined;
    region: string;
    now?: Date;
    maxSkewMs?: number /* default 15 min */;
  },
): VerifyResult {
  const h = req.headers;
  const auth = ossHeaderValue(h['authorization']);
  if (auth === undefined || auth === '') {
    return refusal(403, 'AccessDenied', 'Anonymous access is forbidden: the request has no Authorization header.');
  }
  const now = opts.now === undefined ? Date.now() : opts.now.getTime();
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const securityToken = ossHeaderValue(h['x-oss-security-token']);

  if (auth.startsWith('OSS ')) {
    const sep = auth.lastIndexOf(':');
    const accessKeyId = sep > 4 ? auth.slice(4, sep).trim() : '';
    const provided = sep > 4 ? auth.slice(sep + 1).trim() : '';
    if (accessKeyId === '' || provided === '') return refusal(400, 'InvalidArgument', 'Authorization header is invalid.');
    const secret = knownSecret(opts.lookupSecret, accessKeyId);
    if (typeof secret !== 'string') return secret;
    const dateRefused = checkV1V2Date(h, now, maxSkewMs);
    if (dateRefused) return dateRefused;
    const sts = stringToSignV1(req);
    if (!sameSignature(signatureV1(secret, sts), provided)) return mismatch('StringToSign', sts, secret);
    return accepted(accessKeyId, securityToken, 'v1');
  }

  if (auth.startsWith('OSS2 ')) {
    // OSS2 AccessKeyId:<ak>[,AdditionalHeaders:a;b],Signature:<sig> (parts may be ", "-separated)
    let accessKeyId: string | undefined;
    let additionalRaw: string | undefined;
    let provided: string | undefined;
    for (const rawPart of auth.slice(5).split(',')) {
      const part = rawPart.trim();
      if (part.startsWith('AccessKeyId:')) accessKeyId = part.slice(12);
      else if (part.startsWith('AdditionalHeaders:')) additionalRaw = part.slice(18);
      else if (part.startsWith('Signature:')) provided = part.slice(10);
      else if (part !== '') return refusal(400, 'InvalidArgument', 'Authorization header is invalid.');
    }
    if (!accessKeyId || provided === undefined)
      return refusal(400, 'InvalidArgument', 'Authorization header is invalid: it needs AccessKeyId and Signature.');
    const secret = knownSecret(opts.lookupSecret, accessKeyId);
    if (typeof secret !== 'string') return secret;
    const dateRefused = checkV1V2Date(h, now, maxSkewMs);
    if (dateRefused) return dateRefused;
    const additional = additionalHeaderNames(additionalRaw, h);
    if (!Array.isArray(additional)) return additional;
    const sts = stringToSignV2(req, [...additional].sort());
    if (!sameSignature(signatureV2(secret, sts), provided)) return mismatch('StringToSign', sts, secret);
    return accepted(accessKeyId, securityToken, 'v2');
  }

  if (auth.startsWith(OSS_V4_ALGORITHM + ' ')) {
    let credential: string | undefined;
    let additionalRaw: string | undefined;
    let provided: string | undefined;
    let start = OSS_V4_ALGORITHM.length + 1;
    while (start <= auth.length) {
      let end = auth.indexOf(',', start);
      if (end < 0) end = auth.length;
      const part = auth.slice(start, end).trim();
      if (part.startsWith('Credential=')) credential = part.slice(11);
      else if (part.startsWith('AdditionalHeaders=')) additionalRaw = part.slice(18);
      else if (part.startsWith('Signature=')) provided = part.slice(10);
      else if (part !== '') return refusal(400, 'InvalidArgument', 'Authorization header is invalid.');
      start = end + 1;
    }
    if (!credential || !provided)
      return refusal(400, 'InvalidArgument', 'Authorization header is invalid: it needs Credential and Signature.');
    // Credential=<ak>/<yyyymmdd>/<region>/<product>/aliyun_v4_request
    const p4 = credential.lastIndexOf('/');
    const p3 = p4 > 0 ? credential.lastIndexOf('/', p4 - 1) : -1;
    const p2 = p3 > 0 ? credential.lastIndexOf('/', p3 - 1) : -1;
    const p1 = p2 > 0 ? credential.lastIndexOf('/', p2 - 1) : -1;
    if (p1 <= 0) return refusal(400, 'InvalidArgument', 'Authorization header is invalid: malformed Credential.');
    const accessKeyId = credential.slice(0, p1);
    const day = credential.slice(p1 + 1, p2);
    const region = credential.slice(p2 + 1, p3);
    const product = credential.slice(p3 + 1, p4);
    const terminator = credential.slice(p4 + 1);

    const secret = knownSecret(opts.lookupSecret, accessKeyId);
    if (typeof secret !== 'string') return secret;
    const date = ossHeaderValue(h['x-oss-date']);
    if (date === undefined) return refusal(403, 'AccessDenied', 'V4 requests need an x-oss-date header.');
    const skewed = checkSkew(parseIsoBasic(date), now, maxSkewMs);
    if (skewed) return skewed;

    const expectedRegion = standardRegion(opts.region);
    if (product !== OSS_V4_PRODUCT || terminator !== OSS_V4_TERMINATOR) {
      return refusal(400, 'InvalidArgument', 'Authorization header is invalid: the Credential scope must end in /oss/aliyun_v4_request.');
    }
    if (day !== date.slice(0, 8))
      return refusal(400, 'InvalidArgument', 'Invalid signing date in Authorization header: it must match x-oss-date.');
    if (region !== expectedRegion) {
      return refusal(400, 'InvalidArgument', `Invalid signing region in Authorization header: expected ${expectedRegion}, got ${region}.`);
    }
    // OSS documents x-oss-content-sha256 as required for V4; without it we refuse rather
    // than assume UNSIGNED-PAYLOAD (stricter reading; whether OSS rejects it is UNCONFIRMED).
    if (ossHeaderValue(h['x-oss-content-sha256']) === undefined) {
      return refusal(400, 'InvalidArgument', 'V4 requests need an x-oss-content-sha256 header (UNSIGNED-PAYLOAD).');
    }
    const additional = additionalHeaderNames(additionalRaw, h);
    if (!Array.isArray(additional)) return additional;
    const canonical = canonicalRequestV4(req, additional);
    const sts = stringToSignV4(date, day + '/' + region + '/' + OSS_V4_PRODUCT + '/' + OSS_V4_TERMINATOR, canonical);
    if (!sameSignature(signatureV4(secret, day, region, sts), provided)) return mismatch('CanonicalRequest', canonical, secret);
    return accepted(accessKeyId, securityToken, 'v4');
  }

  return refusal(
    400,
    'InvalidArgument',
    'Authorization header is invalid: expected "OSS <ak>:<signature>", "OSS2 AccessKeyId:<ak>,Signature:…" or "OSS4-HMAC-SHA256 Credential=…".',
  );
}

function decodePathPart(s: string): string {
  return s.includes('%') ? decodeURIComponent(s) : s; // throws URIError on malformed escapes
}

function decodeQueryPart(s: string): string {
  if (s.includes('+')) s = s.replace(PLUS_RE, ' '); // form encoding: '+' is a space in queries
  return s.includes('%') ? decodeURIComponent(s) : s;
}

/**
 * The bucket named by a virtual-hosted Host header, or undefined for path-style hosts.
 * Suffixes match case-insensitively, but the bucket keeps the case it was sent in: the
 * client signed that spelling, and the server must be able to refuse `Bad_Name` as an
 * invalid bucket name rather than as a signature mismatch.
 */
function bucketFromHost(hostHeader: string | undefined, suffixes: readonly string[] | undefined): string | undefined {
  if (!hostHeader) return undefined;
  if (hostHeader.charCodeAt(0) === 91 /* [ */) return undefined; // IPv6 literal: never a bucket
  const colon = hostHeader.indexOf(':');
  const host = colon >= 0 ? hostHeader.slice(0, colon) : hostHeader;
  const lower = host.toLowerCase();
  if (suffixes) {
    for (const raw of suffixes) {
      const suffix = raw.charCodeAt(0) === 46 /* . */ ? raw.toLowerCase() : '.' + raw.toLowerCase();
      if (lower.length > suffix.length && lower.endsWith(suffix)) return host.slice(0, host.length - suffix.length);
    }
  }
  // <bucket>.oss-<region>[-internal].aliyuncs.com, <bucket>.oss-accelerate.aliyuncs.com, …
  const dot = lower.indexOf('.');
  if (dot > 0 && lower.startsWith('.oss-', dot)) return host.slice(0, dot);
  return undefined;
}

/**
 * Turn a raw HTTP request into an OssRequest. The bucket comes from the Host header when
 * it is virtual-hosted (`<bucket>.oss-…`, or `<bucket>.<suffix>` for opts.hostSuffixes);
 * otherwise the path is `/<bucket>/<key>`. Key and query are percent-decoded ('+' is a
 * space in the query, a plus in the path). Throws on malformed percent-encoding.
 */
export function parseOssRequest(
  method: string,
  rawUrl: string,
  headers: Record<string, string | string[] | undefined>,
  opts: { hostSuffixes?: string[] } = {},
): OssRequest {
  let url = rawUrl;
  if (url.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (http://host/path), as sent to proxies
    const scheme = url.indexOf('://');
    if (scheme >= 0) {
      const slash = url.indexOf('/', scheme + 3);
      url = slash < 0 ? '/' : url.slice(slash);
    }
  }
  const hash = url.indexOf('#');
  if (hash >= 0) url = url.slice(0, hash);
  const qmark = url.indexOf('?');
  const path = qmark < 0 ? url : url.slice(0, qmark);

  const query = Object.create(null) as Record<string, string>; // no prototype: '__proto__' is just a name
  if (qmark >= 0 && qmark < url.length - 1) {
    for (const part of url.slice(qmark + 1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
      if (name in query) continue; // first occurrence wins, as Go's url.Values.Get
      query[name] = eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1));
    }
  }

  const out: OssRequest = { method: method.toUpperCase(), query, headers };
  const hostBucket = bucketFromHost(ossHeaderValue(headers['host']), opts.hostSuffixes);
  if (hostBucket !== undefined) {
    out.bucket = hostBucket;
    if (path.length > 1) out.key = decodePathPart(path.slice(1));
    return out;
  }
  if (path.length > 1) {
    const rest = path.slice(1);
    const slash = rest.indexOf('/');
    out.bucket = decodePathPart(slash < 0 ? rest : rest.slice(0, slash));
    if (slash >= 0 && slash < rest.length - 1) out.key = decodePathPart(rest.slice(slash + 1));
  }
  return out;
}
