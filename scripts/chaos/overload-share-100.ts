/**
 * `overload-share-100`: the whole hot route on the new service (share 100, fallback on) and 5x its
 * saturation offered through the front door. The service sheds what it cannot take with 503 +
 * Retry-After, and the front door must pass that 503 through: replaying it on legacy would move
 * the overload onto the backend with the least headroom, and legacy still serves everything
 * else. Held to: every answer a 200 or a 503 with Retry-After, and legacy's uploads (POST
 * /image/files through the front door, measured during the overload) keep a p99 within 2x of
 * their unloaded p99.
 */
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../common/paths.ts';
import { percentileOrNaN } from '../../common/stats.ts';
import { runLoad, type LoadReport } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startStack } from '../../stack/stack.ts';
import sharp from 'sharp';
import { adminUrl, Checks, fmt, okWithin, result, sleep, summarise, type Context, type ScenarioResult } from './rig.ts';

/** Resize slots of the service: the machine's two cores. */
const CONCURRENCY = 2;

interface Upload {
  ms: number;
  status: number;
}

/** Uploads one after another (one client) until `until` resolves; each a small JPEG under its own key. */
/**
 * Uploads one at a time from a process of its own (upload-client.ts) until `stop` aborts; the
 * latencies it measured.
 */
async function uploadLoop(front: string, bodyFile: string, prefix: string, stop: AbortSignal): Promise<Upload[]> {
  const child = spawn(
    'taskset',
    ['-c', '0', process.execPath, '--import', 'tsx', path.join(projectRoot, 'scripts/chaos/upload-client.ts'), front, prefix, bodyFile],
    {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (stop.aborted) child.kill('SIGTERM');
  else stop.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
  await exited;
  return JSON.parse(stdout.trim() || '[]') as Upload[];
}

/** Pins each group's processes (all their threads) to one core with taskset; false when that is impossible (fewer than 2 cores). */
function pinCores(groups: Array<{ pids: number[]; cpu: number }>): boolean {
  if (os.availableParallelism() < 2) return false;
  for (const g of groups) for (const pid of g.pids) execFileSync('taskset', ['-a', '-p', '-c', String(g.cpu), String(pid)], { stdio: 'ignore' });
  return true;
}

/** The service's hot-route answers by status, from its own metrics: "200:52 503:248 504:3". */
async function serviceStatuses(admin: string): Promise<string> {
  const text = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const by = new Map<string, number>();
  for (const m of text.matchAll(/^image_http_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = m[1]!;
    if (!labels.includes('route="image"')) continue;
    const status = /status="(\d+)"/.exec(labels)?.[1] ?? '?';
    by.set(status, (by.get(status) ?? 0) + Number(m[2]));
  }
  return [...by]
    .sort()
    .map(([k, n]) => `${k}:${n}`)
    .join(' ');
}

export async function overloadShare100(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-overload-100'),
    share: 100,
    cutover: { debug_headers: true },
    // The service's own queue limit (CONCURRENCY x 16) and deadline (from the route's timeout_ms).
    serviceEnv: { CONCURRENCY: String(CONCURRENCY) },
  });
  try {
    // One machine stands in for the hosts of production: without this, the load generator and a
    // saturated new service take the cores legacy needs, and legacy's uploads slow down whatever
    // the front door does (measured: p99 x3.8 with the fallback off altogether). Pinned, the new
    // service and this process (the load generator) share core 1, legacy and its upload client
    // core 0: what is left to measure is what the front door sends to legacy. Each pin covers
    // every thread (-a), and what legacy's masters fork later inherits it.
    const pinned = pinCores([
      { pids: [stack.service.process.pid, process.pid], cpu: 1 },
      { pids: stack.legacy.pids(), cpu: 0 },
    ]);
    const front = stack.frontDoor.url;
    const phaseMs = ctx.short ? 3000 : 8000;
    // Mid-size WebP outputs of one photo: every admitted request costs about the same, well
    // inside the service's deadline even on a busy machine (a render past it is a 504, replayed
    // on legacy: a different fault from the one this scenario is about).
    const photo = ctx.photos[0]!;
    const target = (i: number) => `${front}/image/files/${photo}?w=${640 + (i % 400)}&format=webp`;
    const upload = path.join(ctx.workDir, 'upload.jpg');
    writeFileSync(
      upload,
      await sharp({ create: { width: 64, height: 48, channels: 3, background: '#806040' } })
        .jpeg()
        .toBuffer(),
    );
    await runLoad({ target, connections: 2, durationMs: 5000, maxRequests: 8 }); // warm-up

    // 1. Legacy's upload latency with nothing else running.
    const quiet = new AbortController();
    const unloadedRun = uploadLoop(front, upload, 'quiet', quiet.signal);
    await sleep(phaseMs);
    quiet.abort();
    const unloaded = await unloadedRun;
    const unloadedP99 = percentileOrNaN(
      unloaded.map((u) => u.ms),
      0.99,
    );

    // 2. The new service's saturation through the front door: a closed loop with two requests per
    // slot (one resizing, one waiting) keeps every slot busy without queueing toward the deadline.
    const t0 = performance.now();
    const sat = await runLoad({ target, connections: 2 * CONCURRENCY, durationMs: phaseMs, timeoutMs: 15_000 });
    const satRps = okWithin(sat, t0, phaseMs) / (phaseMs / 1000);

    // 3. 5x that, open loop, with the same upload client running alongside.
    const rate = 5 * satRps;
    const busy = new AbortController();
    const loadedRun = uploadLoop(front, upload, 'busy', busy.signal);
    let overload: LoadReport;
    try {
      overload = await runLoad({ target: (i) => target(i + 100_000), connections: 2000, rate, durationMs: ctx.t.loadMs, timeoutMs: 15_000 });
    } finally {
      busy.abort();
    }
    const loaded = await loadedRun;
    const loadedP99 = percentileOrNaN(
      loaded.map((u) => u.ms),
      0.99,
    );
    const rss = peakRssMb(stack.service.process.pid);
    const exitCode = stack.service.process.child.exitCode;
    const signal = stack.service.process.child.signalCode;
    const died = exitCode !== null || signal !== null;
    // What the service itself answered, by status: tells a fallback on its 504 from one on nginx's own timeout.
    const served = died ? '' : await serviceStatuses(adminUrl(stack.service)).catch(() => '');

    const shed = overload.results.filter((r) => r.status === 503);
    const other = overload.results.filter((r) => r.status !== 200 && r.status !== 503);
    const fellBack = overload.results.filter((r) => r.headers['x-image-fallback'] === '1').length;
    const fromLegacy = overload.results.filter((r) => r.headers['x-image-backend'] === 'legacy').length;
    const uploadsOk = [...unloaded, ...loaded].every((u) => u.status === 201);

    checks.check('the new service survived the overload', !died);
    checks.check('the load really was over capacity (503s were sent)', shed.length > 0);
    checks.check('every answer is 200 or 503, nothing lost', other.length === 0 && overload.lost === 0);
    checks.check(
      'every 503 carries Retry-After',
      shed.every((r) => r.headers['retry-after'] !== undefined),
    );
    checks.check('every upload answered 201', uploadsOk && unloaded.length >= 5 && loaded.length >= 5);
    checks.check(`legacy's upload p99 during the overload <= 2x unloaded (${fmt(unloadedP99)} ms)`, loadedP99 <= 2 * unloadedP99);
    return result(
      'overload-share-100',
      overload,
      checks,
      rss,
      `saturation through the front door ${fmt(satRps, 1)} rps (closed loop, ${2 * CONCURRENCY} connections); offered ${fmt(rate)} rps for ` +
        `${fmt(ctx.t.loadMs / 1000)} s; ${summarise(overload.results)}; ` +
        `${shed.length} shed (503), ${fellBack} fell back, ${fromLegacy} served by legacy; the service answered ${served || '?'}; uploads p50/p99 unloaded ${fmt(
          percentileOrNaN(
            unloaded.map((u) => u.ms),
            0.5,
          ),
        )}/${fmt(unloadedP99)} ms (${unloaded.length}), ` +
        `during the overload ${fmt(
          percentileOrNaN(
            loaded.map((u) => u.ms),
            0.5,
          ),
        )}/${fmt(loadedP99)} ms (${loaded.length}, x${fmt(loadedP99 / unloadedP99, 2)}); ` +
        `${pinned ? 'new service + load generator on core 1, legacy + uploads on core 0' : 'not pinned (one core)'}` +
        (died
          ? `; the service exited (${exitCode ?? signal}): ${stack.service.process
              .output()
              .split('\n')
              .filter((l) => /"level":60|uncaught|unhandled|fatal|^\s*\w*Error|^\s+at /i.test(l))
              .slice(0, 6)
              .map((l) => l.trim().slice(0, 200))
              .join(' / ')}`
          : ''),
    );
  } finally {
    // This process runs the scenarios after this one: all cores again.
    execFileSync('taskset', ['-a', '-p', '-c', `0-${os.availableParallelism() - 1}`, String(process.pid)], { stdio: 'ignore' });
    await stack.stop();
  }
}
