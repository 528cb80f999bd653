/**
 * Alibaba Cloud OSS request signatures: V1 (`OSS ak:sig`, HMAC-SHA1) and V4
 * (`OSS4-HMAC-SHA256`), both for signing (clients) and verifying (the local OSS server).
 *
 * Sources: ali-oss 6.23.0 lib/common/signUtils.js + lib/common/utils/createRequest.js, and
 * the official Go SDK v2 signer (oss/signer/v1.go, v4.go), whose test vectors run against
 * real OSS and are reproduced in test/unit/signing-oss.test.ts.
 *
 * verifyOssRequest runs on every request of the local server, so the hot path avoids
 * per-call regex compilation and keeps allocations to what the canonical strings need.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { encodeRfc3986 } from './rfc3986';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** A request as the server sees it after parsing; also what a client builds before sending. */
export interface OssRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** undefined for service-level requests (ListBuckets). */
  bucket?: string;
  /** DECODED object key (raw UTF-8); undefined for bucket- and service-level requests. */
  key?: string;
  /** DECODED query parameters; valueless ones (?acl, ?uploads) map to ''. */
  query: Record<string, string>;
  /** Lower-case header names, like node's IncomingMessage.headers. */
  headers: Record<string, string | string[] | undefined>;
}

export type VerifyResult =
  | { ok: true; accessKeyId: string; securityToken?: string; version: 'v1' | 'v4' }
  | {
      ok: false;
      status: 400 | 403;
      code: 'SignatureDoesNotMatch' | 'InvalidAccessKeyId' | 'AccessDenied' | 'RequestTimeTooSkewed' | 'InvalidArgument';
      message: string;
    };

/**
 * Query parameters that V1 signs: they go into the CanonicalizedResource, sorted, as
 * `name` or `name=value` (decoded value). Everything else (prefix, max-keys, list-type,
 * delimiter, marker, start-after, encoding-type, key-marker, upload-id-marker, …) is not
 * signed in V1. Union of the official Go SDK v1 `signKeyList` and Go SDK v2
 * `requiredSignedParametersMap`, which covers every sub-resource ali-oss 6.23.0 puts in
 * `params.subres`. In addition, any parameter whose name starts with `x-oss-` is signed
 * (Go SDK v2 rule; see isV1SignedParam).
 */
export const OSS_V1_SIGNED_SUBRESOURCES: ReadonlySet<string> = new Set([
  'acl',
  'uploads',
  'location',
  'cors',
  'logging',
  'website',
  'referer',
  'lifecycle',
  'delete',
  'append',
  'tagging',
  'objectMeta',
  'uploadId',
  'partNumber',
  'security-token',
  'position',
  'img',
  'style',
  'styleName',
  'replication',
  'replicationProgress',
  'replicationLocation',
  'cname',
  'bucketInfo',
  'comp',
  'qos',
  'live',
  'status',
  'vod',
  'startTime',
  'endTime',
  'symlink',
  'x-oss-process',
  'response-content-type',
  'x-oss-traffic-limit',
  'response-content-language',
  'response-expires',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'udf',
  'udfName',
  'udfImage',
  'udfId',
  'udfImageDesc',
  'udfApplication',
  'udfApplicationLog',
  'restore',
  'callback',
  'callback-var',
  'qosInfo',
  'policy',
  'stat',
  'encryption',
  'versions',
  'versioning',
  'versionId',
  'requestPayment',
  'x-oss-request-payer',
  'sequential',
  'inventory',
  'inventoryId',
  'continuation-token',
  'asyncFetch',
  'worm',
  'wormId',
  'wormExtend',
  'withHashContext',
  'x-oss-enable-md5',
  'x-oss-enable-sha1',
  'x-oss-enable-sha256',
  'x-oss-hash-ctx',
  'x-oss-md5-ctx',
  'transferAcceleration',
  'regionList',
  'cloudboxes',
  'x-oss-ac-source-ip',
  'x-oss-ac-subnet-mask',
  'x-oss-ac-vpc-id',
  'x-oss-ac-forward-allow',
  'metaQuery',
  'resourceGroup',
  'rtc',
  'x-oss-async-process',
  'responseHeader',
]);

