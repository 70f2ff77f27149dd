/**
 * Shadow comparison: the same request list against the legacy backend and the new service, at the
 * same constant arrival rate, tagged target:legacy and target:new; thresholds per target; a
 * side-by-side table at the end.
 *
 *   k6 run -e LEGACY_URL=http://127.0.0.1:8081 -e NEW_URL=http://127.0.0.1:8082 \
 *          -e REQUESTS=var/loadtest/requests.json loadtest/shadow.js
 *
 * Settings (__ENV): LEGACY_URL, NEW_URL (required); REQUESTS (required: JSON list of paths);
 * RATE req/s per target (5); DURATION per target (20s); SHADOW_MODE sequential|parallel (sequential:
 * on a small machine both backends share the cores, and running them together bills the slower
 * one's CPU to the other's latency); GAP between the two in sequential mode (3s); MAX_VUS per target (50); TIMEOUT per request (10s);
 * P95_MS (2000), P99_MS (4000), MAX_FAIL_RATE (0.01), MIN_CHECK_RATE (0.99), each overridable per
 * target with a LEGACY_ or NEW_ prefix; LEGACY_HEALTH (/image/health), NEW_HEALTH (/healthz);
 * SUMMARY_JSON (shadow-summary.json), SUMMARY_MD (shadow-summary.md).
 */
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import { baseUrl, number, resolvePath, seconds, text } from './lib/env.js';
import { joinUrl } from './lib/expect.js';
import { checkImage, getImage, requireHealthy } from './lib/http.js';
import { loadRequestList, pathAt } from './lib/requests.js';
import { constantRate, sequentialStarts } from './lib/shapes.js';
import { shadowReport } from './lib/summary.js';
import { SUMMARY_TREND_STATS, limitsFromEnv, targetThresholds } from './lib/thresholds.js';

const env = __ENV;
const urls = { legacy: baseUrl(env, 'LEGACY_URL'), new: baseUrl(env, 'NEW_URL') };
const health = { legacy: text(env, 'LEGACY_HEALTH', '/image/health'), new: text(env, 'NEW_HEALTH', '/healthz') };
const rate = number(env, 'RATE', 5, { min: 0.1, max: 10000 });
const duration = seconds(env, 'DURATION', 20);
const mode = text(env, 'SHADOW_MODE', 'sequential');
if (mode !== 'sequential' && mode !== 'parallel') throw new Error(`SHADOW_MODE: expected 'sequential' or 'parallel', got '${mode}'`);
const maxVUs = number(env, 'MAX_VUS', 50, { min: 1, max: 5000, integer: true });
const timeout = `${seconds(env, 'TIMEOUT', 10)}s`;
const requests = loadRequestList(env);
const bodyBytes = new Trend('body_bytes');

const targets = ['legacy', 'new'];
// Sequential: new starts GAP seconds after legacy's last arrival. Requests still in flight then
// (only when legacy is overloaded, which the report shows as failed thresholds) overlap new's start.
const gap = seconds(env, 'GAP', 3);
const starts = mode === 'parallel' ? [0, 0] : sequentialStarts([duration, duration], gap);

export const options = {
  summaryTrendStats: SUMMARY_TREND_STATS,
  // Both scenarios walk the list from its start (iterationInTest counts per scenario): the same
  // requests in the same order for each target.
  scenarios: Object.fromEntries(
    targets.map((t, i) => [
      t,
      constantRate({ rate, seconds: duration, startSeconds: starts[i], maxVUs, exec: 'hit', tags: { target: t }, env: { TARGET: t } }),
    ]),
  ),
  thresholds: Object.assign(
    {},
    ...targets.map((t) => ({
      ...targetThresholds(t, limitsFromEnv(env, number, `${t.toUpperCase()}_`)),
      [`dropped_iterations{scenario:${t}}`]: ['count>=0'],
    })),
  ),
};

export function setup() {
  for (const t of targets) requireHealthy(t, joinUrl(urls[t], health[t]));
}

export function hit() {
  const target = __ENV.TARGET;
  const path = pathAt(requests, exec.scenario.iterationInTest);
  const res = getImage(urls[target], path, { timeout });
  bodyBytes.add(checkImage(res, path));
}

export function handleSummary(data) {
  const report = shadowReport(data, { rate, seconds: duration, mode, requests: requests.length, targets, urls });
  return {
    stdout: `\n${report.markdown}\n`,
    [resolvePath(text(env, 'SUMMARY_JSON', 'shadow-summary.json'), env.PWD)]: JSON.stringify(report.json, null, 2),
    [resolvePath(text(env, 'SUMMARY_MD', 'shadow-summary.md'), env.PWD)]: report.markdown,
  };
}
