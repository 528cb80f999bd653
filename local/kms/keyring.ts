/**
 * The local KMS's keys, in memory: customer master keys (CMKs) with their metadata,
 * aliases, state, and symmetric key material for envelope encryption. Nothing persists,
 * which is fine for a local stack: a restart gives fresh keys (and OSS objects written
 * under the old ones keep their recorded key id).
 *
 * The local OSS server consults the same ring through `lookup` (the OSS↔KMS hook), so
 * OSS refuses SSE-KMS writes with a key KMS does not know or has disabled.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { KmsErrors, KmsServiceError } from './errors';

export const KEY_SPECS = [
  'Aliyun_AES_256',
  'Aliyun_AES_128',
  'Aliyun_AES_192',
  'Aliyun_SM4',
  'RSA_2048',
  'RSA_3072',
  'EC_P256',
  'EC_P256K',
  'EC_SM2',
] as const;
export type KeySpec = (typeof KEY_SPECS)[number];
export const SYMMETRIC_KEY_SPECS: ReadonlySet<string> = new Set(['Aliyun_AES_256', 'Aliyun_AES_128', 'Aliyun_AES_192', 'Aliyun_SM4']);

export type KeyUsage = 'ENCRYPT/DECRYPT' | 'SIGN/VERIFY';
export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport';
export const KEY_STATES: readonly KeyState[] = ['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport'];
export type ProtectionLevel = 'SOFTWARE' | 'HSM';

/** Which usages KMS allows per spec (CreateKey rules): symmetric keys only encrypt. */
const USAGES: Record<KeySpec, readonly KeyUsage[]> = {
  Aliyun_AES_256: ['ENCRYPT/DECRYPT'],
  Aliyun_AES_128: ['ENCRYPT/DECRYPT'],
  Aliyun_AES_192: ['ENCRYPT/DECRYPT'],
  Aliyun_SM4: ['ENCRYPT/DECRYPT'],
  RSA_2048: ['ENCRYPT/DECRYPT', 'SIGN/VERIFY'],
  RSA_3072: ['ENCRYPT/DECRYPT', 'SIGN/VERIFY'],
  EC_P256: ['SIGN/VERIFY'],
  EC_P256K: ['SIGN/VERIFY'],
  EC_SM2: ['ENCRYPT/DECRYPT', 'SIGN/VERIFY'],
};

export interface KmsKey {
  keyId: string;
  arn: string;
  spec: KeySpec;
  usage: KeyUsage;
  state: KeyState;
  description: string;
  /** `yyyy-MM-ddTHH:mm:ssZ`, as KMS formats dates. */
  creationDate: string;
  creator: string;
  protectionLevel: ProtectionLevel;
  origin: 'Aliyun_KMS' | 'EXTERNAL';
  primaryKeyVersion: string;
  deleteDate?: string;
}

/** A key to create at start-up (startKmsServer's `keys` option). */
export interface KeySeed {
  /** Fixed id (handy for tests and configuration); default a random UUID like KMS's. */
  keyId?: string;
  /** `alias/<name>` bound to the key; several allowed. */
  alias?: string | string[];
  spec?: KeySpec;
  usage?: KeyUsage;
  state?: KeyState;
  description?: string;
  protectionLevel?: ProtectionLevel;
}

export const DEFAULT_KEY_ALIAS = 'alias/oss-sse-default';
export const SM4_KEY_ALIAS = 'alias/oss-sse-sm4';

/** The default seeds: the key OSS uses for SSE-KMS without a key id, and an SM4 key. */
export const DEFAULT_KEY_SEEDS: readonly KeySeed[] = [
  { alias: DEFAULT_KEY_ALIAS, spec: 'Aliyun_AES_256', description: 'oss-sse local default key' },
  // KMS offers SM4 keys at the HSM protection level.
  { alias: SM4_KEY_ALIAS, spec: 'Aliyun_SM4', protectionLevel: 'HSM', description: 'oss-sse local SM4 key' },
];

// CreateAlias: "alias/" + 1-255 of letters, digits, '_', '-', '/'; "alias/acs/" is reserved for cloud services.
const ALIAS_RE = /^alias\/[A-Za-z0-9_/-]{1,255}$/;
const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;
const BLOB_VERSION = 1;
const IV = 12;
const TAG = 16;

function kmsDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Canonical encryption context: sorted keys, so `{a,b}` and `{b,a}` seal alike. */
function contextAad(keyId: string, context: Readonly<Record<string, string>> | undefined): Buffer {
  const names = Object.keys(context ?? {}).sort();
  const sorted: Record<string, string> = {};
  for (const n of names) sorted[n] = (context as Record<string, string>)[n] as string;
  return Buffer.from(keyId + '\0' + JSON.stringify(sorted), 'utf8');
}

export class KeyRing {
  readonly region: string;
  readonly accountId: string;
  private readonly keys = new Map<string, KmsKey>();
  private readonly material = new Map<string, Buffer>();
  private readonly aliases = new Map<string, string>(); // alias name → key id
  private readonly arnPrefix: string;

