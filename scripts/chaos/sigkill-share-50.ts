/**
 * `sigkill-share-50`: the new service is SIGKILLed under load at share 50 and restarted on the
 * same ports. Every request must still be answered 200 (nginx falls back to legacy for the ones
 * meant for new while it is down), and the share must come back to new after the restart.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runLoad, type RequestResult } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { startStack } from '../../stack/stack.ts';
import { Checks, fmt, result, sleep, summarise, tiny, variant, type Context, type ScenarioResult } from './rig.ts';

export async function sigkillShare50(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  // fail_timeout_s 1: this scenario measures the share coming back after a restart; with the
  // default (30 s) passive health keeps the route on legacy for 30 s after the kill, by design
  // (new-hung holds the default to its purpose).
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-sigkill'),
    share: 50,
    cutover: { debug_headers: true, fail_timeout_s: 1 },
    serviceEnv: { CONCURRENCY: '2' },
  });
  let restarted: RunningService | undefined;
  try {
    const front = stack.frontDoor.url;
    let rss: number | undefined;
    // Kill at 1/4, restart at 1/2; the load then runs on for passive health's window and
    // another half phase after the restart is done (however long the restart took on this
    // machine), which shows the share coming back.
    const load = ctx.t.loadMs * 2;
    const stop = new AbortController();
    const started = performance.now();
    let killedAt = Number.POSITIVE_INFINITY;
    let restartingAt = Number.POSITIVE_INFINITY;
    let backAt = Number.POSITIVE_INFINITY;
    const fault = (async () => {
      await sleep(load / 4);
      rss = peakRssMb(stack.service.process.pid);
      process.kill(stack.service.process.pid, 'SIGKILL');
      killedAt = performance.now();
      await stack.service.process.exited;
      await sleep(Math.max(0, started + load / 2 - performance.now()));
      restartingAt = performance.now();
      restarted = await startImageService(
        { STORAGE_URL: pathToFileURL(ctx.storageDir).href, CONCURRENCY: '2' },
        { port: stack.service.port, adminPort: stack.service.adminPort },
      );
      backAt = performance.now();
      await sleep(1200 + ctx.t.loadMs / 2);
      stop.abort();
    })();
    // Mostly photos (real resizes in flight when the kill lands), one in three a tiny image.
    const report = await runLoad({
      target: (i) => `${front}/image/files/${i % 3 === 0 ? variant(ctx, i) : tiny(i)}`,
      connections: 8,
      durationMs: load * 4,
      timeoutMs: 15_000,
      stop: stop.signal,
    });
    await fault;
    rss = Math.max(rss ?? 0, restarted ? (peakRssMb(restarted.process.pid) ?? 0) : 0);
    const fromNew = (r: RequestResult) => r.headers['x-image-backend'] === 'new' && r.headers['x-image-fallback'] !== '1';
    const inFlightAtKill = report.results.filter((r) => r.startedAt < killedAt && r.endedAt > killedAt);
    const during = report.results.filter((r) => r.startedAt > killedAt && r.endedAt < restartingAt);
    const fellBack = during.filter((r) => r.headers['x-image-fallback'] === '1').length;
    // From the end of passive health's window (fail_timeout_s 1 above) after the restart.
    const after = report.results.filter((r) => r.startedAt > backAt + 1200);
    const newShare = after.filter(fromNew).length / Math.max(1, after.length);

    checks.check(
      'zero client-visible errors (every request answered 200)',
      report.results.every((r) => r.outcome === 'answered' && r.status === 200),
    );
    checks.check(
      'requests ran during the outage; every one meant for new was served by legacy',
      during.length > 0 && during.every((r) => !fromNew(r)) && fellBack > 0,
    );
    checks.check('the share returned to new after the restart (35-65% of the requests after it)', after.length >= 20 && newShare >= 0.35 && newShare <= 0.65);
    return result(
      'sigkill-share-50',
      report,
      checks,
      rss,
      `SIGKILL at ${fmt((killedAt - started) / 1000, 1)}s with ${inFlightAtKill.length} in flight, back at ${fmt((backAt - started) / 1000, 1)}s; ` +
        `during the outage ${during.length} requests, ${fellBack} of them fell back to legacy; after the restart ${fmt(newShare * 100)}% from new ` +
        `(of ${after.length}; ${after.filter((r) => r.headers['x-image-fallback'] === '1').length} fell back); ` +
        `${report.retried} retried on a reused connection; ${summarise(report.results)}`,
    );
  } finally {
    await restarted?.stop();
    await stack.stop();
  }
}
