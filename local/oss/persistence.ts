/**
 * Metadata persistence for the local OSS server. The server keeps its index in memory and
 * writes through to disk (one JSON file per bucket, per key and per multipart upload), each
 * file replaced atomically (temp + rename) so a restart finds either the old or the new
 * state of an object, never a mix. Memory mode persists nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BucketRecord, MultipartUpload, ObjectVersion, UploadPart } from './model';

export interface Snapshot {
  buckets: BucketRecord[];
  objects: ObjectVersion[][]; // the versions of one key, newest first
  uploads: MultipartUpload[];
}

export interface MetaStore {
  load(): Promise<Snapshot>;
  saveBucket(bucket: BucketRecord): Promise<void>;
  deleteBucket(name: string): Promise<void>;
  /** Writes the versions of one key (an empty list removes the key). */
  saveKey(bucket: string, key: string, versions: () => ObjectVersion[]): Promise<void>;
  saveUpload(upload: () => MultipartUpload | undefined, uploadId: string): Promise<void>;
}

export class MemoryMetaStore implements MetaStore {
  async load(): Promise<Snapshot> {
    return { buckets: [], objects: [], uploads: [] };
  }
  async saveBucket(): Promise<void> {}
  async deleteBucket(): Promise<void> {}
  async saveKey(): Promise<void> {}
  async saveUpload(): Promise<void> {}
}

interface StoredUpload extends Omit<MultipartUpload, 'parts'> {
  parts: UploadPart[];
}

export class DiskMetaStore implements MetaStore {
  /** Writes to one file are chained so a slow older write never lands after a newer one. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  private bucketDir(bucket: string): string {
    return join(this.dir, 'buckets', bucket);
  }
  private keyFile(bucket: string, key: string): string {
    return join(this.bucketDir(bucket), 'objects', `${createHash('sha256').update(key).digest('hex')}.json`);
  }
  private uploadFile(uploadId: string): string {
    return join(this.dir, 'uploads', `${uploadId}.json`);
  }

  /** Runs after the previous write of the same file; `content` is read when the write runs, so it is the latest state. */
  private enqueue(file: string, content: () => string | undefined): Promise<void> {
    const previous = this.queues.get(file) ?? Promise.resolve();
    const next = previous.then(async () => {
      const text = content();
      if (text === undefined) {
        await rm(file, { force: true });
        return;
      }
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, file);
    });
    const settled = next.catch(() => undefined);
    this.queues.set(file, settled);
    void settled.then(() => {
      if (this.queues.get(file) === settled) this.queues.delete(file);
    });
    return next;
  }

  async load(): Promise<Snapshot> {
    const snapshot: Snapshot = { buckets: [], objects: [], uploads: [] };
    await mkdir(join(this.dir, 'buckets'), { recursive: true });
    await mkdir(join(this.dir, 'uploads'), { recursive: true });
    for (const name of await readdir(join(this.dir, 'buckets'))) {
      const bdir = this.bucketDir(name);
      let bucket: BucketRecord;
      try {
        bucket = JSON.parse(await readFile(join(bdir, 'bucket.json'), 'utf8')) as BucketRecord;
      } catch {
        continue; // a bucket whose record never landed was never created
      }
      snapshot.buckets.push(bucket);
      const odir = join(bdir, 'objects');
      await mkdir(odir, { recursive: true });
      for (const f of await readdir(odir)) {
        if (f.endsWith('.tmp')) {
          await rm(join(odir, f), { force: true }); // cut off by a crash: the previous file stands
          continue;
        }
        snapshot.objects.push(JSON.parse(await readFile(join(odir, f), 'utf8')) as ObjectVersion[]);
      }
    }
    for (const f of await readdir(join(this.dir, 'uploads'))) {
      if (!f.endsWith('.json')) continue;
      const stored = JSON.parse(await readFile(join(this.dir, 'uploads', f), 'utf8')) as StoredUpload;
      snapshot.uploads.push({ ...stored, parts: new Map(stored.parts.map((p) => [p.partNumber, p])) });
    }
    return snapshot;
  }

  async saveBucket(bucket: BucketRecord): Promise<void> {
    await mkdir(join(this.bucketDir(bucket.name), 'objects'), { recursive: true });
    await this.enqueue(join(this.bucketDir(bucket.name), 'bucket.json'), () => JSON.stringify(bucket));
  }

  async deleteBucket(name: string): Promise<void> {
    await rm(this.bucketDir(name), { recursive: true, force: true });
  }

  async saveKey(bucket: string, key: string, versions: () => ObjectVersion[]): Promise<void> {
    await this.enqueue(this.keyFile(bucket, key), () => {
      const v = versions();
      return v.length ? JSON.stringify(v) : undefined;
    });
  }

  async saveUpload(upload: () => MultipartUpload | undefined, uploadId: string): Promise<void> {
    await this.enqueue(this.uploadFile(uploadId), () => {
      const u = upload();
      if (!u) return undefined;
      const stored: StoredUpload = { ...u, parts: [...u.parts.values()] };
      return JSON.stringify(stored);
    });
  }
}
