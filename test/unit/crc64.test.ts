import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Crc64, crc64, crc64Combine } from '../../shared/crc64';
import { seededRandom } from '../helpers/seeded-random';

// ali-oss 6.23 ships no CRC-64 implementation (only the inventory field name "Crc64"), so the
// cross-checks are an independent bit-at-a-time BigInt reference and XZ Utils, whose
// CRC64 check is the same CRC-64/XZ that OSS uses.

const REFLECTED_POLY = 0xc96c5795d7870f42n;
const MASK = (1n << 64n) - 1n;

/** Bit-at-a-time reference: slow, shares no code or tables with shared/crc64. */
function referenceCrc64(buf: Uint8Array): bigint {
  let crc = MASK;
  for (const byte of buf) {
    crc ^= BigInt(byte);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ REFLECTED_POLY : crc >> 1n;
  }
  return crc ^ MASK;
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** 1 MiB deterministic pattern; its CRC below was produced by `xz -C crc64` + `xz --robot -lvv`. */
function pattern(): Uint8Array {
  const b = new Uint8Array(1 << 20);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7 + (i >>> 11)) & 0xff;
  return b;
}

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc64 (CRC-64/ECMA-182 as OSS x-oss-hash-crc64ecma)', () => {
  it('matches the CRC-64/XZ check value for "123456789"', () => {
    const c = new Crc64().update(ascii('123456789'));
    expect(c.digest()).toBe(0x995dc9bbdf1939fan);
    expect(crc64(ascii('123456789'))).toBe('11051210869376104954');
  });

  it('prints values above 2^63 as unsigned decimal', () => {
    const v = new Crc64().update(ascii('123456789'));
    expect(v.digest() > 1n << 63n).toBe(true);
    expect(v.toString()).toMatch(/^[0-9]+$/);
    expect(v.toString()).toBe(v.digest().toString(10));
    expect(BigInt(v.toString())).toBe(0x995dc9bbdf1939fan);
  });

  it('is 0 for empty input', () => {
    expect(crc64(new Uint8Array(0))).toBe('0');
    expect(new Crc64().digest()).toBe(0n);
    expect(new Crc64().update(new Uint8Array(0)).update(new Uint8Array(0)).toString()).toBe('0');
  });

  it('matches a value computed by XZ Utils', () => {
    expect(new Crc64().update(pattern()).digest()).toBe(0xe23737803ba63e85n);
  });

  it('matches the bit-at-a-time reference for every length 0..300 and every byte alignment', () => {
    const rand = seededRandom(1);
    const backing = randomBytes(rand, 400);
    for (let offset = 0; offset < 8; offset++) {
      for (let len = 0; len <= 300; len++) {
        const view = backing.subarray(offset, offset + len);
        expect(new Crc64().update(view).digest(), `offset ${offset} len ${len}`).toBe(referenceCrc64(view));
      }
    }
  });

  it('works on Buffers that are slices of a shared pool and on unaligned views', () => {
    const rand = seededRandom(2);
    const data = randomBytes(rand, 10_000);
    const expected = referenceCrc64(data);
    const pooled = Buffer.from(data); // may sit at any offset of Node's pool
    expect(new Crc64().update(pooled).digest()).toBe(expected);
    const backing = new Uint8Array(data.length + 3);
    backing.set(data, 3);
    expect(new Crc64().update(backing.subarray(3)).digest()).toBe(expected);
  });

  it('incremental updates at random split points equal one shot', () => {
    const rand = seededRandom(3);
    for (let round = 0; round < 50; round++) {
      const data = randomBytes(rand, Math.floor(rand() * 20_000));
      const oneShot = new Crc64().update(data).digest();
      const inc = new Crc64();
      let pos = 0;
      while (pos < data.length) {
        const step = Math.floor(rand() * (rand() < 0.5 ? 16 : 4096));
        inc.update(data.subarray(pos, pos + step));
        pos += step;
      }
      expect(inc.digest(), `round ${round}`).toBe(oneShot);
    }
    // digest() does not end the running CRC
    const whole = ascii('123456789');
    const c = new Crc64().update(whole.subarray(0, 4));
    c.digest();
    expect(c.update(whole.subarray(4)).digest()).toBe(0x995dc9bbdf1939fan);
  });

  describe('crc64Combine', () => {
    it('equals the CRC of the concatenation for random buffers and lengths, including 0', () => {
      const rand = seededRandom(4);
      const lengths = [0, 1, 7, 8, 9, 63, 64, 100, 1000, 4096, 100 * 1024 + 3];
      for (const lenA of lengths) {
        for (const lenB of [0, 1, 15, 256, Math.floor(rand() * 300_000)]) {
          const a = randomBytes(rand, lenA);
          const b = randomBytes(rand, lenB);
          const ab = new Uint8Array(lenA + lenB);
          ab.set(a);
          ab.set(b, lenA);
          const crcA = new Crc64().update(a).digest();
          const crcB = new Crc64().update(b).digest();
          const whole = new Crc64().update(ab).digest();
          expect(crc64Combine(crcA, crcB, lenB), `${lenA}+${lenB}`).toBe(whole);
          expect(crc64Combine(crcA, crcB, BigInt(lenB)), `${lenA}+${lenB} (bigint)`).toBe(whole);
        }
      }
    });

    it('folds many parts like CompleteMultipartUpload', () => {
      const rand = seededRandom(5);
      const parts = Array.from({ length: 20 }, () => randomBytes(rand, Math.floor(rand() * 50_000)));
      const all = new Crc64();
      let folded = 0n;
      parts.forEach((p, i) => {
        all.update(p);
        const c = new Crc64().update(p).digest();
        folded = i === 0 ? c : crc64Combine(folded, c, p.length);
      });
      expect(folded).toBe(all.digest());
    });

    it('handles long runs: doubling 1 MiB of zeros matches real data, and lengths beyond 2^32 associate', () => {
      const MiB = 1 << 20;
      const double = (crc: bigint, len: number) => crc64Combine(crc, crc, len);
      let z = new Crc64().update(new Uint8Array(MiB)).digest();
      let n = MiB;
      for (; n < 64 * MiB; n *= 2) z = double(z, n);
      expect(z).toBe(new Crc64().update(new Uint8Array(64 * MiB)).digest());
      const oneG = double(double(double(double(z, 64 * MiB), 128 * MiB), 256 * MiB), 512 * MiB);
      const fourG = double(double(oneG, 2 ** 30), 2 ** 31);
      // 5 GiB of zeros grouped two ways: 4 GiB + 1 GiB versus 1 GiB + 4 GiB (a 2^32 length).
      expect(crc64Combine(fourG, oneG, 2 ** 30)).toBe(crc64Combine(oneG, fourG, 2n ** 32n));
      expect(crc64Combine(oneG, fourG, 2 ** 32)).toBe(crc64Combine(oneG, fourG, 2n ** 32n));
    });

    it('rejects invalid arguments', () => {
      expect(() => crc64Combine(-1n, 0n, 1)).toThrow(RangeError);
      expect(() => crc64Combine(0n, 1n << 64n, 1)).toThrow(RangeError);
      expect(() => crc64Combine(0n, 0n, -1)).toThrow(RangeError);
      expect(() => crc64Combine(0n, 0n, 1.5)).toThrow(RangeError);
      expect(() => crc64Combine(0n, 0n, -1n)).toThrow(RangeError);
    });
  });

  const hasXz = spawnSync('xz', ['--version']).status === 0;
  it.skipIf(!hasXz)('agrees with XZ Utils on random data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crc64-'));
    try {
      const rand = seededRandom(6);
      for (const len of [1, 1000, 123_457]) {
        const data = randomBytes(rand, len);
        const file = join(dir, `d${len}`);
        writeFileSync(file, data);
        expect(spawnSync('xz', ['-C', 'crc64', '-0', '-T1', '-k', '-f', file]).status).toBe(0);
        const listing = spawnSync('xz', ['--robot', '-lvv', `${file}.xz`], { encoding: 'utf8' }).stdout;
        const block = listing.split('\n').find((l) => l.startsWith('block\t'));
        const check = block?.split('\t')[10];
        expect(check, listing).toMatch(/^[0-9a-f]{16}$/);
        expect(new Crc64().update(data).digest()).toBe(BigInt(`0x${check}`));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
