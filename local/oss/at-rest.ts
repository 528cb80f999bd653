/**
 * Encryption at rest for objects the server reports as server-side encrypted, so what the
 * stack calls "encrypted" really is on disk. Each segment gets its own random data key,
 * wrapped (AES-256-GCM) by the stack's master key. The data is cut into 64 KiB chunks, each
 * sealed with AES-256-GCM and its own tag, so range reads decrypt only the chunks they need
 * and any tampered or truncated chunk fails authentication.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const CHUNK = 64 * 1024;
const TAG = 16;
const SEALED_CHUNK = CHUNK + TAG;

/** Nonce for chunk i: unique per data key because every segment has its own key. */
function nonce(index: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(index, 8);
  return n;
}

export function sealedSize(plainSize: number): number {
  const chunks = Math.ceil(plainSize / CHUNK);
  return plainSize + chunks * TAG;
}

export class AtRestCipher {
  constructor(private readonly masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('master key must be 32 bytes');
  }

  newDataKey(): { dataKey: Buffer; wrappedKey: string } {
    const dataKey = randomBytes(32);
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.masterKey, iv);
    const ct = Buffer.concat([c.update(dataKey), c.final()]);
    return { dataKey, wrappedKey: Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64') };
  }

  unwrap(wrappedKey: string): Buffer {
    const raw = Buffer.from(wrappedKey, 'base64');
    const d = createDecipheriv('aes-256-gcm', this.masterKey, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(raw.length - TAG));
    return Buffer.concat([d.update(raw.subarray(12, raw.length - TAG)), d.final()]);
  }

  /** Plaintext in, sealed chunks out. */
  async *seal(dataKey: Buffer, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let pending: Buffer = Buffer.alloc(0);
    let index = 0;
    const sealChunk = (chunk: Buffer): Buffer => {
      const c = createCipheriv('aes-256-gcm', dataKey, nonce(index++));
      return Buffer.concat([c.update(chunk), c.final(), c.getAuthTag()]);
    };
    for await (const data of source) {
      pending = pending.length ? Buffer.concat([pending, data]) : data;
      let off = 0;
      for (; off + CHUNK <= pending.length; off += CHUNK) yield sealChunk(pending.subarray(off, off + CHUNK));
      pending = pending.subarray(off);
    }
    if (pending.length > 0) yield sealChunk(pending);
  }

  /**
   * Decrypts plaintext bytes [start, end) of a sealed segment. `readSealed(a, b)` yields the
   * stored bytes [a, b).
   */
  async *open(
    dataKey: Buffer,
    readSealed: (start: number, end: number) => AsyncIterable<Buffer>,
    plainSize: number,
    start: number,
    end: number,
  ): AsyncGenerator<Buffer> {
    if (start >= end) return;
    const first = Math.floor(start / CHUNK);
    const last = Math.floor((end - 1) / CHUNK);
    const sealedEnd = Math.min((last + 1) * SEALED_CHUNK, sealedSize(plainSize));
    let buffered: Buffer = Buffer.alloc(0);
    let index = first;
    const openChunk = (sealed: Buffer): Buffer => {
      const d = createDecipheriv('aes-256-gcm', dataKey, nonce(index));
      d.setAuthTag(sealed.subarray(sealed.length - TAG));
      const plain = Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
      const chunkStart = index * CHUNK;
      index++;
      return plain.subarray(Math.max(0, start - chunkStart), Math.min(plain.length, end - chunkStart));
    };
    for await (const data of readSealed(first * SEALED_CHUNK, sealedEnd)) {
      buffered = buffered.length ? Buffer.concat([buffered, data]) : data;
      let off = 0;
      while (buffered.length - off >= SEALED_CHUNK) {
        yield openChunk(buffered.subarray(off, off + SEALED_CHUNK));
        off += SEALED_CHUNK;
      }
      buffered = buffered.subarray(off);
    }
    if (buffered.length > 0) yield openChunk(buffered);
    if (index !== last + 1) throw new Error('sealed segment is truncated');
  }
}
