/** A seeded PRNG for tests, so a failure can be replayed with the same numbers: the fault injector's own. */
export { seededRandom } from '../../local/oss/faults';

/** An integer in [min, max], drawn from `random`. */
export const seededInt = (random: () => number, min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
