/**
 * Alibaba Cloud RPC ("POP") request signatures, SignatureMethod HMAC-SHA1 and
 * SignatureVersion 1.0, as @alicloud/kms20160120 1.2.0 sends them: the string to sign and
 * signing. Verifying is the local KMS server's (local/kms/verify.ts).
 *
 * Source: @alicloud/rpc-client 1.3.2 (Client.doRequest) and @alicloud/rpc-util 0.1.0
 * (getSignatureV1, normalize, encode), which kms20160120 1.2.0 builds on:
 * - every parameter travels in the query string of `POST /?…` (the body is empty for KMS
 *   actions); form-body parameters, when a client sends any, are signed together with the
 *   query ones, so a verifier merges both;
 * - common parameters: Action, Format=json, Version=2016-01-20, Timestamp
 *   (`yyyy-MM-ddTHH:mm:ssZ`, UTC), SignatureNonce, SignatureMethod=HMAC-SHA1,
 *   SignatureVersion=1.0, AccessKeyId, SecurityToken (STS only), then Signature;
 * - canonical query: parameters sorted by raw name (JavaScript's default sort, UTF-16
 *   code units), each `enc(name)=enc(value)` joined with '&', where enc is
 *   encodeURIComponent plus `! ' ( ) *` escaped (RFC 3986: only A-Z a-z 0-9 - _ . ~ stay);
 * - StringToSign = `METHOD&%2F&` + enc(canonical query);
 * - Signature = base64(HMAC-SHA1(key = secret + '&', StringToSign)).

 */
import { createHmac, randomBytes } from 'node:crypto';
import { encodeRfc3986 } from './rfc3986';

export const RPC_SIGNATURE_METHOD = 'HMAC-SHA1';
export const RPC_SIGNATURE_VERSION = '1.0';

/** Parameters as the client flattened them (rpc-util flatMap): name → string value. */
export type RpcParams = Readonly<Record<string, string | undefined>>;

/**
 * `METHOD&%2F&<encoded canonical query>` over every parameter except Signature (which the
 * SDK adds after signing). undefined values sign as '' (rpc-util flatMap does the same).
 */
export function rpcStringToSign(method: string, params: RpcParams): string {
  const names = Object.keys(params).filter((n) => n !== 'Signature');
  names.sort(); // default sort, exactly as rpc-util normalize()
  let canonical = '';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    canonical += (i === 0 ? '' : '&') + encodeRfc3986(name) + '=' + encodeRfc3986(params[name] ?? '');
  }
  return method.toUpperCase() + '&%2F&' + encodeRfc3986(canonical);
}

/** base64(HMAC-SHA1(secret + '&', rpcStringToSign(method, params))). */
export function rpcSignature(method: string, params: RpcParams, secret: string): string {
  return createHmac('sha1', secret + '&')
    .update(rpcStringToSign(method, params), 'utf8')
    .digest('base64');
}

/**
 * `yyyy-MM-ddTHH:mm:ssZ` (rpc-util getTimestamp). Exported for clients that build their own
 * requests and for tests.
 */
export function rpcTimestamp(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Sign a parameter set the way rpc-client does: adds the common parameters (unless given),
 * SecurityToken when the credentials carry one, and Signature. Returns a new object.
 */
export function signRpcParams(
  method: string,
  params: RpcParams,
  creds: { accessKeyId: string; accessKeySecret: string; securityToken?: string },
  opts: { now?: Date; nonce?: string } = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = v;
  out.Format ??= 'json';
  out.Timestamp ??= rpcTimestamp(opts.now);
  out.SignatureNonce ??= opts.nonce ?? randomBytes(16).toString('hex');
  if (creds.securityToken) out.SecurityToken = creds.securityToken;
  out.SignatureMethod = RPC_SIGNATURE_METHOD;
  out.SignatureVersion = RPC_SIGNATURE_VERSION;
  out.AccessKeyId = creds.accessKeyId;
  delete out.Signature;
  out.Signature = rpcSignature(method, out, creds.accessKeySecret);
  return out;
}
