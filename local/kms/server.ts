/**
 * The local KMS-compatible server: a loopback HTTP server that the unmodified
 * @alicloud/kms20160120 client talks to as if it were KMS (`endpoint: '127.0.0.1:PORT'`,
 * `protocol: 'http'`). It verifies RPC signatures (shared/signing/kms.ts), then serves
 * DescribeKey, ListKeys, ListAliases, CreateKey, CreateAlias, EnableKey, DisableKey,
 * GenerateDataKey and Decrypt from an in-memory KeyRing. Responses are JSON bodies with
 * KMS's field names; errors are `{ RequestId, HostId, Code, Message, Recommend }`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { listenLoopback } from '../listen';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createNonceCache, parseRpcParams, verifyRpcRequest } from './verify';
import { KmsErrors, KmsServiceError } from './errors';
import { authorizeKmsRequest, kmsRequestAccesses } from './ram';
import type { RamAuthority } from '../ram/authority';
import { KEY_SPECS, KeyRing, type KeySeed, type KeySpec, type KeyUsage, type KmsKey, type ProtectionLevel } from './keyring';

export { KeyRing } from './keyring';
export type { KeySeed, KmsKey } from './keyring';

export interface KmsServerOptions {
  host?: string;
  port?: number;
  region: string;
  accountId?: string;
  /** Access keys the server accepts: id → secret. STS tokens are accepted for any known id. */
  credentials: Record<string, string>;
  /** Keys to create at start; default DEFAULT_KEY_SEEDS (alias/oss-sse-default, alias/oss-sse-sm4). */
  keys?: readonly KeySeed[];
  /** One line per request (action, status, ms, request id); never parameters or credentials. */
  log?: (line: string) => void;
  /** Allowed Timestamp skew; default 15 minutes. */
  maxSkewMs?: number;
  /** RAM policies bound to access keys (local/ram/authority.ts); without it every verified request is allowed. */
  ram?: RamAuthority;
}

export interface KmsServer {
  url: string;
  port: number;
  region: string;
  keys: KeyRing;
  close(): Promise<void>;
}

type Params = Record<string, string>;
type Action = (p: Params, ring: KeyRing) => Record<string, unknown>;

const API_VERSION = '2016-01-20';
const MAX_BODY = 1024 * 1024;

function required(p: Params, name: string): string {
  const v = p[name];
  if (v === undefined || v === '') throw KmsErrors.missingParameter(name);
  return v;
}

function pageParams(p: Params): { pageNumber: number; pageSize: number } {
  const num = (name: string, dflt: number, max: number): number => {
    const raw = p[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > max) throw KmsErrors.invalidParameter(name);
    return n;
  };
  // KMS: PageSize 1-100, default 10; PageNumber from 1.
  return { pageNumber: num('PageNumber', 1, 1_000_000), pageSize: num('PageSize', 10, 100) };
}

/**
 * EncryptionContext arrives as a JSON object string (the documented form) or flattened
 * as `EncryptionContext.<name>=<value>` (what kms20160120 1.2.0's rpc-util flatMap sends).
 */
