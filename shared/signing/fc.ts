/**
 * Function Compute request signatures (`Authorization: FC <AccessKeyId>:<signature>`), as
 * @alicloud/fc2 2.6.6 computes them: the string to sign and signing. Verifying is the local
 * FC server's (local/fc/verify.ts).
 *
 * Source: @alicloud/fc2 2.6.6 lib/client.js (buildHeaders, request, getSignature, signString)
 * and lib/helper.js (composeStringToSign, buildCanonicalHeaders):
 * - StringToSign = `METHOD\nContent-MD5\nContent-Type\nDate\n<canonical x-fc-* headers><path>`
 *   where Content-MD5 and Content-Type are '' when absent and Date is the `date` header
 *   (fc2 sets `new Date().toUTCString()`; there is no x-fc-date);
 * - canonical headers: every header whose lower-cased, trimmed name starts with `x-fc-`,
 *   sorted by that name, each `name:value\n` (value as sent, not trimmed). fc2 always sends
 *   `x-fc-account-id`, `x-fc-security-token` with STS credentials, and whatever the caller
 *   adds (`x-fc-invocation-type: Async`, `x-fc-log-type`, …), so all of them are signed;
 * - path = `/<version><path>` exactly as the client wrote it, not percent-encoded
 *   (`/2016-08-15/services/s/functions/f/invocations`, or with `client.version =
 *   '2023-03-30'` `/2023-03-30/functions/f/invocations`);
 * - the query is signed only for HTTP-trigger paths (`/<version>/proxy/…`): then `\n` plus
 *   the decoded `key=value` pairs (one per value of a repeated key), sorted, joined by `\n`.
 *   Everywhere else (invocations included) the query is not signed;
 * - signature = base64(HMAC-SHA256(secret, StringToSign)).
 * fc2 computes Content-MD5 as base64 of the *hex* MD5 digest (kitx.md5(buf, 'hex')), not of
 * the raw digest; fcContentMd5 reproduces that.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Credentials } from './oss';

const FC_HEADER_PREFIX = 'x-fc-';
// `/<version>/proxy/…`: the HTTP-trigger paths whose query fc2 signs.
const PROXY_PATH_RE = /^\/[^/]+\/proxy\//;

/** Header values as node's IncomingMessage has them, or as a client builds them. */
export type FcHeaders = Readonly<Record<string, string | number | readonly string[] | undefined>>;
/** Decoded query parameters; a repeated key carries an array. */
export type FcQuery = Readonly<Record<string, string | readonly string[] | undefined>>;

function headerValue(v: string | number | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return String(v);
  // node joins repeated custom headers with ', '; fc2 never repeats one.
  return typeof v === 'string' ? v : v.join(', ');
}

/** Case-insensitive header lookup (clients may use any case; node lower-cases). */
export function findFcHeader(headers: FcHeaders, name: string): string | undefined {
  const direct = headerValue(headers[name]);
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return headerValue(v);
  return undefined;
}

/**
 * `name:value\n` for every x-fc-* header, sorted by lower-cased trimmed name
 * (helper.buildCanonicalHeaders). Like fc2, names that collide once lower-cased are listed
 * once per occurrence, each with the last value (node merges such headers before a server
 * sees them; only a client can produce them).
 */
export function fcCanonicalHeaders(headers: FcHeaders): string {
  const names: string[] = [];
  const values = new Map<string, string>();
  for (const [key, v] of Object.entries(headers)) {
    const lower = key.toLowerCase().trim();
    const value = headerValue(v);
    if (value === undefined || !lower.startsWith(FC_HEADER_PREFIX)) continue;
    names.push(lower);
    values.set(lower, value);
  }
  names.sort();
  let out = '';
  for (const name of names) out += `${name}:${values.get(name) as string}\n`;
  return out;
}

/** True for the paths whose query fc2 (and FC) sign: `/<version>/proxy/…`. */
export function fcSignsQuery(path: string): boolean {
  return PROXY_PATH_RE.test(path);
}

/**
 * The StringToSign (helper.composeStringToSign). `query` is appended only when given: pass
 * it for proxy paths (see fcSignsQuery), as fc2 does.
 */
export function fcStringToSign(method: string, path: string, headers: FcHeaders, query?: FcQuery): string {
  const md5 = findFcHeader(headers, 'content-md5') ?? '';
  const type = findFcHeader(headers, 'content-type') ?? '';
  // fc2 reads `headers['date']` even when absent ('undefined' in its template); verifiers
  // refuse a missing Date before getting here, so '' never signs anything valid.
  const date = findFcHeader(headers, 'date') ?? '';
  let s = `${method.toUpperCase()}\n${md5}\n${type}\n${date}\n${fcCanonicalHeaders(headers)}${path}`;
  if (query) {
    const params: string[] = [];
    for (const [key, values] of Object.entries(query)) {
      if (typeof values === 'string') params.push(`${key}=${values}`);
      else if (Array.isArray(values)) for (const v of values as readonly string[]) params.push(`${key}=${v}`);
    }
    params.sort();
    s += '\n' + params.join('\n');
  }
  return s;
}

/** base64(HMAC-SHA256(secret, stringToSign)). */
export function fcSignature(stringToSign: string, secret: string): string {
  return createHmac('sha256', secret).update(stringToSign, 'utf8').digest('base64');
}

/** Content-MD5 as fc2 sends it: base64 of the lower-case hex MD5 digest. */
export function fcContentMd5(body: Buffer | string): string {
  return Buffer.from(createHash('md5').update(body).digest('hex'), 'utf8').toString('base64');
}

/** `FC <AccessKeyId>:<signature>` for the request (Client.getSignature). */
export function fcAuthorization(
  method: string,
  path: string,
  headers: FcHeaders,
  creds: Pick<Credentials, 'accessKeyId' | 'accessKeySecret'>,
  query?: FcQuery,
): string {
  return `FC ${creds.accessKeyId}:${fcSignature(fcStringToSign(method, path, headers, query), creds.accessKeySecret)}`;
}

/**
 * Sign a request the way fc2 does: returns a copy of `headers` (names lower-cased) with
 * `date` (unless given), `x-fc-account-id` (when accountId is given), `x-fc-security-token`
 * (with STS credentials), `content-md5` (for a body) and `authorization`. The query is signed
 * for proxy paths only, as fc2 does.
 */
export function signFcRequest(
  req: { method: string; path: string; headers?: FcHeaders; query?: FcQuery; body?: Buffer | string },
  creds: Credentials,
  opts: { accountId?: string; now?: Date } = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    const value = headerValue(v);
    if (value !== undefined) out[k.toLowerCase()] = value;
  }
  out.date ??= (opts.now ?? new Date()).toUTCString();
  if (opts.accountId !== undefined) out['x-fc-account-id'] = opts.accountId;
  if (creds.securityToken) out['x-fc-security-token'] = creds.securityToken;
  if (req.body !== undefined) out['content-md5'] = fcContentMd5(req.body);
  delete out.authorization;
  const query = fcSignsQuery(req.path) ? (req.query ?? {}) : undefined;
  out.authorization = fcAuthorization(req.method, req.path, out, creds, query);
  return out;
}
