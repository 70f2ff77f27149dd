/**
 * The controller's I/O around the pure core, on a temporary run dir with a fake Router (an
 * in-process stand-in for nginx) and a hand-written access log: ticks with an injected clock,
 * the state file, the audit log, a crash between apply and record, the lock, and the pause a
 * manual `gateway set` causes. The real front door is rollout.int.test.ts's.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRollout } from '../src/rollout/core/machine.ts';
import { tick, type ControllerOptions } from '../src/rollout/controller.ts';
import { pauseForManualSet } from '../src/rollout/manual.ts';
import { createRolloutMetrics } from '../src/rollout/metrics.ts';
import { appendAudit, readAudit, readStateFile, rolloutPaths, withRolloutLock, writeStateFile } from '../src/rollout/store.ts';
import type { Router } from '../src/router/router.ts';

let dir: string;
let now: number;
let applied: number[];
let refuse: boolean;
const T0 = Date.parse('2026-12-03T12:00:00Z');

const cutover = `listen: 127.0.0.1:8080
legacy: 127.0.0.1:8081
routes:
  - name: images
    path: /image/files/
    backend: 127.0.0.1:8082
    share: 0
    rollout:
      steps: [10, 50, 100]
      interval: 2s
      min_requests: 5
      failure_limit: 2
      gates:
        error_rate_max: 0.1
`;

const router: Router = {
  name: 'fake',
  async setShare(_route, share) {
    if (refuse) throw new Error('nginx -t failed');
    applied.push(share);
  },
  async readShare() {
    return { share: applied.at(-1) ?? 0, source: 'fake' };
  },
};

const options = (): ControllerOptions => ({
  route: 'images',
  cutoverFile: path.join(dir, 'cutover.yaml'),
  runDir: path.join(dir, 'run'),
  accessLog: path.join(dir, 'run/logs/access.log'),
  router,
  log: () => undefined,
  now: () => now,
});

/** `n` requests of the route, at `at`, to `backend`. */
function traffic(at: number, n: number, backend = 'new', extra: Record<string, unknown> = {}) {
  const lines = Array.from({ length: n }, () =>
    JSON.stringify({ msec: at / 1000, status: 200, request_time: 0.01, route: 'images', backend, fallback: '', ...extra }),
  );
  appendFileSync(path.join(dir, 'run/logs/access.log'), `${lines.join('\n')}\n`);
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rollout-controller-'));
  mkdirSync(path.join(dir, 'run/logs'), { recursive: true });
  writeFileSync(path.join(dir, 'cutover.yaml'), cutover);
  now = T0;
  applied = [];
  refuse = false;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the controller, tick by tick', () => {
  it('starts, holds without traffic, advances step by step on healthy traffic, completes; state and audit on disk', async () => {
    const metrics = createRolloutMetrics();
    const o = { ...options(), metrics };
    expect((await tick(o))?.decision).toBe('start');
    expect(applied).toEqual([10]);
    now += 1000;
    expect(await tick(o)).toBeUndefined(); // not due yet
    now += 1000;
    const hold = await tick(o);
    expect(hold).toMatchObject({ decision: 'hold', reason: 'too little traffic to judge: 0 of 5 requests on new since 2026-12-03T12:00:00.000Z' });
    for (const share of [50, 100]) {
      traffic(now + 500, 6);
      now += 2000;
      expect(await tick(o)).toMatchObject({ decision: 'advance', applied: share });
    }
    traffic(now + 500, 6);
    now += 2000;
    expect(await tick(o)).toMatchObject({ decision: 'complete' });
    expect(applied).toEqual([10, 50, 100]);
    const paths = rolloutPaths(o.runDir, 'images');
    expect(readStateFile(paths)?.state).toMatchObject({ status: 'completed', share: 100, step: 2 });
    expect(readAudit(paths).map((r) => [r.seq, r.decision, r.applied])).toEqual([
      [1, 'start', 10],
      [2, 'hold', undefined],
      [3, 'advance', 50],
      [4, 'advance', 100],
      [5, 'complete', undefined],
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('gateway_rollout_share{route="images"} 100');
    expect(text).toContain('gateway_rollout_status{route="images",status="completed"} 1');
    expect(text).toContain('gateway_rollout_decisions_total{route="images",decision="advance"} 2');
    expect(text).toContain('gateway_rollout_gate_value{route="images",gate="error_rate"} 0');
  });

  it('fallbacks fail the error gate; failure_limit in a row rolls back to 0', async () => {
    await tick(options());
    for (const decision of ['fail', 'rollback']) {
      traffic(now + 500, 6, 'legacy', { fallback: '1' });
      now += 2000;
      expect((await tick(options()))?.decision).toBe(decision);
    }
    expect(applied).toEqual([10, 0]);
    const last = readAudit(rolloutPaths(options().runDir, 'images')).at(-1)!;
    expect(last.reason).toBe('rolled back: error_rate 1 (max 0.1) failed 2 checks in a row (failure_limit 2)');
    expect(last.evidence).toMatchObject({ newRequests: 6, fallbacks: 6 });
  });

  it('an apply the router refuses changes nothing: same step, no record; retried at the next tick', async () => {
    await tick(options());
    traffic(now + 500, 6);
    now += 2000;
    refuse = true;
    await expect(tick(options())).rejects.toThrow('nginx -t failed');
    const paths = rolloutPaths(options().runDir, 'images');
    expect(readStateFile(paths)).toMatchObject({ state: { step: 0, share: 10 } });
    expect(readStateFile(paths)?.pending).toBeUndefined();
    expect(readAudit(paths)).toHaveLength(1);
    refuse = false;
    expect(await tick(options())).toMatchObject({ decision: 'advance', applied: 50 });
  });

  it('a crash between apply and record is finished at the next start: the share applied again, the record written once', async () => {
    await tick(options());
    const paths = rolloutPaths(options().runDir, 'images');
    const before = readStateFile(paths)!.state;
    // What commitTransition leaves when killed after the apply: the pending transition, and
    // (killed after the append) its record already in the audit log.
    const next = { ...before, step: 1, share: 50, seq: 2 };
    const record = { ...before.last!, seq: 2, decision: 'advance' as const, applied: 50 };
    writeStateFile(paths, { state: before, pending: { state: next, record, share: 50 } });
    appendFileSync(paths.audit, `${JSON.stringify(record)}\n`);
    expect(await tick(options())).toBeUndefined();
    expect(applied).toEqual([10, 50]);
    expect(readStateFile(paths)).toEqual({ state: next });
    expect(readAudit(paths).map((r) => r.seq)).toEqual([1, 2]);
  });

  it('a restart reuses the state on disk: no second start', async () => {
    await tick(options());
    now += 500;
    await tick(options());
    expect(readAudit(rolloutPaths(options().runDir, 'images')).map((r) => r.decision)).toEqual(['start']);
  });
});

describe('the lock and the manual set', () => {
  it('a lock left by a dead process is taken over; a live holder is waited for', async () => {
    const paths = rolloutPaths(path.join(dir, 'run'), 'images');
    mkdirSync(paths.dir, { recursive: true });
    writeFileSync(paths.lock, '2147483646'); // no such pid
    expect(await withRolloutLock(paths, async () => 'taken')).toBe('taken');
    writeFileSync(paths.lock, String(process.pid));
    await expect(withRolloutLock(paths, async () => 'never', 300)).rejects.toThrow(/held by a live process/);
    rmSync(paths.lock);
  });

  it('a manual set pauses a running rollout and says so; the controller then decides nothing', async () => {
    await tick(options());
    const message = await pauseForManualSet(options().runDir, 'images', 30);
    expect(message).toBe(
      "the rollout of images is paused at step 1 (10%): a manual 'gateway set images 30' overrides it; 'gateway rollout resume images' goes back to the step's share",
    );
    traffic(now + 500, 6);
    now += 2000;
    expect(await tick(options())).toBeUndefined();
    expect(readStateFile(rolloutPaths(options().runDir, 'images'))?.state).toMatchObject({ status: 'paused', step: 0 });
    expect(await pauseForManualSet(options().runDir, 'images', 40)).toBeUndefined(); // already paused: nothing to say
  });

  it('no rollout state: a manual set is left alone', async () => {
    expect(await pauseForManualSet(options().runDir, 'images', 30)).toBeUndefined();
  });

  it('the audit log skips a torn last line, and the next record starts a new line', () => {
    const paths = rolloutPaths(path.join(dir, 'run'), 'images');
    mkdirSync(paths.dir, { recursive: true });
    const t = startRollout('images', { steps: [10], interval: 1000, min_requests: 1, failure_limit: 1, gates: {} }, T0);
    writeFileSync(paths.audit, `${JSON.stringify(t.record)}\n{"v":1,"seq":2,"ti`);
    expect(readAudit(paths)).toHaveLength(1);
    appendAudit(paths, { ...t.record, seq: 2 }); // the next record starts a line of its own
    expect(readAudit(paths).map((r) => r.seq)).toEqual([1, 2]);
    expect(readFileSync(paths.audit, 'utf8')).toContain('"seq":2,"ti\n');
  });
});