const OSS_HEADER_PREFIX = 'x-oss-';
const V4_ALGORITHM = 'OSS4-HMAC-SHA256';
const V4_TERMINATOR = 'aliyun_v4_request';
const V4_PRODUCT = 'oss';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

// Compiled once (the local server verifies every request).
const ENCODED_SLASH_RE = /%2F/g;
const PLUS_RE = /\+/g;
const ISO_PUNCTUATION_RE = /[-:]|\.\d+/g; // 2023-12-16T16:20:57.000Z → 20231216T162057Z

function isV1SignedParam(name: string): boolean {
  return OSS_V1_SIGNED_SUBRESOURCES.has(name) || name.startsWith(OSS_HEADER_PREFIX);
}

/** One header as a string: repeated headers are joined with ',' (Go SDK rule). */
function headerValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined || typeof v === 'string') return v;
  return v.join(',');
}

function resourcePath(req: OssRequest): string {
  return '/' + (req.bucket ? req.bucket + '/' : '') + (req.key ?? '');
}

// ---------------------------------------------------------------------------------------
// V1

/** The V1 CanonicalizedResource: `/<bucket>/<raw key>` plus sorted signed sub-resources. */
function canonicalResourceV1(req: OssRequest): string {
  let r = resourcePath(req);
  let names: string[] | undefined;
  for (const name in req.query) {
    if (isV1SignedParam(name)) (names ??= []).push(name);
  }
  if (names === undefined) return r;
  names.sort();
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const v = req.query[name];
    r += (i === 0 ? '?' : '&') + name + (v ? '=' + v : '');
  }
  return r;
}

/**
 * V1 string to sign:
 * VERB \n Content-MD5 \n Content-Type \n Date \n sorted `x-oss-*:value\n` CanonicalizedResource.
 * The date line is x-oss-date when present (ali-oss sends only x-oss-date and signs its
 * value there), else the Date header (Go and Python SDKs send only Date). With both, we
 * take x-oss-date as ali-oss does; which one OSS itself prefers is UNCONFIRMED.
 */
export function stringToSignV1(req: OssRequest): string {
  const h = req.headers;
  let s =
    req.method +
    '\n' +
    (headerValue(h['content-md5']) ?? '') +
    '\n' +
    (headerValue(h['content-type']) ?? '') +
    '\n' +
    (headerValue(h['x-oss-date']) ?? headerValue(h['date']) ?? '') +
    '\n';
  let names: string[] | undefined;
  for (const name in h) {
    if (name.startsWith(OSS_HEADER_PREFIX) && h[name] !== undefined) (names ??= []).push(name);
  }
  if (names !== undefined) {
    names.sort();
    for (const name of names) s += name + ':' + (headerValue(h[name]) as string).trim() + '\n';
  }
  return s + canonicalResourceV1(req);
}

