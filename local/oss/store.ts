/**
 * The local OSS server's state: buckets, object versions in key order, multipart uploads,
 * and the bytes behind them. HTTP concerns live in the handlers; this module owns the
 * semantics that must hold whatever the request (versioning, atomic replacement, blob
 * lifetime) and nothing else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Crc64 } from '../../shared/crc64';
import { compareKeys } from '../../shared/key-order';
import { AtRestCipher } from './at-rest';
import { DiskBlobStore, MemoryBlobStore, type BlobStore } from './blobs';
import { Errors, OssError } from './errors';
import type { BucketRecord, MultipartUpload, ObjectVersion, Segment } from './model';
import { DiskMetaStore, MemoryMetaStore, type MetaStore } from './persistence';

export type StorageOptions = { kind: 'memory' } | { kind: 'disk'; dir: string };

export interface WrittenData {
  segment: Segment;
  size: number;
  md5: Buffer;
  crc64: bigint;
}

/** Where a walk over a bucket's keys starts: at `key` (when inclusive) or just after it. */
export interface KeyPosition {
  key: string;
  inclusive: boolean;
}

class BucketState {
  /** All keys that have at least one version (delete markers included), in OSS order. */
  readonly keys: string[] = [];
  /** Versions of each key, newest first. */
  readonly versions = new Map<string, ObjectVersion[]>();
  constructor(public record: BucketRecord) {}

  /** Index of the first key at or after `from` (at it only when inclusive). */
  indexOf(from: KeyPosition): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(this.keys[mid] as string, from.key);
      if (c < 0 || (c === 0 && !from.inclusive)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  setVersions(key: string, versions: ObjectVersion[]): void {
    const had = this.versions.has(key);
    if (versions.length === 0) {
      if (had) {
        this.versions.delete(key);
        this.keys.splice(this.indexOf({ key, inclusive: true }), 1);
      }
      return;
    }
    this.versions.set(key, versions);
    if (!had) this.keys.splice(this.indexOf({ key, inclusive: true }), 0, key);
  }
}

const newVersionId = (): string => `CAEQ${randomBytes(18).toString('base64url')}`;

export class Store {
  private readonly buckets = new Map<string, BucketState>();
  private readonly uploads = new Map<string, MultipartUpload>();

  private constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetaStore,
    private readonly cipher: AtRestCipher,
  ) {}

  static async open(options: StorageOptions): Promise<Store> {
    if (options.kind === 'memory') {
      return new Store(new MemoryBlobStore(), new MemoryMetaStore(), new AtRestCipher(randomBytes(32)));
    }
    await mkdir(options.dir, { recursive: true });
    const store = new Store(
      await DiskBlobStore.open(join(options.dir, 'blobs')),
      new DiskMetaStore(join(options.dir, 'meta')),
      new AtRestCipher(await loadOrCreateMasterKey(join(options.dir, 'master.key'))),
    );
    await store.restore();
    return store;
  }

  private async restore(): Promise<void> {
    const snapshot = await this.meta.load();
    for (const b of snapshot.buckets) this.buckets.set(b.name, new BucketState(b));
    const referenced = new Set<string>();
    for (const versions of snapshot.objects) {
      const first = versions[0];
      const state = first && this.buckets.get(first.bucket);
      if (!first || !state) continue;
      state.setVersions(first.key, versions);
      for (const v of versions) for (const seg of v.segments) referenced.add(seg.blobId);
    }
    for (const u of snapshot.uploads) {
      this.uploads.set(u.uploadId, u);
      for (const p of u.parts.values()) referenced.add(p.segment.blobId);
    }
    // Blobs written but never linked to an object (crash between the two steps) are garbage.
    for (const id of await this.blobs.list()) if (!referenced.has(id)) await this.blobs.delete(id);
  }

  // ---- buckets -------------------------------------------------------------------------

  bucket(name: string): BucketRecord {
    const state = this.buckets.get(name);
    if (!state) throw Errors.noSuchBucket(name);
    return state.record;
  }

