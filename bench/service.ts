/**
 * The image service's benchmark (`npm run bench:service`, bench/service.ts): from one run, side by side,
 *   (a) the raw in-process sharp rate: renderImage, the service's own pipeline, with the service's
 *       concurrency, in a separate child process (bench/sharp-limit.ts: the library's limit on this machine);
 *   (b) the service over HTTP on loopback at saturation (closed loop, keep-alive, ~2x CPUs connections);
 *   (b)/(a), target >= 0.9;
 *   then, at half of (b), an open loop (fixed arrival rate) with p50/p95/p99, target p99 <= 3x p50;
 *   the service's peak RSS at saturation (VmHWM), target < 250 MB; and CPU seconds per request.
 * Rounds of (a) and (b) alternate and the medians are reported, because the machine is shared.
 *
 * Workload: the photographs of ../shared/fixtures/images (generated ones when absent) at w=300,
 * w=640, w=1280, w=200&h=200&fit=cover, each as jpeg and webp.
 *
 * Settings (environment): the service's own tuning variables, passed to the service and the raw
 * child alike (UV_THREADPOOL_SIZE default 4, MALLOC_ARENA_MAX default 2, MALLOC_MMAP_THRESHOLD_
 * default 1048576, SHARP_CONCURRENCY, FAST_SHRINK_ON_LOAD, CONCURRENCY: as `npm start` sets
 * them), and the benchmark's:
 *   BENCH_ROUNDS (3), BENCH_SECONDS (8, one round), BENCH_WARMUP_SECONDS (3), BENCH_OPEN_SECONDS (30),
 *   BENCH_CONCURRENCY (2 x CPUs: connections), BENCH_LONG=1 (7 rounds of 15 s, 60 s open loop),
 *   BENCH_JSON=file (also write the figures as JSON); V8_MAX_SEMI_SPACE_MB (default 1) sets the
 *   service's --max-semi-space-size as `npm start` does. The names BENCH_ROUND_SECONDS and
 *   BENCH_CONNECTIONS still work this release, with a warning (lib/env-names.ts).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { usableCpus } from '../image-service/src/cpus.ts';
import { measureDecodeFloors } from './lib/decode-floor.ts';
import { withCurrentNames } from './lib/env-names.ts';
import { floorBounds, type OriginalFloor } from './lib/floor.ts';
import { peakRssMb } from './lib/proc.ts';
import { splitPath } from './lib/workload.ts';
import {
  RawSharp,
  START_DEFAULTS,
  loadWorkload,
  openLoop,
  serviceRound,
  startService,
  unloadedLatencies,
  type OpenLoopResult,
  type RoundResult,
  type TuningEnv,
} from './lib/service-under-test.ts';
import { percentileOrNaN as percentile } from '../common/stats.ts';
import { fmt, medianOrNaN as median } from './lib/table.ts';

export interface BenchOptions {
  tuning: TuningEnv;
  rounds: number;
  roundSeconds: number;
  warmupSeconds: number;
  openSeconds: number;
  connections: number;
  /** Measure the library's own figures (the raw sharp rate and the decode floors) as well. Default true. */
  raw?: boolean;
}

export interface BenchResult {
  options: BenchOptions;
  workload: { source: string; photos: string[]; variants: number };
  concurrency: number;
  raw: Array<RoundResult & { peakRssMb: number }>;
  service: RoundResult[];
  /** (b)/(a) of each round (interleaved pairs), and their median. */
  ratios: number[];
  ratio: number;
  rawRate: number;
  serviceRate: number;
  peakRssMb: number;
  cpuPerRequestMs: number;
  rawCpuPerRequestMs: number;
  open: Omit<OpenLoopResult, 'latenciesMs' | 'byPhoto' | 'samples'> & {
    p50: number;
    p95: number;
    p99: number;
    /** Latency over the same request's unloaded latency: what queueing added, whatever the photo. */
    stretchP50: number;
    stretchP99: number;
    byPhoto: Array<{ photo: string; n: number; p50: number; p99: number }>;
  };
  loadAverage: number[];
  /** Each photo's cheapest decode, and the p99 of those over the mix: no implementation's p99 is lower. */
  decodeFloor?: { byPhoto: OriginalFloor[]; p99FloorMs: number };
}

