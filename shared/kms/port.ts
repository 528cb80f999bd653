/**
 * The KMS operations oss-sse uses, as a small typed port, plus the pure rule that decides
 * whether a KMS key can serve SSE-KMS. The functions validate the configured KMS_KEY_ID
 * through this port before they write bucket rules or copy objects with it; the SDK
 * behind it (client.ts) is loaded only when a port is first used.
 */

/** What DescribeKey tells us about a key (KeyMetadata, camel-cased). */
export interface KeyInfo {
  /** The key's real id, whatever form (alias, ARN) it was asked by. */
  keyId: string;
  arn?: string;
  /** Enabled | Disabled | PendingDeletion | PendingImport | … */
  state: string;
  /** ENCRYPT/DECRYPT | SIGN/VERIFY */
  usage: string;
  /** Aliyun_AES_256 | Aliyun_AES_128 | Aliyun_AES_192 | Aliyun_SM4 | RSA_2048 | EC_P256 | … */
  spec: string;
  description?: string;
  protectionLevel?: string;
  creator?: string;
  creationDate?: string;
  deleteDate?: string;
  /** KMS's id of the DescribeKey request that answered. */
  requestId?: string;
}

/** What GenerateDataKey proves: the key encrypted for us. The data key itself is not kept. */
export interface DataKeyProof {
  /** The key that encrypted it (its real id). */
  keyId: string;
  requestId?: string;
}

export interface KmsPort {
  /**
   * DescribeKey for a key id, `alias/<name>` or ARN. Rejects with KmsError: code
   * `Forbidden.KeyNotFound` / `Forbidden.AliasNotFound` when there is no such key.
   */
  describeKey(keyId: string): Promise<KeyInfo>;
  /**
   * GenerateDataKey of `numberOfBytes` (1–1024) under the key: a harmless proof that the key
   * can encrypt for the caller (`oss-sse doctor`). Rejects with KmsError like describeKey
   * (e.g. `Forbidden.KeyNotFound`, a disabled key's code).
   */
  generateDataKey(keyId: string, numberOfBytes: number): Promise<DataKeyProof>;
}

/**
 * A KMS failure without SDK internals and without credentials: code is KMS's
 * (`Forbidden.KeyNotFound`, `InvalidAccessKeyId.NotFound`, `SignatureDoesNotMatch`, …) or,
 * for failures before KMS answered, `NetworkError` / `Timeout` / `InvalidResponse`.
 */
export class KmsError extends Error {
  override readonly name = 'KmsError';
  readonly requestId: string | undefined;
  /** HTTP status when KMS answered. */
  readonly status: number | undefined;
  /** Worth retrying: throttling, 5xx, network and timeouts. */
  readonly transient: boolean;
  constructor(
    readonly code: string,
    message: string,
    details: KmsErrorDetails = {},
  ) {
    super(message);
    this.requestId = details.requestId;
    this.status = details.status;
    this.transient = details.transient ?? false;
  }
}

/** What is known about a KMS failure besides its code and message. */
export interface KmsErrorDetails {
  requestId?: string;
  status?: number;
  /** Default false. */
  transient?: boolean;
}

export const KMS_NOT_FOUND_CODES: ReadonlySet<string> = new Set(['Forbidden.KeyNotFound', 'Forbidden.AliasNotFound']);

/** KeySpecs of symmetric CMKs; SSE-KMS needs one of these. */
export const SYMMETRIC_KEY_SPECS: ReadonlySet<string> = new Set(['Aliyun_AES_256', 'Aliyun_AES_128', 'Aliyun_AES_192', 'Aliyun_SM4']);

export type SseKeyProblem = 'not-found' | 'not-enabled' | 'wrong-usage' | 'not-symmetric' | 'not-sm4';

export type SseKeyCheck = { ok: true; keyId: string; arn?: string; spec: string } | { ok: false; reason: SseKeyProblem; message: string };

