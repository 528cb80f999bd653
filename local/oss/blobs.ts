/**
 * Immutable byte blobs behind object segments: in memory for tests, or one file per blob
 * under a data directory. A blob becomes visible only once complete (temp file + rename),
 * so a crash mid-write never leaves a torn blob that an object points to.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface BlobStore {
  /** Stores the stream; resolves once the blob is durable and visible under blobId. */
  write(source: AsyncIterable<Buffer>): Promise<{ blobId: string; size: number }>;
  /** Stored bytes [start, end). */
  read(blobId: string, start: number, end: number): AsyncIterable<Buffer>;
  delete(blobId: string): Promise<void>;
  /** Ids of all stored blobs (disk only; used to collect blobs orphaned by a crash). */
  list(): Promise<string[]>;
}

export const newBlobId = (): string => randomBytes(12).toString('hex');

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Buffer>();

  async write(source: AsyncIterable<Buffer>): Promise<{ blobId: string; size: number }> {
    const chunks: Buffer[] = [];
    for await (const c of source) chunks.push(c);
    const data = Buffer.concat(chunks);
    const blobId = newBlobId();
    this.blobs.set(blobId, data);
    return { blobId, size: data.length };
  }

  async *read(blobId: string, start: number, end: number): AsyncIterable<Buffer> {
    const data = this.blobs.get(blobId);
    if (!data) throw new Error(`blob ${blobId} is missing`);
    if (end > start) yield data.subarray(start, end);
  }

  async delete(blobId: string): Promise<void> {
    this.blobs.delete(blobId);
  }

  async list(): Promise<string[]> {
    return [...this.blobs.keys()];
  }
}

export class DiskBlobStore implements BlobStore {
  private readonly tmpDir: string;
  private constructor(private readonly dir: string) {
    this.tmpDir = join(dir, '.tmp');
  }

  static async open(dir: string): Promise<DiskBlobStore> {
    const store = new DiskBlobStore(dir);
    await mkdir(dir, { recursive: true });
    // Whatever is in .tmp was cut off mid-write by a crash: never part of an object.
    await rm(store.tmpDir, { recursive: true, force: true });
    await mkdir(store.tmpDir, { recursive: true });
    return store;
  }

  private path(blobId: string): string {
    return join(this.dir, blobId.slice(0, 2), blobId);
  }

  async write(source: AsyncIterable<Buffer>): Promise<{ blobId: string; size: number }> {
    const blobId = newBlobId();
    const tmp = join(this.tmpDir, blobId);
    let size = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const c of source) {
        size += c.length;
        yield c;
      }
    }
    try {
      await pipeline(counted(), createWriteStream(tmp));
      await mkdir(join(this.dir, blobId.slice(0, 2)), { recursive: true });
      await rename(tmp, this.path(blobId));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { blobId, size };
  }

  async *read(blobId: string, start: number, end: number): AsyncIterable<Buffer> {
    if (end <= start) return;
    yield* createReadStream(this.path(blobId), { start, end: end - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
  }

  async delete(blobId: string): Promise<void> {
    await rm(this.path(blobId), { force: true });
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    for (const sub of await readdir(this.dir)) {
      if (sub === '.tmp') continue;
      for (const f of await readdir(join(this.dir, sub))) ids.push(f);
    }
    return ids;
  }
}
