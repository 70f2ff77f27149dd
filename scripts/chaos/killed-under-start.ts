/**
 * Chaos scenario `new-killed-under-start`: the image service is killed (SIGKILL) under `npm start`
 * while the hot route runs at share 100 with fallback, under steady keep-alive load. What a user
 * of `npm start` must see: no client errors (the front door falls back to legacy while the
 * service is gone), the service answering again within 10 s (the supervisor restarted it), and
 * the supervisor's restart line in the stack's output.
 *
 * It runs scripts/stack.ts as a child on free ports with its own STACK_VAR_DIR and CUTOVER_FILE,
 * as a user would run `npm start`, so it tests the real supervisor, not a model of it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { runLoad, type RequestResult } from './keepalive-load.ts';
import { freePort } from '../../stack/process.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { deriveCutoverText, shippedCutoverFile } from '../../stack/stack.ts';
import type { ScenarioResult } from '../chaos.ts';
import { npmStartEnv, startNpmStart } from './rig.ts';

const NAME = 'new-killed-under-start';
/** The brief's bound on how long the hot route may go without the new service after a crash. */
const BACK_WITHIN_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const isClientError = (r: RequestResult) => r.outcome !== 'answered' || r.status >= 500;

async function healthPid(adminPort: number): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(500) });
    return ((await res.json()) as { pid?: number }).pid;
  } catch {
    return undefined;
  }
}

/** A hot request straight to the service's public port: its own answer, not the front door's. */
async function serviceAnswers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/image/files/photo-0.jpg?w=64`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function killedUnderStart(ctx: { short: boolean; workDir: string }): Promise<ScenarioResult> {
  const checks: Array<{ what: string; ok: boolean }> = [];
  const check = (what: string, ok: boolean) => (checks.push({ what, ok }), ok);
  const work = mkdtempSync(path.join(ctx.workDir, 'killed-under-start-'));
  const originals = path.join(work, 'var/originals');
  mkdirSync(originals, { recursive: true });
  // Generated originals: a few photos-sized JPEGs are enough to keep the service busy.
  for (let i = 0; i < 4; i++) {
    await sharp({ create: { width: 1200, height: 800, channels: 3, background: { r: 40 * i, g: 120, b: 200 - 30 * i } } })
      .jpeg({ quality: 85 })
      .toFile(path.join(originals, `photo-${i}.jpg`));
  }
  const ports = { front: await freePort(), legacy: await freePort(), service: await freePort(), admin: await freePort() };
  const cutoverFile = path.join(work, 'cutover.yaml');
  writeFileSync(
    cutoverFile,
    deriveCutoverText(readFileSync(shippedCutoverFile, 'utf8'), {
      listen: `127.0.0.1:${ports.front}`,
      legacy: `127.0.0.1:${ports.legacy}`,
      backend: `127.0.0.1:${ports.service}`,
      share: 100,
      cutover: { fallback: true },
    }),
  );

  const { stack, output, ready } = await startNpmStart(npmStartEnv(work, cutoverFile, ports));

  try {
    if (!ready) {
      check('npm start came up', false);
      return {
        name: NAME,
        requests: 0,
        clientErrors: 0,
        lost: 0,
        peakRssMb: undefined,
        verdict: 'FAIL',
        notes: `npm start did not come up:\n${output().slice(-2000)}`,
        checks,
      };
    }
    const front = `http://127.0.0.1:${ports.front}`;
    const firstPid = await healthPid(ports.admin);
    // The load goes on well past the restart, so that the front door's return to the new service is seen.
    const loadMs = ctx.short ? 14_000 : 30_000;
    const killAfterMs = ctx.short ? 2_000 : 5_000;

    const load = runLoad({
      target: (i) => `${front}/image/files/photo-${i % 4}.jpg?w=${100 + (i % 400)}`,
      connections: 4,
      durationMs: loadMs,
      timeoutMs: 15_000,
    });
    await sleep(killAfterMs);
    const killedAt = Date.now();
    if (firstPid !== undefined) process.kill(firstPid, 'SIGKILL');
    // Back = the service's own answer to a hot request, from a new process.
    let backMs: number | undefined;
    let newPid: number | undefined;
    while (Date.now() - killedAt < 30_000) {
      newPid = await healthPid(ports.admin);
      if (newPid !== undefined && newPid !== firstPid && (await serviceAnswers(ports.service))) {
        backMs = Date.now() - killedAt;
        break;
      }
      await sleep(100);
    }
    const report = await load;
    const rss = newPid === undefined ? undefined : peakRssMb(newPid);

    // The front door's own view: when it sent hot traffic to the new service again (access log).
    const accessLog = path.join(work, 'var/run/frontdoor/logs/access.log');
    const entries = readFileSync(accessLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msec: number; backend: string; route: string; fallback: string });
    const afterKill = entries.filter((e) => e.msec * 1000 > killedAt && e.route === 'images');
    const firstNew = afterKill.find((e) => e.backend === 'new');
    const frontBackMs = firstNew ? firstNew.msec * 1000 - killedAt : undefined;
    const fellBack = afterKill.filter((e) => e.fallback === '1' || e.backend === 'legacy').length;

    const restartLine = new RegExp(`stack: the image service \\(pid ${firstPid}\\) killed by SIGKILL after [\\d.]+ s up; restarting it in [\\d.]+ s`).exec(
      output(),
    )?.[0];
    const errors = report.results.filter(isClientError).length;
    check('the image service was found and killed', firstPid !== undefined);
    check('0 client-visible errors', errors === 0);
    check(`the new service answers again within ${BACK_WITHIN_MS / 1000} s`, backMs !== undefined && backMs <= BACK_WITHIN_MS);
    // What clients see: the front door sends the route's share to the new service again (the
    // supervisor reloads it once the service is healthy, so passive health forgets the failures).
    check(`the front door sends to the new service again within ${BACK_WITHIN_MS / 1000} s`, frontBackMs !== undefined && frontBackMs <= BACK_WITHIN_MS);
    check("the supervisor's restart line is in npm start's output", restartLine !== undefined);
    check('npm start is still running', stack.child.exitCode === null);

    // Then Ctrl-C as a user would: everything stops, exit 0.
    process.kill(stack.pid, 'SIGTERM');
    const code = await Promise.race([stack.exited, sleep(30_000).then(() => 'timeout')]);
    check('SIGTERM stops npm start with exit 0', code === 0);

    const ok = checks.every((c) => c.ok);
    const s = (ms: number | undefined) => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);
    const notes =
      `${report.sent} requests in ${(report.elapsedMs / 1000).toFixed(0)} s over 4 keep-alive connections, SIGKILL of pid ${firstPid} at ${(killAfterMs / 1000).toFixed(0)} s; ` +
      `service answering again after ${s(backMs)} (pid ${newPid}), front door sending to it again after ${s(frontBackMs)}; ` +
      `${fellBack} hot requests served by legacy after the kill; errors ${errors} (${JSON.stringify(report.byStatus)}${report.retried ? `, ${report.retried} retried on a fresh connection` : ''}); ` +
      `log: "${restartLine ?? 'none'}"`;
    const failed = checks.filter((c) => !c.ok).map((c) => `FAILED: ${c.what}`);
    return {
      name: NAME,
      requests: report.sent,
      clientErrors: errors,
      lost: report.lost,
      peakRssMb: rss,
      verdict: ok ? 'PASS' : 'FAIL',
      notes: ok ? notes : `${failed.join('; ')} | ${notes}`,
      checks,
    };
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
