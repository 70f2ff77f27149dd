/**
 * PURE: the thresholds the scripts share, per target through tag-filtered sub-metrics
 * (`http_req_duration{target:legacy}`), so that one slow target cannot hide behind a fast one in
 * a pooled percentile.
 */

/**
 * @typedef {object} Limits
 * @property {number} p95Ms  p95 of http_req_duration, ms (scripts' default 2000)
 * @property {number} p99Ms  p99 of http_req_duration, ms (scripts' default 4000)
 * @property {number} maxFailRate  http_req_failed rate (default 0.01)
 * @property {number} minCheckRate  checks rate (default 0.99)
 */

/**
 * Thresholds of one target. Also makes k6 keep `http_reqs` and `body_bytes` per target, which
 * handleSummary needs for the side-by-side table (k6 only reports a sub-metric that some threshold names).
 * @param {string} target @param {Limits} limits
 */
export function targetThresholds(target, limits) {
  const t = `{target:${target}}`;
  return {
    [`http_req_duration${t}`]: [`p(95)<${limits.p95Ms}`, `p(99)<${limits.p99Ms}`],
    [`http_req_failed${t}`]: [`rate<=${limits.maxFailRate}`],
    [`checks${t}`]: [`rate>=${limits.minCheckRate}`],
    [`http_reqs${t}`]: ['count>=0'],
    [`body_bytes${t}`]: ['avg>=0'],
  };
}

/**
 * @param {Record<string, string | undefined>} env
 * @param {(env: Record<string, string | undefined>, name: string, fallback: number, range?: object) => number} number
 * @param {string} [prefix] e.g. 'LEGACY_': LEGACY_P95_MS overrides P95_MS for that target
 * @returns {Limits}
 */
export function limitsFromEnv(env, number, prefix = '') {
  const pick = (name, fallback, range) => number(env, `${prefix}${name}`, number(env, name, fallback, range), range);
  return {
    p95Ms: pick('P95_MS', 2000, { min: 1 }),
    p99Ms: pick('P99_MS', 4000, { min: 1 }),
    maxFailRate: pick('MAX_FAIL_RATE', 0.01, { min: 0, max: 1 }),
    minCheckRate: pick('MIN_CHECK_RATE', 0.99, { min: 0, max: 1 }),
  };
}

/** Trend stats every summary keeps (k6's default lacks p99 and count). */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];
