/** PURE: the result cache's figures (cache-bench.ts) as markdown. */
import type { CacheResults } from './cache-bench.ts';

const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(d));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`);

export function renderCache(c: CacheResults): string[] {
  const z = c.zipf;
  const s = c.stampede;
  const lines = [
    '## The result cache',
    '',
    `The image service as \`npm start\` runs it, on the fixture photographs, with the result cache off (RESULT_CACHE_MB=0) and on ` +
      `(RESULT_CACHE_MB=${c.cache_mb}, memory only), each measurement on a freshly started process (the replay's with REQUEST_TIMEOUT_MS=60000 like ` +
      `the tables above; the CDN expiry's as deployed, and once more as an origin behind a CDN, below). Renders are the service's own count (image_resizes_total on ` +
      `its /metrics); hit ratio = 1 - renders / answers 200, so requests answered by coalescing onto a render in flight count as hits.`,
    '',
    `Zipf replay: ${z.requests} requests over ${z.variants} variants (each photograph at widths from 160 px by 8, JPEG and WebP), popularity ` +
      `~ 1 / rank^${z.exponent}, seeded (${z.distinct_variants} distinct variants drawn; no cache can hit more than ${pct(z.ideal_hit_ratio)}). Closed ` +
      `loop, ${c.concurrency} in flight. Without the cache every miss renders, so that run replays the first ` +
      `${z.nocacheRequests} requests of the same sequence.`,
    '',
    "| cache | requests | hit ratio | cache's own hit ratio | req/s | p50 (ms) | p99 (ms) | renders | CPU s / req | peak RSS (MB) | errors |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...z.rows.map(
      (r) =>
        `| ${r.cache} | ${r.requests} | ${pct(r.hit_ratio)} | ${pct(r.reported_hit_ratio)} | ${f(r.rps)} | ${f(r.p50_ms)} | ${f(r.p99_ms)} | ` +
        `${r.renders ?? 'n/a'} | ${f(r.cpu_s_per_req, 4)} | ${f(r.peak_rss_mb, 0)} | ${r.errors} |`,
    ),
    '',
    `With the cache, against the same replay without: throughput x${f(c.ratios.rps_on_over_off, 2)}, p99 x${f(c.ratios.p99_on_over_off, 3)}.` +
      (c.cache_counters.hits.length === 0 ? " (The service exposes no cache hit/miss counters: the cache's own hit ratio is n/a.)" : ''),
    '',
    `CDN expiry: ${s.requests} requests for ${s.variants} variants (disjoint from the replay's), all due within ${s.seconds} s (open loop; ` +
      `latency from each request's due time). Cold: a freshly started process, nothing rendered yet. Warm: the same process ` +
      `with the cache on after each variant was asked for once (the CDN fetched them before its copies expired). Queue and deadline: ` +
      `the service's defaults, as deployed behind the front door (QUEUE_LIMIT 4 per slot and REQUEST_TIMEOUT_MS 1600, just under the ` +
      `front door's 2 s timeout: under sustained overload, quick 503s with Retry-After rather than slow answers), or an origin set up ` +
      `to answer a CDN late rather than shed: room in the queue for every variant's render and the CDN's origin timeout (60 s) as ` +
      `the deadline. A cold burst needs more time of both cores than 1.6 s, so at the defaults part of it is shed, whatever the cache.`,
    '',
    '| cache | process | queue | deadline (ms) | answers 200 | errors | renders | renders per variant | p50 (ms) | p99 (ms) | max (ms) |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...s.rows.map(
      (r) =>
        `| ${r.cache} | ${r.state ?? 'cold'} | ${r.queue_limit == null ? 'default' : r.queue_limit} | ${r.deadline_ms == null ? 'default' : r.deadline_ms} | ` +
        `${r.ok} of ${r.requests} | ${r.errors} | ` +
        `${r.renders ?? 'n/a'} | ${f(r.renders_per_variant, 2)} | ${f(r.p50_ms)} | ${f(r.p99_ms)} | ${f(r.max_ms)} |`,
    ),
  ];
  const errors = [...z.rows.map((r) => ({ what: 'Zipf replay', r })), ...s.rows.map((r) => ({ what: 'CDN expiry', r }))];
  for (const { what, r } of errors.filter((e) => e.r.error_samples.length > 0)) {
    const setup = 'state' in r && r.queue_limit != null ? `, QUEUE_LIMIT=${r.queue_limit}` : '';
    const deadline = 'state' in r && r.deadline_ms != null ? `, REQUEST_TIMEOUT_MS=${r.deadline_ms}` : '';
    const state = 'state' in r ? `, ${r.state}${setup}${deadline}` : '';
    lines.push('', `Errors (${what}, cache ${r.cache}${state}): ${r.error_samples.map((e) => `\`${e}\``).join(', ')}`);
  }
  return lines;
}
