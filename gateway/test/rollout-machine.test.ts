/** The rollout's pure core: its schema, the evidence sums, the decisions and the operator's commands. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { parseCutover, validateCutover } from '../src/cutover/schema.ts';
import { collectEvidence, judgeGates, type AccessFacts, type PairFacts } from '../src/rollout/core/evidence.ts';
import { formatRollout } from '../src/rollout/core/format.ts';
import { decide, operate, startRollout, type RolloutState } from '../src/rollout/core/machine.ts';
import { parseDuration, rolloutSchema, type RolloutSpec } from '../src/rollout/core/spec.ts';

const route = (extra: Record<string, unknown> = {}) => ({ name: 'images', path: '/image/files/', backend: '127.0.0.1:8082', ...extra });
const spec = (extra: Record<string, unknown> = {}): RolloutSpec =>
  rolloutSchema.parse({
    steps: [1, 5, 25, 50, 100],
    interval: '10s',
    min_requests: 10,
    failure_limit: 2,
    gates: { parity_min: 0.995, error_rate_max: 0.005, p99_ratio_max: 1.5, shed_rate_max: 0.01 },
    ...extra,
  });

const T0 = Date.parse('2026-12-03T12:00:00Z');
const access = (at: number, backend: string, status = 200, fallback = false, r = 'images'): AccessFacts => ({
  at: at / 1000,
  route: r,
  backend,
  status,
  fallback,
});
const pair = (at: number, verdict: PairFacts['verdict'] = 'match', newMs = 10, legacyMs = 20): PairFacts => ({
  time: new Date(at).toISOString(),
  route: 'images',
  verdict,
  new: { status: 200, totalMs: newMs },
  legacy: { status: 200, totalMs: legacyMs },
});
const many = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));

describe('rollout schema (in the cutover file)', () => {
  it('parses the documented block: durations to ms, defaults filled in', () => {
    const r = validateCutover({
      shadow_sink: '127.0.0.1:8083',
      routes: [route({ shadow_sample: 10, rollout: { steps: [1, 5, 25, 50, 100], interval: '10m', gates: { parity_min: 0.995 } } })],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.routes[0]!.rollout).toEqual({
      steps: [1, 5, 25, 50, 100],
      interval: 600_000,
      min_requests: 100,
      failure_limit: 2,
      gates: { parity_min: 0.995 },
    });
  });

  it.each([
    ['10m', 600_000],
    ['30s', 30_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['1h', 3_600_000],
    ['10', undefined],
    ['m', undefined],
  ])('duration %s -> %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    [{ steps: [5, 1, 100], interval: '1m' }, 'routes[0].rollout.steps: expected a list of shares from 1 to 100, strictly increasing'],
    [{ steps: [0, 100], interval: '1m' }, 'routes[0].rollout.steps[0]: expected a list of shares from 1 to 100'],
    [{ steps: [], interval: '1m' }, 'routes[0].rollout.steps: expected a list of shares'],
    [{ steps: [50, 100], interval: 'soon' }, 'routes[0].rollout.interval: expected a duration such as 10m, 30s, 500ms or 1h'],
    [{ steps: [50, 100], interval: '100ms' }, 'routes[0].rollout.interval: expected at least 500ms'],
    [{ steps: [50, 100], interval: '1m', failure_limit: 0 }, 'routes[0].rollout.failure_limit: expected an integer from 1 to 100'],
    [
      { steps: [50, 100], interval: '1m', gates: { parity: 0.9 } },
      "routes[0].rollout.gates: unknown field 'parity'; expected only parity_min, error_rate_max, p99_ratio_max, shed_rate_max",
    ],
    [
      { steps: [50, 100], interval: '1m', gates: { error_rate_max: 2 } },
      'routes[0].rollout.gates.error_rate_max: expected a number from 0 to 1 (error_rate_max)',
    ],
    [{ steps: [50, 100], interval: '1m', speed: 1 }, "routes[0].rollout: unknown field 'speed'; expected only steps, interval, min_requests"],
    [{ steps: [50, 100], interval: '1m', gates: { parity_min: 0.99 } }, 'routes[0].rollout.gates: expected shadow_sample > 0 with parity_min or p99_ratio_max'],
  ])('refuses %j, saying what was expected', (rollout, message) => {
    const r = validateCutover({ routes: [route({ rollout })] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.join('\n')).toContain(message);
  });
});

describe('evidence and gates', () => {
  it('counts only the route and the window; a fallback is a failed attempt of new; a 503 is shed, not an error', () => {
    const entries = [
      access(T0 - 1, 'new', 500), // before the window
      access(T0, 'new'),
      access(T0 + 1, 'new', 503),
      access(T0 + 2, 'new', 502),
      access(T0 + 3, 'legacy', 200, true),
      access(T0 + 4, 'legacy'),
      access(T0 + 5, 'new', 200, false, 'other'),
      access(T0 + 10_000, 'new'), // at `to`: outside
    ];
    const e = collectEvidence('images', entries, [pair(T0 - 1), pair(T0 + 1, 'mismatch', 30, 10), pair(T0 + 2, 'intended')], T0, T0 + 10_000);
    expect(e).toMatchObject({ newRequests: 4, legacyRequests: 1, newErrors: 1, fallbacks: 1, shed: 1, pairs: 2, mismatches: 1 });
    const gates = judgeGates({ parity_min: 0.9, error_rate_max: 0.1, p99_ratio_max: 1, shed_rate_max: 0.5 }, e);
    expect(gates.map((g) => [g.gate, g.value, g.ok])).toEqual([
      ['parity', 0.5, false],
      ['error_rate', 0.5, false],
      ['p99_ratio', 1.5, false],
      ['shed_rate', 0.25, true],
    ]);
  });

  it('a ratio with no pair both backends answered is unmeasured, and fails', () => {
    const dead: PairFacts = { ...pair(T0), verdict: 'mismatch', new: { status: null, totalMs: 5 } };
    const e = collectEvidence('images', [], [dead], T0, T0 + 1000);
    expect(judgeGates({ p99_ratio_max: 2 }, e)[0]).toMatchObject({ value: null, ok: false, note: 'no pair that both backends answered' });
  });
});

/** A running state at step `index`, its window from T0, due at T0 + 10 s. */
function running(index: number, s = spec(), failures = 0): RolloutState {
  const t = startRollout('images', s, T0 - 10_000);
  return { ...t.state, step: index, share: s.steps[index]!, windowStart: T0, stepStartedAt: T0, nextDecisionAt: T0 + 10_000, failures };
}
const healthy = (from: number, n = 20) => ({
  access: many(n, (i) => access(from + i, 'new')),
  pairs: many(n, (i) => pair(from + i)),
});
const evidenceOf = (x: { access: AccessFacts[]; pairs: PairFacts[] }, from = T0, to = T0 + 10_000) => collectEvidence('images', x.access, x.pairs, from, to);