  constructor(opts: { region: string; accountId: string; seeds?: readonly KeySeed[] }) {
    this.region = opts.region;
    this.accountId = opts.accountId;
    this.arnPrefix = `acs:kms:${opts.region}:${opts.accountId}:`;
    for (const seed of opts.seeds ?? DEFAULT_KEY_SEEDS) {
      const key = this.create(seed);
      const aliases = seed.alias === undefined ? [] : Array.isArray(seed.alias) ? seed.alias : [seed.alias];
      for (const a of aliases) this.createAlias(a, key.keyId);
    }
  }

  /** The key OSS uses for SSE-KMS without a key id: `alias/oss-sse-default`, else the first symmetric key. */
  get defaultKeyId(): string | undefined {
    const aliased = this.aliases.get(DEFAULT_KEY_ALIAS);
    if (aliased !== undefined) return aliased;
    for (const k of this.keys.values()) if (SYMMETRIC_KEY_SPECS.has(k.spec)) return k.keyId;
    return undefined;
  }

  create(seed: KeySeed = {}): KmsKey {
    const spec = seed.spec ?? 'Aliyun_AES_256';
    if (!(KEY_SPECS as readonly string[]).includes(spec)) throw KmsErrors.invalidParameter('KeySpec');
    const usage = seed.usage ?? 'ENCRYPT/DECRYPT';
    if (!USAGES[spec].includes(usage)) throw KmsErrors.invalidParameter('KeyUsage', `${spec} keys cannot be used for ${usage}.`);
    const keyId = seed.keyId ?? randomUUID();
    if (!KEY_ID_RE.test(keyId)) throw KmsErrors.invalidParameter('KeyId');
    if (this.keys.has(keyId)) throw KmsErrors.invalidParameter('KeyId', 'A key with this id already exists.');
    const state = seed.state ?? 'Enabled';
    const now = Date.now();
    const key: KmsKey = {
      keyId,
      arn: this.arnPrefix + 'key/' + keyId,
      spec,
      usage,
      state,
      description: seed.description ?? '',
      creationDate: kmsDate(now),
      creator: this.accountId,
      protectionLevel: seed.protectionLevel ?? 'SOFTWARE',
      origin: state === 'PendingImport' ? 'EXTERNAL' : 'Aliyun_KMS',
      primaryKeyVersion: randomUUID(),
      // KMS's default pending window is 30 days.
      ...(state === 'PendingDeletion' ? { deleteDate: kmsDate(now + 30 * 86_400_000) } : {}),
    };
    this.keys.set(keyId, key);
    if (SYMMETRIC_KEY_SPECS.has(spec)) this.material.set(keyId, randomBytes(32));
    return key;
  }

  createAlias(aliasName: string, keyRef: string): void {
    if (!ALIAS_RE.test(aliasName) || aliasName.startsWith('alias/acs/')) throw KmsErrors.invalidParameter('AliasName');
    if (keyRef.startsWith('alias/') || keyRef.includes(':alias/')) throw KmsErrors.unsupportedAlias();
    const key = this.resolve(keyRef);
    if (this.aliases.has(aliasName)) throw KmsErrors.aliasExists();
    this.aliases.set(aliasName, key.keyId);
  }

  /**
   * A key id, `alias/<name>`, `acs:kms:<region>:<account>:key/<id>` or
   * `acs:kms:<region>:<account>:alias/<name>` → the key; throws Forbidden.KeyNotFound /
   * Forbidden.AliasNotFound. An ARN of another region or account names no key here.
   */
  resolve(ref: string): KmsKey {
    const key = this.find(ref);
    if (key) return key;
    throw ref.startsWith('alias/') || ref.includes(':alias/') ? KmsErrors.aliasNotFound() : KmsErrors.keyNotFound();
  }

  /** Like resolve, without throwing: the OSS server's hot path. */
  find(ref: string): KmsKey | undefined {
    let id: string | undefined = ref;
    if (ref.startsWith('acs:')) {
      if (!ref.startsWith(this.arnPrefix)) return undefined;
      const rest = ref.slice(this.arnPrefix.length);
      if (rest.startsWith('key/')) id = rest.slice(4);
      else if (rest.startsWith('alias/')) id = this.aliases.get(rest);
      else return undefined;
    } else if (ref.startsWith('alias/')) {
      id = this.aliases.get(ref);
    }
    return id === undefined ? undefined : this.keys.get(id);
  }

  /** The OSS↔KMS hook (local/oss/context.ts KmsKeyLookup). */
  lookup(ref: string): { keyId: string; arn: string; enabled: boolean; state: KeyState } | undefined {
    const k = this.find(ref);
    return k && { keyId: k.keyId, arn: k.arn, enabled: k.state === 'Enabled', state: k.state };
  }

  /** The RAM resource a key reference names: the key's ARN when it is known, else the ARN the reference spells. */
  resourceArn(ref: string): string {
    const key = this.find(ref);
    if (key) return key.arn;
    if (ref.startsWith('acs:kms:')) return ref;
    return this.arnPrefix + (ref.startsWith('alias/') ? ref : `key/${ref}`);
  }

