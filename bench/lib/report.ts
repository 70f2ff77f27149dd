/**
 * PURE: measurements of each round -> the subjects' figures (medians over rounds), the ratios
 * against the targets, and the markdown table. No I/O, so it is tested on made-up rounds.
 */
import type { CacheResults } from './cache-bench.ts';
import type { PhaseResult } from './drive.ts';
import { renderCache } from './cache-report.ts';
import { renderPeers, type PeerWorkloadResult } from './peer-report.ts';
import type { FloorBounds, FloorVerdict, OriginalFloor } from './floor.ts';
import type { Usage } from './proc.ts';
import type { SubjectName } from './settings.ts';
import { median, round, summarizeLatencies } from './stats.ts';

/** One phase of one subject in one round, with the OS accounting of its window. */
export interface PhaseMeasurement {
  round: number;
  result: PhaseResult;
  usage: Usage;
  /** Usage of the processes reported separately (nginx of the via-nginx subject), included in `usage`. */
  partUsage?: Usage;
  /** CPU seconds the load generator (this process) used in the window. */
  generatorCpuS: number;
}

export interface SubjectMeasurements {
  name: SubjectName;
  description: string;
  /** What the CPU and memory figures sum over. */
  processes: string;
  /** Label of `partUsage` (e.g. 'front-door nginx'). */
  part?: string;
  saturation: PhaseMeasurement[];
  fixed: PhaseMeasurement[];
}

export interface SubjectResult {
  name: SubjectName;
  description: string;
  processes: string;
  /** Saturation throughput, closed loop: median over rounds, req/s. */
  rps: number | null;
  rps_rounds: number[];
  /** Latency at the fixed offered load (open loop), all rounds pooled, ms. */
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  /** CPU seconds per request at saturation (median over rounds), summed over `processes`. */
  cpu_s_per_req: number | null;
  /** CPU seconds per request at the fixed load (median over rounds). */
  cpu_s_per_req_fixed: number | null;
  /** Highest sampled sum of VmRSS over `processes`, any phase, MiB. */
  peak_rss_mb: number | null;
  /** The same with PSS (shared pages split between the processes that share them), MiB. */
  peak_pss_mb: number | null;
  /** peak_rss_mb / rps: memory per unit of throughput. */
  mb_per_rps: number | null;
  fixed: { rate_rps: number | null; requests: number; errors: number; dropped: number; max_ms: number | null };
  saturation_latency: { requests: number; errors: number; p50_ms: number | null; p95_ms: number | null; p99_ms: number | null };
  /** Load generator CPU per request, ms (median over saturation rounds); null for in-process subjects. */
  generator_cpu_ms_per_req: number | null;
  /** CPU (in cores) that other processes of the machine used during this subject's windows: noise. */
  background_cores: number | null;
  part?: { name: string; cpu_s_per_req: number | null; peak_rss_mb: number | null };
  /** p50 at the fixed load per variant of the mix (where a subject's advantage comes from), ms. */
  by_variant: Record<string, { requests: number; p50_ms: number | null }>;
  error_samples: string[];
}

const r = (v: number | undefined | null, d: number): number | null => (v === undefined || v === null || !Number.isFinite(v) ? null : round(v, d));

/**
 * @param variantOf the variant (query) of request number i, for the per-variant breakdown
 */