  private state(name: string): BucketState {
    const state = this.buckets.get(name);
    if (!state) throw Errors.noSuchBucket(name);
    return state;
  }

  hasBucket(name: string): boolean {
    return this.buckets.has(name);
  }

  listBuckets(): BucketRecord[] {
    return [...this.buckets.values()].map((s) => s.record).sort((a, b) => compareKeys(a.name, b.name));
  }

  async createBucket(record: BucketRecord): Promise<void> {
    this.buckets.set(record.name, new BucketState(record));
    await this.meta.saveBucket(record);
  }

  async updateBucket(name: string, change: (b: BucketRecord) => BucketRecord): Promise<BucketRecord> {
    const state = this.state(name);
    state.record = change(state.record);
    await this.meta.saveBucket(state.record);
    return state.record;
  }

  async deleteBucket(name: string): Promise<void> {
    const state = this.state(name);
    if (state.keys.length > 0) {
      throw new OssError(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty.', { BucketName: name }, '0015-00000301');
    }
    for (const u of this.uploads.values()) {
      if (u.bucket === name) {
        throw new OssError(
          409,
          'BucketNotEmpty',
          'The bucket has multipart uploads that are not aborted.',
          { BucketName: name },
          '0015-00000302',
        );
      }
    }
    this.buckets.delete(name);
    await this.meta.deleteBucket(name);
  }

  // ---- object versions -----------------------------------------------------------------

  /** The current version, or undefined when the key does not exist or its newest version is a delete marker. */
  current(bucket: string, key: string): ObjectVersion | undefined {
    const v = this.state(bucket).versions.get(key)?.[0];
    return v && !v.isDeleteMarker ? v : undefined;
  }

  version(bucket: string, key: string, versionId: string): ObjectVersion | undefined {
    return this.state(bucket)
      .versions.get(key)
      ?.find((v) => v.versionId === versionId);
  }

  versionsOf(bucket: string, key: string): readonly ObjectVersion[] {
    return this.state(bucket).versions.get(key) ?? [];
  }

  /** Keys in OSS order from `from`. */
  *keysFrom(bucket: string, from: KeyPosition): Generator<string> {
    const state = this.state(bucket);
    // Re-locate by key on every step: the array may change between yields.
    let last: string | undefined;
    let i = state.indexOf(from);
    while (true) {
      if (last !== undefined) i = state.indexOf({ key: last, inclusive: false });
      const key = state.keys[i];
      if (key === undefined) return;
      last = key;
      yield key;
    }
  }

  /**
   * Makes `version` the current version of its key, following the bucket's versioning state.
   * Returns the version id it was stored under. Data of replaced versions is freed after the
   * new metadata is durable.
   */
  async putVersion(bucket: string, version: Omit<ObjectVersion, 'versionId' | 'bucket'>): Promise<ObjectVersion> {
    const state = this.state(bucket);
    const existing = state.versions.get(version.key) ?? [];
    const versioning = state.record.versioning;
    const stored: ObjectVersion = {
      ...version,
      bucket,
      versionId: versioning === 'Enabled' ? newVersionId() : 'null',
    };
    let kept: ObjectVersion[];
    if (versioning === undefined) kept = [];
    else kept = existing.filter((v) => v.versionId !== stored.versionId);
    const freed = existing.filter((v) => !kept.includes(v));
    state.setVersions(version.key, [stored, ...kept]);
    await this.meta.saveKey(bucket, version.key, () => state.versions.get(version.key) ?? []);
    await this.freeData(freed);
    return stored;
  }

  /**
   * AppendObject: the first append creates the object like a put; later ones replace the
   * appendable version in place (same version id), keeping its earlier segments.
   */
  async putAppended(
    bucket: string,
    existing: ObjectVersion | undefined,
    version: Omit<ObjectVersion, 'versionId' | 'bucket'>,
  ): Promise<ObjectVersion> {
    if (!existing) return this.putVersion(bucket, version);
    return this.updateVersion(bucket, existing, version);
  }

  /** Replaces fields of an existing version in place (ACL, tags, restore state). */
  async updateVersion(bucket: string, target: ObjectVersion, change: Partial<ObjectVersion>): Promise<ObjectVersion> {
    const state = this.state(bucket);
    const versions = state.versions.get(target.key) ?? [];
    const updated = { ...target, ...change };
    state.setVersions(
      target.key,
      versions.map((v) => (v === target ? updated : v)),
    );
    await this.meta.saveKey(bucket, target.key, () => state.versions.get(target.key) ?? []);
    return updated;
  }

  /**
   * DeleteObject semantics: with a version id, removes that version for good; otherwise an
   * unversioned bucket removes the object and a versioned one gets a delete marker.
   */
  async deleteObject(
    bucket: string,
    key: string,
    versionId: string | undefined,
    owner: string,
  ): Promise<{ deleteMarker: boolean; versionId?: string }> {
    const state = this.state(bucket);
    const existing = state.versions.get(key) ?? [];
    const versioning = state.record.versioning;
    if (versionId !== undefined) {
      const target = existing.find((v) => v.versionId === versionId);
      if (!target) {
        if (existing.length === 0 || versionId === 'null') return { deleteMarker: false, versionId };
        throw Errors.invalidArgument('Invalid version id specified', 'versionId', versionId);
      }
      state.setVersions(
        key,
        existing.filter((v) => v !== target),
      );
      await this.meta.saveKey(bucket, key, () => state.versions.get(key) ?? []);
      await this.freeData([target]);
      return { deleteMarker: target.isDeleteMarker, versionId };
    }
    if (versioning === undefined) {
      state.setVersions(key, []);
      await this.meta.saveKey(bucket, key, () => []);
      await this.freeData(existing);
      return { deleteMarker: false };
    }
    const marker = await this.putVersion(bucket, {
      key,
      isDeleteMarker: true,
      lastModified: Date.now(),
      etag: '',
      size: 0,
      crc64: '0',
      objectType: 'Normal',
      storageClass: 'Standard',
      contentHeaders: {},
      userMeta: {},
      acl: 'default',
      tags: [],
      segments: [],
      owner,
    });
    return { deleteMarker: true, versionId: marker.versionId };
  }

  private async freeData(versions: readonly ObjectVersion[]): Promise<void> {
    for (const v of versions) for (const s of v.segments) await this.blobs.delete(s.blobId);
  }

  // ---- bytes -----------------------------------------------------------------------------

  /**
   * Streams `source` into a new segment, computing MD5 and CRC-64 over the plaintext and
   * sealing it when `encrypt` is set. Fails (and stores nothing) if more than `maxSize`
   * bytes arrive or, when `expectedSize` is given, a different number.
   */
  async writeData(source: AsyncIterable<Buffer>, opts: { encrypt: boolean; expectedSize?: number; maxSize: number }): Promise<WrittenData> {
    const md5 = createHash('md5');
    const crc = new Crc64();
    let size = 0;
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > opts.maxSize || (opts.expectedSize !== undefined && size > opts.expectedSize)) {
          throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.');
        }
        md5.update(chunk);
        crc.update(chunk);
        yield chunk;
      }
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw new OssError(400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
      }
    }
    let segment: Segment;
    if (opts.encrypt) {
      const { dataKey, wrappedKey } = this.cipher.newDataKey();
      const { blobId } = await this.blobs.write(this.cipher.seal(dataKey, hashed()));
      segment = { blobId, size, wrappedKey };
    } else {
      const { blobId } = await this.blobs.write(hashed());
      segment = { blobId, size };
    }
    return { segment, size, md5: md5.digest(), crc64: crc.digest() };
  }

  /** Plaintext bytes [start, end) of an object made of `segments`. */
  async *readData(segments: readonly Segment[], start: number, end: number): AsyncGenerator<Buffer> {
    let offset = 0;
    for (const s of segments) {
      const from = Math.max(start, offset) - offset;
      const to = Math.min(end, offset + s.size) - offset;
      offset += s.size;
      if (from >= to) continue;
      if (s.wrappedKey === undefined) {
        yield* this.blobs.read(s.blobId, from, to);
      } else {
        const dataKey = this.cipher.unwrap(s.wrappedKey);
        yield* this.cipher.open(dataKey, (a, b) => this.blobs.read(s.blobId, a, b), s.size, from, to);
      }
      if (offset >= end) return;
    }
  }

  async deleteSegments(segments: readonly Segment[]): Promise<void> {
    for (const s of segments) await this.blobs.delete(s.blobId);
  }

  // ---- multipart uploads -------------------------------------------------------------------

  private lastUploadIdTime = 0;
  private uploadIdSequence = 0;
  /**
   * 32 hex digits that sort in creation order (time in ms, then a sequence within the ms, then
   * random), as real OSS upload IDs do. See docs/oss-behaviour.md#multipart-upload-listing.
   */
  private nextUploadId(): string {
    const now = Math.max(Date.now(), this.lastUploadIdTime);
    this.uploadIdSequence = now === this.lastUploadIdTime ? this.uploadIdSequence + 1 : 0;
    this.lastUploadIdTime = now;
    const time = now.toString(16).padStart(12, '0');
    const sequence = this.uploadIdSequence.toString(16).padStart(4, '0');
    return `${time}${sequence}${randomBytes(8).toString('hex')}`.toUpperCase();
  }

  async createUpload(upload: Omit<MultipartUpload, 'uploadId' | 'parts' | 'initiated'>): Promise<MultipartUpload> {
    this.state(upload.bucket);
    const created: MultipartUpload = {
      ...upload,
      uploadId: this.nextUploadId(),
      initiated: Date.now(),
      parts: new Map(),
    };
    this.uploads.set(created.uploadId, created);
    await this.meta.saveUpload(() => this.uploads.get(created.uploadId), created.uploadId);
    return created;
  }

  upload(bucket: string, key: string, uploadId: string): MultipartUpload {
    const u = this.uploads.get(uploadId);
    if (!u || u.bucket !== bucket || u.key !== key) throw Errors.noSuchUpload(uploadId);
    return u;
  }

  uploadsOf(bucket: string): MultipartUpload[] {
    this.state(bucket);
    return [...this.uploads.values()].filter((u) => u.bucket === bucket);
  }

  async putPart(upload: MultipartUpload, part: MultipartUpload['parts'] extends Map<number, infer P> ? P : never): Promise<void> {
    const live = this.uploads.get(upload.uploadId);
    if (live !== upload) {
      // Aborted or completed while the part was uploading: the part's data is not needed.
      await this.deleteSegments([part.segment]);
      throw Errors.noSuchUpload(upload.uploadId);
    }
    const replaced = upload.parts.get(part.partNumber);
    upload.parts.set(part.partNumber, part);
    await this.meta.saveUpload(() => this.uploads.get(upload.uploadId), upload.uploadId);
    if (replaced) await this.deleteSegments([replaced.segment]);
  }

  /** Ends an upload; `keep` lists the segments that now belong to an object. */
  async endUpload(upload: MultipartUpload, keep: ReadonlySet<string>): Promise<void> {
    this.uploads.delete(upload.uploadId);
    await this.meta.saveUpload(() => undefined, upload.uploadId);
    await this.deleteSegments([...upload.parts.values()].map((p) => p.segment).filter((s) => !keep.has(s.blobId)));
  }
}

async function loadOrCreateMasterKey(file: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length === 32) return key;
  } catch {
    // first start: create below
  }
  const key = randomBytes(32);
  await writeFile(file, key.toString('base64'), { mode: 0o600 });
  return key;
}
