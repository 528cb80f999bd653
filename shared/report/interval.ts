/**
 * The sample's arithmetic: a uniform draw of N objects from a listing (reservoir sampling,
 * seeded so a run can be repeated) and the 95% interval of a share estimated from it.
 */
import { createHash } from 'node:crypto';
import type { Interval } from './schema';

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;

/**
 * The Wilson score interval of `hits` out of `drawn`, which stays inside [0, 1] and is not
 * degenerate at 0 or `drawn` hits (the normal interval is). When the draw is the whole
 * population the share is known: the interval is that point.
 */
export function shareInterval(hits: number, drawn: number, population: number): Interval {
  if (drawn === 0) return { estimate: 0, low: 0, high: 1, confidence: 0.95, method: 'wilson' };
  const p = hits / drawn;
  if (drawn >= population) return { estimate: p, low: p, high: p, confidence: 0.95, method: 'exact' };
  const z2 = Z95 * Z95;
  const denominator = 1 + z2 / drawn;
  const centre = (p + z2 / (2 * drawn)) / denominator;
  const half = (Z95 * Math.sqrt((p * (1 - p)) / drawn + z2 / (4 * drawn * drawn))) / denominator;
  // At 0 (or all) hits the bound is 0 (or 1) exactly; floating point would leave a residue.
  const low = hits === 0 ? 0 : Math.max(0, centre - half);
  const high = hits === drawn ? 1 : Math.min(1, centre + half);
  return { estimate: p, low, high, confidence: 0.95, method: 'wilson' };
}

/** A reproducible uniform number in [0, 1) for draw `i` under `seed` (48 bits of SHA-256). */
function uniform(seed: number, i: number): number {
  return createHash('sha256').update(`${seed}:${i}`).digest().readUIntBE(0, 6) / 2 ** 48;
}

/**
 * Algorithm R: after `offer` has seen n items, `items` holds a uniform sample of min(size, n)
 * of them without replacement, in memory bounded by `size` whatever the bucket holds.
 */
export class Reservoir<T> {
  readonly items: T[] = [];
  private seen = 0;
  constructor(
    private readonly size: number,
    private readonly seed: number,
  ) {}

  offer(item: T): void {
    const i = this.seen++;
    if (i < this.size) {
      this.items.push(item);
      return;
    }
    const j = Math.floor(uniform(this.seed, i) * (i + 1));
    if (j < this.size) this.items[j] = item;
  }

  get population(): number {
    return this.seen;
  }
}