describe('decisions', () => {
  it('start applies the first step and schedules the first decision one interval later', () => {
    const t = startRollout('images', spec(), T0);
    expect(t.apply).toBe(1);
    expect(t.state).toMatchObject({ status: 'running', step: 0, share: 1, nextDecisionAt: T0 + 10_000, seq: 1 });
    expect(t.record).toMatchObject({ seq: 1, decision: 'start', applied: 1 });
  });

  it('too little traffic is a hold with its reason: nothing applied, the window kept, no failure counted', () => {
    const t = decide(running(1, spec(), 1), spec(), evidenceOf(healthy(T0, 3)), T0 + 10_000);
    expect(t.apply).toBeUndefined();
    expect(t.record.decision).toBe('hold');
    expect(t.record.reason).toMatch(/^too little traffic to judge: 3 of 10 requests on new, 3 of 10 mirrored pairs since 2026-12-03T12:00:00.000Z/);
    expect(t.state).toMatchObject({ step: 1, windowStart: T0, nextDecisionAt: T0 + 20_000, failures: 1 });
  });

  it('no gate needs pairs: the pairs are not asked for', () => {
    const s = spec({ gates: { error_rate_max: 0.01 } });
    const t = decide(running(1, s), s, evidenceOf({ access: healthy(T0).access, pairs: [] }), T0 + 10_000);
    expect(t.record.decision).toBe('advance');
  });

  it('every gate passing advances one step, with a fresh window', () => {
    const t = decide(running(1), spec(), evidenceOf(healthy(T0)), T0 + 10_000);
    expect(t.apply).toBe(25);
    expect(t.record).toMatchObject({ decision: 'advance', step: { index: 1, share: 5 }, applied: 25 });
    expect(t.record.gates!.every((g) => g.ok)).toBe(true);
    expect(t.state).toMatchObject({ step: 2, share: 25, windowStart: T0 + 10_000, stepStartedAt: T0 + 10_000, nextDecisionAt: T0 + 20_000, failures: 0 });
  });

  it('passing at the last step completes, keeping the share', () => {
    const t = decide(running(4), spec(), evidenceOf(healthy(T0)), T0 + 10_000);
    expect(t.apply).toBeUndefined();
    expect(t.state).toMatchObject({ status: 'completed', share: 100 });
  });

  it('a failed gate counts; failure_limit in a row rolls back to 0 at once, naming the gate', () => {
    const bad = { access: healthy(T0).access, pairs: many(20, (i) => pair(T0 + i, i % 4 === 0 ? 'mismatch' : 'match')) };
    const first = decide(running(2), spec(), evidenceOf(bad), T0 + 10_000);
    expect(first.apply).toBeUndefined();
    expect(first.record.decision).toBe('fail');
    expect(first.record.reason).toBe('failed: parity 0.75 (min 0.995) (1 of 2 in a row)');
    expect(first.state).toMatchObject({ failures: 1, windowStart: T0 + 10_000, step: 2 });
    const second = decide(first.state, spec(), evidenceOf(bad, T0 + 10_000, T0 + 20_000), T0 + 20_000);
    expect(second.record.decision).toBe('hold'); // the first window's evidence is not judged twice
    const later = { access: healthy(T0 + 10_000).access, pairs: many(20, (i) => pair(T0 + 10_000 + i, i % 4 === 0 ? 'mismatch' : 'match')) };
    const rolled = decide(first.state, spec(), evidenceOf(later, T0 + 10_000, T0 + 20_000), T0 + 20_000);
    expect(rolled.apply).toBe(0);
    expect(rolled.state).toMatchObject({ status: 'rolled_back', share: 0, failures: 2 });
    expect(rolled.record.reason).toBe('rolled back: parity 0.75 (min 0.995) failed 2 checks in a row (failure_limit 2)');
    expect(rolled.record.gates!.find((g) => g.gate === 'parity')).toMatchObject({ value: 0.75, threshold: 0.995, ok: false });
  });

  it('a pass between failures resets the count', () => {
    const t = decide(running(2, spec(), 1), spec(), evidenceOf(healthy(T0)), T0 + 10_000);
    expect(t.state.failures).toBe(0);
    expect(t.record.decision).toBe('advance');
  });
});

