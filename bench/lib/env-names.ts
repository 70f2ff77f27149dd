/**
 * PURE: the benchmark's settings have one name each, whatever the mode (bench/run.ts,
 * bench/service.ts, bench/tune.ts). The names the service benchmark and the tuning script used
 * before they moved under bench/ still work for one release, each with a warning naming its
 * replacement; then this table goes.
 */

/** Old name -> current name. */
export const RENAMED: Readonly<Record<string, string>> = {
  BENCH_ROUND_SECONDS: 'BENCH_SECONDS',
  BENCH_CONNECTIONS: 'BENCH_CONCURRENCY',
  TUNE_ROUNDS: 'BENCH_ROUNDS',
  TUNE_SECONDS: 'BENCH_SECONDS',
  TUNE_OPEN_SECONDS: 'BENCH_OPEN_SECONDS',
  TUNE_OPEN_RATE: 'BENCH_FIXED_RPS',
  TUNE_VARIANTS: 'BENCH_TUNE_VARIANTS',
};

/** A copy of `env` with every old name moved to its current one (unless that is set too), and the warnings to print. */
export function withCurrentNames(env: Record<string, string | undefined>): { env: Record<string, string | undefined>; warnings: string[] } {
  const out: Record<string, string | undefined> = { ...env };
  const warnings: string[] = [];
  for (const [old, current] of Object.entries(RENAMED)) {
    const value = out[old];
    delete out[old];
    if (value === undefined || value === '') continue;
    if (out[current] !== undefined && out[current] !== '') {
      warnings.push(`${old} is deprecated and ignored here: ${current}=${out[current]} is set too (use ${current} only)`);
      continue;
    }
    out[current] = value;
    warnings.push(`${old} is deprecated; use ${current} (read as ${current}=${value} this time)`);
  }
  return { env: out, warnings };
}
