/**
 * The rollout's state machine. PURE: state + evidence (or an operator's command) + the time in,
 * the next state, its audit record and the share to apply out. The controller (../controller.ts)
 * and `gateway rollout` (../../commands/rollout.ts) persist and apply what it returns.
 *
 *   running --check passes--> running at the next step (share applied) ... --last step passes--> completed
 *   running --too little traffic--> running (hold: the window stays open, evidence accumulates)
 *   running --a gate fails--> running (fail; fresh window) --failure_limit in a row--> rolled_back (share 0)
 *   running|paused --pause/resume/promote/abort--> ...; rolled_back|aborted --restart--> running at step 1
 */
import { z } from 'zod';
import { judgeGates, missingEvidence, type Evidence, type GateResult } from './evidence.ts';
import { formatDuration, needsShadow, type RolloutSpec } from './spec.ts';

export const STATUSES = ['running', 'paused', 'completed', 'rolled_back', 'aborted'] as const;
export type RolloutStatus = (typeof STATUSES)[number];

export const DECISIONS = ['start', 'hold', 'advance', 'fail', 'rollback', 'complete', 'pause', 'resume', 'promote', 'abort', 'restart'] as const;
export type Decision = (typeof DECISIONS)[number];

const gateResultSchema = z.object({
  gate: z.enum(['parity', 'error_rate', 'p99_ratio', 'shed_rate']),
  value: z.number().nullable(),
  threshold: z.number(),
  bound: z.enum(['min', 'max']),
  ok: z.boolean(),
  note: z.string().optional(),
});

const evidenceSchema = z.object({
  from: z.number(),
  to: z.number(),
  newRequests: z.number(),
  legacyRequests: z.number(),
  newErrors: z.number(),
  fallbacks: z.number(),
  shed: z.number(),
  pairs: z.number(),
  mismatches: z.number(),
  newP99Ms: z.number().optional(),
  legacyP99Ms: z.number().optional(),
});

