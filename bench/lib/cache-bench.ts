/**
 * The result cache, measured on the image service as users run it (stack/services.ts), once with
 * the cache off and once on (RESULT_CACHE_MB), each on a freshly started process:
 *
 *   stampede  a CDN expiry: `stampedeRequests` requests for `stampedeVariants` variants, all due
 *             within one second (open loop; latency from each request's due time). Every answer
 *             must be 200; renders are counted from the service's own /metrics (image_resizes_total).
 *             Cold (a fresh process: nothing rendered yet) with the cache off and on, and warm: with
 *             the cache on, the 50 variants served once before (as the CDN fetched them before
 *             its copies expired), which is what a CDN expiry meets at an origin that keeps its
 *             results. Those three on the service as deployed; the cold burst once more on a
 *             process set up as an origin behind a CDN would be (QUEUE_LIMIT = the variants, so every
 *             variant's render has a place; REQUEST_TIMEOUT_MS = the load generator's 60 s, a CDN's
 *             origin timeout rather than the front door's 2 s): the deployed defaults shed a cold
 *             burst on purpose, and this shows what answering every request costs instead.
 *   zipf      a replay of Zipf-distributed traffic (closed loop, `concurrency` in flight): hit
 *             ratio (1 - renders / answers), throughput and p99. Without the cache every miss
 *             renders, so only the first `nocacheRequests` of the same sequence are replayed: the
 *             throughput of the uncached service does not depend on how long it runs.
 *
 * The stampede runs on the service as deployed (default request deadline); the replay on a second
 * fresh process with the deadline every throughput figure of the benchmark uses (peers.ts,
 * BENCH_REQUEST_TIMEOUT_MS), so that a busy machine shows as slow answers rather than as 503s.
 */
import { pathToFileURL } from 'node:url';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { closedLoop, openLoop, type Outcome, type PhaseResult } from './drive.ts';
import { httpExec } from './http-exec.ts';
import { cacheCounterNames, metricSum } from './metrics-text.ts';
import { BENCH_REQUEST_TIMEOUT_MS } from './peers.ts';
import { ProcSampler } from './proc.ts';
import { round, summarizeLatencies } from './stats.ts';
import { contentTypeOfPath } from './workload.ts';
import { idealHitRatio, stampedeSequence, variantPaths, zipfSequence } from './zipf.ts';

export interface CacheBenchOptions {
  storageDir: string;
  keys: readonly string[];
  concurrency: number;
  cacheMb: number;
  zipf: { requests: number; variants: number; exponent: number; nocacheRequests: number; seed: number };
  stampede: { requests: number; variants: number; seconds: number };
}