export function summarizeSubject(
  m: SubjectMeasurements,
  fixedRate: number | null,
  inProcess: boolean,
  variantOf: (index: number) => string = () => 'all',
): SubjectResult {
  const rpsRounds = m.saturation.map((p) => (p.result.elapsedS > 0 ? p.result.ok / p.result.elapsedS : 0));
  const rps = median(rpsRounds);
  const cpuPerReq = (ps: PhaseMeasurement[]) => median(ps.filter((p) => p.result.completedInWindow > 0).map((p) => p.usage.cpuS / p.result.completedInWindow));
  const all = [...m.saturation, ...m.fixed];
  const peakRss = all.length ? Math.max(...all.map((p) => p.usage.peakRssMb)) : undefined;
  const peakPss = all.length ? Math.max(...all.map((p) => p.usage.peakPssMb)) : undefined;
  const fixedLat = summarizeLatencies(m.fixed.flatMap((p) => p.result.latenciesMs));
  const satLat = summarizeLatencies(m.saturation.flatMap((p) => p.result.latenciesMs));
  const background = median(
    all.filter((p) => p.result.elapsedS > 0).map((p) => Math.max(0, p.usage.machineBusyS - p.usage.cpuS - p.generatorCpuS) / p.result.elapsedS),
  );
  const result: SubjectResult = {
    name: m.name,
    description: m.description,
    processes: m.processes,
    rps: r(rps, 2),
    rps_rounds: rpsRounds.map((v) => round(v, 2)),
    p50_ms: fixedLat.p50_ms,
    p95_ms: fixedLat.p95_ms,
    p99_ms: fixedLat.p99_ms,
    cpu_s_per_req: r(cpuPerReq(m.saturation), 4),
    cpu_s_per_req_fixed: r(cpuPerReq(m.fixed), 4),
    peak_rss_mb: r(peakRss, 1),
    peak_pss_mb: r(peakPss, 1),
    mb_per_rps: rps && peakRss !== undefined ? r(peakRss / rps, 2) : null,
    fixed: {
      rate_rps: fixedRate === null ? null : round(fixedRate, 2),
      requests: m.fixed.reduce((n, p) => n + p.result.ok + p.result.errors, 0),
      errors: m.fixed.reduce((n, p) => n + p.result.errors, 0),
      dropped: m.fixed.reduce((n, p) => n + p.result.dropped, 0),
      max_ms: fixedLat.max_ms,
    },
    saturation_latency: {
      requests: m.saturation.reduce((n, p) => n + p.result.ok + p.result.errors, 0),
      errors: m.saturation.reduce((n, p) => n + p.result.errors, 0),
      p50_ms: satLat.p50_ms,
      p95_ms: satLat.p95_ms,
      p99_ms: satLat.p99_ms,
    },
    generator_cpu_ms_per_req: inProcess
      ? null
      : r(median(m.saturation.filter((p) => p.result.completedInWindow > 0).map((p) => (1000 * p.generatorCpuS) / p.result.completedInWindow)), 3),
    background_cores: r(background, 2),
    by_variant: byVariant(m.fixed, variantOf),
    error_samples: [...new Set(all.flatMap((p) => p.result.errorSamples))].slice(0, 5),
  };
  if (m.part) {
    const parts = m.saturation.filter((p) => p.partUsage && p.result.completedInWindow > 0);
    result.part = {
      name: m.part,
      cpu_s_per_req: r(median(parts.map((p) => p.partUsage!.cpuS / p.result.completedInWindow)), 4),
      peak_rss_mb: r(Math.max(0, ...all.map((p) => p.partUsage?.peakRssMb ?? 0)), 1),
    };
  }
  return result;
}

function byVariant(phases: readonly PhaseMeasurement[], variantOf: (index: number) => string): SubjectResult['by_variant'] {
  const groups = new Map<string, number[]>();
  for (const p of phases) {
    p.result.indices.forEach((index, k) => {
      const v = variantOf(index);
      const list = groups.get(v) ?? [];
      list.push(p.result.latenciesMs[k]!);
      groups.set(v, list);
    });
  }
  return Object.fromEntries([...groups].map(([v, lat]) => [v, { requests: lat.length, p50_ms: summarizeLatencies(lat).p50_ms }]));
}

/**
 * What the front door adds to a request: the same paths asked of the service directly and through
 * nginx, one request at a time and alternating (direct, via; via, direct; ...), so that each pair
 * ran under the same host conditions. Measured at the fixed load instead, the difference of two
 * phases' p50s carried the drift between the phases and the queueing it sets off at 70% load
 * (+0.06, +1.6, +1.9 and +2.7 ms in four runs of the same code, of a hop that costs ~0.3 ms).
 */