export async function runBench(options: BenchOptions, log: (line: string) => void = () => {}): Promise<BenchResult> {
  const workload = await loadWorkload();
  const concurrency = Number(options.tuning.CONCURRENCY ?? usableCpus());
  const tuning: TuningEnv = { ...options.tuning, CONCURRENCY: String(concurrency) };
  const loadAverage = os.loadavg();
  // Before the service starts: the floors are read from this process's CPU time.
  const floors = options.raw === false ? undefined : await measureDecodeFloors(Object.values(workload.files));
  const service = await startService(workload, tuning);
  const raw = options.raw === false ? undefined : new RawSharp(workload, tuning, concurrency);
  try {
    log(`warming up (${options.warmupSeconds} s each)...`);
    await raw?.round(options.warmupSeconds);
    await serviceRound(service, workload, options.connections, options.warmupSeconds);

    const rawRounds: Array<RoundResult & { peakRssMb: number }> = [];
    const serviceRounds: RoundResult[] = [];
    for (let r = 0; r < options.rounds; r++) {
      // Alternate the order, so that a drift in the machine's load does not favour one side.
      const doRaw = async () => {
        if (raw) rawRounds.push(await raw.round(options.roundSeconds));
      };
      const doService = async () => {
        serviceRounds.push(await serviceRound(service, workload, options.connections, options.roundSeconds, r * 7));
      };
      if (r % 2 === 0) {
        await doRaw();
        await doService();
      } else {
        await doService();
        await doRaw();
      }
      const a = rawRounds[r];
      const b = serviceRounds[r]!;
      log(`round ${r + 1}/${options.rounds}: raw ${a ? fmt(a.rate) : '-'} req/s, service ${fmt(b.rate)} req/s${a ? `, ratio ${fmt(b.rate / a.rate, 2)}` : ''}`);
    }
    const peak = peakRssMb(service.pid) ?? Number.NaN;
    const serviceRate = median(serviceRounds.map((s) => s.rate));
    const openRate = serviceRate / 2;
    log(`open loop at ${fmt(openRate)} req/s for ${options.openSeconds} s...`);
    const baseline = await unloadedLatencies(service, workload);
    const open = await openLoop(service, workload, openRate, options.openSeconds, Math.max(8, options.connections * 2));
    const stretch = open.samples.map((s) => s.ms / (baseline.get(s.index) ?? Number.NaN)).filter((x) => Number.isFinite(x));
    const ratios = rawRounds.map((a, i) => serviceRounds[i]!.rate / a.rate);
    return {
      options,
      workload: { source: workload.source, photos: workload.keys, variants: workload.variants.length },
      concurrency,
      raw: rawRounds,
      service: serviceRounds,
      ratios,
      ratio: median(ratios),
      rawRate: median(rawRounds.map((a) => a.rate)),
      serviceRate,
      peakRssMb: peak,
      cpuPerRequestMs: median(serviceRounds.map((s) => s.cpuPerRequest)) * 1000,
      rawCpuPerRequestMs: median(rawRounds.map((a) => a.cpuPerRequest)) * 1000,
      open: {
        rate: open.rate,
        seconds: open.seconds,
        requests: open.requests,
        errors: open.errors,
        othersCpuShare: open.othersCpuShare,
        p50: percentile(open.latenciesMs, 0.5),
        p95: percentile(open.latenciesMs, 0.95),
        p99: percentile(open.latenciesMs, 0.99),
        byPhoto: [...open.byPhoto].map(([photo, ms]) => ({ photo, n: ms.length, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99) })),
        stretchP50: percentile(stretch, 0.5),
        stretchP99: percentile(stretch, 0.99),
      },
      loadAverage,
      decodeFloor: floors && {
        byPhoto: floors,
        p99FloorMs: floorBounds(
          floors,
          workload.paths.map((p) => splitPath(p).key),
          concurrency,
          { rps: null, p99_ms: null },
        ).p99_floor_ms,
      },
    };
  } finally {
    await raw?.stop();
    await service.stop();
  }
}