function encryptionContext(p: Params): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let any = false;
  const json = p.EncryptionContext;
  if (json !== undefined && json !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw KmsErrors.invalidParameter('EncryptionContext', 'It must be a JSON object.');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw KmsErrors.invalidParameter('EncryptionContext', 'It must be a JSON object.');
    }
    for (const [k, v] of Object.entries(parsed)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    any = true;
  }
  for (const [name, v] of Object.entries(p)) {
    if (name.startsWith('EncryptionContext.')) {
      out[name.slice('EncryptionContext.'.length)] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

export function keyMetadata(k: KmsKey): Record<string, string> {
  return {
    KeyId: k.keyId,
    Arn: k.arn,
    KeyState: k.state,
    KeyUsage: k.usage,
    KeySpec: k.spec,
    Creator: k.creator,
    CreationDate: k.creationDate,
    Description: k.description,
    ProtectionLevel: k.protectionLevel,
    Origin: k.origin,
    PrimaryKeyVersion: k.primaryKeyVersion,
    AutomaticRotation: 'Disabled',
    LastRotationDate: k.creationDate,
    ...(k.deleteDate ? { DeleteDate: k.deleteDate } : {}),
  };
}

function page<T>(items: T[], p: Params): { slice: T[]; pageNumber: number; pageSize: number } {
  const { pageNumber, pageSize } = pageParams(p);
  return { slice: items.slice((pageNumber - 1) * pageSize, pageNumber * pageSize), pageNumber, pageSize };
}

const ACTIONS: Record<string, Action> = {
  DescribeKey: (p, ring) => ({ KeyMetadata: keyMetadata(ring.resolve(required(p, 'KeyId'))) }),

  ListKeys: (p, ring) => {
    const all = ring.listKeys();
    const { slice, pageNumber, pageSize } = page(all, p);
    return {
      Keys: { Key: slice.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })) },
      TotalCount: all.length,
      PageNumber: pageNumber,
      PageSize: pageSize,
    };
  },

  ListAliases: (p, ring) => {
    const all = ring.listAliases();
    const { slice, pageNumber, pageSize } = page(all, p);
    return {
      Aliases: { Alias: slice.map((a) => ({ AliasName: a.aliasName, AliasArn: a.aliasArn, KeyId: a.keyId })) },
      TotalCount: all.length,
      PageNumber: pageNumber,
      PageSize: pageSize,
    };
  },

  CreateKey: (p, ring) => {
    const spec = p.KeySpec || 'Aliyun_AES_256';
    if (!(KEY_SPECS as readonly string[]).includes(spec)) throw KmsErrors.invalidParameter('KeySpec');
    const usage = p.KeyUsage || 'ENCRYPT/DECRYPT';
    if (usage !== 'ENCRYPT/DECRYPT' && usage !== 'SIGN/VERIFY') throw KmsErrors.invalidParameter('KeyUsage');
    const level = p.ProtectionLevel || 'SOFTWARE';
    if (level !== 'SOFTWARE' && level !== 'HSM') throw KmsErrors.invalidParameter('ProtectionLevel');
    const origin = p.Origin || 'Aliyun_KMS';
    if (origin !== 'Aliyun_KMS' && origin !== 'EXTERNAL') throw KmsErrors.invalidParameter('Origin');
    const key = ring.create({
      spec: spec as KeySpec,
      usage: usage as KeyUsage,
      protectionLevel: level as ProtectionLevel,
      description: p.Description ?? '',
      // EXTERNAL keys wait for imported material, which the local stack does not take.
      ...(origin === 'EXTERNAL' ? { state: 'PendingImport' as const } : {}),
    });
    return { KeyMetadata: keyMetadata(key) };
  },

  CreateAlias: (p, ring) => {
    ring.createAlias(required(p, 'AliasName'), required(p, 'KeyId'));
    return {};
  },

  EnableKey: (p, ring) => {
    ring.enableKey(required(p, 'KeyId'));
    return {};
  },

  DisableKey: (p, ring) => {
    ring.disableKey(required(p, 'KeyId'));
    return {};
  },

  GenerateDataKey: (p, ring) => {
    const keyRef = required(p, 'KeyId');
    let bytes: number;
    if (p.NumberOfBytes !== undefined && p.NumberOfBytes !== '') {
      // KMS: 1-1024 bytes; NumberOfBytes takes precedence over KeySpec.
      bytes = Number(p.NumberOfBytes);
      if (!/^\d+$/.test(p.NumberOfBytes) || bytes < 1 || bytes > 1024) throw KmsErrors.invalidParameter('NumberOfBytes');
    } else {
      const spec = p.KeySpec || 'AES_256';
      if (spec !== 'AES_256' && spec !== 'AES_128') throw KmsErrors.invalidParameter('KeySpec');
      bytes = spec === 'AES_256' ? 32 : 16;
    }
    const plaintext = randomBytes(bytes);
    const { key, blob } = ring.encrypt(keyRef, plaintext, encryptionContext(p));
    return {
      KeyId: key.keyId,
      KeyVersionId: key.primaryKeyVersion,
      Plaintext: plaintext.toString('base64'),
      CiphertextBlob: blob,
    };
  },

  Decrypt: (p, ring) => {
    const { key, plaintext } = ring.decrypt(required(p, 'CiphertextBlob'), encryptionContext(p));
    return { KeyId: key.keyId, KeyVersionId: key.primaryKeyVersion, Plaintext: plaintext.toString('base64') };
  },
};

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw KmsErrors.invalidParameter('body', 'The request body is too large.');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startKmsServer(options: KmsServerOptions): Promise<KmsServer> {
  const region = options.region;
  const accountId = options.accountId ?? '1234567890123456';
  const ring = new KeyRing({ region, accountId, ...(options.keys ? { seeds: options.keys } : {}) });
  const secrets = new Map(Object.entries(options.credentials));
  const lookupSecret = (id: string) => secrets.get(id) ?? options.ram?.secretOf(id);
  const nonceSeen = createNonceCache();
  const hostId = `kms.${region}.aliyuncs.com`;

  function send(res: ServerResponse, status: number, body: Record<string, unknown>, requestId: string): void {
    const json = JSON.stringify({ RequestId: requestId, ...body });
    res.writeHead(status, {
      'content-type': 'application/json;charset=utf-8',
      'content-length': Buffer.byteLength(json),
      'x-acs-request-id': requestId,
    });
    res.end(json);
  }

  function sendError(res: ServerResponse, err: KmsServiceError, requestId: string): void {
    send(
      res,
      err.status,
      {
        HostId: hostId,
        Code: err.code,
        Message: err.message,
        Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(err.code)}&product=Kms&requestId=${requestId}`,
      },
      requestId,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = randomUUID();
    const method = (req.method ?? 'GET').toUpperCase();
    let action = '-';
    let status = 500;
    try {
      if (method !== 'GET' && method !== 'POST') {
        throw new KmsServiceError(403, 'UnsupportedHTTPMethod', 'This http method is not supported.');
      }
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      let params: Params;
      try {
        params = parseRpcParams(q < 0 ? '' : url.slice(q + 1));
        const body = await readBody(req);
        // The SDK signs query and form-body parameters together; merge them the same way.
        if (body !== '' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
          parseRpcParams(body, params);
        }
      } catch (e) {
        if (e instanceof KmsServiceError) throw e;
        throw new KmsServiceError(
          400,
          'ParseRequestParameterException',
          'Server parse parameters exception. Please check your input params.',
        );
      }
      action = params.Action ?? '-';
      const auth = verifyRpcRequest(method, params, {
        lookupSecret,
        nonceSeen,
        ...(options.maxSkewMs ? { maxSkewMs: options.maxSkewMs } : {}),
      });
      if (!auth.ok) throw new KmsServiceError(auth.status, auth.code, auth.message);
      if (params.Version !== API_VERSION) {
        throw new KmsServiceError(400, 'InvalidVersion', 'Specified parameter Version is not valid.');
      }
      const fn = params.Action === undefined ? undefined : ACTIONS[params.Action];
      if (!fn) {
        // Gateway code for an unknown action; its HTTP status (404) is UNCONFIRMED, no source shows it (docs/oss-behaviour.md#kms).
        throw new KmsServiceError(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
      }
      if (options.ram) {
        const caller = { accessKeyId: auth.accessKeyId, securityToken: auth.securityToken };
        authorizeKmsRequest(options.ram, caller, kmsRequestAccesses(params.Action as string, params, ring));
      }
      const result = fn(params, ring);
      status = 200;
      send(res, 200, result, requestId);
    } catch (e) {
      const err = e instanceof KmsServiceError ? e : new KmsServiceError(500, 'InternalFailure', 'Internal Failure.');
      if (!(e instanceof KmsServiceError)) options.log?.(`kms internal error ${requestId}: ${(e as Error).stack ?? String(e)}`);
      status = err.status;
      if (!res.headersSent) {
        req.resume();
        sendError(res, err, requestId);
      } else {
        res.destroy();
      }
    } finally {
      if (options.log) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        options.log(`KMS ${method} ${action} ${status} ${ms.toFixed(1)}ms ${requestId}`);
      }
    }
  }

  const listening = await listenLoopback(handle, options);
  return {
    url: listening.url,
    port: listening.port,
    region,
    keys: ring,
    close: listening.close,
  };
}