describe("the operator's commands", () => {
  const s = spec();
  const ok = (r: ReturnType<typeof operate>) => {
    if (!r.ok) throw new Error(r.message);
    return r.transition;
  };

  it('pause stops decisions; resume re-applies the step share with a fresh window', () => {
    const paused = ok(operate(running(2), s, 'pause', T0, 'images', "a manual 'gateway set images 7' overrides it"));
    expect(paused.state).toMatchObject({ status: 'paused', reason: "paused: a manual 'gateway set images 7' overrides it" });
    expect(paused.apply).toBeUndefined();
    const resumed = ok(operate({ ...paused.state, share: 7 }, s, 'resume', T0 + 5000, 'images'));
    expect(resumed.apply).toBe(25);
    expect(resumed.state).toMatchObject({ status: 'running', step: 2, share: 25, windowStart: T0 + 5000, nextDecisionAt: T0 + 15_000 });
    expect(resumed.state.reason).toBeUndefined();
  });

  it('promote skips to the next step; at the last step it completes', () => {
    expect(ok(operate(running(1), s, 'promote', T0, 'images'))).toMatchObject({ apply: 25, state: { step: 2, share: 25 } });
    expect(ok(operate(running(4), s, 'promote', T0, 'images')).state.status).toBe('completed');
  });

  it('abort sets 0 at once; restart begins again at the first step; both refuse the wrong state', () => {
    const aborted = ok(operate(running(3), s, 'abort', T0, 'images'));
    expect(aborted).toMatchObject({ apply: 0, state: { status: 'aborted', share: 0 } });
    expect(operate(aborted.state, s, 'abort', T0, 'images')).toEqual({ ok: false, message: 'the rollout of images is already aborted (share 0)' });
    expect(operate(aborted.state, s, 'resume', T0, 'images')).toMatchObject({ ok: false });
    const restarted = ok(operate(aborted.state, s, 'restart', T0 + 1, 'images'));
    expect(restarted).toMatchObject({
      apply: 1,
      state: { status: 'running', step: 0, share: 1, seq: aborted.state.seq + 1 },
      record: { decision: 'restart', by: 'operator' },
    });
    expect(operate(running(1), s, 'restart', T0, 'images')).toMatchObject({ ok: false, message: expect.stringContaining('abort it first') });
  });

  it('no state yet: the commands say how to start', () => {
    expect(operate(undefined, s, 'pause', T0, 'images')).toEqual({
      ok: false,
      message: "the rollout of images has not started: run 'gateway rollout run images' (or npm start)",
    });
  });
});

describe('status text', () => {
  it('shows state, step, next decision and the last decision with its figures', () => {
    const t = decide(running(1), spec(), evidenceOf(healthy(T0)), T0 + 10_000);
    const text = formatRollout('images', spec(), t.state, T0 + 12_000);
    expect(text).toContain('images: running, step 3 of 5 (25%), next decision 2026-12-03T12:00:20.000Z (in 8s)');
    expect(text).toContain('last decision: advance at 2026-12-03T12:00:10.000Z (by controller): every gate passed: step 3 of 5 (25%)');
    expect(text).toContain('pass  parity 1 (min 0.995)');
    expect(text).toContain('evidence: 20 requests on new (0 fallbacks, 0 5xx, 0 shed), 0 on legacy, 20 mirrored pairs (0 mismatched)');
  });
});

describe('the shipped example', () => {
  it("nginx/cutover.yaml's commented rollout block, uncommented (with shadow_sample on), is valid", () => {
    const text = readFileSync(`${projectRoot}/nginx/cutover.yaml`, 'utf8');
    expect(parseCutover(text).routes[0]!.rollout).toBeUndefined(); // off by default
    const on = text.replace(/^ {4}# (rollout:| {2}[a-z_]+:.*| {4}[a-z_0-9]+:.*)$/gm, '    $1').replace(/^( {4}shadow_sample:) 0/m, '$1 10');
    expect(parseCutover(on).routes[0]!.rollout).toMatchObject({ steps: [1, 5, 25, 50, 100], interval: 600_000, min_requests: 500, failure_limit: 2 });
  });
});
