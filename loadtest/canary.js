/**
 * Canary through the front door: traffic at the configured share, latency per backend read from
 * the X-Image-Backend response header, and a check that the share of requests routed to the new
 * service matches the configured one.
 *
 *   k6 run -e FRONT_URL=http://127.0.0.1:8080 -e SHARE=10 -e REQUESTS=var/loadtest/requests.json loadtest/canary.js
 *
 * Settings (__ENV): FRONT_URL, SHARE (0..100, the route's share in the cutover file), REQUESTS
 * (required); RATE (10 req/s); DURATION (20s); UNIQUE (true: each request gets a unique, ignored
 * `k6n` parameter, because the front door splits on the request URI and a list of a few dozen URIs
 * would test the hash of those URIs rather than the share); SHARE_TOLERANCE (0.05: the least
 * tolerance; widened to 4 sigma of the binomial share for short runs); MAX_VUS (50); TIMEOUT
 * (10s); P95_MS, P99_MS, MAX_FAIL_RATE, MIN_CHECK_RATE as in shadow.js; FRONT_HEALTH
 * (/image/health); SUMMARY_JSON (canary-summary.json), SUMMARY_MD (canary-summary.md).
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Rate, Trend } from 'k6/metrics';
import { baseUrl, flag, number, resolvePath, seconds, text } from './lib/env.js';
import { joinUrl, withUniqueParam } from './lib/expect.js';
import { checkImage, getImage, requireHealthy } from './lib/http.js';
import { loadRequestList, pathAt } from './lib/requests.js';
import { constantRate } from './lib/shapes.js';
import { canaryReport, shareTolerance } from './lib/summary.js';
import { SUMMARY_TREND_STATS, limitsFromEnv } from './lib/thresholds.js';

const env = __ENV;
const front = baseUrl(env, 'FRONT_URL');
if (env.SHARE === undefined || env.SHARE === '') throw new Error('SHARE: expected the configured share of the route, 0 to 100 (pass it with -e SHARE=...)');
const share = number(env, 'SHARE', 0, { min: 0, max: 100 });
const rate = number(env, 'RATE', 10, { min: 0.1, max: 10000 });
const duration = seconds(env, 'DURATION', 20);
const unique = flag(env, 'UNIQUE', true);
const maxVUs = number(env, 'MAX_VUS', 50, { min: 1, max: 5000, integer: true });
const timeout = `${seconds(env, 'TIMEOUT', 10)}s`;
const limits = limitsFromEnv(env, number);
const tolerance = shareTolerance(share, rate * duration, number(env, 'SHARE_TOLERANCE', 0.05, { min: 0, max: 1 }));
const requests = loadRequestList(env);

const latency = { new: new Trend('backend_new_ms', true), legacy: new Trend('backend_legacy_ms', true) };
const routedNew = new Rate('routed_new');
const fallbackFired = new Rate('fallback_fired');
const bodyBytes = new Trend('body_bytes');

const lo = Math.max(0, share / 100 - tolerance);
const hi = Math.min(1, share / 100 + tolerance);

export const options = {
  summaryTrendStats: SUMMARY_TREND_STATS,
  scenarios: { canary: constantRate({ rate, seconds: duration, maxVUs, tags: { target: 'front' } }) },
  thresholds: {
    http_req_duration: [`p(95)<${limits.p95Ms}`, `p(99)<${limits.p99Ms}`],
    http_req_failed: [`rate<=${limits.maxFailRate}`],
    checks: [`rate>=${limits.minCheckRate}`],
    // The share the front door really routes, within the band chance allows.
    routed_new: [`rate>=${lo - 1e-9}`, `rate<=${hi + 1e-9}`],
  },
};

export function setup() {
  requireHealthy('front door', joinUrl(front, text(env, 'FRONT_HEALTH', '/image/health')));
}

export default function () {
  const i = exec.scenario.iterationInTest;
  const base = pathAt(requests, i);
  const path = unique ? withUniqueParam(base, i) : base;
  const res = getImage(front, path, { timeout });
  bodyBytes.add(checkImage(res, base));
  const backend = res.headers['X-Image-Backend'];
  const fellBack = res.headers['X-Image-Fallback'] === '1';
  check(res, { 'X-Image-Backend names a backend': () => backend === 'new' || backend === 'legacy' });
  if (backend === 'new' || backend === 'legacy') latency[backend].add(res.timings.duration);
  // A request whose new-service attempt fell back was still routed to new: the split is what is checked.
  if (backend === 'new' || backend === 'legacy') routedNew.add(backend === 'new' || fellBack);
  fallbackFired.add(fellBack);
}

export function handleSummary(data) {
  const report = canaryReport(data, { share, tolerance, rate, seconds: duration, url: front, requests: requests.length, unique });
  return {
    stdout: `\n${report.markdown}\n`,
    [resolvePath(text(env, 'SUMMARY_JSON', 'canary-summary.json'), env.PWD)]: JSON.stringify(report.json, null, 2),
    [resolvePath(text(env, 'SUMMARY_MD', 'canary-summary.md'), env.PWD)]: report.markdown,
  };
}
