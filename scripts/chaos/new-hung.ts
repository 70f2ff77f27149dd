/**
 * `new-hung`: the new service stops answering without closing anything (SIGSTOP: its sockets stay
 * open, the kernel still accepts connections, no byte comes back): the worst fault for a proxy,
 * which learns of it only by timing out. At share 100 with the fallback on, a steady load on the
 * hot route at a rate legacy can sustain; legacy's own p99 under the same load (share 0) is
 * measured first, in the same run. Once the front door has had 3 s to notice, the requests that
 * start after that must cost what legacy costs (p99 within 2x legacy's), with no client error:
 * a hung service must not cost every request the route's timeout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setYamlValue } from '../../gateway/src/cutover/edit.ts';
import { parseCutover } from '../../gateway/src/cutover/schema.ts';
import { percentileOrNaN } from '../../common/stats.ts';
import { runLoad, type RequestResult } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startStack } from '../../stack/stack.ts';
import { Checks, fmt, isClientError, result, sleep, summarise, tiny, type Context, type ScenarioResult } from './rig.ts';

/** Requests per second: cheap thumbnails that legacy (2 PHP-FPM children) serves with room to spare. */
const RATE = 40;
/** The front door has this long after the hang before its answers are held to legacy's p99. */
const GRACE_MS = 3000;
/** When the service is stopped, after the start of the hung phase's load. */
const HANG_AT_MS = 1000;

export async function newHung(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-hung'),
    share: 0,
    cutover: { debug_headers: true },
    serviceEnv: { CONCURRENCY: '2' },
  });
  const pid = stack.service.process.pid;
  let stopped = false;
  try {
    const front = stack.frontDoor.url;
    const load = (durationMs: number, offset: number) =>
      runLoad({ target: (i) => `${front}/image/files/${tiny(offset + i)}`, connections: 64, rate: RATE, durationMs, timeoutMs: 30_000 });

    // 1. Legacy's p99 under this very load: share 0, everything on legacy.
    await load(1000, 1_000_000); // warm-up (PHP-FPM children, nginx keep-alive)
    const legacy = await load(ctx.t.loadMs, 0);
    const legacyP99 = percentileOrNaN(
      legacy.results.map((r) => r.ms),
      0.99,
    );

    // 2. Share 100, applied as an operator would; check that new really serves.
    const text = readFileSync(stack.cutoverFile, 'utf8');
    const route = parseCutover(text).routes.findIndex((r) => r.name === 'images');
    writeFileSync(stack.cutoverFile, setYamlValue(text, ['routes', route, 'share'], 100));
    await stack.frontDoor.apply();
    const warm = await load(1000, 2_000_000);
    const warmFromNew = warm.results.filter((r) => r.headers['x-image-backend'] === 'new').length;

    // 3. The hang, under the same load.
    const rss = peakRssMb(pid);
    let hungAt = Number.POSITIVE_INFINITY;
    const fault = sleep(HANG_AT_MS).then(() => {
      process.kill(pid, 'SIGSTOP');
      stopped = true;
      hungAt = performance.now();
    });
    const hung = await load(HANG_AT_MS + GRACE_MS + ctx.t.loadMs, 3_000_000);
    await fault;
    process.kill(pid, 'SIGCONT');
    stopped = false;

    const after = hung.results.filter((r) => r.startedAt > hungAt + GRACE_MS);
    const afterP99 = percentileOrNaN(
      after.map((r) => r.ms),
      0.99,
    );
    const afterErrors = after.filter(isClientError).length;
    const during = hung.results.filter((r) => r.startedAt > hungAt && r.startedAt <= hungAt + GRACE_MS);
    const duringP99 = percentileOrNaN(
      during.map((r) => r.ms),
      0.99,
    );
    const servedBy = (rs: RequestResult[], backend: string) => rs.filter((r) => r.headers['x-image-backend'] === backend).length;

    checks.check('legacy sustained the load at share 0 (every answer 200)', legacy.results.length > 0 && legacy.results.every((r) => r.status === 200));
    checks.check('at share 100 the new service served before the hang', warmFromNew > 0 && warmFromNew === warm.results.length);
    checks.check(
      `requests starting > ${GRACE_MS / 1000} s after the hang: p99 <= 2x legacy's p99 (${fmt(legacyP99)} ms)`,
      after.length >= 10 && afterP99 <= 2 * legacyP99,
    );
    checks.check(`requests starting > ${GRACE_MS / 1000} s after the hang: zero client errors`, afterErrors === 0);
    checks.check('nothing lost during the whole hang', hung.lost === 0);
    return result(
      'new-hung',
      hung,
      checks,
      rss,
      `${RATE} rps open loop on the hot route; legacy alone (share 0) p50 ${fmt(
        percentileOrNaN(
          legacy.results.map((r) => r.ms),
          0.5,
        ),
      )} ms p99 ${fmt(legacyP99)} ms (${legacy.results.length} requests); ` +
        `SIGSTOP at ${fmt(HANG_AT_MS / 1000, 1)} s: first ${GRACE_MS / 1000} s ${during.length} requests, p99 ${fmt(duringP99)} ms; after that ` +
        `${after.length} requests, p99 ${fmt(afterP99)} ms (x${fmt(afterP99 / legacyP99, 2)} legacy's), ` +
        `${afterErrors} client errors, ${servedBy(after, 'legacy')} served by legacy, ${servedBy(after, 'new')} by new; ${summarise(hung.results)}`,
    );
  } finally {
    if (stopped) process.kill(pid, 'SIGCONT');
    await stack.stop();
  }
}
