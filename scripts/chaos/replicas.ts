/**
 * Chaos scenario `replicas-3`: `npm start` with IMAGE_SERVICE_REPLICAS=3 at share 100, under a
 * closed-loop keep-alive load. Mid-run one replica is killed (SIGKILL) and another hung (SIGSTOP)
 * at the same moment. What clients must see: no error at all (every answer a 200, nothing lost).
 * What the front door must do: send the traffic to the surviving replica at once (a refused
 * connection moves on to a sibling; the hung replica costs the requests that meet it the route's
 * timeout, served by legacy, until max_fails marks it down), and back to all three once the
 * supervisor has restarted both (it kills the hung one after 3 missed health checks).
 *
 * It runs scripts/stack.ts as a child, as a user runs `npm start`, so the replica ports, the
 * per-replica supervision and the reloads are the real ones. Who served what comes from the front
 * door's access log (upstream_addr), by phase: before the faults, while one replica is left,
 * while the restarted ones come back, after.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { percentileOrNaN } from '../../common/stats.ts';
import { freePort } from '../../stack/process.ts';
import { REPLICA_PORT_STEP } from '../../stack/replicas.ts';
import { deriveCutoverText, shippedCutoverFile } from '../../stack/stack.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { runLoad } from './keepalive-load.ts';
import { Checks, fmt, isClientError, npmStartEnv, result, sleep, startNpmStart, summarise, tiny, variant, type Context, type ScenarioResult } from './rig.ts';

const NAME = 'replicas-3';
const REPLICAS = 3;
/**
 * Closed loop: requests in flight at once, one per replica. The faults leave one replica of three,
 * with one core's worth of CONCURRENCY (1 on 2 cores: replicaConcurrency): it can carry the whole
 * load only if the load is what one replica carries. At 6 in flight (measured) the survivor's queue
 * overflowed and it shed 70 to 165 of ~1400 requests with 503, as it should: replicas do not add
 * capacity the machine does not have, they keep a crash or a hang from costing clients.
 */
const CONNECTIONS = 3;

interface LogEntry {
  msec: number;
  uri: string;
  status: number;
  backend: string;
  fallback: string;
  upstream_addr: string;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A first port whose replica ports (every REPLICA_PORT_STEP above it) are all free. */
async function freeReplicaPorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + (REPLICAS - 1) * REPLICA_PORT_STEP > 65535) continue;
    const rest = await Promise.all(Array.from({ length: REPLICAS - 1 }, (_, i) => portIsFree(first + (i + 1) * REPLICA_PORT_STEP)));
    if (rest.every(Boolean)) return first;
  }
  throw new Error('no free run of replica ports');
}

async function healthPid(adminPort: number): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(500) });
    return ((await res.json()) as { pid?: number }).pid;
  } catch {
    return undefined;
  }
}

/** The replica that answered (the last new-service address of a request new served), or 'legacy'. */
function servedBy(e: LogEntry): string {
  if (e.backend !== 'new') return 'legacy';
  return e.upstream_addr.split(' : ')[0]!.split(', ').at(-1)!;
}

