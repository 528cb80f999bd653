/**
 * One bucket's counters, fed object by object from whatever source looked at it (a HEAD, an
 * inventory row, a listing entry): objects and bytes by encryption and storage class, the
 * plaintext and non-compliant ones, the prefixes holding the most plaintext bytes, and what
 * the backfill would skip. Pure bookkeeping, no I/O.
 */
import type { EncryptionCount, EncryptionKind, Objects, PrefixCount, StorageClassCount } from './schema';

export const TOP_PREFIXES = 10;

/** How an object is encrypted, as far as it is known. */
export interface ObjectEncryption {
  encryption: EncryptionKind;
  kmsKeyId?: string;
  dataEncryption?: 'SM4';
}

/** One object's facts, whatever told them. `encryption` undefined: it holds no data (a symlink). */
export interface Observation {
  key: string;
  size: number;
  storageClass: string;
  encryption: ObjectEncryption | undefined;
  /** Falls short of the policy (plaintext, or another algorithm or key under COMPLIANCE=exact). */
  nonCompliant: boolean;
  /** What the backfill would skip it as, if anything. */
  skipped?: string;
}

/** The key's prefixes at the first two "/" levels: "a/b/c" → ["a/", "a/b/"]; "x" → [""]. */
export function keyPrefixes(key: string): string[] {
  const parts = key.split('/');
  if (parts.length === 1) return [''];
  const first = `${parts[0]}/`;
  return parts.length > 2 ? [first, `${first}${parts[1]}/`] : [first];
}

const countUp = (map: Map<string, { objects: number; bytes: number }>, id: string, bytes: number): void => {
  const c = map.get(id) ?? { objects: 0, bytes: 0 };
  c.objects++;
  c.bytes += bytes;
  map.set(id, c);
};

const encryptionId = (e: ObjectEncryption): string => JSON.stringify([e.encryption, e.kmsKeyId ?? null, e.dataEncryption ?? null]);

export class BucketTally {
  total = 0;
  bytes = 0;
  plaintext = 0;
  plaintextBytes = 0;
  nonCompliant = 0;
  readonly skipped: Record<string, number> = {};
  readonly failed: Record<string, number> = {};
  private readonly encryptions = new Map<string, { objects: number; bytes: number }>();
  private readonly classes = new Map<string, { objects: number; bytes: number }>();
  private readonly plaintextPrefixes = new Map<string, { objects: number; bytes: number }>();

  /** Every fact of one object. */
  add(o: Observation): void {
    this.count(o.size, o.storageClass);
    this.classify(o);
  }

  /** The listing's part: the object exists, with its size and class (classify adds the rest). */
  count(size: number, storageClass: string): void {
    this.total++;
    this.bytes += size;
    countUp(this.classes, storageClass, size);
  }

  /** What HEAD (or a row) says of an object already counted. */
  classify(o: Omit<Observation, 'storageClass'>): void {
    if (o.skipped !== undefined) this.skipped[o.skipped] = (this.skipped[o.skipped] ?? 0) + 1;
    if (o.nonCompliant) this.nonCompliant++;
    if (!o.encryption) return;
    countUp(this.encryptions, encryptionId(o.encryption), o.size);
    if (o.encryption.encryption !== 'none') return;
    this.plaintext++;
    this.plaintextBytes += o.size;
    for (const prefix of keyPrefixes(o.key)) countUp(this.plaintextPrefixes, prefix, o.size);
  }

  fail(code: string, objects = 1): void {
    this.failed[code] = (this.failed[code] ?? 0) + objects;
  }

  byEncryption(): EncryptionCount[] {
    return [...this.encryptions].map(([id, c]) => {
      const [encryption, kmsKeyId, dataEncryption] = JSON.parse(id) as [EncryptionKind, string | null, 'SM4' | null];
      return {
        encryption,
        ...(kmsKeyId !== null ? { kmsKeyId } : {}),
        ...(dataEncryption !== null ? { dataEncryption } : {}),
        objects: c.objects,
        bytes: c.bytes,
      };
    });
  }

  byStorageClass(): StorageClassCount[] {
    return [...this.classes].map(([storageClass, c]) => ({ storageClass, ...c })).sort((a, b) => b.bytes - a.bytes || b.objects - a.objects);
  }

  /** The top prefixes by plaintext bytes, then objects, then name (so equal ones come in a stable order). */
  topPlaintextPrefixes(): PrefixCount[] {
    return [...this.plaintextPrefixes]
      .map(([prefix, c]) => ({ prefix, ...c }))
      .sort((a, b) => b.bytes - a.bytes || b.objects - a.objects || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
      .slice(0, TOP_PREFIXES);
  }

  objects(): Objects {
    return {
      total: this.total,
      plaintext: this.plaintext,
      bytes: this.bytes,
      plaintextBytes: this.plaintextBytes,
      nonCompliant: this.nonCompliant,
      byEncryption: sortEncryption(this.byEncryption()),
      byStorageClass: this.byStorageClass(),
    };
  }
}

const ENCRYPTION_ORDER: readonly EncryptionKind[] = ['none', 'AES256', 'SM4', 'KMS', 'encrypted', 'unknown'];

/** Plaintext first, then the algorithms, each KMS key on its own row. */
export function sortEncryption(rows: EncryptionCount[]): EncryptionCount[] {
  return [...rows].sort(
    (a, b) =>
      ENCRYPTION_ORDER.indexOf(a.encryption) - ENCRYPTION_ORDER.indexOf(b.encryption) ||
      (a.kmsKeyId ?? '').localeCompare(b.kmsKeyId ?? '') ||
      (a.dataEncryption ?? '').localeCompare(b.dataEncryption ?? ''),
  );
}
