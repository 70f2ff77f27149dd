/**
 * `reloads-20`: 20 `gateway apply` (nginx reloads) under keep-alive load through the front door;
 * not one request may fail.
 */
import path from 'node:path';
import { runLoad } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startStack } from '../../stack/stack.ts';
import { Checks, result, sleep, summarise, tiny, type Context, type ScenarioResult } from './rig.ts';

export async function reloads20(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-reloads'),
    share: 50,
    cutover: { debug_headers: true },
    serviceEnv: { CONCURRENCY: '2' },
  });
  try {
    const front = stack.frontDoor.url;
    const stop = new AbortController();
    const reloads = (async () => {
      let done = 0;
      const gap = Math.max(50, ctx.t.loadMs / 22);
      await sleep(gap);
      for (let n = 0; n < 20; n++) {
        await stack.frontDoor.apply();
        done++;
        await sleep(gap);
      }
      stop.abort();
      return done;
    })();
    // Cheap requests, so every connection is busy at every reload; one in five on a legacy route.
    const report = await runLoad({
      target: (i) => (i % 5 === 0 ? `${front}/image/health` : `${front}/image/files/${tiny(i)}`),
      connections: 8,
      durationMs: ctx.t.loadMs * 5,
      timeoutMs: 15_000,
      stop: stop.signal,
    });
    const applied = await reloads;
    checks.check('20 reloads applied', applied === 20);
    checks.check(
      'zero failed requests (every answer 200, none lost or refused)',
      report.results.every((r) => r.outcome === 'answered' && r.status === 200),
    );
    return result(
      'reloads-20',
      report,
      checks,
      peakRssMb(stack.service.process.pid),
      `${applied} x gateway apply under 8 keep-alive connections; ${summarise(report.results)}; ${report.retried} retried after nginx closed an idle keep-alive connection`,
    );
  } finally {
    await stack.stop();
  }
}