/** One line of the audit log (<route>.audit.jsonl). */
export const auditRecordSchema = z.object({
  v: z.literal(1),
  /** 1, 2, 3... per route, never reused: a restarted controller skips a record it already wrote. */
  seq: z.int(),
  time: z.string(),
  route: z.string(),
  /** 'controller', or 'operator' for gateway rollout/set commands. */
  by: z.enum(['controller', 'operator']),
  decision: z.enum(DECISIONS),
  /** The status after the decision. */
  status: z.enum(STATUSES),
  /** The step the decision was taken at (index from 0, and its share); index -1 before the first. */
  step: z.object({ index: z.int(), share: z.number() }),
  /** The share the decision applied, when it changed one. */
  applied: z.number().optional(),
  reason: z.string(),
  /** Consecutive failed checks after the decision. */
  failures: z.int(),
  evidence: evidenceSchema.optional(),
  gates: z.array(gateResultSchema).optional(),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

export const rolloutStateSchema = z.object({
  v: z.literal(1),
  route: z.string(),
  status: z.enum(STATUSES),
  /** Index into the rollout's steps. */
  step: z.int(),
  /** The share the rollout last applied. */
  share: z.number(),
  /** Epoch ms. */
  stepStartedAt: z.number(),
  /** Start of the evidence window of the next check, epoch ms. */
  windowStart: z.number(),
  nextDecisionAt: z.number(),
  failures: z.int(),
  /** seq of the last audit record. */
  seq: z.int(),
  /** Why it is paused, rolled back, aborted or completed. */
  reason: z.string().optional(),
  last: auditRecordSchema.optional(),
});
export type RolloutState = z.infer<typeof rolloutStateSchema>;

/** What a decision does: the state to keep, the record to append, and a share to apply first (when it changes one). */
export interface Transition {
  state: RolloutState;
  record: AuditRecord;
  apply?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const clampStep = (spec: RolloutSpec, step: number) => Math.min(Math.max(step, 0), spec.steps.length - 1);

function record(state: RolloutState, now: number, fields: Omit<AuditRecord, 'v' | 'seq' | 'time' | 'route'>): AuditRecord {
  return { v: 1, seq: state.seq + 1, time: iso(now), route: state.route, ...fields };
}

function finish(state: RolloutState, next: Omit<RolloutState, 'seq' | 'last'>, rec: AuditRecord, apply?: number): Transition {
  const s: RolloutState = { ...next, seq: rec.seq, last: rec };
  return apply === undefined ? { state: s, record: rec } : { state: s, record: rec, apply };
}

/** "parity 0.8312 (min 0.95)" */
export function describeGate(g: GateResult): string {
  const value = g.value === null ? `unmeasured${g.note ? ` (${g.note})` : ''}` : String(Number(g.value.toFixed(4)));
  return `${g.gate} ${value} (${g.bound} ${g.threshold})`;
}

/** The first decision: step 1's share. */
export function startRollout(route: string, spec: RolloutSpec, now: number, previous?: RolloutState): Transition {
  const base: RolloutState = previous ?? {
    v: 1,
    route,
    status: 'running',
    step: 0,
    share: 0,
    stepStartedAt: now,
    windowStart: now,
    nextDecisionAt: now,
    failures: 0,
    seq: 0,
  };
  const share = spec.steps[0]!;
  const decision: Decision = previous ? 'restart' : 'start';
  const rec = record(base, now, {
    by: previous ? 'operator' : 'controller',
    decision,
    status: 'running',
    step: { index: -1, share: base.share },
    applied: share,
    reason: `${previous ? 'restarted' : 'started'}: step 1 of ${spec.steps.length} (${share}%), next decision in ${formatDuration(spec.interval)}`,
    failures: 0,
  });
  const { reason: _reason, last: _last, ...rest } = base;
  return finish(
    base,
    { ...rest, status: 'running', step: 0, share, stepStartedAt: now, windowStart: now, nextDecisionAt: now + spec.interval, failures: 0 },
    rec,
    share,
  );
}

/** The controller's decision when `nextDecisionAt` has come: hold, fail, roll back, advance or complete. */
export function decide(state: RolloutState, spec: RolloutSpec, evidence: Evidence, now: number): Transition {
  const index = clampStep(spec, state.step);
  const at = { index, share: spec.steps[index]! };
  const { last: _last, seq: _seq, ...rest } = state;
  const missing = missingEvidence(evidence, spec.min_requests, needsShadow(spec.gates));
  if (missing) {
    // A hold: not a pass (nothing moves) and not a failure (nothing is wrong). The window stays
    // open, so the evidence of the next check adds to this one's.
    const rec = record(state, now, {
      by: 'controller',
      decision: 'hold',
      status: 'running',
      step: at,
      reason: `${missing} since ${iso(state.windowStart)}`,
      failures: state.failures,
      evidence,
    });
    return finish(state, { ...rest, nextDecisionAt: now + spec.interval }, rec);
  }
  const gates = judgeGates(spec.gates, evidence);
  const failed = gates.filter((g) => !g.ok);
  if (failed.length === 0) {
    const last = index === spec.steps.length - 1;
    if (last) {
      const reason = `completed: every gate passed at the last step (${at.share}%)`;
      const rec = record(state, now, { by: 'controller', decision: 'complete', status: 'completed', step: at, reason, failures: 0, evidence, gates });
      return finish(state, { ...rest, status: 'completed', failures: 0, reason }, rec);
    }
    const share = spec.steps[index + 1]!;
    const rec = record(state, now, {
      by: 'controller',
      decision: 'advance',
      status: 'running',
      step: at,
      applied: share,
      reason: `every gate passed: step ${index + 2} of ${spec.steps.length} (${share}%)`,
      failures: 0,
      evidence,
      gates,
    });
    return finish(
      state,
      { ...rest, step: index + 1, share, stepStartedAt: now, windowStart: now, nextDecisionAt: now + spec.interval, failures: 0 },
      rec,
      share,
    );
  }
  const failures = state.failures + 1;
  const what = failed.map(describeGate).join(', ');
  if (failures >= spec.failure_limit) {
    const reason = `rolled back: ${what} failed ${failures} check${failures > 1 ? 's' : ''} in a row (failure_limit ${spec.failure_limit})`;
    const rec = record(state, now, { by: 'controller', decision: 'rollback', status: 'rolled_back', step: at, applied: 0, reason, failures, evidence, gates });
    return finish(state, { ...rest, status: 'rolled_back', share: 0, failures, reason }, rec, 0);
  }
  // A fresh window for the next check: the evidence that failed this one is not judged twice.
  const rec = record(state, now, {
    by: 'controller',
    decision: 'fail',
    status: 'running',
    step: at,
    reason: `failed: ${what} (${failures} of ${spec.failure_limit} in a row)`,
    failures,
    evidence,
    gates,
  });
  return finish(state, { ...rest, failures, windowStart: now, nextDecisionAt: now + spec.interval }, rec);
}

export const OPERATOR_ACTIONS = ['pause', 'resume', 'promote', 'abort', 'restart'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];

/** An operator's command, or why it does not apply in this state (a usage error, said as such). */
export function operate(
  state: RolloutState | undefined,
  spec: RolloutSpec,
  action: OperatorAction,
  now: number,
  route: string,
  note?: string,
): { ok: true; transition: Transition } | { ok: false; message: string } {
  if (action === 'restart') {
    if (state && (state.status === 'running' || state.status === 'paused'))
      return {
        ok: false,
        message: `the rollout of ${route} is ${state.status} at step ${state.step + 1}: restart begins again after a rollback or abort (abort it first)`,
      };
    return { ok: true, transition: startRollout(route, spec, now, state ?? undefined) };
  }
  if (!state) return { ok: false, message: `the rollout of ${route} has not started: run 'gateway rollout run ${route}' (or npm start)` };
  const index = clampStep(spec, state.step);
  const at = { index, share: state.share };
  const { last: _last, seq: _seq, ...rest } = state;
  const by = 'operator' as const;
  const fresh = { windowStart: now, nextDecisionAt: now + spec.interval, failures: 0 };
  const live = state.status === 'running' || state.status === 'paused';
  switch (action) {
    case 'pause': {
      if (state.status !== 'running') return { ok: false, message: `the rollout of ${route} is ${state.status}, not running: nothing to pause` };
      const reason = `paused${note ? `: ${note}` : ' by the operator'}`;
      const rec = record(state, now, { by, decision: 'pause', status: 'paused', step: at, reason, failures: state.failures });
      return { ok: true, transition: finish(state, { ...rest, status: 'paused', reason }, rec) };
    }
    case 'resume': {
      if (state.status !== 'paused') return { ok: false, message: `the rollout of ${route} is ${state.status}, not paused: nothing to resume` };
      // The step's own share again: a manual `gateway set` may have moved it while paused.
      const share = spec.steps[index]!;
      const rec = record(state, now, {
        by,
        decision: 'resume',
        status: 'running',
        step: at,
        applied: share,
        reason: `resumed at step ${index + 1} of ${spec.steps.length} (${share}%), next decision in ${formatDuration(spec.interval)}`,
        failures: 0,
      });
      const { reason: _r, ...kept } = rest;
      return { ok: true, transition: finish(state, { ...kept, status: 'running', step: index, share, ...fresh }, rec, share) };
    }
    case 'promote': {
      if (!live) return { ok: false, message: `the rollout of ${route} is ${state.status}: promote moves a running or paused rollout (restart it first)` };
      if (index === spec.steps.length - 1) {
        const reason = `completed: promoted by the operator at the last step (${spec.steps[index]}%)`;
        const rec = record(state, now, { by, decision: 'promote', status: 'completed', step: at, reason, failures: 0 });
        return { ok: true, transition: finish(state, { ...rest, status: 'completed', reason, failures: 0 }, rec) };
      }
      const share = spec.steps[index + 1]!;
      const rec = record(state, now, {
        by,
        decision: 'promote',
        status: state.status,
        step: at,
        applied: share,
        reason: `promoted by the operator: step ${index + 2} of ${spec.steps.length} (${share}%)`,
        failures: 0,
      });
      return { ok: true, transition: finish(state, { ...rest, step: index + 1, share, stepStartedAt: now, ...fresh }, rec, share) };
    }
    case 'abort': {
      if (state.status === 'aborted' || state.status === 'rolled_back')
        return { ok: false, message: `the rollout of ${route} is already ${state.status.replace('_', ' ')} (share 0)` };
      const reason = `aborted${note ? `: ${note}` : ' by the operator'}: share 0`;
      const rec = record(state, now, { by, decision: 'abort', status: 'aborted', step: at, applied: 0, reason, failures: state.failures });
      return { ok: true, transition: finish(state, { ...rest, status: 'aborted', share: 0, reason }, rec, 0) };
    }
  }
}