export function report(r: BenchResult, workload: { source: string; photos: string[] } = r.workload): string {
  const t = r.options.tuning;
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const lines: string[] = [];
  const row = (label: string, cells: string[], last: string) =>
    lines.push(`${label.padEnd(38)}${cells.map((c) => c.padStart(9)).join('')}${last.padStart(10)}`);
  lines.push(
    `image-service benchmark: ${workload.photos.length} photos (${workload.source}) x ${r.workload.variants} variants; ` +
      `CONCURRENCY=${r.concurrency}, ${r.options.connections} connections, ${r.options.rounds} rounds of ${r.options.roundSeconds} s`,
  );
  lines.push(
    `settings: UV_THREADPOOL_SIZE=${t.UV_THREADPOOL_SIZE ?? '(unset: 4)'} MALLOC_ARENA_MAX=${t.MALLOC_ARENA_MAX ?? '(unset)'} ` +
      `MALLOC_MMAP_THRESHOLD_=${t.MALLOC_MMAP_THRESHOLD_ ?? '(unset)'} --max-semi-space-size=${t.V8_MAX_SEMI_SPACE_MB ?? '(V8 default)'} ` +
      `SHARP_CONCURRENCY=${t.SHARP_CONCURRENCY ?? '(default 1)'} FAST_SHRINK_ON_LOAD=${t.FAST_SHRINK_ON_LOAD ?? '(default jpeg)'}; ` +
      `node ${process.version}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}; ${os.availableParallelism()} CPUs, load average at ` +
      `start ${r.loadAverage.map((x) => x.toFixed(2)).join(' ')}`,
  );
  lines.push('');
  row(
    '',
    r.service.map((_, i) => `round ${i + 1}`),
    'median',
  );
  row(
    '(a) raw sharp in-process, req/s',
    r.raw.map((a) => fmt(a.rate)),
    fmt(r.rawRate),
  );
  row(
    '(b) service over HTTP, req/s',
    r.service.map((b) => fmt(b.rate)),
    fmt(r.serviceRate),
  );
  row(
    '(b)/(a)',
    r.ratios.map((x) => fmt(x, 2)),
    fmt(r.ratio, 2),
  );
  row(
    'CPU of other processes (noise), %',
    r.service.map((b, i) => `${fmt((r.raw[i]?.othersCpuShare ?? 0) * 100, 0)}/${fmt(b.othersCpuShare * 100, 0)}`),
    '(a)/(b)',
  );
  lines.push('');
  lines.push(`(b)/(a) = ${fmt(r.ratio, 2)}   target >= 0.90   ${verdict(r.ratio >= 0.9)}`);
  lines.push(
    `    CPU-normalised (raw CPU per request / service CPU per request, what (b)/(a) would be with the CPUs to itself): ${fmt(r.rawCpuPerRequestMs / r.cpuPerRequestMs, 2)}`,
  );
  const o = r.open;
  lines.push(
    `open loop at ${fmt(o.rate)} req/s (half of (b)) for ${fmt(o.seconds, 0)} s, ${o.requests} answers, ${o.errors} errors: ` +
      `p50 ${fmt(o.p50, 0)} ms, p95 ${fmt(o.p95, 0)} ms, p99 ${fmt(o.p99, 0)} ms; p99/p50 = ${fmt(o.p99 / o.p50, 2)}   target <= 3   ${verdict(o.p99 <= 3 * o.p50)}`,
  );
  lines.push(
    `    the same answers over each request's own unloaded latency (queueing only): p50 x${fmt(o.stretchP50, 2)}, p99 x${fmt(o.stretchP99, 2)}; ` +
      `by photo (one slow photo makes the overall p99/p50 large by itself):`,
  );
  for (const p of o.byPhoto.sort((a, b) => a.photo.localeCompare(b.photo))) {
    lines.push(
      `    ${p.photo.padEnd(34)} n=${String(p.n).padStart(4)}  p50 ${fmt(p.p50, 0).padStart(5)} ms  p99 ${fmt(p.p99, 0).padStart(5)} ms  p99/p50 ${fmt(p.p99 / p.p50, 2)}`,
    );
  }
  const floor = r.decodeFloor;
  if (floor) {
    lines.push(
      `    decode floor (bench/lib/floor.ts: each photo's cheapest libvips decode, no resampling, no encoding): ` +
        floor.byPhoto.map((f) => `${f.key} ${fmt(f.wall_ms, 0)} ms`).join(', ') +
        ';',
      `    so no implementation's p99 on this mix is below ${fmt(floor.p99FloorMs, 0)} ms, and with the p99 at that floor, p99/p50 <= 3 ` +
        `needs a p50 of at least ${fmt(floor.p99FloorMs / 3, 0)} ms (the service's: ${fmt(o.p50, 0)} ms): ` +
        `${floor.p99FloorMs <= 3 * o.p50 ? 'within reach' : 'out of reach on this workload without slowing the ordinary requests'}`,
    );
  }
  lines.push(`peak RSS of the service at saturation (VmHWM): ${fmt(r.peakRssMb, 0)} MB   target < 250 MB   ${verdict(r.peakRssMb < 250)}`);
  lines.push(
    `CPU per request: service ${fmt(r.cpuPerRequestMs, 1)} ms (utime+stime from /proc), raw sharp ${fmt(r.rawCpuPerRequestMs, 1)} ms; ` +
      `raw child peak RSS ${fmt(Math.max(...r.raw.map((a) => a.peakRssMb)), 0)} MB`,
  );
  const errors = r.service.reduce((n, s) => n + s.errors, 0) + r.raw.reduce((n, s) => n + s.errors, 0);
  lines.push(`errors during the rounds: ${errors}`);
  return lines.join('\n');
}