export interface HopResult {
  pairs: number;
  direct_p50_ms: number | null;
  via_p50_ms: number | null;
  /** Median over the pairs of (through nginx - direct), ms. */
  added_ms: number | null;
}

/** PURE: the hop's figures from the latencies of paired requests (direct[i] and via[i] ran back to back). */
export function summarizeHop(direct: readonly number[], via: readonly number[]): HopResult {
  const n = Math.min(direct.length, via.length);
  const diffs = Array.from({ length: n }, (_, i) => via[i]! - direct[i]!);
  const p50 = (xs: readonly number[]) => (xs.length ? round(median(xs)!, 2) : null);
  return { pairs: n, direct_p50_ms: p50(direct.slice(0, n)), via_p50_ms: p50(via.slice(0, n)), added_ms: p50(diffs) };
}

export interface TargetCheck {
  name: string;
  /** How the figure is computed. */
  formula: string;
  value: number | null;
  goal: string;
  pass: boolean | null;
}

export interface Ratios {
  new_over_legacy_rps: number | null;
  new_over_legacy_2x_rps: number | null;
  new_over_legacy_p99: number | null;
  new_over_legacy_2x_p99: number | null;
  new_over_legacy_mb_per_rps: number | null;
  new_over_legacy_2x_mb_per_rps: number | null;
  via_nginx_over_new_rps: number | null;
  via_nginx_minus_new_p50_ms: number | null;
  /** The front door's hop, paired request by request (HopResult.added_ms); null when not measured. */
  via_nginx_added_ms: number | null;
  new_over_sharp_limit_rps: number | null;
  new_over_legacy_cpu_per_req: number | null;
}

const div = (a: number | null | undefined, b: number | null | undefined, d = 3) => (a === null || a === undefined || !b ? null : round(a / b, d));
const best = (values: Array<number | null | undefined>, pick: (a: number, b: number) => number): number | null => {
  const v = values.filter((x): x is number => typeof x === 'number');
  return v.length ? v.reduce((a, b) => pick(a, b)) : null;
};

/** The issue's two targets that the decode floor can rule out (floor.ts). */
export const TARGET_RPS_RATIO = 5;
export const TARGET_P99_RATIO = 1 / 3;

/** The stronger legacy row for each figure: the most throughput, the lowest p99 at the fixed load. */
export function bestLegacy(subjects: readonly SubjectResult[]): { rps: number | null; p99_ms: number | null } {
  const rows = subjects.filter((s) => s.name === 'legacy' || s.name === 'legacy-2x');
  return {
    rps: best(
      rows.map((s) => s.rps),
      Math.max,
    ),
    p99_ms: best(
      rows.map((s) => s.p99_ms),
      Math.min,
    ),
  };
}

/**
 * The issue's targets. Where there are two legacy rows (children = cores, and twice that) each
 * target is judged against the stronger one for that figure, so a pass cannot come from picking the
 * weaker configuration.
 */
