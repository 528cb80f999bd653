/**
 * Alibaba Cloud OSS request signatures: V1 (`OSS ak:sig`, HMAC-SHA1), V2 (`OSS2 …`,
 * HMAC-SHA256, verified by the local server only: our clients sign V1/V4) and V4
 * (`OSS4-HMAC-SHA256`): the canonical strings and signatures, and signing for our clients.
 * Verifying them is the local OSS server's (local/oss/verify.ts), built on the same strings.
 *
 * Sources: ali-oss 6.23.0 lib/common/signUtils.js + lib/common/utils/createRequest.js, and
 * the official Go SDK v2 signer (oss/signer/v1.go, v4.go), whose test vectors run against
 * real OSS and are reproduced in test/unit/signing-oss.test.ts.
 *
 * The local server computes these strings for every request it verifies, so the hot path
 * avoids per-call regex compilation and keeps allocations to what the canonical strings need.
 */
import * as crypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';
import { OSS_V1_SIGNED_SUBRESOURCES } from './oss-subresources';
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

const OSS_HEADER_PREFIX = 'x-oss-';
export const OSS_V4_ALGORITHM = 'OSS4-HMAC-SHA256';
export const OSS_V4_TERMINATOR = 'aliyun_v4_request';
export const OSS_V4_PRODUCT = 'oss';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

// Compiled once (the local server verifies every request).
const ENCODED_SLASH_RE = /%2F/g;
const ISO_PUNCTUATION_RE = /[-:]|\.\d+/g; // 2023-12-16T16:20:57.000Z → 20231216T162057Z

function isV1SignedParam(name: string): boolean {
  return OSS_V1_SIGNED_SUBRESOURCES.has(name) || name.startsWith(OSS_HEADER_PREFIX);
}

/** One header as a string: repeated headers are joined with ',' (Go SDK rule). */
export function ossHeaderValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined || typeof v === 'string') return v;
  return v.join(',');
}

function resourcePath(req: OssRequest): string {
  return '/' + (req.bucket ? req.bucket + '/' : '') + (req.key ?? '');
}

// ---------------------------------------------------------------------------------------
// V1

/** The first lines of the V1 and V2 strings to sign: VERB, Content-MD5, Content-Type, date. */
function fixedLines(req: OssRequest, date: string | undefined): string {
  const h = req.headers;
  return (
    req.method +
    '\n' +
    (ossHeaderValue(h['content-md5']) ?? '') +
    '\n' +
    (ossHeaderValue(h['content-type']) ?? '') +
    '\n' +
    (date ?? '') +
    '\n'
  );
}

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
 * The date line is x-oss-date when present, else the Date header; with both, OSS takes
 * x-oss-date. See docs/oss-behaviour.md#signatures.
 */
export function stringToSignV1(req: OssRequest): string {
  const h = req.headers;
  let s = fixedLines(req, ossHeaderValue(h['x-oss-date']) ?? ossHeaderValue(h['date']));
  let names: string[] | undefined;
  for (const name in h) {
    if (name.startsWith(OSS_HEADER_PREFIX) && h[name] !== undefined) (names ??= []).push(name);
  }
  if (names !== undefined) {
    names.sort();
    for (const name of names) s += name + ':' + (ossHeaderValue(h[name]) as string).trim() + '\n';
  }
  return s + canonicalResourceV1(req);
}