export function optionsFromEnv(env: Record<string, string | undefined>): BenchOptions {
  const long = env.BENCH_LONG === '1' || env.BENCH_LONG === 'true';
  const num = (name: string, dflt: number) => {
    const v = env[name];
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`${name}: expected a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
  const cpus = usableCpus();
  return {
    tuning: {
      UV_THREADPOOL_SIZE: env.UV_THREADPOOL_SIZE ?? START_DEFAULTS.UV_THREADPOOL_SIZE,
      MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? START_DEFAULTS.MALLOC_ARENA_MAX,
      MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? START_DEFAULTS.MALLOC_MMAP_THRESHOLD_,
      V8_MAX_SEMI_SPACE_MB: env.V8_MAX_SEMI_SPACE_MB ?? START_DEFAULTS.V8_MAX_SEMI_SPACE_MB,
      SHARP_CONCURRENCY: env.SHARP_CONCURRENCY,
      FAST_SHRINK_ON_LOAD: env.FAST_SHRINK_ON_LOAD,
      CONCURRENCY: env.CONCURRENCY,
    },
    rounds: num('BENCH_ROUNDS', long ? 7 : 3),
    roundSeconds: num('BENCH_SECONDS', long ? 15 : 8),
    warmupSeconds: num('BENCH_WARMUP_SECONDS', 3),
    openSeconds: num('BENCH_OPEN_SECONDS', long ? 60 : 30),
    connections: num('BENCH_CONCURRENCY', 2 * cpus),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { env, warnings } = withCurrentNames(process.env);
  for (const w of warnings) process.stderr.write(`bench: ${w}\n`);
  const options = optionsFromEnv(env);
  const started = performance.now();
  const result = await runBench(options, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${report(result)}\n(total ${fmt((performance.now() - started) / 1000, 0)} s)\n`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(result, null, 2));
}
