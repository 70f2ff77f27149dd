/**
 * PURE: k6's end-of-test data -> the reports the scripts write (JSON for machines, a markdown table
 * for people). No k6 import here, so Node tests can feed it recorded summaries.
 *
 * `data.metrics[key].values` holds the aggregated values of a metric or of a tag-filtered
 * sub-metric (key `http_req_duration{target:legacy}`); k6 only reports a sub-metric that some
 * threshold names, which is why the scripts declare a threshold for every figure read here.
 */
import { offeredInStep } from './shapes.js';

/** @param {any} data @param {string} key @returns {Record<string, number> | undefined} */
export function values(data, key) {
  return data?.metrics?.[key]?.values;
}

/** Thresholds that failed, as `metric: expression`, optionally only for keys containing `filter`. */
export function failedThresholds(data, filter = '') {
  const out = [];
  for (const [key, m] of Object.entries(data?.metrics ?? {})) {
    if (filter && !key.includes(filter)) continue;
    for (const [expr, t] of Object.entries(m.thresholds ?? {})) if (t && t.ok === false) out.push(`${key}: ${expr}`);
  }
  return out.sort();
}

const round = (v, digits = 1) => (v === undefined || v === null || Number.isNaN(v) ? null : Number(v.toFixed(digits)));
export const fmt = {
  ms: (v) => (v === null || v === undefined ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  pct: (v) => (v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`),
  num: (v, d = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(d)),
  ratio: (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`),
};

/**
 * One target's figures from a summary.
 * @param {any} data @param {string} target @param {number} seconds how long its load ran (for req/s)
 */
export function targetStats(data, target, seconds) {
  const f = `{target:${target}}`;
  const d = values(data, `http_req_duration${f}`) ?? {};
  const reqs = values(data, `http_reqs${f}`)?.count ?? 0;
  const body = values(data, `body_bytes${f}`) ?? {};
  return {
    target,
    requests: reqs,
    rps: round(seconds > 0 ? reqs / seconds : 0, 2),
    failed_rate: values(data, `http_req_failed${f}`)?.rate ?? null,
    checks_rate: values(data, `checks${f}`)?.rate ?? null,
    dropped_iterations: values(data, `dropped_iterations{scenario:${target}}`)?.count ?? 0,
    avg_ms: round(d.avg, 2),
    p50_ms: round(d.med, 2),
    p95_ms: round(d['p(95)'], 2),
    p99_ms: round(d['p(99)'], 2),
    max_ms: round(d.max, 2),
    body_bytes_avg: round(body.avg, 0),
    failed_thresholds: failedThresholds(data, f),
  };
}

/**
 * The shadow comparison: two targets, same requests, same arrival rate.
 * @param {any} data
 * @param {{ rate: number, seconds: number, mode: string, requests: number, targets: string[], urls: Record<string,string> }} config
 */
export function shadowReport(data, config) {
  const [a, b] = config.targets;
  const sa = targetStats(data, a, config.seconds);
  const sb = targetStats(data, b, config.seconds);
  const ratio = (k) => (sa[k] && sb[k] !== null ? round(sb[k] / sa[k], 3) : null);
  const json = {
    script: 'shadow',
    config,
    targets: { [a]: sa, [b]: sb },
    ratios: { [`${b}_over_${a}`]: { p50: ratio('p50_ms'), p95: ratio('p95_ms'), p99: ratio('p99_ms'), body_bytes: ratio('body_bytes_avg') } },
    thresholds_ok: sa.failed_thresholds.length === 0 && sb.failed_thresholds.length === 0,
  };
  const row = (label, va, vb, r = '') => `| ${label} | ${va} | ${vb} | ${r} |`;
  const lines = [
    `### Shadow comparison: ${a} vs ${b}`,
    '',
    `Same ${config.requests} request paths, ${config.rate} req/s each for ${config.seconds}s, ${config.mode}.`,
    '',
    `| | ${a} | ${b} | ${b} / ${a} |`,
    '|---|---:|---:|---:|',
    row('requests', sa.requests, sb.requests),
    row('throughput (req/s)', fmt.num(sa.rps, 2), fmt.num(sb.rps, 2)),
    row('failed', fmt.pct(sa.failed_rate), fmt.pct(sb.failed_rate)),
    row('checks passed', fmt.pct(sa.checks_rate), fmt.pct(sb.checks_rate)),
    row('dropped iterations', sa.dropped_iterations, sb.dropped_iterations),
    row('p50 (ms)', fmt.ms(sa.p50_ms), fmt.ms(sb.p50_ms), fmt.ratio(sb.p50_ms, sa.p50_ms)),
    row('p95 (ms)', fmt.ms(sa.p95_ms), fmt.ms(sb.p95_ms), fmt.ratio(sb.p95_ms, sa.p95_ms)),
    row('p99 (ms)', fmt.ms(sa.p99_ms), fmt.ms(sb.p99_ms), fmt.ratio(sb.p99_ms, sa.p99_ms)),
    row('max (ms)', fmt.ms(sa.max_ms), fmt.ms(sb.max_ms), fmt.ratio(sb.max_ms, sa.max_ms)),
    row('mean body (bytes)', sa.body_bytes_avg ?? 'n/a', sb.body_bytes_avg ?? 'n/a', fmt.ratio(sb.body_bytes_avg, sa.body_bytes_avg)),
    row('thresholds', sa.failed_thresholds.length ? 'FAIL' : 'pass', sb.failed_thresholds.length ? 'FAIL' : 'pass'),
    '',
  ];
  for (const t of [...sa.failed_thresholds, ...sb.failed_thresholds]) lines.push(`- threshold failed: \`${t}\``);
  return { json, markdown: `${lines.join('\n').trimEnd()}\n` };
}

/**
 * Half-width of the band the observed share of routed requests may fall in: at least `minimum`,
 * and wide enough for chance (four standard deviations of a binomial share over `n` requests),
 * so a correct split does not fail a short run. A share of 0 or 100 must be exact.
 * @param {number} share 0..100 @param {number} n expected requests @param {number} minimum fraction
 */
export function shareTolerance(share, n, minimum) {
  const p = share / 100;
  if (p === 0 || p === 1) return 0;
  return Math.max(minimum, 4 * Math.sqrt((p * (1 - p)) / Math.max(1, n)));
}

/**
 * The canary through the front door: latency per backend (from X-Image-Backend) and the share
 * of requests routed to the new service against the configured one.
 * @param {any} data @param {{ share: number, tolerance: number, rate: number, seconds: number, url: string, requests: number, unique: boolean }} config
 */
export function canaryReport(data, config) {
  const backend = (name) => {
    const v = values(data, `backend_${name}_ms`) ?? {};
    return { requests: v.count ?? 0, p50_ms: round(v.med, 2), p95_ms: round(v['p(95)'], 2), p99_ms: round(v['p(99)'], 2), max_ms: round(v.max, 2) };
  };
  const routed = values(data, 'routed_new') ?? {};
  const total = (routed.passes ?? 0) + (routed.fails ?? 0);
  const observed = total > 0 ? routed.passes / total : null;
  const expected = config.share / 100;
  const shareOk = observed !== null && Math.abs(observed - expected) <= config.tolerance + 1e-9;
  const fallback = values(data, 'fallback_fired') ?? {};
  const json = {
    script: 'canary',
    config,
    requests: total,
    configured_share: expected,
    observed_share: observed === null ? null : round(observed, 4),
    tolerance: round(config.tolerance, 4),
    share_ok: shareOk,
    fallbacks: fallback.passes ?? 0,
    failed_rate: values(data, 'http_req_failed')?.rate ?? null,
    checks_rate: values(data, 'checks')?.rate ?? null,
    backends: { legacy: backend('legacy'), new: backend('new') },
    failed_thresholds: failedThresholds(data),
  };
  const l = json.backends.legacy;
  const n = json.backends.new;
  const md = [
    `### Canary through the front door at share ${config.share}`,
    '',
    `${total} requests at ${config.rate} req/s for ${config.seconds}s${config.unique ? ', each URI unique' : ''}.`,
    `Routed to new: **${observed === null ? 'n/a' : fmt.pct(observed)}** (configured ${fmt.pct(expected)}, tolerance ` +
      `±${fmt.pct(config.tolerance)}): **${shareOk ? 'ok' : 'MISMATCH'}**; fallbacks fired: ${json.fallbacks}.`,
    '',
    '| backend | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |',
    '|---|---:|---:|---:|---:|---:|',
    `| legacy | ${l.requests} | ${fmt.ms(l.p50_ms)} | ${fmt.ms(l.p95_ms)} | ${fmt.ms(l.p99_ms)} | ${fmt.ms(l.max_ms)} |`,
    `| new | ${n.requests} | ${fmt.ms(n.p50_ms)} | ${fmt.ms(n.p95_ms)} | ${fmt.ms(n.p99_ms)} | ${fmt.ms(n.max_ms)} |`,
    '',
    ...json.failed_thresholds.map((t) => `- threshold failed: \`${t}\``),
  ];
  return { json, markdown: `${md.join('\n').trimEnd()}\n` };
}

/** The sub-metric keys the stress script declares per target and level (see stress.js). */
export function stepKeys(target, step) {
  const f = `{target:${target},step:${step}}`;
  return { duration: `http_req_duration${f}`, failed: `http_req_failed${f}`, reqs: `http_reqs${f}` };
}

/**
 * Each level of each target's staircase, and its saturation point: the highest offered rate
 * below the first level that broke a limit (p99 over the limit, too many errors, or fewer than 90%
 * of the offered requests started because every VU was stuck waiting).
 * @param {any} data
 * @param {{ targets: string[], rates: number[], stepSeconds: number, p99Ms: number, maxFailRate: number }} config
 */
export function stressReport(data, config) {
  const targets = {};
  for (const target of config.targets) {
    const steps = config.rates.map((rate, i) => {
      const k = stepKeys(target, i);
      const d = values(data, k.duration) ?? {};
      const requests = values(data, k.reqs)?.count ?? 0;
      const failRate = values(data, k.failed)?.rate ?? null;
      const offered = offeredInStep(config.rates, i, config.stepSeconds);
      const reasons = [];
      if (requests === 0) reasons.push('no requests');
      if (d['p(99)'] !== undefined && d['p(99)'] > config.p99Ms) reasons.push(`p99 ${fmt.ms(d['p(99)'])} ms > ${config.p99Ms}`);
      if (failRate !== null && failRate > config.maxFailRate) reasons.push(`errors ${fmt.pct(failRate)} > ${fmt.pct(config.maxFailRate)}`);
      if (requests < 0.9 * offered - 1) reasons.push(`only ${requests} of ${Math.round(offered)} offered requests started`);
      return {
        step: i,
        rate: rate,
        offered: Math.round(offered),
        requests,
        achieved_rps: round(requests / config.stepSeconds, 2),
        p50_ms: round(d.med, 1),
        p95_ms: round(d['p(95)'], 1),
        p99_ms: round(d['p(99)'], 1),
        failed_rate: failRate,
        ok: reasons.length === 0,
        reasons,
      };
    });
    const firstBad = steps.findIndex((s) => !s.ok);
    const saturation =
      firstBad === -1
        ? { rps: null, breaks_at: null, note: `not reached: every level up to ${config.rates[config.rates.length - 1]} req/s held` }
        : firstBad === 0
          ? { rps: null, breaks_at: steps[0].rate, note: `below the first level (${steps[0].rate} req/s): ${steps[0].reasons.join('; ')}` }
          : { rps: steps[firstBad - 1].rate, breaks_at: steps[firstBad].rate, note: steps[firstBad].reasons.join('; ') };
    targets[target] = { steps, saturation };
  }
  const md = [
    `### Stress: saturation point per target`,
    '',
    `Levels of ${config.stepSeconds}s; a level breaks at p99 > ${config.p99Ms} ms, errors > ${fmt.pct(config.maxFailRate)}, or < 90% of its requests started.`,
    '',
  ];
  md.push('| target | saturation (req/s) | breaks at (req/s) | why |', '|---|---:|---:|---|');
  for (const [t, r] of Object.entries(targets))
    md.push(
      `| ${t} | ` +
        `${r.saturation.rps ?? (r.saturation.breaks_at === null ? `>= ${config.rates[config.rates.length - 1]}` : `< ${r.saturation.breaks_at}`)} | ` +
        `${r.saturation.breaks_at ?? 'n/a'} | ${r.saturation.note} |`,
    );
  md.push('');
  for (const [t, r] of Object.entries(targets)) {
    md.push(
      `#### ${t}`,
      '',
      '| offered (req/s) | requests | achieved (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | errors | level |',
      '|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const s of r.steps)
      md.push(
        `| ${s.rate} | ${s.requests} | ${fmt.num(s.achieved_rps, 1)} | ${fmt.ms(s.p50_ms)} | ${fmt.ms(s.p95_ms)} | ${fmt.ms(s.p99_ms)} | ` +
          `${fmt.pct(s.failed_rate)} | ${s.ok ? 'ok' : s.reasons.join('; ')} |`,
      );
    md.push('');
  }
  return { json: { script: 'stress', config, targets }, markdown: `${md.join('\n').trimEnd()}\n` };
}
