/**
 * The pure parts of the k6 scripts (loadtest/lib/*.js without k6 imports), run under Node:
 * settings, load shapes, thresholds, response expectations and the summary reports.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS modules written for k6, without type declarations
import { baseUrl, flag, number, resolvePath, seconds, text } from '../lib/env.js';
// @ts-expect-error plain JS
import { bodySizeOk, expectedContentType, joinUrl, parseQuery, withUniqueParam } from '../lib/expect.js';
// @ts-expect-error plain JS
import { listProblem, pathAt } from '../lib/list.js';
// @ts-expect-error plain JS
import { constantRate, offeredInStep, sequentialStarts, staircase, stepAt, vusFor } from '../lib/shapes.js';
// @ts-expect-error plain JS
import { canaryReport, failedThresholds, shadowReport, shareTolerance, stressReport } from '../lib/summary.js';
// @ts-expect-error plain JS
import { limitsFromEnv, targetThresholds } from '../lib/thresholds.js';

describe('env', () => {
  it('reads numbers, durations and flags, with defaults for unset and empty', () => {
    expect(number({ RATE: '2.5' }, 'RATE', 5, { min: 0.1 })).toBe(2.5);
    expect(number({ RATE: '' }, 'RATE', 5)).toBe(5);
    expect(seconds({ D: '1500ms' }, 'D', 1)).toBe(1.5);
    expect(seconds({ D: '2m' }, 'D', 1)).toBe(120);
    expect(seconds({ D: '7' }, 'D', 1)).toBe(7);
    expect(seconds({}, 'D', 20)).toBe(20);
    expect(flag({ U: 'false' }, 'U', true)).toBe(false);
    expect(text({}, 'MODE', 'sequential')).toBe('sequential');
  });
  it.each([
    [() => number({ RATE: 'x' }, 'RATE', 5, { min: 0.1, max: 10 }), /RATE: expected a number from 0.1 to 10, got 'x'/],
    [() => number({ N: '1.5' }, 'N', 5, { min: 1, integer: true }), /N: expected an integer from 1/],
    [() => seconds({ D: '10 minutes' }, 'D', 1), /D: expected a duration such as 30s/],
    [() => seconds({ D: '0s' }, 'D', 1), /D: expected a duration above 0/],
    [() => flag({ U: 'yes' }, 'U', true), /U: expected 'true' or 'false'/],
  ])('refuses bad values with the variable name (%#)', (f, message) => expect(f).toThrow(message));

  it('takes loopback base URLs, trims the slash, and refuses other hosts unless ALLOW_REMOTE', () => {
    expect(baseUrl({ U: 'http://127.0.0.1:8081/' }, 'U')).toBe('http://127.0.0.1:8081');
    expect(baseUrl({ U: 'http://localhost:1' }, 'U')).toBe('http://localhost:1');
    expect(() => baseUrl({ U: 'http://example.com:80' }, 'U')).toThrow(/expected a loopback host/);
    expect(baseUrl({ U: 'http://example.com:80', ALLOW_REMOTE: 'true' }, 'U')).toBe('http://example.com:80');
    expect(() => baseUrl({ U: 'http://127.0.0.1:8081/image' }, 'U')).toThrow(/scheme, host and port only/);
    expect(() => baseUrl({}, 'LEGACY_URL')).toThrow(/LEGACY_URL: expected a base URL/);
  });
  it('resolves relative paths against the directory k6 was started in', () => {
    expect(resolvePath('var/r.json', '/work/x/')).toBe('/work/x/var/r.json');
    expect(resolvePath('./r.json', '/w')).toBe('/w/r.json');
    expect(resolvePath('/abs/r.json', '/w')).toBe('/abs/r.json');
    expect(resolvePath('r.json', undefined)).toBe('r.json');
  });
});

describe('expect', () => {
  it.each([
    ['/image/files/a.jpg?w=300&format=webp', 'image/webp'],
    ['/image/files/a.jpg?w=300', 'image/jpeg'],
    ['/image/files/a.gif?w=300', 'image/png'],
    ['/image/files/a.gif', 'image/gif'],
    ['/image/files/a.gif?utm=1', 'image/gif'],
    ['/image/files/b/c.PNG?h=2', 'image/png'],
    ['/image/files/noext?w=1', undefined],
  ])('%s -> %s', (p, want) => expect(expectedContentType(p)).toBe(want));

  it('parses a query: first value wins, plus and percent decoded', () => {
    expect(parseQuery('w=1&w=2&x=a+b&y=%2F&flag')).toEqual({ w: '1', x: 'a b', y: '/', flag: '' });
  });
  it('checks body size against Content-Length', () => {
    expect(bodySizeOk(10, '10')).toBe(true);
    expect(bodySizeOk(10, undefined)).toBe(true);
    expect(bodySizeOk(9, '10')).toBe(false);
    expect(bodySizeOk(0, '0')).toBe(false);
  });
  it('builds URLs and unique URIs', () => {
    expect(joinUrl('http://h:1/', '/a')).toBe('http://h:1/a');
    expect(joinUrl('http://h:1', 'a')).toBe('http://h:1/a');
    expect(withUniqueParam('/image/files/a.jpg?w=1', 7)).toBe('/image/files/a.jpg?w=1&k6n=7');
    expect(withUniqueParam('/image/files/a.jpg', 7)).toBe('/image/files/a.jpg?k6n=7');
  });
});

describe('list', () => {
  it.each([
    [{}, /not a JSON array/],
    [[], /empty list/],
    [['/a', 'b'], /at index 1/],
    [['/a', 3], /at index 1/],
  ])('refuses %j', (list, message) => expect(listProblem(list)).toMatch(message));
  it('accepts a list of paths and cycles through it', () => {
    expect(listProblem(['/a', '/b'])).toBeUndefined();
    expect([0, 1, 2, 3].map((i) => pathAt(['/a', '/b', '/c'], i))).toEqual(['/a', '/b', '/c', '/a']);
  });
});

describe('shapes', () => {
  it('sizes VUs from the rate, within the cap', () => {
    expect(vusFor(1, 50)).toEqual({ preAllocatedVUs: 4, maxVUs: 50 });
    expect(vusFor(10, 50)).toEqual({ preAllocatedVUs: 20, maxVUs: 50 });
    expect(vusFor(400, 50)).toEqual({ preAllocatedVUs: 50, maxVUs: 50 });
    expect(vusFor(10, 3)).toEqual({ preAllocatedVUs: 3, maxVUs: 3 });
  });
  it('builds a constant-arrival-rate scenario', () => {
    expect(constantRate({ rate: 5, seconds: 20, startSeconds: 23, maxVUs: 50, exec: 'hit', tags: { target: 'new' } })).toMatchObject({
      executor: 'constant-arrival-rate',
      rate: 5,
      timeUnit: '1s',
      duration: '20s',
      startTime: '23s',
      exec: 'hit',
      tags: { target: 'new' },
    });
  });
  it('starts scenarios one after the other', () => {
    expect(sequentialStarts([20, 20, 5], 3)).toEqual([0, 23, 46]);
  });
  it('builds a staircase with one-second ramps and finds the level of a moment', () => {
    const s = staircase({ startRate: 2, stepRate: 4, steps: 3, stepSeconds: 8 });
    expect(s.rates).toEqual([2, 6, 10]);
    expect(s.stages).toEqual([
      { target: 2, duration: '8s' },
      { target: 6, duration: '1s' },
      { target: 6, duration: '7s' },
      { target: 10, duration: '1s' },
      { target: 10, duration: '7s' },
    ]);
    expect(s.seconds).toBe(24);
    expect([0, 7999, 8000, 23999, 30000, -5].map((ms) => stepAt(ms, 8, 3))).toEqual([0, 0, 1, 2, 2, 0]);
    expect(offeredInStep(s.rates, 0, 8)).toBe(16);
    expect(offeredInStep(s.rates, 1, 8)).toBe(4 + 42);
  });
});

describe('thresholds', () => {
  it('filters every threshold by target', () => {
    const t = targetThresholds('legacy', { p95Ms: 100, p99Ms: 200, maxFailRate: 0.01, minCheckRate: 0.99 });
    expect(t['http_req_duration{target:legacy}']).toEqual(['p(95)<100', 'p(99)<200']);
    expect(t['http_req_failed{target:legacy}']).toEqual(['rate<=0.01']);
    expect(t['checks{target:legacy}']).toEqual(['rate>=0.99']);
    expect(Object.keys(t)).toContain('http_reqs{target:legacy}');
  });
  it('lets a per-target variable override the common one', () => {
    const env = { P95_MS: '500', NEW_P95_MS: '50' };
    expect(limitsFromEnv(env, number, 'NEW_').p95Ms).toBe(50);
    expect(limitsFromEnv(env, number, 'LEGACY_').p95Ms).toBe(500);
    expect(limitsFromEnv({}, number, 'LEGACY_')).toEqual({ p95Ms: 2000, p99Ms: 4000, maxFailRate: 0.01, minCheckRate: 0.99 });
  });
});

/** A k6 end-of-test summary shaped like the real one (see handleSummary's `data`). */
function k6Data(metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>) {
  return { metrics, state: { testRunDurationMs: 1000 } };
}

