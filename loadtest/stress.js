/**
 * Stress: a staircase of arrival rates against each backend in turn, to find its saturation point
 * (the highest offered rate before p99 or errors break the limits, or before the backend falls so
 * far behind that most of a level's requests cannot even start).
 *
 *   k6 run -e LEGACY_URL=http://127.0.0.1:8081 -e NEW_URL=http://127.0.0.1:8082 \
 *          -e REQUESTS=var/loadtest/requests.json loadtest/stress.js
 *
 * Settings (__ENV): LEGACY_URL and/or NEW_URL (each one given is a target, run one after the other);
 * REQUESTS (required); START_RATE (2), STEP_RATE (4), STEPS (6), STEP_DURATION (8s): the levels;
 * P99_MS (3000) and MAX_FAIL_RATE (0.01): what breaks a level; MAX_VUS per target (64);
 * TIMEOUT (10s); GAP between targets (10s: the previous target's backlog drains); LEGACY_HEALTH, NEW_HEALTH; SUMMARY_JSON (stress-summary.json), SUMMARY_MD (stress-summary.md).
 * Bounded: STEPS x STEP_DURATION per target, plus GAP between targets and a 10s graceful stop.
 */
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import { baseUrl, number, resolvePath, seconds, text } from './lib/env.js';
import { joinUrl } from './lib/expect.js';
import { checkImage, getImage, requireHealthy } from './lib/http.js';
import { loadRequestList, pathAt } from './lib/requests.js';
import { GRACEFUL_STOP_S, sequentialStarts, staircase, stepAt, vusFor } from './lib/shapes.js';
import { stepKeys, stressReport } from './lib/summary.js';
import { SUMMARY_TREND_STATS } from './lib/thresholds.js';

const env = __ENV;
const all = { legacy: ['LEGACY_URL', '/image/health', 'LEGACY_HEALTH'], new: ['NEW_URL', '/healthz', 'NEW_HEALTH'] };
const targets = Object.keys(all).filter((t) => env[all[t][0]]);
if (targets.length === 0) throw new Error('LEGACY_URL / NEW_URL: expected at least one base URL such as http://127.0.0.1:8082');
const urls = Object.fromEntries(targets.map((t) => [t, baseUrl(env, all[t][0])]));
const stair = staircase({
  startRate: number(env, 'START_RATE', 2, { min: 0.1 }),
  stepRate: number(env, 'STEP_RATE', 4, { min: 0 }),
  steps: number(env, 'STEPS', 6, { min: 1, max: 100, integer: true }),
  stepSeconds: seconds(env, 'STEP_DURATION', 8),
});
const stepSeconds = seconds(env, 'STEP_DURATION', 8);
const p99Ms = number(env, 'P99_MS', 3000, { min: 1 });
const maxFailRate = number(env, 'MAX_FAIL_RATE', 0.01, { min: 0, max: 1 });
const maxVUs = number(env, 'MAX_VUS', 64, { min: 1, max: 5000, integer: true });
const timeout = `${seconds(env, 'TIMEOUT', 10)}s`;
const requests = loadRequestList(env);
const bodyBytes = new Trend('body_bytes');
// One target after the other, with a pause that lets the previous target's backlog (it was pushed
// past saturation on purpose) drain before the next one is measured.
const starts = sequentialStarts(
  targets.map(() => stair.seconds),
  seconds(env, 'GAP', 10),
);

const thresholds = {};
for (const t of targets) {
  for (let i = 0; i < stair.rates.length; i++) {
    // Always-true thresholds: they only make k6 keep these per-level sub-metrics for handleSummary.
    // The verdict per level is computed there, because a stress run is meant to cross the limits.
    const k = stepKeys(t, i);
    thresholds[k.duration] = ['max>=0'];
    thresholds[k.failed] = ['rate>=0'];
    thresholds[k.reqs] = ['count>=0'];
  }
}

export const options = {
  summaryTrendStats: SUMMARY_TREND_STATS,
  scenarios: Object.fromEntries(
    targets.map((t, i) => [
      t,
      {
        executor: 'ramping-arrival-rate',
        startRate: stair.rates[0],
        timeUnit: '1s',
        stages: stair.stages,
        startTime: `${starts[i]}s`,
        gracefulStop: `${GRACEFUL_STOP_S}s`,
        ...vusFor(stair.rates[stair.rates.length - 1], maxVUs),
        exec: 'hit',
        tags: { target: t },
        env: { TARGET: t },
      },
    ]),
  ),
  thresholds,
};

export function setup() {
  for (const t of targets) requireHealthy(t, joinUrl(urls[t], text(env, all[t][2], all[t][1])));
}

export function hit() {
  const target = __ENV.TARGET;
  // The level this request belongs to: the one in force when its iteration started.
  const step = stepAt(Date.now() - exec.scenario.startTime, stepSeconds, stair.rates.length);
  const path = pathAt(requests, exec.scenario.iterationInTest);
  const res = getImage(urls[target], path, { timeout, tags: { step: String(step) } });
  bodyBytes.add(checkImage(res, path, { step: String(step) }));
}

export function handleSummary(data) {
  const report = stressReport(data, { targets, rates: stair.rates, stepSeconds, p99Ms, maxFailRate });
  return {
    stdout: `\n${report.markdown}\n`,
    [resolvePath(text(env, 'SUMMARY_JSON', 'stress-summary.json'), env.PWD)]: JSON.stringify(report.json, null, 2),
    [resolvePath(text(env, 'SUMMARY_MD', 'stress-summary.md'), env.PWD)]: report.markdown,
  };
}
