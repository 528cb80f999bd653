/**
 * The local KMS server's side of RPC signatures (HMAC-SHA1, SignatureVersion 1.0): verifying
 * a request against shared/signing's string to sign, replay protection, and parsing its
 * parameters. Error codes are the ones the Alibaba Cloud API gateway returns for RPC APIs (the
 * KMS "public error codes" table and the gateway's well-known signature errors); see
 * RpcVerifyFailure.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  encodeRfc3986,
  RPC_SIGNATURE_METHOD,
  RPC_SIGNATURE_VERSION,
  rpcSignature,
  rpcStringToSign,
  type RpcParams,
} from '../../shared/signing';

const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
// `2024-01-02T03:04:05Z`; the gateway also takes fractional seconds, so we do too.
const RPC_TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;

export type RpcVerifyFailure = {
  ok: false;
  status: 400 | 404;
  /**
   * MissingParameter / IllegalTimestamp / IncompleteSignature / InvalidAccessKeyId.NotFound
   * come from the KMS public error-code table (HTTP 400/400/400/404); SignatureDoesNotMatch,
   * InvalidTimeStamp.Expired and SignatureNonceUsed are the gateway's codes for every RPC API
   * (HTTP 400), as the Alibaba Cloud SDKs' own error wrappers quote them.
   */
  code:
    | 'MissingParameter'
    | 'IllegalTimestamp'
    | 'IncompleteSignature'
    | 'InvalidAccessKeyId.NotFound'
    | 'InvalidTimeStamp.Expired'
    | 'SignatureDoesNotMatch'
    | 'SignatureNonceUsed';
  message: string;
};

export type RpcVerifyResult = { ok: true; accessKeyId: string; securityToken?: string } | RpcVerifyFailure;

export interface RpcVerifyOptions {
  lookupSecret: (accessKeyId: string) => string | undefined;
  now?: Date;
  /** Allowed difference between Timestamp and now; default 15 minutes, like the gateway. */
  maxSkewMs?: number;
  /**
   * Replay protection: called only for requests whose signature is valid; returns true
   * when (accessKeyId, nonce) was seen before and must be refused. Optional: without it
   * nonces are not tracked. See createNonceCache.
   */
  nonceSeen?: (accessKeyId: string, nonce: string) => boolean;
}

function refusal(status: 400 | 404, code: RpcVerifyFailure['code'], message: string): RpcVerifyFailure {
  return { ok: false, status, code, message };
}

const REQUIRED = ['AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp'] as const;

function parseTimestamp(s: string): number {
  const m = RPC_TIMESTAMP_RE.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, hh, mm, ss] = m.map(Number) as [number, number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return NaN;
  return Date.UTC(y, mo - 1, d, hh, mm, ss);
}

function sameSignature(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(provided, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The StringToSign as the gateway shows it in SignatureDoesNotMatch messages, with the
 * SecurityToken value replaced: the token is a credential and must not travel back in an
 * error body or end up in logs.
 */
function displayedStringToSign(method: string, params: RpcParams): string {
  if (params.SecurityToken === undefined) return rpcStringToSign(method, params);
  return rpcStringToSign(method, { ...params, SecurityToken: '[redacted]' });
}

function redactCredentials(text: string, values: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const v of values) {
    if (v === undefined || v.length < 4) continue;
    const once = encodeRfc3986(v);
    for (const form of [v, once, encodeRfc3986(once)]) if (out.includes(form)) out = out.split(form).join('[redacted]');
  }
  return out;
}

/**
 * Verify an RPC request. Order: required parameters present → SignatureMethod/Version
 * supported → Timestamp well-formed → access key known → Timestamp within maxSkewMs →
 * signature → nonce not replayed. `params` are the DECODED query and form parameters
 * together, Signature included.
 */
export function verifyRpcRequest(method: string, params: RpcParams, opts: RpcVerifyOptions): RpcVerifyResult {
  for (const name of REQUIRED) {
    const v = params[name];
    if (v === undefined || v === '') {
      if (name === 'Timestamp')
        return refusal(
          400,
          'IllegalTimestamp',
          'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.',
        );
      return refusal(
        400,
        'MissingParameter',
        `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
      );
    }
  }
  if (params.SignatureMethod !== RPC_SIGNATURE_METHOD || params.SignatureVersion !== RPC_SIGNATURE_VERSION) {
    return refusal(
      400,
      'IncompleteSignature',
      'The request signature does not conform to Alibaba Cloud standards: only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 is supported.',
    );
  }
  const t = parseTimestamp(params.Timestamp as string);
  if (Number.isNaN(t))
    return refusal(400, 'IllegalTimestamp', 'The input parameter "Timestamp" is not in the format yyyy-MM-ddTHH:mm:ssZ (UTC).');

  const accessKeyId = params.AccessKeyId as string;
  const secret = opts.lookupSecret(accessKeyId);
  if (secret === undefined) return refusal(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');

  const now = opts.now === undefined ? Date.now() : opts.now.getTime();
  if (Math.abs(now - t) > (opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) {
    return refusal(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
  }

  if (!sameSignature(rpcSignature(method, params, secret), params.Signature as string)) {
    const message = `Specified signature is not matched with our calculation. server string to sign is:${displayedStringToSign(method, params)}`;
    // Never the secret or the token, even if a client echoed them into another parameter
    // (where they appear percent-encoded twice).
    return refusal(400, 'SignatureDoesNotMatch', redactCredentials(message, [secret, params.SecurityToken]));
  }
  if (opts.nonceSeen?.(accessKeyId, params.SignatureNonce as string)) {
    return refusal(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
  }
  const token = params.SecurityToken;
  return token === undefined || token === '' ? { ok: true, accessKeyId } : { ok: true, accessKeyId, securityToken: token };
}

/**
 * A bounded memory of recent (accessKeyId, nonce) pairs for verifyRpcRequest's nonceSeen.
 * Entries older than ttlMs (default: the 15-minute Timestamp window, beyond which a replay
 * fails on its Timestamp anyway) are forgotten; at most maxEntries are kept.
 */
export function createNonceCache(
  opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): (accessKeyId: string, nonce: string) => boolean {
  const ttl = opts.ttlMs ?? DEFAULT_MAX_SKEW_MS;
  const max = opts.maxEntries ?? 100_000;
  const clock = opts.now ?? Date.now;
  const seen = new Map<string, number>(); // insertion order = age order
  return (accessKeyId, nonce) => {
    const now = clock();
    for (const [k, at] of seen) {
      if (now - at <= ttl && seen.size < max) break;
      seen.delete(k);
    }
    const id = accessKeyId + '\n' + nonce;
    if (seen.has(id)) return true;
    seen.set(id, now);
    return false;
  };
}

/**
 * Parse `a=1&b=%20x` (query string or x-www-form-urlencoded body) into decoded parameters.
 * '+' is a space (form encoding; Node's querystring, which the SDK uses, never sends a bare
 * '+'). The first occurrence of a name wins. Throws URIError on malformed escapes.
 */
export function parseRpcParams(
  s: string,
  into: Record<string, string> = Object.create(null) as Record<string, string>,
): Record<string, string> {
  if (s === '') return into;
  for (const part of s.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeFormPart(eq < 0 ? part : part.slice(0, eq));
    if (name in into) continue;
    into[name] = eq < 0 ? '' : decodeFormPart(part.slice(eq + 1));
  }
  return into;
}

function decodeFormPart(s: string): string {
  if (s.includes('+')) s = s.replace(/\+/g, ' ');
  return s.includes('%') ? decodeURIComponent(s) : s;
}