function signatureV1(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function assertTokenSent(req: OssRequest, creds: Credentials): void {
  // The token must be a signed header the server sees, not something the signer invents.
  if (creds.securityToken !== undefined && headerValue(req.headers['x-oss-security-token']) !== creds.securityToken) {
    throw new Error('credentials carry a security token: set it as the x-oss-security-token header before signing');
  }
}

/** `OSS <AccessKeyId>:<base64 HMAC-SHA1>` for the request as it will be sent. */
export function authorizationV1(req: OssRequest, creds: Credentials): string {
  assertTokenSent(req, creds);
  return 'OSS ' + creds.accessKeyId + ':' + signatureV1(creds.accessKeySecret, stringToSignV1(req));
}

// ---------------------------------------------------------------------------------------
// V4

/** ali-oss passes `oss-cn-hangzhou`; the V4 scope wants `cn-hangzhou` (getStandardRegion). */
function standardRegion(region: string): string {
  return region.startsWith('oss-') ? region.slice(4) : region;
}

/**
 * The V4 canonical request. Canonical query: every parameter, RFC 3986-encoded, sorted by
 * encoded name in byte order, `name` alone when the value is empty (Go SDK v2; ali-oss
 * sorts with localeCompare on raw names, which agrees for every parameter OSS defines).
 * `additional` must be the lower-case, sorted AdditionalHeaders list.
 */
function canonicalRequestV4(req: OssRequest, additional: readonly string[]): string {
  const h = req.headers;
  const uri = encodeRfc3986(resourcePath(req)).replace(ENCODED_SLASH_RE, '/');

  let query = '';
  const names = Object.keys(req.query);
  if (names.length > 0) {
    const pairs: [string, string][] = new Array(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const enc = encodeRfc3986(name);
      const v = req.query[name];
      pairs[i] = [enc, v ? enc + '=' + encodeRfc3986(v) : enc];
    }
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (let i = 0; i < pairs.length; i++) query += (i === 0 ? '' : '&') + (pairs[i] as [string, string])[1];
  }

  const signed: string[] = [];
  for (const name in h) {
    if (h[name] === undefined) continue;
    if (name === 'content-type' || name === 'content-md5' || name.startsWith(OSS_HEADER_PREFIX)) signed.push(name);
  }
  for (const name of additional) if (!signed.includes(name)) signed.push(name);
  signed.sort();
  let headers = '';
  for (const name of signed) headers += name + ':' + (headerValue(h[name]) ?? '').trim() + '\n';

  return (
    req.method +
    '\n' +
    uri +
    '\n' +
    query +
    '\n' +
    headers +
    '\n' +
    additional.join(';') +
    '\n' +
    (headerValue(h['x-oss-content-sha256']) ?? UNSIGNED_PAYLOAD)
  );
}

function stringToSignV4(date: string, scope: string, canonicalRequest: string): string {
  return V4_ALGORITHM + '\n' + date + '\n' + scope + '\n' + createHash('sha256').update(canonicalRequest, 'utf8').digest('hex');
}

// Derived signing keys are 4 HMACs each and change once a day per key: cache a few.
const signingKeyCache = new Map<string, Buffer>();
const SIGNING_KEY_CACHE_MAX = 256;

function signingKeyV4(secret: string, day: string, region: string): Buffer {
  const id = day + '\n' + region + '\n' + secret;
  let key = signingKeyCache.get(id);
  if (key === undefined) {
    const kDate = createHmac('sha256', 'aliyun_v4' + secret)
      .update(day)
      .digest();
    const kRegion = createHmac('sha256', kDate).update(region).digest();
    const kProduct = createHmac('sha256', kRegion).update(V4_PRODUCT).digest();
    key = createHmac('sha256', kProduct).update(V4_TERMINATOR).digest();
    if (signingKeyCache.size >= SIGNING_KEY_CACHE_MAX) signingKeyCache.clear();
    signingKeyCache.set(id, key);
  }
  return key;
}

function signatureV4(secret: string, day: string, region: string, stringToSign: string): string {
  return createHmac('sha256', signingKeyV4(secret, day, region))
    .update(stringToSign, 'utf8')
    .digest('hex');
}

/** Lower-case, de-duplicate, drop headers V4 signs anyway, sort (ali-oss fixAdditionalHeaders). */
function normaliseAdditionalHeaders(list: readonly string[] | undefined): string[] {
  if (!list || list.length === 0) return [];
  const out = new Set<string>();
  for (const raw of list) {
    const name = raw.toLowerCase();
    if (name !== 'content-type' && name !== 'content-md5' && !name.startsWith(OSS_HEADER_PREFIX)) out.add(name);
  }
  return [...out].sort();
}

/**
 * `OSS4-HMAC-SHA256 Credential=<ak>/<yyyymmdd>/<region>/oss/aliyun_v4_request[,AdditionalHeaders=a;b],Signature=<hex>`.
 * Uses req.headers['x-oss-date'] (ISO basic, yyyymmddThhmmssZ); the caller also sets
 * `x-oss-content-sha256: UNSIGNED-PAYLOAD` (verifyOssRequest requires it) and, with STS,
 * x-oss-security-token. `region` may be `cn-hangzhou` or ali-oss's `oss-cn-hangzhou`.
 */
export function authorizationV4(req: OssRequest, creds: Credentials, region: string, additionalHeaders?: string[]): string {
  assertTokenSent(req, creds);
  const date = headerValue(req.headers['x-oss-date']);
  if (date === undefined || Number.isNaN(parseIsoBasic(date))) {
    throw new Error('V4 signing needs an x-oss-date header in ISO basic format (yyyymmddThhmmssZ)');
  }
  if (req.key && !req.bucket) throw new Error('V4 signing of an object key needs its bucket');
  const additional = normaliseAdditionalHeaders(additionalHeaders);
  for (const name of additional) {
    if (req.headers[name] === undefined) throw new Error(`additional header ${name} is not in the request headers`);
  }
  const std = standardRegion(region);
  const day = date.slice(0, 8);
  const scope = day + '/' + std + '/' + V4_PRODUCT + '/' + V4_TERMINATOR;
  const signature = signatureV4(creds.accessKeySecret, day, std, stringToSignV4(date, scope, canonicalRequestV4(req, additional)));
  return (
    V4_ALGORITHM +
    ' Credential=' +
    creds.accessKeyId +
    '/' +
    scope +
    ',' +
    (additional.length > 0 ? 'AdditionalHeaders=' + additional.join(';') + ',' : '') +
    'Signature=' +
    signature
  );
}

/** `20231216T162057Z` → epoch ms, NaN when malformed. */
function parseIsoBasic(s: string): number {
  if (s.length !== 16 || s.charCodeAt(8) !== 84 /* T */ || s.charCodeAt(15) !== 90 /* Z */) return NaN;
  const num = (from: number, to: number): number => {
    let n = 0;
    for (let i = from; i < to; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return NaN;
      n = n * 10 + d;
    }
    return n;
  };
  const y = num(0, 4),
    mo = num(4, 6),
    d = num(6, 8),
    hh = num(9, 11),
    mm = num(11, 13),
    ss = num(13, 15);
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && hh <= 23 && mm <= 59 && ss <= 60)) return NaN;
  return Date.UTC(y, mo - 1, d, hh, mm, ss);
}