  /** KMS's container resources: `…:key` (ListKeys, CreateKey) and `…:alias` (ListAliases). */
  containerArn(kind: 'key' | 'alias'): string {
    return this.arnPrefix + kind;
  }

  /** The key a ciphertext blob (from encrypt) names, without decrypting it; undefined if it is not one of ours. */
  keyIdOfBlob(blobBase64: string): string | undefined {
    const blob = Buffer.from(blobBase64, 'base64');
    const idLen = blob[1];
    if (blob[0] !== BLOB_VERSION || idLen === undefined || blob.length < 2 + idLen) return undefined;
    return blob.subarray(2, 2 + idLen).toString('utf8');
  }

  listKeys(): KmsKey[] {
    return [...this.keys.values()];
  }

  listAliases(): Array<{ aliasName: string; keyId: string; aliasArn: string }> {
    return [...this.aliases].map(([aliasName, keyId]) => ({ aliasName, keyId, aliasArn: this.arnPrefix + aliasName }));
  }

  /** EnableKey. */
  enableKey(ref: string): KmsKey {
    return this.switchKey(ref, 'Enabled');
  }

  /** DisableKey. */
  disableKey(ref: string): KmsKey {
    return this.switchKey(ref, 'Disabled');
  }

  /** Only between Enabled and Disabled, as KMS's key-state table allows. */
  private switchKey(ref: string, state: 'Enabled' | 'Disabled'): KmsKey {
    const key = this.resolve(ref);
    if (key.state === 'PendingDeletion') throw KmsErrors.pendingDeletion();
    if (key.state === 'PendingImport') throw KmsErrors.pendingImport();
    key.state = state;
    return key;
  }

  /** Test/seed convenience: put a key in any state (PendingDeletion gets a DeleteDate). */
  setState(ref: string, state: KeyState): KmsKey {
    const key = this.resolve(ref);
    key.state = state;
    if (state === 'PendingDeletion') key.deleteDate = kmsDate(Date.now() + 30 * 86_400_000);
    else delete key.deleteDate;
    return key;
  }

  /** A key usable for a cryptographic operation: Enabled, symmetric, ENCRYPT/DECRYPT. */
  private usable(key: KmsKey): Buffer {
    if (key.state === 'Disabled') throw KmsErrors.disabled();
    if (key.state === 'PendingDeletion') throw KmsErrors.pendingDeletion();
    if (key.state === 'PendingImport') throw KmsErrors.pendingImport();
    const material = this.material.get(key.keyId);
    if (material === undefined || key.usage !== 'ENCRYPT/DECRYPT') {
      throw KmsErrors.unsupportedOperation(`Key ${key.keyId} (${key.spec}, ${key.usage}) is not a symmetric encryption key.`);
    }
    return material;
  }

  /**
   * Seal `plaintext` under a key: the blob embeds the key id (as real KMS blobs do), so
   * Decrypt needs no KeyId. Every symmetric spec, SM4 included, seals with AES-256-GCM
   * here: the blob is opaque to clients and Node's OpenSSL has no SM4-GCM.
   * Layout: version(1) | idLen(1) | keyId | iv(12) | tag(16) | ciphertext.
   */
  encrypt(ref: string, plaintext: Buffer, context?: Readonly<Record<string, string>>): { key: KmsKey; blob: string } {
    const key = this.resolve(ref);
    const material = this.usable(key);
    const id = Buffer.from(key.keyId, 'utf8');
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', material, iv);
    c.setAAD(contextAad(key.keyId, context));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    const blob = Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, c.getAuthTag(), ct]);
    return { key, blob: blob.toString('base64') };
  }

  /** Opens a blob from encrypt; fails if the key is gone or not Enabled, or the context differs. */
  decrypt(blobBase64: string, context?: Readonly<Record<string, string>>): { key: KmsKey; plaintext: Buffer } {
    const blob = Buffer.from(blobBase64, 'base64');
    const idLen = blob[1];
    // Real KMS's code for a blob it cannot parse is UNCONFIRMED, no source shows it (docs/oss-behaviour.md#kms); InvalidParameter names the culprit.
    const invalid = () => KmsErrors.invalidParameter('CiphertextBlob');
    if (blob[0] !== BLOB_VERSION || idLen === undefined || blob.length < 2 + idLen + IV + TAG) throw invalid();
    const keyId = blob.subarray(2, 2 + idLen).toString('utf8');
    const key = this.keys.get(keyId);
    if (!key) throw KmsErrors.keyNotFound();
    const material = this.usable(key);
    const at = 2 + idLen;
    const d = createDecipheriv('aes-256-gcm', material, blob.subarray(at, at + IV));
    d.setAAD(contextAad(keyId, context));
    d.setAuthTag(blob.subarray(at + IV, at + IV + TAG));
    try {
      return { key, plaintext: Buffer.concat([d.update(blob.subarray(at + IV + TAG)), d.final()]) };
    } catch (e) {
      if (e instanceof KmsServiceError) throw e;
      throw invalid(); // wrong key material or encryption context
    }
  }
}
