/** PURE: the benchmark's settings from its environment, each checked, every problem reported at once. */

export const SUBJECT_NAMES = ['legacy', 'legacy-2x', 'new', 'new-via-nginx', 'sharp-limit'] as const;
export type SubjectName = (typeof SUBJECT_NAMES)[number];

export const PART_NAMES = ['main', 'peers', 'cache'] as const;
export type PartName = (typeof PART_NAMES)[number];

export interface BenchSettings {
  /** What to run. BENCH_PARTS (comma-separated), default all: the main table, the peer comparison, the result cache. */
  parts: PartName[];
  /** The peer comparison (issue 16). */
  peers: {
    /** BENCH_PEER_ROUNDS, default 3: with two, the median is the mean, and one disturbed round (ipx at 20.0 and 13.9 req/s on 2026-12-03) decides a 12% bar. */
    rounds: number;
    /** Target length of one phase, seconds. BENCH_PEER_SECONDS, default 8. */
    seconds: number;
    /** Large originals generated for the second workload. BENCH_LARGE_COUNT, default 20. */
    largeCount: number;
    /** thumbor's --processes. BENCH_THUMBOR_PROCESSES, default the cores. */
    thumborProcesses: number;
  };
  /** The result-cache measurement. */
  cache: {
    /** RESULT_CACHE_MB of the service with the cache on. BENCH_CACHE_MB, default 256. */
    mb: number;
    /** BENCH_ZIPF_REQUESTS (20000), BENCH_ZIPF_VARIANTS (2000), BENCH_ZIPF_EXPONENT (1.0), BENCH_ZIPF_NOCACHE_REQUESTS (2000). */
    zipf: { requests: number; variants: number; exponent: number; nocacheRequests: number; seed: number };
    /** BENCH_STAMPEDE_REQUESTS (1000) for BENCH_STAMPEDE_VARIANTS (50) variants, all due within one second. */
    stampede: { requests: number; variants: number; seconds: number };
  };
  /** Target length of one measurement (one subject, one phase, one round), seconds. BENCH_SECONDS, default 8. */
  seconds: number;
  /** Interleaved rounds; figures are medians over rounds. BENCH_ROUNDS, default 3. */
  rounds: number;
  /** Closed-loop concurrency of the HTTP subjects. BENCH_CONCURRENCY, default 2 x cores. */
  concurrency: number;
  /** Fixed offered load as a fraction of the slower legacy row's saturation. BENCH_FIXED_FRACTION, default 0.7. */
  fixedFraction: number;
  /** Fixed offered load in req/s, overriding the fraction. BENCH_FIXED_RPS, default unset. */
  fixedRps: number | undefined;
  /** Subjects to run. BENCH_SUBJECTS (comma-separated), default all. */
  subjects: SubjectName[];
  /** Where results.json and results.md go. BENCH_OUT_DIR, default bench/. */
  outDir: string | undefined;
  /** Cores the subjects size themselves to (PHP-FPM children, sharp-limit concurrency). */
  cores: number;
}

export class SettingsError extends Error {}

export function readBenchSettings(env: Record<string, string | undefined>, cores: number): BenchSettings {
  const problems: string[] = [];
  const num = (name: string, fallback: number, min: number, max: number, integer: boolean): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${name}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got '${raw}'`);
      return fallback;
    }
    return v;
  };
  const seconds = num('BENCH_SECONDS', 8, 1, 3600, false);
  const rounds = num('BENCH_ROUNDS', 3, 1, 50, true);
  const concurrency = num('BENCH_CONCURRENCY', 2 * cores, 1, 1024, true);
  const fixedFraction = num('BENCH_FIXED_FRACTION', 0.7, 0.01, 2, false);
  const fixedRps = env.BENCH_FIXED_RPS ? num('BENCH_FIXED_RPS', 1, 0.1, 100000, false) : undefined;
  let subjects: SubjectName[] = [...SUBJECT_NAMES];
  if (env.BENCH_SUBJECTS) {
    const asked = env.BENCH_SUBJECTS.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = asked.filter((s) => !(SUBJECT_NAMES as readonly string[]).includes(s));
    if (unknown.length > 0 || asked.length === 0)
      problems.push(`BENCH_SUBJECTS: expected a comma-separated list of ${SUBJECT_NAMES.join(', ')}, got '${env.BENCH_SUBJECTS}'`);
    else subjects = SUBJECT_NAMES.filter((s) => asked.includes(s));
  }
  let parts: PartName[] = [...PART_NAMES];
  if (env.BENCH_PARTS) {
    const asked = env.BENCH_PARTS.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (asked.length === 0 || asked.some((s) => !(PART_NAMES as readonly string[]).includes(s)))
      problems.push(`BENCH_PARTS: expected a comma-separated list of ${PART_NAMES.join(', ')}, got '${env.BENCH_PARTS}'`);
    else parts = PART_NAMES.filter((s) => asked.includes(s));
  }
  const peers = {
    rounds: num('BENCH_PEER_ROUNDS', 3, 1, 50, true),
    seconds: num('BENCH_PEER_SECONDS', 8, 1, 3600, false),
    largeCount: num('BENCH_LARGE_COUNT', 20, 1, 200, true),
    thumborProcesses: num('BENCH_THUMBOR_PROCESSES', cores, 1, 64, true),
  };
  const cache = {
    mb: num('BENCH_CACHE_MB', 256, 1, 65536, true),
    zipf: {
      requests: num('BENCH_ZIPF_REQUESTS', 20_000, 1, 10_000_000, true),
      variants: num('BENCH_ZIPF_VARIANTS', 2000, 1, 100_000, true),
      exponent: num('BENCH_ZIPF_EXPONENT', 1, 0, 5, false),
      nocacheRequests: num('BENCH_ZIPF_NOCACHE_REQUESTS', 2000, 1, 10_000_000, true),
      seed: 16,
    },
    stampede: { requests: num('BENCH_STAMPEDE_REQUESTS', 1000, 1, 100_000, true), variants: num('BENCH_STAMPEDE_VARIANTS', 50, 1, 10_000, true), seconds: 1 },
  };
  if (problems.length > 0) throw new SettingsError(`invalid benchmark settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { parts, peers, cache, seconds, rounds, concurrency, fixedFraction, fixedRps, subjects, outDir: env.BENCH_OUT_DIR || undefined, cores };
}
