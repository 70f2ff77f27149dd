/**
 * The rollout controller of one route: every tick (under the route's rollout lock) it re-reads
 * the cutover file's `rollout:` block and the state file, finishes a transition a crash left
 * pending, and, when the next decision is due, gathers the window's evidence, decides (pure:
 * ./core/machine.ts) and applies the share through the Router. The state on disk is the only
 * memory: a restarted controller carries on where the last one stopped.
 */
import { parseCutover } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import { readCutoverText } from '../nginx/cutover-file.ts';
import type { Router } from '../router/router.ts';
import { collectEvidence } from './core/evidence.ts';
import { decide, describeGate, startRollout, type AuditRecord } from './core/machine.ts';
import { needsShadow, type RolloutSpec } from './core/spec.ts';
import { readAccessSince, readPairsSince, shadowResultsFile } from './gather.ts';
import type { RolloutMetrics } from './metrics.ts';
import { commitTransition, finishPending, readStateFile, rolloutPaths, withRolloutLock } from './store.ts';

/** The route's rollout block, or a GatewayError saying what is missing. */
export function loadRolloutSpec(cutoverFile: string, route: string): RolloutSpec {
  const file = parseCutover(readCutoverText(cutoverFile), cutoverFile);
  const r = file.routes.find((x) => x.name === route);
  if (!r)
    throw new GatewayError('unknown_route', `${cutoverFile} has no route named '${route}' (routes: ${file.routes.map((x) => x.name).join(', ') || 'none'})`, {
      exitCode: 2,
    });
  if (!r.rollout)
    throw new GatewayError('no_rollout', `route '${route}' has no rollout: block in ${cutoverFile} (see the commented example in nginx/cutover.yaml)`, {
      exitCode: 2,
    });
  return r.rollout;
}

export interface ControllerOptions {
  route: string;
  cutoverFile: string;
  runDir: string;
  accessLog: string;
  router: Router;
  log(line: string): void;
  metrics?: RolloutMetrics;
  now?: () => number;
}

/** One line for the log: "images: advance at step 2 (5%) -> 25%: every gate passed ... [parity 1 (min 0.995), ...]". */
export function describeRecord(r: AuditRecord): string {
  const gates = r.gates?.length ? ` [${r.gates.map(describeGate).join(', ')}]` : '';
  const e = r.evidence ? ` {new ${r.evidence.newRequests}, pairs ${r.evidence.pairs}}` : '';
  return `${r.route}: ${r.decision} at step ${r.step.index + 1} (${r.step.share}%)${r.applied === undefined ? '' : ` -> ${r.applied}%`}: ${r.reason}${gates}${e}`;
}

/** One pass: returns the decision it took, if any. */
export async function tick(o: ControllerOptions): Promise<AuditRecord | undefined> {
  const paths = rolloutPaths(o.runDir, o.route);
  const now = o.now ?? Date.now;
  const apply = (share: number) => o.router.setShare(o.route, share);
  return withRolloutLock(paths, async () => {
    const spec = loadRolloutSpec(o.cutoverFile, o.route);
    const file = readStateFile(paths);
    const state = file ? await finishPending(paths, file, apply) : undefined;
    if (!state) {
      const t = startRollout(o.route, spec, now());
      await commitTransition(paths, undefined, t, apply);
      o.metrics?.record(t.record);
      o.metrics?.observe(t.state, spec.steps);
      return t.record;
    }
    o.metrics?.observe(state, spec.steps);
    if (state.status !== 'running' || now() < state.nextDecisionAt) return undefined;
    const at = now();
    const access = readAccessSince(o.accessLog, state.windowStart);
    const pairs = needsShadow(spec.gates) ? readPairsSince(shadowResultsFile(spec, o.cutoverFile), o.route, state.windowStart) : [];
    const t = decide(state, spec, collectEvidence(o.route, access, pairs, state.windowStart, at), at);
    await commitTransition(paths, state, t, apply);
    o.metrics?.record(t.record);
    o.metrics?.observe(t.state, spec.steps);
    return t.record;
  });
}

/** Ticks every `tickMs` until stop(); a failed tick (apply refused, file invalid) is logged and retried after `retryMs`. */
export function runController(o: ControllerOptions & { tickMs?: number; retryMs?: number }): { stop(): Promise<void>; stopped: Promise<void> } {
  let stopping = false;
  let wake: (() => void) | undefined;
  let lastError = '';
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => (clearTimeout(timer), resolve());
    });
  const stopped = (async () => {
    while (!stopping) {
      let delay = o.tickMs ?? 250;
      try {
        const r = await tick(o);
        if (r) o.log(describeRecord(r));
        lastError = '';
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // Once per distinct problem: a missing rollout block must not print four lines a second.
        if (message !== lastError) o.log(`${o.route}: ${message} (retrying every ${(o.retryMs ?? 2000) / 1000} s)`);
        lastError = message;
        delay = o.retryMs ?? 2000;
      }
      if (!stopping) await sleep(delay);
    }
  })();
  return {
    stopped,
    async stop() {
      stopping = true;
      wake?.();
      await stopped;
    },
  };
}
