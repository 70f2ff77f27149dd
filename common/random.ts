/**
 * PURE: the one seeded random of the project (mulberry32). Everything that must come out the same
 * on every run (replay order and sampling with --seed, generated test images) draws from it, so a
 * seed means the same sequence wherever it is used.
 */

/** A generator of numbers in [0, 1), the same sequence for the same seed (taken as an unsigned 32-bit integer). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
