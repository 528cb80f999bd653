/** Chunked AES-256-GCM sealing of objects at rest in the local OSS server. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AtRestCipher, CHUNK, sealedSize } from '../../local/oss/at-rest';

const cipher = new AtRestCipher(randomBytes(32));

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

async function* pieces(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function seal(plain: Buffer, pieceSize = 7000) {
  const { dataKey, wrappedKey } = cipher.newDataKey();
  const sealed = await collect(cipher.seal(dataKey, pieces(plain, pieceSize)));
  const open = (start: number, end: number) =>
    collect(
      cipher.open(
        cipher.unwrap(wrappedKey),
        async function* (a, b) {
          yield sealed.subarray(a, b);
        },
        plain.length,
        start,
        end,
      ),
    );
  return { sealed, open, wrappedKey };
}

describe('AtRestCipher', () => {
  const plain = randomBytes(3 * CHUNK + 1234);

  it('seals to the predicted size without leaking plaintext and opens to the same bytes', async () => {
    const { sealed, open } = await seal(plain);
    expect(sealed.length).toBe(sealedSize(plain.length));
    expect(sealed.includes(plain.subarray(100, 132))).toBe(false);
    expect((await open(0, plain.length)).equals(plain)).toBe(true);
  });

  it('opens any range, including ranges across chunk boundaries', async () => {
    const { open } = await seal(plain);
    for (const [a, b] of [
      [0, 1],
      [CHUNK - 3, CHUNK + 3],
      [CHUNK, 2 * CHUNK],
      [5, 3 * CHUNK + 1234],
      [3 * CHUNK + 1000, 3 * CHUNK + 1234],
    ] as const) {
      expect((await open(a, b)).equals(plain.subarray(a, b))).toBe(true);
    }
  });

  it('fails authentication when one sealed byte changes', async () => {
    const { sealed, wrappedKey } = await seal(plain);
    sealed[CHUNK + 20] = (sealed[CHUNK + 20] as number) ^ 1;
    const read = collect(
      cipher.open(
        cipher.unwrap(wrappedKey),
        async function* (a, b) {
          yield sealed.subarray(a, b);
        },
        plain.length,
        0,
        plain.length,
      ),
    );
    await expect(read).rejects.toThrow();
  });

  it('cannot unwrap a data key under another master key', async () => {
    const { wrappedKey } = cipher.newDataKey();
    expect(() => new AtRestCipher(randomBytes(32)).unwrap(wrappedKey)).toThrow();
  });
});
