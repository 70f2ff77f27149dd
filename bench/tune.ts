/**
 * Measures the service's tuning knobs one at a time against the chosen settings, on the benchmark's
 * workload: UV_THREADPOOL_SIZE, MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, V8's young generation
 * (--max-semi-space-size), SHARP_CONCURRENCY (sharp.concurrency) and FAST_SHRINK_ON_LOAD. Each round runs every variant once, in a rotated order, each in a fresh
 * service process: warm-up, saturation (closed loop), then an open loop at one fixed rate for all
 * variants. Figures are medians over rounds; "vs chosen" is the median of the per-round ratios to
 * the chosen settings' rate in the same round (interleaving cancels most of the machine's drift).
 *
 *   npm run bench:tune    (node --import tsx bench/tune.ts)
 *   BENCH_ROUNDS (2), BENCH_SECONDS (6, saturation), BENCH_OPEN_SECONDS (10), BENCH_FIXED_RPS (the
 *   open loop's rate; default half the chosen settings' rate in round 1), BENCH_TUNE_VARIANTS
 *   (comma-separated names; default all). The old TUNE_* names still work this release, with a
 *   warning (lib/env-names.ts).
 */
import os from 'node:os';
import { usableCpus } from '../image-service/src/cpus.ts';
import { withCurrentNames } from './lib/env-names.ts';
import { peakRssMb } from './lib/proc.ts';
import { loadWorkload, openLoop, serviceRound, START_DEFAULTS, startService, type TuningEnv } from './lib/service-under-test.ts';
import { percentileOrNaN as percentile } from '../common/stats.ts';
import { fmt, medianOrNaN as median } from './lib/table.ts';

const CHOSEN: TuningEnv = { ...START_DEFAULTS, SHARP_CONCURRENCY: '1', FAST_SHRINK_ON_LOAD: 'jpeg' };
const VARIANTS: Array<[string, TuningEnv]> = [
  ['chosen (see README)', CHOSEN],
  ['UV_THREADPOOL_SIZE=2', { ...CHOSEN, UV_THREADPOOL_SIZE: '2' }],
  ['UV_THREADPOOL_SIZE=8', { ...CHOSEN, UV_THREADPOOL_SIZE: '8' }],
  ['MALLOC_ARENA_MAX unset', { ...CHOSEN, MALLOC_ARENA_MAX: undefined }],
  ['MALLOC_MMAP_THRESHOLD_ unset', { ...CHOSEN, MALLOC_MMAP_THRESHOLD_: undefined }],
  ['MALLOC_MMAP_THRESHOLD_=8388608', { ...CHOSEN, MALLOC_MMAP_THRESHOLD_: '8388608' }],
  ['both malloc settings unset (glibc)', { ...CHOSEN, MALLOC_ARENA_MAX: undefined, MALLOC_MMAP_THRESHOLD_: undefined }],
  ['MALLOC_ARENA_MAX=1', { ...CHOSEN, MALLOC_ARENA_MAX: '1' }],
  ['V8 young generation default (16 MiB)', { ...CHOSEN, V8_MAX_SEMI_SPACE_MB: undefined }],
  ['SHARP_CONCURRENCY=0 (one per core)', { ...CHOSEN, SHARP_CONCURRENCY: '0' }],
  ['FAST_SHRINK_ON_LOAD=true', { ...CHOSEN, FAST_SHRINK_ON_LOAD: 'true' }],
  ['FAST_SHRINK_ON_LOAD=false', { ...CHOSEN, FAST_SHRINK_ON_LOAD: 'false' }],
];