export function evaluate(subjects: readonly SubjectResult[], hop: HopResult | null = null): { ratios: Ratios; targets: TargetCheck[] } {
  const by = (n: SubjectName) => subjects.find((s) => s.name === n);
  const legacy = by('legacy');
  const legacy2 = by('legacy-2x');
  const fresh = by('new');
  const via = by('new-via-nginx');
  const sharpLimit = by('sharp-limit');
  const ratios: Ratios = {
    new_over_legacy_rps: div(fresh?.rps, legacy?.rps, 2),
    new_over_legacy_2x_rps: div(fresh?.rps, legacy2?.rps, 2),
    new_over_legacy_p99: div(fresh?.p99_ms, legacy?.p99_ms),
    new_over_legacy_2x_p99: div(fresh?.p99_ms, legacy2?.p99_ms),
    new_over_legacy_mb_per_rps: div(fresh?.mb_per_rps, legacy?.mb_per_rps),
    new_over_legacy_2x_mb_per_rps: div(fresh?.mb_per_rps, legacy2?.mb_per_rps),
    via_nginx_over_new_rps: div(via?.rps, fresh?.rps),
    via_nginx_minus_new_p50_ms: via?.p50_ms != null && fresh?.p50_ms != null ? round(via.p50_ms - fresh.p50_ms, 2) : null,
    via_nginx_added_ms: hop?.added_ms ?? null,
    new_over_sharp_limit_rps: div(fresh?.rps, sharpLimit?.rps),
    new_over_legacy_cpu_per_req: div(fresh?.cpu_s_per_req, best([legacy?.cpu_s_per_req, legacy2?.cpu_s_per_req], Math.min)),
  };
  const check = (name: string, formula: string, value: number | null, goal: string, ok: (v: number) => boolean): TargetCheck => ({
    name,
    formula,
    value,
    goal,
    pass: value === null ? null : ok(value),
  });
  const { rps: legacyRps, p99_ms: legacyP99 } = bestLegacy(subjects);
  const legacyMem = best([legacy?.mb_per_rps, legacy2?.mb_per_rps], Math.min);
  const targets = [
    check('throughput', 'new rps / best legacy rps', div(fresh?.rps, legacyRps, 2), `>= ${TARGET_RPS_RATIO}`, (v) => v >= TARGET_RPS_RATIO),
    check(
      'tail latency at the legacy load',
      'new p99 / best legacy p99, same offered load',
      div(fresh?.p99_ms, legacyP99),
      `<= ${TARGET_P99_RATIO.toFixed(3)}`,
      (v) => v <= TARGET_P99_RATIO + 1e-9,
    ),
    check(
      'memory per unit of throughput',
      '(new peak RSS / rps) / best legacy (peak RSS / rps)',
      div(fresh?.mb_per_rps, legacyMem),
      '<= 0.125',
      (v) => v <= 0.125,
    ),
    check('through nginx: throughput', 'new-via-nginx rps / new rps', ratios.via_nginx_over_new_rps, '>= 0.95', (v) => v >= 0.95),
    check(
      'through nginx: added latency',
      'median over paired requests of (through nginx - direct), one at a time, alternating, ms',
      ratios.via_nginx_added_ms,
      '<= +1 ms',
      (v) => v <= 1,
    ),
    check("the library's limit", 'new rps / sharp-limit rps', ratios.new_over_sharp_limit_rps, '>= 0.9', (v) => v >= 0.9),
  ];
  return { ratios, targets };
}

export interface BenchResults {
  machine: Record<string, unknown>;
  config: Record<string, unknown>;
  subjects: SubjectResult[];
  ratios: Ratios;
  targets: TargetCheck[];
  /** The front door's hop (summarizeHop); absent when new or new-via-nginx was not run. */
  hop?: HopResult;
  /** The comparison with ipx and thumbor (peer-bench.ts); absent when not run. */
  peers?: {
    rounds: number;
    seconds: number;
    concurrency: number;
    large_originals: Array<{ key: string; width: number; height: number; orientation: number; bytes: number }>;
    defaults: Record<string, string>;
    workloads: PeerWorkloadResult[];
  };
  /** The result cache, off and on (cache-bench.ts); absent when not run. */
  cache?: CacheResults;
  /** What the workload allows any implementation (floor.ts); absent when not measured. */
  decode_floor?: { originals: OriginalFloor[]; bounds: FloorBounds; verdicts: FloorVerdict[] };
}

const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(d));