describe('shadowReport', () => {
  const data = k6Data({
    'http_req_duration{target:legacy}': { values: { med: 200, 'p(95)': 400, 'p(99)': 500, max: 600, avg: 220 }, thresholds: { 'p(95)<2000': { ok: true } } },
    'http_req_duration{target:new}': { values: { med: 20, 'p(95)': 40, 'p(99)': 50, max: 60, avg: 22 } },
    'http_reqs{target:legacy}': { values: { count: 100 } },
    'http_reqs{target:new}': { values: { count: 100 } },
    'http_req_failed{target:legacy}': { values: { rate: 0 } },
    'http_req_failed{target:new}': { values: { rate: 0.02 }, thresholds: { 'rate<=0.01': { ok: false } } },
    'checks{target:legacy}': { values: { rate: 1 } },
    'checks{target:new}': { values: { rate: 0.98 } },
    'body_bytes{target:legacy}': { values: { avg: 30000 } },
    'body_bytes{target:new}': { values: { avg: 27000 } },
    'dropped_iterations{scenario:legacy}': { values: { count: 3 } },
  });
  const r = shadowReport(data, { rate: 5, seconds: 20, mode: 'sequential', requests: 48, targets: ['legacy', 'new'], urls: {} });

  it('puts both targets side by side with ratios', () => {
    expect(r.json.targets.legacy).toMatchObject({ requests: 100, rps: 5, p50_ms: 200, p99_ms: 500, dropped_iterations: 3 });
    expect(r.json.targets.new).toMatchObject({ p50_ms: 20, failed_rate: 0.02 });
    expect(r.json.ratios.new_over_legacy).toMatchObject({ p50: 0.1, p99: 0.1, body_bytes: 0.9 });
    expect(r.markdown).toMatch(/\| p99 \(ms\) \| 500 \| 50\.0 \| 0\.10x \|/);
    expect(r.markdown).toMatch(/\| thresholds \| pass \| FAIL \|/);
  });
  it('names the failed threshold', () => {
    expect(r.json.thresholds_ok).toBe(false);
    expect(r.markdown).toContain('threshold failed: `http_req_failed{target:new}: rate<=0.01`');
    expect(failedThresholds(data)).toEqual(['http_req_failed{target:new}: rate<=0.01']);
  });
});