export interface StampedeRow {
  cache: 'off' | 'on';
  /** cold: a fresh process; warm: each variant served once before the burst. */
  state: 'cold' | 'warm';
  /** QUEUE_LIMIT of the process; null: the service's default (4 per slot). */
  queue_limit: number | null;
  /** REQUEST_TIMEOUT_MS of the process; null: the service's default (1600 ms). */
  deadline_ms: number | null;
  requests: number;
  ok: number;
  errors: number;
  error_samples: string[];
  renders: number | null;
  renders_per_variant: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export interface ZipfRow {
  cache: 'off' | 'on';
  requests: number;
  ok: number;
  errors: number;
  error_samples: string[];
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  renders: number | null;
  /** 1 - renders / answers 200: the share answered without a render of its own (cache hits and coalesced requests). */
  hit_ratio: number | null;
  /** The cache's own hit ratio from its counters, when /metrics has them. */
  reported_hit_ratio: number | null;
  cpu_s_per_req: number | null;
  peak_rss_mb: number | null;
}

export interface CacheResults {
  cache_mb: number;
  concurrency: number;
  service_env: Record<string, string>;
  zipf: CacheBenchOptions['zipf'] & { ideal_hit_ratio: number; distinct_variants: number; rows: ZipfRow[] };
  stampede: CacheBenchOptions['stampede'] & { rows: StampedeRow[] };
  /** Counter names the service exposes for its cache (empty: it reports none). */
  cache_counters: { hits: string[]; misses: string[] };
  ratios: { rps_on_over_off: number | null; p99_on_over_off: number | null };
}

async function metrics(s: RunningService): Promise<string> {
  const res = await fetch(`${s.adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

const renders = (text: string) => metricSum(text, 'image_resizes_total');

export async function runCacheBench(o: CacheBenchOptions, log: (text: string) => void): Promise<CacheResults> {
  const zipfPaths = variantPaths(o.keys, o.zipf.variants);
  const stampedePaths = variantPaths(o.keys, o.stampede.variants, 4);
  const sequence = zipfSequence(o.zipf.requests, o.zipf.variants, o.zipf.exponent, o.zipf.seed);
  const zipfRows: ZipfRow[] = [];
  const stampedeRows: StampedeRow[] = [];
  let counters: CacheResults['cache_counters'] = { hits: [], misses: [] };
  const envOf = (mode: 'off' | 'on'): Record<string, string> => ({
    STORAGE_URL: pathToFileURL(o.storageDir).href,
    LOG_LEVEL: 'warn',
    RESULT_CACHE_MB: mode === 'on' ? String(o.cacheMb) : '0',
  });
  for (const mode of ['off', 'on'] as const) {
    // The CDN expiry on the service as deployed (its default request deadline, just under the front
    // door's timeout), on a cold process.
    log(`cache ${mode}: starting the image service (RESULT_CACHE_MB=${envOf(mode).RESULT_CACHE_MB})`);
    const deployed = await startImageService(envOf(mode));
    try {
      stampedeRows.push(await stampede(deployed, mode, 'cold', null, stampedePaths, o, log));
      if (mode === 'on') {
        // The CDN had fetched every variant before its copies expired: one request each, in turn.
        for (const p of stampedePaths) await fetch(`${deployed.url}${p}`, { signal: AbortSignal.timeout(30_000) }).then((r) => r.arrayBuffer());
        stampedeRows.push(await stampede(deployed, mode, 'warm', null, stampedePaths, o, log));
      }
    } finally {
      await deployed.stop();
    }
    // The same cold burst on an origin set up to answer late rather than shed: room in the queue
    // for every variant's render (identical requests share one, so a variant needs one place at
    // most) and a CDN's origin timeout as the deadline. The deployed defaults shed early on purpose
    // (quick 503s under sustained overload, docs/security.md): a cold burst needs more of both cores
    // than the 1.6 s deadline leaves, whatever the queue.
    const roomyEnv = { QUEUE_LIMIT: String(o.stampede.variants), REQUEST_TIMEOUT_MS: String(BENCH_REQUEST_TIMEOUT_MS) };
    const roomy = await startImageService({ ...envOf(mode), ...roomyEnv });
    try {
      stampedeRows.push(await stampede(roomy, mode, 'cold', { queue: o.stampede.variants, deadlineMs: BENCH_REQUEST_TIMEOUT_MS }, stampedePaths, o, log));
    } finally {
      await roomy.stop();
    }
    // The replay measures throughput and p99: with the deadline the other subjects of the benchmark get.
    const service = await startImageService({ ...envOf(mode), REQUEST_TIMEOUT_MS: String(BENCH_REQUEST_TIMEOUT_MS) });
    try {
      const count = mode === 'on' ? sequence.length : Math.min(o.zipf.nocacheRequests, sequence.length);
      const paths = sequence.slice(0, count).map((i) => zipfPaths[i]!);
      const m0 = await metrics(service);
      const sampler = new ProcSampler(() => [service.process.pid]);
      const zc = httpExec({ baseUrl: service.url, paths, contentTypes: paths.map(contentTypeOfPath) }, o.concurrency);
      let replay: PhaseResult;
      try {
        // No filler requests past the end (drive.ts keeps a subject saturated with them): each would
        // render or hit outside the sequence and skew the count of renders. Idle for 5 ms instead.
        const exec = (i: number) => (i < count ? zc.exec(i) : new Promise<Outcome>((r) => setTimeout(() => r({ ok: true }), 5)));
        replay = await closedLoop(exec, { first: 0, count, concurrency: o.concurrency, onWindowClose: () => sampler.stop() });
      } finally {
        zc.close();
      }
      const usage = sampler.stop();
      const m1 = await metrics(service);
      if (mode === 'on') counters = cacheCounterNames(m1);
      const rz = diff(renders(m0), renders(m1));
      const hits = sumDiff(m0, m1, counters.hits);
      const misses = sumDiff(m0, m1, counters.misses);
      const zl = summarizeLatencies(replay.latenciesMs);
      zipfRows.push({
        cache: mode,
        requests: count,
        ok: replay.ok,
        errors: replay.errors,
        error_samples: replay.errorSamples,
        rps: replay.elapsedS > 0 ? round(replay.ok / replay.elapsedS, 2) : null,
        p50_ms: zl.p50_ms,
        p99_ms: zl.p99_ms,
        renders: rz,
        hit_ratio: rz === null || replay.ok === 0 ? null : round(Math.max(0, 1 - rz / replay.ok), 4),
        reported_hit_ratio: mode === 'on' && hits !== null && misses !== null && hits + misses > 0 ? round(hits / (hits + misses), 4) : null,
        cpu_s_per_req: replay.completedInWindow > 0 ? round(usage.cpuS / replay.completedInWindow, 4) : null,
        peak_rss_mb: round(usage.peakRssMb, 1),
      });
      log(`cache ${mode}: zipf ${replay.ok}/${count} ok, ${zipfRows.at(-1)!.rps} req/s, p99 ${zl.p99_ms} ms, ${rz ?? '?'} renders`);
    } finally {
      await service.stop();
    }
  }
  const off = zipfRows.find((r) => r.cache === 'off');
  const on = zipfRows.find((r) => r.cache === 'on');
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || !b ? null : round(a / b, 3));
  return {
    cache_mb: o.cacheMb,
    concurrency: o.concurrency,
    service_env: { RESULT_CACHE_MB: `0 (off) / ${o.cacheMb} (on)` },
    zipf: { ...o.zipf, ideal_hit_ratio: round(idealHitRatio(sequence), 4), distinct_variants: new Set(sequence).size, rows: zipfRows },
    stampede: { ...o.stampede, rows: stampedeRows },
    cache_counters: counters,
    ratios: { rps_on_over_off: ratio(on?.rps, off?.rps), p99_on_over_off: ratio(on?.p99_ms, off?.p99_ms) },
  };
}

async function stampede(
  service: RunningService,
  mode: 'off' | 'on',
  state: 'cold' | 'warm',
  /** null: the service's defaults. */
  setup: { queue: number; deadlineMs: number } | null,
  variants: readonly string[],
  o: CacheBenchOptions,
  log: (text: string) => void,
): Promise<StampedeRow> {
  const seq = stampedeSequence(o.stampede.requests, o.stampede.variants).map((i) => variants[i]!);
  const before = renders(await metrics(service));
  const client = httpExec({ baseUrl: service.url, paths: seq, contentTypes: seq.map(contentTypeOfPath) }, o.stampede.requests);
  let burst: PhaseResult;
  try {
    burst = await openLoop(client.exec, { first: 0, count: seq.length, rate: seq.length / o.stampede.seconds, maxInFlight: o.stampede.requests });
  } finally {
    client.close();
  }
  const r = diff(before, renders(await metrics(service)));
  const lat = summarizeLatencies(burst.latenciesMs);
  const queue = setup === null ? '' : `, QUEUE_LIMIT=${setup.queue}, REQUEST_TIMEOUT_MS=${setup.deadlineMs}`;
  log(`cache ${mode} (${state}${queue}): stampede ${burst.ok}/${seq.length} ok, ${r ?? '?'} renders for ${o.stampede.variants} variants, p99 ${lat.p99_ms} ms`);
  return {
    cache: mode,
    state,
    queue_limit: setup?.queue ?? null,
    deadline_ms: setup?.deadlineMs ?? null,
    requests: seq.length,
    ok: burst.ok,
    errors: burst.errors,
    error_samples: burst.errorSamples,
    renders: r,
    renders_per_variant: r === null ? null : round(r / o.stampede.variants, 2),
    p50_ms: lat.p50_ms,
    p99_ms: lat.p99_ms,
    max_ms: lat.max_ms,
  };
}

const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? null : b - a);

function sumDiff(before: string, after: string, names: readonly string[]): number | null {
  if (names.length === 0) return null;
  let total = 0;
  for (const n of names) total += (metricSum(after, n) ?? 0) - (metricSum(before, n) ?? 0);
  return total;
}