const { env, warnings } = withCurrentNames(process.env);
for (const w of warnings) process.stderr.write(`tune: ${w}\n`);
const rounds = Number(env.BENCH_ROUNDS ?? 2);
const seconds = Number(env.BENCH_SECONDS ?? 6);
const openSeconds = Number(env.BENCH_OPEN_SECONDS ?? 10);
const only = env.BENCH_TUNE_VARIANTS?.split(',').map((s) => s.trim());
const variants = VARIANTS.filter(([name], i) => i === 0 || !only || only.some((o) => name.startsWith(o)));
const cpus = usableCpus();
const connections = 2 * cpus;
const workload = await loadWorkload();
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Run {
  rate: number;
  cpuMs: number;
  peakMb: number;
  p50: number;
  p99: number;
  others: number;
}
const runs = new Map<string, Run[]>(variants.map(([name]) => [name, []]));
const ratios = new Map<string, number[]>(variants.map(([name]) => [name, []]));
let openRate = env.BENCH_FIXED_RPS ? Number(env.BENCH_FIXED_RPS) : undefined;
const started = performance.now();
const loadAtStart = os.loadavg();

for (let r = 0; r < rounds; r++) {
  // The chosen settings first in round 1 (they fix the open-loop rate), then rotated.
  const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
  const rateThisRound = new Map<string, number>();
  for (const [name, tuning] of order) {
    const service = await startService(workload, { ...tuning, CONCURRENCY: String(cpus) });
    try {
      await serviceRound(service, workload, connections, 2);
      const sat = await serviceRound(service, workload, connections, seconds, r * 5);
      const peakMb = peakRssMb(service.pid) ?? Number.NaN;
      openRate ??= sat.rate / 2;
      const open = await openLoop(service, workload, openRate, openSeconds, 4 * connections);
      const run = {
        rate: sat.rate,
        cpuMs: sat.cpuPerRequest * 1000,
        peakMb,
        p50: percentile(open.latenciesMs, 0.5),
        p99: percentile(open.latenciesMs, 0.99),
        others: (sat.othersCpuShare + open.othersCpuShare) / 2,
      };
      runs.get(name)!.push(run);
      rateThisRound.set(name, sat.rate);
      log(
        `round ${r + 1}/${rounds} ${name}: ${fmt(run.rate)} req/s, ${fmt(run.cpuMs)} ms CPU/req, peak ${fmt(run.peakMb, 0)} MB, p50 ` +
          `${fmt(run.p50, 0)} ms, p99 ${fmt(run.p99, 0)} ms, others ${fmt(run.others * 100, 0)}%`,
      );
    } finally {
      await service.stop();
    }
  }
  const base = rateThisRound.get(variants[0]![0])!;
  for (const [name, rate] of rateThisRound) ratios.get(name)!.push(rate / base);
}

const head = `${'variant'.padEnd(44)}${['req/s', 'vs chosen', 'CPU ms/req', 'peak MB', `p50 ms`, `p99 ms`, 'others %'].map((h) => h.padStart(11)).join('')}`;
const lines = [
  `tuning: ${workload.keys.length} photos (${workload.source}) x ${workload.variants.length} variants, CONCURRENCY=${cpus}, ${connections} connections; ` +
    `${rounds} rounds; saturation ${seconds} s, open loop ${openSeconds} s at ${fmt(openRate ?? Number.NaN)} req/s; load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`,
  head,
  ...variants.map(([name]) => {
    const rs = runs.get(name)!;
    const m = (f: (x: Run) => number, d = 1) => fmt(median(rs.map(f)), d);
    return `${name.padEnd(44)}${[
      m((x) => x.rate),
      fmt(median(ratios.get(name)!), 2),
      m((x) => x.cpuMs),
      m((x) => x.peakMb, 0),
      m((x) => x.p50, 0),
      m((x) => x.p99, 0),
      m((x) => x.others * 100, 0),
    ]
      .map((c) => c.padStart(11))
      .join('')}`;
  }),
  `(total ${fmt((performance.now() - started) / 1000, 0)} s; medians over rounds; "others %" is the machine's CPU used by other processes meanwhile: the figures are noisy)`,
];
process.stdout.write(`${lines.join('\n')}\n`);