/** V1 dates: RFC 1123 (`Wed, 28 Dec 2022 10:27:41 GMT`), or ISO basic from newer SDKs. */
function parseRequestDate(s: string): number {
  return s.length === 16 ? parseIsoBasic(s) : Date.parse(s);
}

// ---------------------------------------------------------------------------------------
// Sign a request in place (for our own clients)

/**
 * Sets x-oss-date (and, for V4, x-oss-content-sha256), x-oss-security-token when the
 * credentials carry one, and Authorization, the way ali-oss does.
 */
export function signOssRequest(
  req: OssRequest,
  creds: Credentials,
  opts: { version: 'v1' | 'v4'; region?: string; now?: Date; additionalHeaders?: string[] },
): void {
  const now = opts.now ?? new Date();
  if (creds.securityToken !== undefined) req.headers['x-oss-security-token'] = creds.securityToken;
  if (opts.version === 'v1') {
    req.headers['x-oss-date'] = now.toUTCString();
    req.headers['authorization'] = authorizationV1(req, creds);
    return;
  }
  if (opts.region === undefined) throw new Error('V4 signing needs a region');
  req.headers['x-oss-date'] = now.toISOString().replace(ISO_PUNCTUATION_RE, '');
  req.headers['x-oss-content-sha256'] ??= UNSIGNED_PAYLOAD;
  req.headers['authorization'] = authorizationV4(req, creds, opts.region, opts.additionalHeaders);
}

