/**
 * `hostile-targets`: the front door's property run (support/hostile-targets.ts; the full test is
 * gateway/test/frontdoor-hostile-targets.int.test.ts) summarised in the chaos table: seeded raw
 * targets at share 100 with the override header pinning them to the new service. Requests are
 * the targets sent; client-visible errors are 5xx or no answer (a hostile target deserves a 4xx).
 */
import path from 'node:path';
import { peakRssMb } from '../../support/proc-stats.ts';
import { collectAccessLog, KNOWN_ATTACKS, runHostileTargets } from '../../support/hostile-targets.ts';
import { startStack } from '../../stack/stack.ts';
import { Checks, type Context, type ScenarioResult } from './rig.ts';

const SEED = 20261203;

export async function hostileTargets(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-hostile'),
    share: 100,
    cutover: { override_header: true, debug_headers: true },
    serviceEnv: { CONCURRENCY: '2', LOG_LEVEL: 'info' },
  });
  try {
    const accessLog = collectAccessLog(stack.service.process.child.stdout!);
    const front = new URL(stack.frontDoor.url);
    const runs = ctx.short ? 150 : 300;
    const run = await runHostileTargets({
      front: { host: front.hostname, port: Number(front.port) },
      accessLog,
      runs,
      seed: SEED,
      headers: { 'X-Image-Backend': 'new' },
    });
    const statuses = new Map<string, number>();
    for (const a of run.answers) {
      const k = a.outcome === 'answered' ? String(a.status) : a.outcome;
      statuses.set(k, (statuses.get(k) ?? 0) + 1);
    }
    const lost = run.answers.filter((a) => a.outcome !== 'answered' || a.status === 0).length;
    checks.check("no target made the new service's /metrics, /readyz or /healthz answer; every target answered", run.failure === undefined);
    checks.check("the new service's access log shows normal-form hot-route targets only", run.offending.length === 0);
    checks.check('normal-form hot targets did reach the new service (the run is not vacuous)', run.reached.length > 0);
    checks.check('every hostile target answered with a 4xx or a success, never a 5xx', run.serverErrors.length === 0);
    const sample = (xs: string[]) =>
      xs
        .slice(0, 3)
        .map((t) => JSON.stringify(t.slice(0, 60)))
        .join(', ');
    return {
      name: 'hostile-targets',
      requests: run.answers.length,
      clientErrors: run.serverErrors.length + lost,
      lost,
      peakRssMb: peakRssMb(stack.service.process.pid),
      verdict: checks.ok ? 'PASS' : 'FAIL',
      notes:
        `${checks.ok ? '' : `${checks.failed()} | `}${runs} seeded runs (seed ${SEED}, ${KNOWN_ATTACKS.length} known attacks first), override X-Image-Backend: new from loopback; ` +
        `${[...statuses]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${n}x${k}`)
          .join(' ')}; the new service saw ${run.reached.length} requests, ${run.offending.length} not in normal form` +
        `${run.offending.length ? ` (${sample(run.offending)})` : ''}${run.counterexample ? `; counterexample ${run.counterexample}: ${run.failure}` : ''}` +
        `${run.serverErrors.length ? `; 5xx for ${sample(run.serverErrors.map((a) => a.target))}` : ''}`,
      checks: checks.list,
    };
  } finally {
    await stack.stop();
  }
}
