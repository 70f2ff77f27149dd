/**
 * `sigterm-under-load`: the new service gets SIGTERM under load at share 100. Requests in flight
 * must finish, it must exit 0 within SHUTDOWN_TIMEOUT_MS and refuse new connections after, and the
 * front door must serve from legacy meanwhile with no client-visible error.
 */
import path from 'node:path';
import { runLoad, type LoadReport } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startStack } from '../../stack/stack.ts';
import { Checks, fmt, merge, result, sleep, summarise, tiny, variant, type Context, type ScenarioResult } from './rig.ts';

export async function sigtermUnderLoad(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const shutdownTimeoutMs = 10_000;
  // Share 100 through the front door (what clients see), plus a few slow requests straight to
  // the service, sent just before the signal (what "in flight" means for the service itself).
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-sigterm'),
    share: 100,
    cutover: { debug_headers: true },
    // The slow direct requests are there to be in flight at the signal: their deadline is the
    // shutdown window, not the default one (derived from the front door's timeout_ms), and the
    // queue is long enough for them beside the front door's load: this scenario is about a
    // graceful stop, not about shedding (the default queue, 4 per slot, would shed some).
    serviceEnv: { CONCURRENCY: '2', QUEUE_LIMIT: '32', SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), REQUEST_TIMEOUT_MS: String(shutdownTimeoutMs) },
  });
  try {
    const front = stack.frontDoor.url;
    const service = stack.service;
    const load = ctx.t.loadMs * 1.5;
    const started = performance.now();
    let signalledAt = Number.POSITIVE_INFINITY;
    let rss: number | undefined;
    let direct: LoadReport | undefined;
    let refusedAfterExit = '';
    const fault = (async () => {
      await sleep(load / 3);
      const slow = runLoad({
        target: (i) => `${service.url}/image/files/${ctx.photos[i % ctx.photos.length]}?w=${1500 + i}&format=png`,
        connections: 4,
        durationMs: 60_000,
        maxRequests: 4,
        timeoutMs: shutdownTimeoutMs + 5000,
      });
      await sleep(100);
      rss = peakRssMb(service.process.pid);
      signalledAt = performance.now();
      service.process.child.kill('SIGTERM');
      const code = await service.process.exited;
      const ms = performance.now() - signalledAt;
      direct = await slow;
      const after = await runLoad({ target: () => `${service.url}/healthz`, connections: 1, durationMs: 2000, maxRequests: 1, timeoutMs: 2000 });
      refusedAfterExit = after.results[0]?.error ?? `status ${after.results[0]?.status}`;
      return { code, ms };
    })();
    const report = await runLoad({
      target: (i) => `${front}/image/files/${i % 2 === 0 ? variant(ctx, i) : tiny(i)}`,
      connections: 8,
      durationMs: load,
      timeoutMs: 15_000,
    });
    const exited = await fault;
    const directResults = direct?.results ?? [];
    const fellBack = report.results.filter((r) => r.startedAt > signalledAt + exited.ms && r.headers['x-image-fallback'] === '1').length;
    const all = merge(report, ...(direct ? [direct] : []));

    checks.check(
      'through the front door: zero client-visible errors, nothing lost',
      report.results.every((r) => r.outcome === 'answered' && r.status === 200),
    );
    checks.check(
      'requests in flight at the service when it was signalled all finished with 200',
      directResults.length === 4 && directResults.every((r) => r.status === 200 && r.endedAt > signalledAt),
    );
    checks.check(
      'after the exit, new connections are refused (ECONNREFUSED) and nginx serves from legacy',
      refusedAfterExit === 'ECONNREFUSED' && fellBack > 0,
    );
    checks.check(`exited 0 within SHUTDOWN_TIMEOUT_MS (${shutdownTimeoutMs} ms)`, exited.code === 0 && exited.ms < shutdownTimeoutMs);
    return result(
      'sigterm-under-load',
      all,
      checks,
      rss,
      `SIGTERM at ${fmt((signalledAt - started) / 1000, 1)}s with 4 slow direct requests in flight (${directResults.map((r) => r.status).join(',')},` +
        ` the last done ${fmt(Math.max(...directResults.map((r) => r.endedAt)) - signalledAt)} ms after the signal); ` +
        `exited ${exited.code} after ${fmt(exited.ms)} ms; then a new connection: ${refusedAfterExit}; through the front door ` +
        `${summarise(report.results)}, ${fellBack} served by legacy after the exit; ${report.retried} retried`,
    );
  } finally {
    await stack.stop();
  }
}