describe('canary', () => {
  it('tolerance: exact at 0 and 100, at least the minimum, wider for short runs', () => {
    expect(shareTolerance(0, 100, 0.05)).toBe(0);
    expect(shareTolerance(100, 100, 0.05)).toBe(0);
    expect(shareTolerance(50, 1_000_000, 0.05)).toBe(0.05);
    expect(shareTolerance(50, 100, 0.05)).toBeCloseTo(0.2, 5);
  });
  const report = (passes: number, fails: number) =>
    canaryReport(
      k6Data({
        routed_new: { values: { rate: passes / (passes + fails), passes, fails } },
        backend_new_ms: { values: { count: passes, med: 10, 'p(95)': 20, 'p(99)': 30, max: 40 } },
        backend_legacy_ms: { values: { count: fails, med: 100, 'p(95)': 200, 'p(99)': 300, max: 400 } },
        fallback_fired: { values: { rate: 0, passes: 0, fails: passes + fails } },
      }),
      { share: 25, tolerance: 0.05, rate: 10, seconds: 10, url: 'http://127.0.0.1:1', requests: 48, unique: true },
    );
  it('accepts an observed share inside the band and reports each backend', () => {
    const r = report(27, 73);
    expect(r.json).toMatchObject({ requests: 100, observed_share: 0.27, share_ok: true });
    expect(r.json.backends.new).toMatchObject({ requests: 27, p50_ms: 10 });
    expect(r.json.backends.legacy).toMatchObject({ requests: 73, p99_ms: 300 });
    expect(r.markdown).toContain('**ok**');
  });
  it('flags a share outside the band', () => {
    const r = report(40, 60);
    expect(r.json.share_ok).toBe(false);
    expect(r.markdown).toContain('MISMATCH');
  });
});

