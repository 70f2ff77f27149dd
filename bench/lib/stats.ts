/** PURE: the few statistics the benchmark reports. The percentile is the project's one (common/stats.ts). */
import { percentile } from '../../common/stats.ts';

/** Median of the values (mean of the middle two for an even count); undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

export interface LatencySummary {
  count: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export function summarizeLatencies(latenciesMs: readonly number[]): LatencySummary {
  const s = [...latenciesMs].sort((a, b) => a - b);
  const r = (v: number | undefined) => (v === undefined ? null : round(v, 2));
  return { count: s.length, p50_ms: r(percentile(s, 0.5)), p95_ms: r(percentile(s, 0.95)), p99_ms: r(percentile(s, 0.99)), max_ms: r(s[s.length - 1]) };
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Contiguous slices of [0, total) for `rounds` rounds: round r replays its own part of the request
 * sequence, so that over all rounds every subject sees the whole list the same number of times.
 */
export function roundSlices(total: number, rounds: number): Array<{ from: number; to: number }> {
  const out: Array<{ from: number; to: number }> = [];
  for (let r = 0; r < rounds; r++) out.push({ from: Math.floor((r * total) / rounds), to: Math.floor(((r + 1) * total) / rounds) });
  return out;
}

/**
 * Requests for a closed-loop phase: whole passes over the list (so every subject gets exactly the
 * same mix of originals and variants, whatever its speed), as many as fit `seconds` at the
 * estimated throughput, at least one.
 */
export function wholeCycles(listLength: number, estimatedRps: number, seconds: number): number {
  const passes = Math.max(1, Math.round((estimatedRps * seconds) / listLength));
  return passes * listLength;
}

/** The order of subjects in round r: rotated, so no subject always runs first (or right after the heaviest). */
export function rotation<T>(items: readonly T[], round: number): T[] {
  const k = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