export function signatureV1(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function assertTokenSent(req: OssRequest, creds: Credentials): void {
  // The token must be a signed header the server sees, not something the signer invents.
  if (creds.securityToken !== undefined && ossHeaderValue(req.headers['x-oss-security-token']) !== creds.securityToken) {
    throw new Error('credentials carry a security token: set it as the x-oss-security-token header before signing');
  }
}

/** `OSS <AccessKeyId>:<base64 HMAC-SHA1>` for the request as it will be sent. */
export function authorizationV1(req: OssRequest, creds: Credentials): string {
  assertTokenSent(req, creds);
  return 'OSS ' + creds.accessKeyId + ':' + signatureV1(creds.accessKeySecret, stringToSignV1(req));
}

// ---------------------------------------------------------------------------------------
// V2 (`OSS2 AccessKeyId:<ak>[,AdditionalHeaders:a;b],Signature:<base64 HMAC-SHA256>`)

/**
 * V2 string to sign: VERB \n Content-MD5 \n Content-Type \n Date \n sorted
 * `name:value\n` of the x-oss-* and AdditionalHeaders headers, the AdditionalHeaders names
 * joined by ';' \n, then the resource: `/<bucket>/<key>` RFC 3986-encoded whole ('/' too)
 * and every query parameter (canonicalQuery). `additional`: lower-case, sorted.
 * See docs/oss-behaviour.md#signatures.
 */
export function stringToSignV2(req: OssRequest, additional: readonly string[]): string {
  const h = req.headers;
  const signed: string[] = [];
  for (const name in h) if (h[name] !== undefined && name.startsWith(OSS_HEADER_PREFIX)) signed.push(name);
  for (const name of additional) if (!signed.includes(name)) signed.push(name);
  signed.sort();
  let headers = '';
  for (const name of signed) headers += name + ':' + (ossHeaderValue(h[name]) ?? '').trim() + '\n';
  const query = canonicalQuery(req);
  return (
    fixedLines(req, ossHeaderValue(h['date'])) +
    headers +
    additional.join(';') +
    '\n' +
    encodeRfc3986(resourcePath(req)) +
    (query === '' ? '' : '?' + query)
  );
}

export function signatureV2(secret: string, stringToSign: string): string {
  return createHmac('sha256', secret).update(stringToSign, 'utf8').digest('base64');
}

// ---------------------------------------------------------------------------------------
// V4

/** ali-oss passes `oss-cn-hangzhou`; the V4 scope wants `cn-hangzhou` (getStandardRegion). */
export function standardRegion(region: string): string {
  return region.startsWith('oss-') ? region.slice(4) : region;
}

/**
 * The canonical query of V2 and V4: every parameter, RFC 3986-encoded, sorted by encoded name
 * in byte order, `name` alone when the value is empty (Go SDK v2; ali-oss sorts with
 * localeCompare on raw names, which agrees for every parameter OSS defines).
 */
function canonicalQuery(req: OssRequest): string {
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
  return query;
}

/**
 * The V4 canonical request (query: canonicalQuery). `additional` must be the lower-case,
 * sorted AdditionalHeaders list.
 */
export function canonicalRequestV4(req: OssRequest, additional: readonly string[]): string {
  const h = req.headers;
  const uri = encodeRfc3986(resourcePath(req)).replace(ENCODED_SLASH_RE, '/');
  const query = canonicalQuery(req);

  const signed: string[] = [];
  for (const name in h) {
    if (h[name] === undefined) continue;
    if (name === 'content-type' || name === 'content-md5' || name.startsWith(OSS_HEADER_PREFIX)) signed.push(name);
  }
  for (const name of additional) if (!signed.includes(name)) signed.push(name);
  signed.sort();
  let headers = '';
  for (const name of signed) headers += name + ':' + (ossHeaderValue(h[name]) ?? '').trim() + '\n';

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
    (ossHeaderValue(h['x-oss-content-sha256']) ?? UNSIGNED_PAYLOAD)
  );
}

/**
 * Hex SHA-256 of a string's UTF-8 bytes: crypto.hash (Node ≥ 20.12) is a single call, about
 * half the CPU of a Hash object for a canonical request; createHash where it is missing.
 */
const sha256Hex: (s: string) => string =
  typeof crypto.hash === 'function' ? (s) => crypto.hash('sha256', s, 'hex') : (s) => createHash('sha256').update(s, 'utf8').digest('hex');

export function stringToSignV4(date: string, scope: string, canonicalRequest: string): string {
  return OSS_V4_ALGORITHM + '\n' + date + '\n' + scope + '\n' + sha256Hex(canonicalRequest);
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
    const kProduct = createHmac('sha256', kRegion).update(OSS_V4_PRODUCT).digest();
    key = createHmac('sha256', kProduct).update(OSS_V4_TERMINATOR).digest();
    if (signingKeyCache.size >= SIGNING_KEY_CACHE_MAX) signingKeyCache.clear();
    signingKeyCache.set(id, key);
  }
  return key;
}

export function signatureV4(secret: string, day: string, region: string, stringToSign: string): string {
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
  const date = ossHeaderValue(req.headers['x-oss-date']);
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
  const scope = day + '/' + std + '/' + OSS_V4_PRODUCT + '/' + OSS_V4_TERMINATOR;
  const signature = signatureV4(creds.accessKeySecret, day, std, stringToSignV4(date, scope, canonicalRequestV4(req, additional)));
  return (
    OSS_V4_ALGORITHM +
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
export function parseIsoBasic(s: string): number {
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

// ---------------------------------------------------------------------------------------
// Sign a request in place (for our own clients)

// The last second formatted: a busy client signs thousands of requests within one.
let isoBasicSecond = NaN;
let isoBasicText = '';

/** `20231216T162057Z`: the date in ISO basic format, to the second. */
function isoBasic(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== isoBasicSecond) {
    isoBasicText = now.toISOString().replace(ISO_PUNCTUATION_RE, '');
    isoBasicSecond = second;
  }
  return isoBasicText;
}

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
  req.headers['x-oss-date'] = isoBasic(now);
  req.headers['x-oss-content-sha256'] ??= UNSIGNED_PAYLOAD;
  req.headers['authorization'] = authorizationV4(req, creds, opts.region, opts.additionalHeaders);
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