function named(keyRef: string | undefined, info: KeyInfo | undefined): string {
  if (info === undefined) return `KMS key ${JSON.stringify(keyRef ?? '')}`;
  if (keyRef === undefined || keyRef === info.keyId) return `KMS key ${JSON.stringify(info.keyId)}`;
  return `KMS key ${JSON.stringify(keyRef)} (key id ${info.keyId})`;
}

/**
 * Whether a key can encrypt objects with SSE-KMS: it must exist, be Enabled, be an
 * ENCRYPT/DECRYPT key with a symmetric spec, and, with KMS_DATA_ENCRYPTION=SM4, be an
 * Aliyun_SM4 key. `info` undefined means DescribeKey found no such key. `keyRef` is what
 * the configuration named (key id, alias or ARN), so the message names it as written.
 * On success, keyId is the key's real id: the value to send to OSS.
 */
export function validateKeyForSse(info: KeyInfo | undefined, opts: { keyRef?: string; dataEncryption?: 'SM4' } = {}): SseKeyCheck {
  const name = named(opts.keyRef, info);
  if (info === undefined) return { ok: false, reason: 'not-found', message: `${name} does not exist in this account and region.` };
  if (info.state !== 'Enabled') {
    return { ok: false, reason: 'not-enabled', message: `${name} is ${info.state}; SSE-KMS needs an Enabled key.` };
  }
  if (info.usage !== 'ENCRYPT/DECRYPT') {
    return { ok: false, reason: 'wrong-usage', message: `${name} has usage ${info.usage}; SSE-KMS needs an ENCRYPT/DECRYPT key.` };
  }
  if (!SYMMETRIC_KEY_SPECS.has(info.spec)) {
    return {
      ok: false,
      reason: 'not-symmetric',
      message: `${name} has spec ${info.spec}; SSE-KMS needs a symmetric key (${[...SYMMETRIC_KEY_SPECS].join(', ')}).`,
    };
  }
  if (opts.dataEncryption === 'SM4' && info.spec !== 'Aliyun_SM4') {
    return { ok: false, reason: 'not-sm4', message: `${name} has spec ${info.spec}; KMS_DATA_ENCRYPTION=SM4 needs an Aliyun_SM4 key.` };
  }
  return { ok: true, keyId: info.keyId, spec: info.spec, ...(info.arn ? { arn: info.arn } : {}) };
}

/**
 * DescribeKey + validateKeyForSse. "No such key" is a validation result, not an error;
 * every other KmsError (access denied, throttling, network) is thrown for the caller's
 * retry and reporting.
 */
export async function checkSseKey(port: KmsPort, keyRef: string, opts: { dataEncryption?: 'SM4' } = {}): Promise<SseKeyCheck> {
  let info: KeyInfo | undefined;
  try {
    info = await port.describeKey(keyRef);
  } catch (e) {
    if (!(e instanceof KmsError) || !KMS_NOT_FOUND_CODES.has(e.code)) throw e;
  }
  return validateKeyForSse(info, { keyRef, ...opts });
}

/**
 * Where the functions reach KMS: the region's VPC endpoint `kms-vpc.<region>.aliyuncs.com`
 * over HTTPS (Function Compute runs inside the region's network), unless KMS_ENDPOINT
 * names another: an http(s) URL (`http://127.0.0.1:P` → plain HTTP, for the local stack)
 * or a bare `host[:port]` (HTTPS).
 */
export function kmsEndpoint(region: string, override?: string): { endpoint: string; protocol: 'http' | 'https' } {
  if (override === undefined || override === '') return { endpoint: `kms-vpc.${region}.aliyuncs.com`, protocol: 'https' };
  if (/^https?:\/\//i.test(override)) {
    const url = new URL(override);
    return { endpoint: url.host, protocol: url.protocol.toLowerCase() === 'http:' ? 'http' : 'https' };
  }
  return { endpoint: override.replace(/\/+$/, ''), protocol: 'https' };
}
