/**
 * KmsPort over the official @alicloud/kms20160120 client. The SDK (and its tea/rpc
 * dependency tree) is imported on first use, not at module load: the object function
 * bundles this file but, with AES256/SM4 policies, never calls KMS, so its cold start does
 * not evaluate the SDK.
 */
import type * as KmsSdk from '@alicloud/kms20160120';
import type { Credentials } from '../signing/oss';
import { KmsError, kmsEndpoint, type DataKeyProof, type KeyInfo, type KmsPort } from './port';

export interface KmsPortOptions {
  region: string;
  /** KMS_ENDPOINT: URL or host[:port]; default the region's VPC endpoint (see kmsEndpoint). */
  endpoint?: string;
  /** Read at every call: FC hands out rotating STS credentials. */
  credentials: () => Credentials | Promise<Credentials>;
  /** Per-request timeouts (ms); the SDK's own retries stay off, callers retry. */
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
}

type KmsModule = typeof KmsSdk;
type KmsClient = InstanceType<KmsModule['default']>;

/**
 * The SDK is CommonJS with `exports.default = Client`. Loaded through Node's ESM loader
 * (vitest, tsx) the namespace's `default` is the whole `module.exports`; bundled by esbuild
 * it is the Client class. Accept both.
 */
function namespaceOf(mod: unknown): KmsModule {
  const m = mod as { default?: unknown };
  return (typeof m.default === 'function' ? m : m.default) as KmsModule;
}

let sdkLoad: Promise<KmsModule> | undefined;
function loadSdk(): Promise<KmsModule> {
  return (sdkLoad ??= import('@alicloud/kms20160120').then(namespaceOf, (e: unknown) => {
    sdkLoad = undefined; // let a later call try again
    throw e;
  }));
}

const STATUS_IN_MESSAGE_RE = /code: (\d{3}),/;

function redact(text: string, creds: Credentials | undefined): string {
  let out = text;
  // The gateway quotes its StringToSign (which carries AccessKeyId and SecurityToken) in
  // SignatureDoesNotMatch messages: keep the explanation, drop the quote.
  const quote = out.indexOf('server string to sign is:');
  if (quote >= 0) out = out.slice(0, quote).trimEnd();
  if (creds) {
    for (const s of [creds.accessKeySecret, creds.securityToken, creds.accessKeyId]) {
      if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]');
    }
  }
  return out;
}

/** Any SDK failure → KmsError with KMS's code and no credentials. */
export function toKmsError(e: unknown, creds?: Credentials, endpoint?: string): KmsError {
  if (e instanceof KmsError) return e;
  const err = (e ?? {}) as { code?: unknown; name?: unknown; message?: unknown; data?: unknown };
  const data = (typeof err.data === 'object' && err.data !== null ? err.data : {}) as Record<string, unknown>;
  const rawMessage = typeof err.message === 'string' ? err.message : String(e);
  if (typeof data.Code === 'string') {
    const status = Number(STATUS_IN_MESSAGE_RE.exec(rawMessage)?.[1] ?? NaN);
    const requestId = typeof data.RequestId === 'string' ? data.RequestId : undefined;
    const message = redact(typeof data.Message === 'string' ? data.Message : rawMessage, creds);
    const transient = status >= 500 || data.Code.startsWith('Throttling') || data.Code.startsWith('ServiceUnavailable');
    return new KmsError(data.Code, message, { requestId, status: Number.isNaN(status) ? undefined : status, transient });
  }
  // No KMS answer: connection refused/reset, DNS, timeouts. Keep only the error's name and
  // code: the SDK's messages quote the request URL (signed query with AccessKeyId and
  // SecurityToken), and its UnretryableError keeps the whole last request in err.data.
  const name = typeof err.name === 'string' ? err.name : 'Error';
  const code = name === 'RequestTimeoutError' ? 'Timeout' : 'NetworkError';
  const detail = typeof err.code === 'string' && /^[A-Z0-9_]+$/.test(err.code) ? err.code : name;
  return new KmsError(code, `KMS request failed before a response${endpoint ? ` from ${endpoint}` : ''}: ${detail}`, { transient: true });
}

function toKeyInfo(res: KmsSdk.DescribeKeyResponse): KeyInfo {
  const m = res.keyMetadata;
  if (!m?.keyId || !m.keyState || !m.keyUsage) {
    throw new KmsError('InvalidResponse', 'DescribeKey answered without KeyMetadata.KeyId/KeyState/KeyUsage.', {
      requestId: res.requestId,
    });
  }
  const info: KeyInfo = {
    keyId: m.keyId,
    state: m.keyState,
    usage: m.keyUsage,
    // KeySpec is absent from keys created before KMS had asymmetric keys: those are AES-256.
    spec: m.keySpec || 'Aliyun_AES_256',
  };
  if (m.arn) info.arn = m.arn;
  if (m.description) info.description = m.description;
  if (m.protectionLevel) info.protectionLevel = m.protectionLevel;
  if (m.creator) info.creator = m.creator;
  if (m.creationDate) info.creationDate = m.creationDate;
  if (m.deleteDate) info.deleteDate = m.deleteDate;
  if (res.requestId) info.requestId = res.requestId;
  return info;
}

export function createKmsPort(opts: KmsPortOptions): KmsPort {
  const { endpoint, protocol } = kmsEndpoint(opts.region, opts.endpoint);
  let cached: { creds: Credentials; client: KmsClient } | undefined;

  async function clientFor(sdk: KmsModule, creds: Credentials): Promise<KmsClient> {
    const c = cached?.creds;
    if (
      cached &&
      c &&
      c.accessKeyId === creds.accessKeyId &&
      c.accessKeySecret === creds.accessKeySecret &&
      c.securityToken === creds.securityToken
    ) {
      return cached.client;
    }
    // The SDK accepts a plain object as its Config (it only reads the fields).
    const config = {
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      ...(creds.securityToken ? { securityToken: creds.securityToken } : {}),
      endpoint,
      protocol,
      regionId: opts.region,
      ...(opts.connectTimeoutMs ? { connectTimeout: opts.connectTimeoutMs } : {}),
      ...(opts.readTimeoutMs ? { readTimeout: opts.readTimeoutMs } : {}),
    } as ConstructorParameters<KmsModule['default']>[0];
    const client = new sdk.default(config);
    cached = { creds: { ...creds }, client };
    return client;
  }

  return {
    async describeKey(keyId: string): Promise<KeyInfo> {
      const sdk = await loadSdk();
      const creds = await opts.credentials();
      try {
        const client = await clientFor(sdk, creds);
        return toKeyInfo(await client.describeKey(new sdk.DescribeKeyRequest({ keyId })));
      } catch (e) {
        throw toKmsError(e, creds, endpoint);
      }
    },

    async generateDataKey(keyId: string, numberOfBytes: number): Promise<DataKeyProof> {
      const sdk = await loadSdk();
      const creds = await opts.credentials();
      try {
        const client = await clientFor(sdk, creds);
        const res = await client.generateDataKey(new sdk.GenerateDataKeyRequest({ keyId, numberOfBytes }));
        if (!res.keyId) throw new KmsError('InvalidResponse', 'GenerateDataKey answered without KeyId.', { requestId: res.requestId });
        return { keyId: res.keyId, ...(res.requestId ? { requestId: res.requestId } : {}) };
      } catch (e) {
        throw toKmsError(e, creds, endpoint);
      }
    },
  };
}
