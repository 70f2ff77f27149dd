/**
 * PURE: the one percentile every measurement in the project means (the benchmarks, the load test,
 * the chaos table). Nearest rank: the smallest sample such that at least a fraction q of the
 * samples are <= it, i.e. sorted[ceil(q*n) - 1]. It is always a real sample, never interpolated,
 * and on 100 samples the p99 is the 99th value, not the maximum (floor(q*n) gives the maximum).
 */

/** Below this, q*n is taken as a whole number: 0.07 * 100 is 7.000000000000001 in binary floating point. */
const EPSILON = 1e-9;

/**
 * Nearest-rank percentile of an ASCENDING list, q a fraction from 0 to 1 (0.99 for p99);
 * undefined for an empty list (no sample, no percentile: callers decide what to print).
 */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile: expected q as a fraction from 0 to 1, got ${q}`);
  const n = sorted.length;
  if (n === 0) return undefined;
  const rank = Math.ceil(q * n - EPSILON);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/**
 * The same percentile of values in any order (a sorted copy; the input is left as it was), NaN
 * when there are none: for measurements printed in a table, where a missing figure shows as '-'
 * instead of stopping the run.
 */
export function percentileOrNaN(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(sorted, q) ?? Number.NaN;
}