export async function replicas(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const work = mkdtempSync(path.join(ctx.workDir, 'replicas-'));
  const originals = path.join(work, 'var/originals');
  mkdirSync(originals, { recursive: true });
  for (const f of [...ctx.photos, 'tiny.png']) copyFileSync(path.join(ctx.storageDir, f), path.join(originals, f));
  const ports = { front: await freePort(), legacy: await freePort(), service: await freeReplicaPorts(), admin: await freeReplicaPorts() };
  const services = Array.from({ length: REPLICAS }, (_, i) => ({ port: ports.service + i * REPLICA_PORT_STEP, admin: ports.admin + i * REPLICA_PORT_STEP }));
  const address = (i: number) => `127.0.0.1:${services[i]!.port}`;
  const cutoverFile = path.join(work, 'cutover.yaml');
  // The shipped route (timeout 2000 ms, max_fails 3, fail_timeout 30 s) at share 100. The file
  // names one backend; IMAGE_SERVICE_REPLICAS makes npm start run three and tell the front door.
  writeFileSync(
    cutoverFile,
    deriveCutoverText(readFileSync(shippedCutoverFile, 'utf8'), {
      listen: `127.0.0.1:${ports.front}`,
      legacy: `127.0.0.1:${ports.legacy}`,
      backend: `127.0.0.1:${ports.service}`,
      share: 100,
    }),
  );
  const { stack, output, ready } = await startNpmStart({ ...npmStartEnv(work, cutoverFile, ports), IMAGE_SERVICE_REPLICAS: String(REPLICAS) });
  const stopped: number[] = [];
  try {
    if (!ready) {
      checks.check('npm start came up with 3 replicas', false);
      return result(NAME, { sent: 0, results: [] }, checks, undefined, `npm start did not come up:\n${output().slice(-2000)}`);
    }
    const pids = await Promise.all(services.map((s) => healthPid(s.admin)));
    checks.check('npm start runs 3 replicas, each answering on its own admin port', pids.every((p) => p !== undefined) && new Set(pids).size === REPLICAS);

    const front = `http://127.0.0.1:${ports.front}`;
    // Long enough after the faults for both restarts to show: the hung replica is found out after
    // ~5 s (3 missed health checks), killed, restarted; measured: all three back 14 s after the faults.
    const loadMs = ctx.short ? 20_000 : 30_000;
    const faultAfterMs = ctx.short ? 3_000 : 6_000;
    const load = runLoad({
      target: (i) => `${front}/image/files/${i % 4 === 0 ? variant(ctx, i) : tiny(i)}`,
      connections: CONNECTIONS,
      durationMs: loadMs,
      timeoutMs: 15_000,
    });
    await sleep(faultAfterMs);
    // Replica 1 killed, replica 2 hung, at once; replica 3 is left to carry the route.
    const faultAt = performance.timeOrigin + performance.now();
    if (pids[0] !== undefined) process.kill(pids[0], 'SIGKILL');
    if (pids[1] !== undefined) {
      process.kill(pids[1], 'SIGSTOP');
      stopped.push(pids[1]);
    }
    const report = await load;
    const rss = pids[2] === undefined ? undefined : peakRssMb(pids[2]);

    const entries = readFileSync(path.join(work, 'var/run/frontdoor/logs/access.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry)
      .filter((e) => e.uri.startsWith('/image/files/'));
    // Phases, in the front door's own view: before the faults; 'one left' until a faulted replica
    // serves again (the supervisor restarted it); 'recovering' until the other does; 'after'.
    const firstServed = (i: number) => entries.find((e) => e.msec * 1000 > faultAt && servedBy(e) === address(i))?.msec;
    const back = [firstServed(0), firstServed(1)].map((b) => (b === undefined ? Number.POSITIVE_INFINITY : b * 1000));
    const oneLeftUntil = Math.min(...back);
    const recoveredAt = Math.max(...back);
    const columns = ['before', 'one left', 'recovering', 'after'] as const;
    type Phase = (typeof columns)[number];
    const phaseAt = (t: number): Phase => (t <= faultAt ? 'before' : t < oneLeftUntil ? 'one left' : t < recoveredAt ? 'recovering' : 'after');
    const phase = (msec: number) => phaseAt(msec * 1000);
    const rows = [...services.map((_, i) => address(i)), 'legacy'];
    const table = Object.fromEntries(rows.map((r) => [r, { before: 0, 'one left': 0, recovering: 0, after: 0 } as Record<Phase, number>]));
    for (const e of entries) table[servedBy(e)]![phase(e.msec)]++;
    const fallbacks = entries.filter((e) => e.fallback === '1');
    const retriedOnSibling = entries.filter((e) => e.upstream_addr.split(' : ')[0]!.includes(', ')).length;

    const errors = report.results.filter(isClientError).length;
    const ms = (rs: typeof report.results) => rs.map((r) => r.ms);
    const wall = (r: (typeof report.results)[number]) => performance.timeOrigin + r.startedAt;
    const byPhase = Object.fromEntries(columns.map((c) => [c, report.results.filter((r) => phaseAt(wall(r)) === c)]));
    const restarts = output().match(/stack: the image service \d\/3 \(:\d+\) .*restarting it in [\d.]+ s/g) ?? [];

    checks.check('0 client-visible errors (every answer a 200)', errors === 0 && report.results.every((r) => r.status === 200));
    checks.check('nothing lost', report.lost === 0);
    checks.check(
      'before the faults every replica served',
      services.every((_, i) => table[address(i)]!.before > 0),
    );
    const oneLeft = (r: string) => table[r]!['one left'];
    checks.check(
      'while one replica was left it took the traffic: at least 10x the fallbacks to legacy, nothing from the hung one',
      oneLeft(address(2)) > 0 && oneLeft(address(2)) >= 10 * oneLeft('legacy') && oneLeft(address(1)) === 0,
    );
    checks.check('the supervisor restarted both faulted replicas, and the front door sends to them again', Number.isFinite(recoveredAt));
    checks.check('npm start is still running', stack.child.exitCode === null);

    // Ctrl-C as a user would: everything stops, exit 0.
    process.kill(stack.pid, 'SIGTERM');
    const code = await Promise.race([stack.exited, sleep(30_000).then(() => 'timeout')]);
    checks.check('SIGTERM stops npm start with exit 0', code === 0);

    // The per-replica table, as it happens (the chaos table keeps one line of notes per scenario).
    const width = Math.max(...rows.map((r) => r.length)) + 2;
    process.stderr.write(
      [
        `chaos: ${NAME}: requests served`,
        `${''.padEnd(width)}${columns.map((c) => c.padStart(12)).join('')}`,
        ...rows.map((r) => `${r.padEnd(width)}${columns.map((c) => String(table[r]![c]).padStart(12)).join('')}`),
      ]
        .map((l) => `${l}\n`)
        .join(''),
    );
    const perReplica = rows.map((r) => `${r === 'legacy' ? 'legacy (fallback)' : r} ${columns.map((c) => table[r]![c]).join('/')}`).join(', ');
    const latency = columns
      .map((c) => `${c} ${byPhase[c]!.length} req p50 ${fmt(percentileOrNaN(ms(byPhase[c]!), 0.5))} ms p99 ${fmt(percentileOrNaN(ms(byPhase[c]!), 0.99))} ms`)
      .join('; ');
    const notes =
      `npm start, IMAGE_SERVICE_REPLICAS=3, share 100, closed loop ${CONNECTIONS} keep-alive connections for ${loadMs / 1000} s; at ${faultAfterMs / 1000} s ` +
      `SIGKILL ${address(0)} + SIGSTOP ${address(1)}; one replica left for ${fmt((oneLeftUntil - faultAt) / 1000, 1)} s, all three back after ` +
      `${fmt((recoveredAt - faultAt) / 1000, 1)} s; requests served per replica ${columns.join('/')}: ${perReplica}; ` +
      `${fallbacks.length} fallbacks to legacy, ${retriedOnSibling} connect errors retried on a sibling; ` +
      `${latency}; ${summarise(report.results)}${report.retried ? `, ${report.retried} retried on a fresh connection (reload)` : ''}; restarts: ${restarts.length}`;
    return result(NAME, report, checks, rss, notes);
  } finally {
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* killed by the supervisor, as it should */
      }
    }
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
