/**
 * Operator commands on a rollout (pause, resume, promote, abort, restart) and the pause a manual
 * `gateway set` causes: each under the route's rollout lock, so that it never interleaves with a
 * controller's decision, recorded in the audit log like the controller's.
 */
import { existsSync } from 'node:fs';
import { GatewayError } from '../errors.ts';
import type { Router } from '../router/router.ts';
import { operate, type AuditRecord, type OperatorAction } from './core/machine.ts';
import type { RolloutSpec } from './core/spec.ts';
import { appendAudit, commitTransition, finishPending, readStateFile, rolloutPaths, withRolloutLock } from './store.ts';

export async function operateRollout(options: {
  runDir: string;
  route: string;
  spec: RolloutSpec;
  action: OperatorAction;
  router: Router;
  note?: string;
  now?: number;
}): Promise<AuditRecord> {
  const paths = rolloutPaths(options.runDir, options.route);
  const apply = (share: number) => options.router.setShare(options.route, share);
  return withRolloutLock(paths, async () => {
    const file = readStateFile(paths);
    const state = file ? await finishPending(paths, file, apply) : undefined;
    const result = operate(state, options.spec, options.action, options.now ?? Date.now(), options.route, options.note);
    if (!result.ok) throw new GatewayError('rollout_state', result.message, { exitCode: 2 });
    await commitTransition(paths, state, result.transition, apply);
    return result.transition.record;
  });
}

/**
 * Before a manual `gateway set`/`rollback` of `route`: a running rollout of it is paused (the
 * controller would otherwise move the share back at its next decision). Returns what to tell
 * the operator, or undefined when no rollout was running. The controller's own applies go
 * through the Router, not through here, so it never pauses itself.
 */
export async function pauseForManualSet(runDir: string, route: string, share: number): Promise<string | undefined> {
  const paths = rolloutPaths(runDir, route);
  if (!existsSync(paths.state)) return undefined;
  return withRolloutLock(paths, async () => {
    const file = readStateFile(paths);
    // A transition a crash left pending is recorded, not applied: the manual set decides the share now.
    const state = file?.pending?.state ?? file?.state;
    if (file?.pending) appendAudit(paths, file.pending.record);
    if (!file || !state || state.status !== 'running') return undefined;
    const note = `a manual 'gateway set ${route} ${share}' overrides it`;
    // `spec` only matters for resume/promote/restart; pause reads none of it.
    const result = operate(
      state,
      { steps: [state.share || 1], interval: 1000, min_requests: 1, failure_limit: 1, gates: {} },
      'pause',
      Date.now(),
      route,
      note,
    );
    if (!result.ok) return undefined;
    await commitTransition(paths, state, result.transition, async () => undefined);
    return `the rollout of ${route} is paused at step ${state.step + 1} (${state.share}%): ${note}; 'gateway rollout resume ${route}' goes back to the step's share`;
  });
}
