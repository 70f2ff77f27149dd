/**
 * PURE: what the workload itself allows any resizer built on this machine's decoders to reach.
 *
 * Every request must at least decode its original. The decode floor of an original is the cheapest
 * decode libvips can do of it: the cheaper of a full-size decode and a decode to 1/8 of the width
 * (shrink-on-load: JPEG scales in the DCT, WebP in the decoder; the rest nearest-neighbour), to raw
 * pixels, without resampling filters or encoding, best of a few runs.
 * From those floors, two bounds follow that hold for every possible implementation, whatever its
 * resampling, HTTP stack or scheduling:
 *
 *   throughput: on `cores` cores, rps <= cores / mean(floor CPU seconds per request);
 *   tail:       each request's latency >= its own floor, so the p99 of the latencies >= the p99 of
 *               the floors (order statistics keep the order of two paired samples).
 *
 * Compared with the legacy figures, they say whether a target is out of reach on this workload,
 * as opposed to not yet reached by this implementation.
 */
import { percentile } from '../../common/stats.ts';
import { round } from './stats.ts';

export interface OriginalFloor {
  key: string;
  format: string;
  width: number;
  height: number;
  /** The decode that was cheaper: at full size, or at 1/8 (libvips shrink-on-load, nearest). */
  method: 'full' | 'eighth';
  /** Best CPU milliseconds of one decode (all the process's threads). */
  cpu_ms: number;
  /** Best wall milliseconds of one decode, alone on an idle core. */
  wall_ms: number;
}

export interface FloorBounds {
  /** Mean floor CPU seconds per request over the workload's paths (the mix as replayed). */
  cpu_s_per_req: number;
  /** The most requests per second any implementation could serve on `cores` cores. */
  ceiling_rps: number;
  /** ceiling_rps / the legacy's best saturation rps: the largest throughput ratio possible. */
  ceiling_over_legacy_rps: number | null;
  /** p99 of the paths' floor wall times: no implementation's p99 can be lower. */
  p99_floor_ms: number;
  /** p99_floor_ms / the legacy's best p99 at the fixed load: the smallest tail ratio possible. */
  p99_floor_over_legacy_p99: number | null;
}

/**
 * The bounds for a workload whose paths hit `pathKeys` (one entry per request path, repeats
 * included, so the mix is weighted as the benchmark replays it).
 */
export function floorBounds(
  floors: readonly OriginalFloor[],
  pathKeys: readonly string[],
  cores: number,
  legacy: { rps: number | null; p99_ms: number | null },
): FloorBounds {
  if (pathKeys.length === 0) throw new Error('floorBounds: no request paths');
  if (!(cores > 0)) throw new Error(`floorBounds: cores must be positive, got ${cores}`);
  const byKey = new Map(floors.map((f) => [f.key, f]));
  const perPath = pathKeys.map((k) => {
    const f = byKey.get(k);
    if (!f) throw new Error(`floorBounds: no decode floor for ${k}`);
    return f;
  });
  const cpuS = perPath.reduce((sum, f) => sum + f.cpu_ms, 0) / perPath.length / 1000;
  const ceiling = cpuS > 0 ? cores / cpuS : Number.POSITIVE_INFINITY;
  const p99 = percentile(
    perPath.map((f) => f.wall_ms).sort((a, b) => a - b),
    0.99,
  )!;
  return {
    cpu_s_per_req: round(cpuS, 4),
    ceiling_rps: round(ceiling, 1),
    ceiling_over_legacy_rps: legacy.rps ? round(ceiling / legacy.rps, 2) : null,
    p99_floor_ms: round(p99, 1),
    p99_floor_over_legacy_p99: legacy.p99_ms ? round(p99 / legacy.p99_ms, 3) : null,
  };
}

export interface FloorVerdict {
  target: string;
  goal: string;
  /** The best value any implementation could reach on this workload and machine. */
  bound: number | null;
  /** How the bound reads: "<= x" for a ceiling, ">= x" for a floor. */
  bound_text: string;
  /** false: the goal lies beyond the bound, so no implementation on these decoders can meet it. */
  reachable: boolean | null;
}

/** Whether the throughput and tail targets (>= `minRpsRatio`, <= `maxP99Ratio`) lie within the bounds. */
export function floorVerdicts(b: FloorBounds, minRpsRatio: number, maxP99Ratio: number): FloorVerdict[] {
  const rps = b.ceiling_over_legacy_rps;
  const p99 = b.p99_floor_over_legacy_p99;
  return [
    {
      target: 'throughput',
      goal: `>= ${minRpsRatio}`,
      bound: rps,
      bound_text: rps === null ? 'n/a' : `<= ${rps.toFixed(2)}`,
      reachable: rps === null ? null : rps >= minRpsRatio,
    },
    {
      target: 'tail latency at the legacy load',
      goal: `<= ${maxP99Ratio.toFixed(3)}`,
      bound: p99,
      bound_text: p99 === null ? 'n/a' : `>= ${p99.toFixed(3)}`,
      reachable: p99 === null ? null : p99 <= maxP99Ratio + 1e-9,
    },
  ];
}
