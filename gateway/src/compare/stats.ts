/** PURE summary statistics for the report: percentiles and a log-scale latency histogram. */
import { percentile as nearestRank } from '../../../common/stats.ts';

/** p50/p95/p99/max (and count, mean) of a sample; nearest-rank percentiles; zeros for an empty sample. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** The project's nearest-rank percentile (common/stats.ts) of an ascending array, p in 0..100; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  return nearestRank(sorted, p / 100);
}

export function summarise(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  const r = (v: number) => Math.round(v * 100) / 100;
  return {
    count: sorted.length,
    p50: r(percentile(sorted, 50) ?? 0),
    p95: r(percentile(sorted, 95) ?? 0),
    p99: r(percentile(sorted, 99) ?? 0),
    max: r(sorted.length ? sorted[sorted.length - 1]! : 0),
    mean: r(sorted.length ? sum / sorted.length : 0),
  };
}

/** Upper bucket edges (ms) of the latency histogram; the last bucket is "above the last edge". */
export const LATENCY_EDGES_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] as const;

/** Counts per bucket: bucket i holds values <= edges[i] (and > edges[i-1]); one extra bucket for the rest. */
export function histogram(values: readonly number[], edges: readonly number[] = LATENCY_EDGES_MS): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let i = edges.findIndex((e) => v <= e);
    if (i < 0) i = edges.length;
    counts[i]!++;
  }
  return counts;
}

/** new / legacy per percentile (how many times slower the new service is; < 1 is faster). */
export function ratio(next: Percentiles, legacy: Percentiles): { p50: number; p95: number; p99: number; max: number } {
  const q = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);
  return { p50: q(next.p50, legacy.p50), p95: q(next.p95, legacy.p95), p99: q(next.p99, legacy.p99), max: q(next.max, legacy.max) };
}