describe('stressReport', () => {
  const config = { targets: ['legacy'], rates: [2, 6, 10], stepSeconds: 8, p99Ms: 1000, maxFailRate: 0.01 };
  type Metrics = Parameters<typeof k6Data>[0];
  const step = (i: number, count: number, p99: number, fail: number): Metrics => ({
    [`http_req_duration{target:legacy,step:${i}}`]: { values: { med: p99 / 2, 'p(95)': p99 * 0.9, 'p(99)': p99 } },
    [`http_reqs{target:legacy,step:${i}}`]: { values: { count } },
    [`http_req_failed{target:legacy,step:${i}}`]: { values: { rate: fail } },
  });
  it('puts the saturation point at the last level before the first broken one', () => {
    const r = stressReport(k6Data({ ...step(0, 16, 300, 0), ...step(1, 46, 2500, 0), ...step(2, 80, 900, 0) }), config);
    expect(r.json.targets.legacy.saturation).toMatchObject({ rps: 2, breaks_at: 6 });
    expect(r.json.targets.legacy.steps[1].reasons[0]).toMatch(/p99 2500 ms > 1000/);
    expect(r.markdown).toMatch(/\| legacy \| 2 \| 6 \|/);
  });
  it('counts errors and requests that could not start as breaking a level', () => {
    const r = stressReport(k6Data({ ...step(0, 16, 300, 0), ...step(1, 46, 300, 0.05), ...step(2, 30, 300, 0) }), config);
    expect(r.json.targets.legacy.steps[1].reasons).toEqual(['errors 5.0% > 1.0%']);
    expect(r.json.targets.legacy.steps[2].reasons[0]).toMatch(/only 30 of 78 offered requests started/);
  });
  it('says when no level broke, or the first one did', () => {
    const held = stressReport(k6Data({ ...step(0, 16, 300, 0), ...step(1, 46, 300, 0), ...step(2, 80, 300, 0) }), config);
    expect(held.json.targets.legacy.saturation).toMatchObject({ rps: null, breaks_at: null });
    expect(held.markdown).toMatch(/\| legacy \| >= 10 \|/);
    const first = stressReport(k6Data({ ...step(0, 16, 3000, 0), ...step(1, 46, 300, 0), ...step(2, 80, 300, 0) }), config);
    expect(first.json.targets.legacy.saturation).toMatchObject({ rps: null, breaks_at: 2 });
  });
});