// ---------------------------------------------------------------------------------------
// Verify

type VerifyFailure = Extract<VerifyResult, { ok: false }>;

function fail(status: 400 | 403, code: VerifyFailure['code'], message: string): VerifyFailure {
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
  return fail(403, 'SignatureDoesNotMatch', message);
}

function checkSkew(t: number, now: number, maxSkewMs: number): VerifyFailure | undefined {
  if (Number.isNaN(t)) return fail(403, 'AccessDenied', 'The request date header is not a valid date.');
  if (Math.abs(now - t) > maxSkewMs) {
    return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
  }
  return undefined;
}

/**
 * Verify a V1 or V4 Authorization header. Order: header present and well-formed → access
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
  const auth = headerValue(h['authorization']);
  if (auth === undefined || auth === '') {
    return fail(403, 'AccessDenied', 'Anonymous access is forbidden: the request has no Authorization header.');
  }
  const now = opts.now === undefined ? Date.now() : opts.now.getTime();
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const securityToken = headerValue(h['x-oss-security-token']);

  if (auth.startsWith('OSS ')) {
    const sep = auth.lastIndexOf(':');
    const accessKeyId = sep > 4 ? auth.slice(4, sep).trim() : '';
    const provided = sep > 4 ? auth.slice(sep + 1).trim() : '';
    if (accessKeyId === '' || provided === '') return fail(400, 'InvalidArgument', 'Authorization header is invalid.');
    const secret = opts.lookupSecret(accessKeyId);
    if (secret === undefined) return fail(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.');
    const date = headerValue(h['x-oss-date']) ?? headerValue(h['date']);
    if (date === undefined) return fail(403, 'AccessDenied', 'The request has neither an x-oss-date nor a Date header.');
    const skewed = checkSkew(parseRequestDate(date), now, maxSkewMs);
    if (skewed) return skewed;
    const sts = stringToSignV1(req);
    if (!sameSignature(signatureV1(secret, sts), provided)) return mismatch('StringToSign', sts, secret);
    return securityToken === undefined ? { ok: true, accessKeyId, version: 'v1' } : { ok: true, accessKeyId, securityToken, version: 'v1' };
  }

  if (auth.startsWith(V4_ALGORITHM + ' ')) {
    let credential: string | undefined;
    let additionalRaw: string | undefined;
    let provided: string | undefined;
    let start = V4_ALGORITHM.length + 1;
    while (start <= auth.length) {
      let end = auth.indexOf(',', start);
      if (end < 0) end = auth.length;
      const part = auth.slice(start, end).trim();
      if (part.startsWith('Credential=')) credential = part.slice(11);
      else if (part.startsWith('AdditionalHeaders=')) additionalRaw = part.slice(18);
      else if (part.startsWith('Signature=')) provided = part.slice(10);
      else if (part !== '') return fail(400, 'InvalidArgument', 'Authorization header is invalid.');
      start = end + 1;
    }
    if (!credential || !provided)
      return fail(400, 'InvalidArgument', 'Authorization header is invalid: it needs Credential and Signature.');
    // Credential=<ak>/<yyyymmdd>/<region>/<product>/aliyun_v4_request
    const p4 = credential.lastIndexOf('/');
    const p3 = p4 > 0 ? credential.lastIndexOf('/', p4 - 1) : -1;
    const p2 = p3 > 0 ? credential.lastIndexOf('/', p3 - 1) : -1;
    const p1 = p2 > 0 ? credential.lastIndexOf('/', p2 - 1) : -1;
    if (p1 <= 0) return fail(400, 'InvalidArgument', 'Authorization header is invalid: malformed Credential.');
    const accessKeyId = credential.slice(0, p1);
    const day = credential.slice(p1 + 1, p2);
    const region = credential.slice(p2 + 1, p3);
    const product = credential.slice(p3 + 1, p4);
    const terminator = credential.slice(p4 + 1);

    const secret = opts.lookupSecret(accessKeyId);
    if (secret === undefined) return fail(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.');
    const date = headerValue(h['x-oss-date']);
    if (date === undefined) return fail(403, 'AccessDenied', 'V4 requests need an x-oss-date header.');
    const skewed = checkSkew(parseIsoBasic(date), now, maxSkewMs);
    if (skewed) return skewed;

    const expectedRegion = standardRegion(opts.region);
    if (product !== V4_PRODUCT || terminator !== V4_TERMINATOR) {
      return fail(400, 'InvalidArgument', 'Authorization header is invalid: the Credential scope must end in /oss/aliyun_v4_request.');
    }
    if (day !== date.slice(0, 8))
      return fail(400, 'InvalidArgument', 'Invalid signing date in Authorization header: it must match x-oss-date.');
    if (region !== expectedRegion) {
      return fail(400, 'InvalidArgument', `Invalid signing region in Authorization header: expected ${expectedRegion}, got ${region}.`);
    }
    // OSS documents x-oss-content-sha256 as required for V4; without it we refuse rather
    // than assume UNSIGNED-PAYLOAD (stricter reading; whether OSS rejects it is UNCONFIRMED).
    if (headerValue(h['x-oss-content-sha256']) === undefined) {
      return fail(400, 'InvalidArgument', 'V4 requests need an x-oss-content-sha256 header (UNSIGNED-PAYLOAD).');
    }
    let additional: string[] = [];
    if (additionalRaw) {
      additional = additionalRaw.split(';');
      for (const name of additional) {
        if (name === '' || name !== name.toLowerCase() || h[name] === undefined) {
          return fail(
            400,
            'InvalidArgument',
            `AdditionalHeaders names ${JSON.stringify(name)}, which the request does not carry (names must be lower-case).`,
          );
        }
      }
    }
    const canonical = canonicalRequestV4(req, additional);
    const sts = stringToSignV4(date, day + '/' + region + '/' + V4_PRODUCT + '/' + V4_TERMINATOR, canonical);
    if (!sameSignature(signatureV4(secret, day, region, sts), provided)) return mismatch('CanonicalRequest', canonical, secret);
    return securityToken === undefined ? { ok: true, accessKeyId, version: 'v4' } : { ok: true, accessKeyId, securityToken, version: 'v4' };
  }

  return fail(
    400,
    'InvalidArgument',
    'Authorization header is invalid: expected "OSS <ak>:<signature>" or "OSS4-HMAC-SHA256 Credential=…".',
  );
}

// ---------------------------------------------------------------------------------------
// Parse a raw HTTP request

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
  const hostBucket = bucketFromHost(headerValue(headers['host']), opts.hostSuffixes);
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

/**
 * The form of a header value that signing must see so that the bytes it signs (UTF-8 of the
 * string) are the bytes on the wire, as real OSS signs the raw header bytes. Node reads header
 * bytes as latin1 (one char per byte); bytes ≥ 0x80 are taken as the UTF-8 text they encode.
 * Evidence: ali-oss's own tests against OSS write Chinese metadata with headerEncoding
 * 'latin1', where V1 signs Buffer.from(stringToSign, 'latin1') and V4 utf8-decodes each
 * latin1 value — both sign exactly the UTF-8 bytes sent. ASCII values are unchanged.
 */
export function signingHeaderValue(wire: string): string {
  return /[\x80-\xff]/.test(wire) ? Buffer.from(wire, 'latin1').toString('utf8') : wire;
}

/** A request's headers as signing must see them (see signingHeaderValue); the same object when all are ASCII. */
export function signingView(req: OssRequest): OssRequest {
  let changed: OssRequest['headers'] | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string' && /[\x80-\xff]/.test(value)) {
      changed ??= { ...req.headers };
      changed[name] = signingHeaderValue(value);
    }
  }
  return changed ? { ...req, headers: changed } : req;
}