export function renderMarkdown(res: BenchResults): string {
  const m = res.machine as Record<string, string | number>;
  const c = res.config as Record<string, string | number | string[]>;
  if (res.subjects.length === 0) {
    // A shorter run (BENCH_PARTS without main): the machine, then the parts that ran.
    const head = [
      '# Benchmark: legacy vs new',
      '',
      `Measured ${m.date} on ${m.cpu_model}, ${m.cpus} cores (${m.usable_cpus} usable), ${m.memory_gib} GiB, ${m.os}; Node ${m.node}. ` +
        `Command: \`${c.command}\` (the main table was not run).`,
    ];
    return `${[...head, ...extraSections(res)].join('\n')}\n`;
  }
  const lines: string[] = [
    '# Benchmark: legacy vs new',
    '',
    `Measured ${m.date} on ${m.cpu_model}, ${m.cpus} cores (${m.usable_cpus} usable), ${m.memory_gib} GiB, ${m.os}; Node ${m.node}, sharp ` +
      `${m.sharp} (libvips ${m.libvips}), ${m.php}, ImageMagick ${m.imagemagick}, ${m.nginx}. Commit ${m.commit}. Command: \`${c.command}\`.`,
    '',
    `Workload: ${c.originals} originals (${c.source}) x ${(c.variants as string[]).length} variants (${(c.variants as string[]).join(', ')}) = ` +
      `${c.paths} request paths, replayed in the same order for every subject.`,
    `Saturation: closed loop, ${c.concurrency} requests in flight (2 x cores), whole passes over the list (about ${c.seconds}s each).`,
    `Latency: open loop at ${f(c.fixed_rate_rps as number, 2)} req/s for every subject (${c.fixed_rate_basis}), latency from each request's due ` +
      `time; percentiles pool all rounds (one round has too few requests for a p99).`,
    `${c.rounds} rounds, subjects interleaved and rotated; throughput and CPU are medians over rounds.`,
    `Load generator: ${c.generator}`,
    `CPU and memory come from /proc (utime+stime; VmRSS sampled every 100 ms and summed over the processes listed).`,
    '',
    "| subject | saturation (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | CPU s / req | peak RSS (MB) | MB per req/s | errors | others' CPU (cores) |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of res.subjects) {
    lines.push(
      `| ${s.name} | ${f(s.rps)} | ${f(s.p50_ms)} | ${f(s.p95_ms)} | ${f(s.p99_ms)} | ${f(s.cpu_s_per_req, 4)} | ${f(s.peak_rss_mb, 0)} | ` +
        `${f(s.mb_per_rps, 2)} | ${s.saturation_latency.errors + s.fixed.errors} | ${f(s.background_cores, 2)} |`,
    );
  }
  lines.push('', 'What each row sums over:', '');
  for (const s of res.subjects) {
    const part = s.part ? ` (of which ${s.part.name}: ${f(s.part.cpu_s_per_req, 4)} CPU s/req, ${f(s.part.peak_rss_mb, 0)} MB peak RSS)` : '';
    const gen = s.generator_cpu_ms_per_req === null ? '' : `; generator ${f(s.generator_cpu_ms_per_req, 2)} ms CPU/req`;
    lines.push(
      `- **${s.name}**: ${s.description}; ${s.processes}${part}; PSS peak ${f(s.peak_pss_mb, 0)} MB; rounds ${s.rps_rounds.map((v) => f(v)).join(' / ')} req/s${gen}.`,
    );
  }
  const variants = [...new Set(res.subjects.flatMap((s) => Object.keys(s.by_variant)))];
  if (variants.length > 1) {
    lines.push(
      '',
      'p50 at the fixed load by variant (ms): where the difference comes from.',
      '',
      `| variant | ${res.subjects.map((s) => s.name).join(' | ')} |`,
      `|---|${res.subjects.map(() => '---:').join('|')}|`,
    );
    for (const v of variants) lines.push(`| ${v} | ${res.subjects.map((s) => f(s.by_variant[v]?.p50_ms)).join(' | ')} |`);
  }
  lines.push('', '## Against the targets', '', '| target | measured | goal | formula | |', '|---|---:|---:|---|---|');
  for (const t of res.targets)
    lines.push(`| ${t.name} | ${f(t.value, 3)} | ${t.goal} | ${t.formula} | ${t.pass === null ? 'n/a' : t.pass ? 'pass' : 'FAIL'} |`);
  if (res.hop) {
    const pooled = res.ratios.via_nginx_minus_new_p50_ms;
    lines.push(
      '',
      `What the front door adds: ${res.hop.pairs} pairs of requests over the workload's paths, each path asked of the service directly and ` +
        `through nginx back to back, one request at a time, the order alternating: p50 ${f(res.hop.direct_p50_ms, 2)} ms direct, ` +
        `${f(res.hop.via_p50_ms, 2)} ms through nginx; the median of the pairs' differences is the check's figure.` +
        (pooled === null
          ? ''
          : ` (The two rows' p50s at the fixed load differ by ${f(pooled, 2)} ms: phases minutes apart at 70% load, whose drift and ` +
            `queueing outweigh a hop this small.)`),
    );
  }
  if (res.decode_floor) lines.push('', ...renderFloor(res.decode_floor));
  lines.push(...extraSections(res));
  const noisy = res.subjects.filter((s) => (s.background_cores ?? 0) > 0.25);
  if (noisy.length > 0) {
    lines.push(
      '',
      `Noise: other processes used more than a quarter of a core during ${noisy.map((s) => s.name).join(', ')} (column "others' CPU"): the machine was not quiet, and these figures are not final.`,
    );
  }
  const errs = res.subjects.filter((s) => s.error_samples.length > 0);
  for (const s of errs) lines.push('', `Errors of ${s.name}: ${s.error_samples.map((e) => `\`${e}\``).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The peer comparison and the result cache, when they ran. */
function extraSections(res: BenchResults): string[] {
  const lines: string[] = [];
  if (res.peers) {
    const p = res.peers;
    lines.push('', ...renderPeers(p.workloads, { concurrency: p.concurrency, rounds: p.rounds, seconds: p.seconds, defaults: p.defaults }));
  }
  if (res.cache) lines.push('', ...renderCache(res.cache));
  return lines;
}

function renderFloor(d: NonNullable<BenchResults['decode_floor']>): string[] {
  const b = d.bounds;
  const lines = [
    '## What the workload allows',
    '',
    'Every request must at least decode its original. The decode floor of an original is the cheapest decode libvips does of it (the cheaper of ' +
      'full size and 1/8 by shrink-on-load, to raw pixels, no resampling filter, no encoding, best of 5, one at a time). No implementation on these ' +
      'decoders can beat it, whatever its resampling, server or scheduling:',
    '',
    '| original | format | size | decode | CPU ms | wall ms |',
    '|---|---|---|---|---:|---:|',
    ...d.originals.map(
      (o) => `| ${o.key} | ${o.format} | ${o.width}x${o.height} | ${o.method === 'eighth' ? '1/8' : 'full'} | ${f(o.cpu_ms)} | ${f(o.wall_ms)} |`,
    ),
    '',
    `Over the mix: ${f(b.cpu_s_per_req * 1000)} ms of CPU per request at least, so at most ${f(b.ceiling_rps)} req/s on these cores, ` +
      `${f(b.ceiling_over_legacy_rps, 2)} x the legacy; and no p99 below ${f(b.p99_floor_ms)} ms, ${f(b.p99_floor_over_legacy_p99, 3)} of the ` +
      `legacy's.`,
    '',
    '| target | goal | best possible on this workload | |',
    '|---|---:|---:|---|',
    ...d.verdicts.map((v) => `| ${v.target} | ${v.goal} | ${v.bound_text} | ${v.reachable === null ? 'n/a' : v.reachable ? 'within reach' : 'out of reach'} |`),
  ];
  return lines;
}
