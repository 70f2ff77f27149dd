/**
 * The evidence-gated rollout end to end on the real stack: nginx front door, legacy (PHP-FPM +
 * Imagick), the image service, the shadow sink (`gateway shadow`, its own process), and the
 * controller (`gateway rollout run`, its own process, killed and restarted like any process).
 * Traffic is this file's own closed loop of GETs through the front door; intervals are seconds.
 *
 * The planted defect needs no hook in the product: the image service reads its own copy of the
 * originals (STORAGE_URL), legacy the other, and mid-rollout one original of the service's copy
 * is overwritten with a colour-swapped image of the same size and format. The service keeps no
 * cache of originals or renders, so its next render of that original is wrong.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { projectRoot } from '../../common/paths.ts';
import { freePort, startProcess, waitForHttp, type Managed } from '../../stack/process.ts';
import { startRolloutControllers } from '../../stack/parts.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { photoRaw } from '../../support/fixtures.ts';
import { splitBuckets } from '../src/cutover/plan.ts';
import type { AuditRecord } from '../src/rollout/core/machine.ts';
import { readAudit, readStateFile, rolloutPaths } from '../src/rollout/store.ts';
import { splitClients } from './nginx-murmur.ts';

const gatewayBin = path.join(projectRoot, 'gateway/bin/gateway.js');
const run = promisify(execFile);
const INTERVAL_S = 2;

let work: string;
let legacyDir: string;
let serviceDir: string;
let stack: RunningStack;
let sink: Managed;
let results: string;
const stops: Array<() => Promise<unknown>> = [];

const ORIGINALS = [
  ['r-a.jpg', 'jpeg'],
  ['r-b.jpg', 'jpeg'],
  ['r-c.png', 'png'],
  ['r-d.png', 'png'],
  ['r-e.webp', 'webp'],
  ['r-f.jpg', 'jpeg'],
] as const;
// Small originals and renders: the whole file runs in well under three minutes on two shared
// cores with every request mirrored and compared.
// Interleaved (each width of every original in turn), so that any two seconds of traffic reach every original.
const VARIANTS = Array.from({ length: 60 }, (_, i) => ORIGINALS.map(([name]) => `/image/files/${name}?w=${40 + 2 * i}`)).flat();

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'rollout-int-'));
  legacyDir = path.join(work, 'originals-legacy');
  serviceDir = path.join(work, 'originals-service');
  mkdirSync(legacyDir, { recursive: true });
  mkdirSync(serviceDir, { recursive: true });
  for (const [i, [name, format]] of ORIGINALS.entries()) {
    const img = await photoRaw(320, 240, 40 + i);
    writeFileSync(path.join(legacyDir, name), await img[format]({ quality: 90 }).toBuffer());
    copyFileSync(path.join(legacyDir, name), path.join(serviceDir, name));
  }
  const sinkPort = await freePort();
  stack = await startStack({
    storageDir: legacyDir,
    runDir: path.join(work, 'stack'),
    share: 0,
    shadowSink: `127.0.0.1:${sinkPort}`,
    cutover: { shadow_sample: 50 },
    serviceEnv: { STORAGE_URL: pathToFileURL(serviceDir).href },
  });
  stops.push(() => stack.stop());
  results = path.join(work, 'shadow/results.jsonl');
  mkdirSync(path.dirname(results), { recursive: true });
  sink = startProcess('gateway shadow', process.execPath, [
    gatewayBin,
    'shadow',
    '--listen',
    `127.0.0.1:${sinkPort}`,
    '--legacy',
    stack.legacy.url,
    '--new',
    stack.service.url,
    '--out',
    results,
    '--concurrency',
    '2',
    '--nice',
    '0',
  ]);
  stops.push(() => sink.stop());
  await waitForHttp(`http://127.0.0.1:${sinkPort}/healthz`, { process: sink });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Writes the rollout block into the stack's cutover file (the controller re-reads it each tick). */
function setRollout(rollout: Record<string, unknown>): void {
  const doc = parseDocument(readFileSync(stack.cutoverFile, 'utf8'));
  const i = (doc.toJS() as { routes: Array<{ name: string }> }).routes.findIndex((r) => r.name === 'images');
  doc.setIn(['routes', i, 'rollout'], doc.createNode({ shadow_results: results, ...rollout }));
  writeFileSync(stack.cutoverFile, doc.toString());
}

const cli = (...args: string[]) =>
  run(process.execPath, [gatewayBin, ...args, '--file', stack.cutoverFile, '--run-dir', stack.frontDoor.runDir], { cwd: projectRoot }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const paths = () => rolloutPaths(stack.frontDoor.runDir, 'images');
const state = () => readStateFile(paths())?.state;
const audit = (): AuditRecord[] => readAudit(paths());

/** The controller of the running test; the next reset stops it even when that test failed. */
let current: Managed | undefined;

/** A clean slate: no controller, share 0, no rollout state, an empty results file. */
async function reset(): Promise<void> {
  await current?.stop();
  const r = await cli('set', 'images', '0');
  expect(r.code, r.stderr).toBe(0);
  rmSync(paths().dir, { recursive: true, force: true });
  truncateSync(results, 0);
}

async function startController(metricsPort?: number): Promise<Managed> {
  const proc = startProcess('gateway rollout run', process.execPath, [
    gatewayBin,
    'rollout',
    'run',
    'images',
    '--file',
    stack.cutoverFile,
    '--run-dir',
    stack.frontDoor.runDir,
    '--metrics-listen',
    metricsPort ? `127.0.0.1:${metricsPort}` : 'off',
  ]);
  stops.push(() => proc.stop());
  current = proc;
  return proc;
}

async function waitFor(what: string, ok: () => boolean, timeoutMs: number, proc?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; audit:\n${audit()
          .map((r) => `${r.decision}: ${r.reason}`)
          .join('\n')}\n${proc?.output() ?? ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Seen {
  at: number;
  uri: string;
  status: number;
  backend: string;
  fallback: boolean;
  error?: string;
}

/**
 * One GET on a fresh connection. A reload closes the old workers' idle keep-alive connections,
 * and a request written onto one at that moment is lost unless the client retries it
 * (frontdoor-reload.int.test.ts measures it, and what real clients do); a fresh connection is
 * never affected, so every failure counted here is the front door's or a backend's.
 */
function get(url: string): Promise<{ status: number; backend: string; fallback: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, backend: String(res.headers['x-image-backend'] ?? ''), fallback: res.headers['x-image-fallback'] === '1' }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Two closed loops of GETs through the front door until stop(); every answer recorded (a failed request is status 0, with its error). */
function load(): { seen: Seen[]; stop(): Promise<void> } {
  const seen: Seen[] = [];
  let stopping = false;
  let n = 0;
  const worker = async () => {
    // Bounded: at most 20 000 requests per run, whatever happens to stop().
    for (let i = 0; i < 10_000 && !stopping; i++) {
      const uri = VARIANTS[n++ % VARIANTS.length]!;
      try {
        seen.push({ at: Date.now(), uri, ...(await get(`${stack.frontDoor.url}${uri}`)) });
      } catch (err) {
        seen.push({ at: Date.now(), uri, status: 0, backend: '', fallback: false, error: String(err) });
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  const workers = [worker(), worker()];
  return {
    seen,
    async stop() {
      stopping = true;
      await Promise.all(workers);
    },
  };
}

const advances = (records: AuditRecord[]) => records.filter((r) => r.decision === 'start' || r.decision === 'advance').map((r) => r.applied);

describe('rollout on the real stack', () => {
  it('the variants reach new at the first step (the precondition of the next tests)', () => {
    const atOne = VARIANTS.filter((uri) => splitClients(uri, splitBuckets(1)) === 'new');
    expect(atOne.length).toBeGreaterThanOrEqual(2);
  });

  it('a healthy new service goes 0 -> 100 through every step, with no client error, and sticky variants', async () => {
    await reset();
    setRollout({
      steps: [1, 5, 25, 50, 100],
      interval: `${INTERVAL_S}s`,
      min_requests: 5,
      failure_limit: 2,
      gates: { parity_min: 0.95, error_rate_max: 0.02, p99_ratio_max: 5, shed_rate_max: 0.02 },
    });
    const traffic = load();
    const metricsPort = await freePort();
    const controller = await startController(metricsPort);
    try {
      await waitFor('the rollout to complete', () => state()?.status === 'completed' || state()?.status === 'rolled_back', 120_000, controller);
    } finally {
      await traffic.stop();
    }
    expect(
      state(),
      audit()
        .map((r) => r.reason)
        .join('\n'),
    ).toMatchObject({ status: 'completed', share: 100, step: 4 });
    expect(advances(audit())).toEqual([1, 5, 25, 50, 100]);
    expect(audit().filter((r) => r.decision === 'fail' || r.decision === 'rollback')).toEqual([]);
    const story = audit().map(
      (r) => `  ${r.decision} at ${r.step.share}%: ${r.reason}${r.gates ? ` [${r.gates.map((g) => `${g.gate} ${g.value?.toFixed(3)}`).join(', ')}]` : ''}`,
    );
    const errors = traffic.seen.filter((s) => s.status !== 200);
    console.log(`healthy rollout, ${traffic.seen.length} requests, ${errors.length} errors:\n${story.join('\n')}`);
    expect(errors, JSON.stringify(errors.slice(0, 5))).toEqual([]);
    expect((await cli('status')).stdout).toMatch(/rollouts:\n {2}images: completed, step 5 of 5 \(100%\)/);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('gateway_rollout_share{route="images"} 100');
    expect(metrics).toContain('gateway_rollout_status{route="images",status="completed"} 1');
    // Stickiness across the steps: a variant new served (not as a fallback) is never served by
    // legacy afterwards. (Times are completion times: a request an old worker, on the smaller
    // share, was still serving at a reload may finish just after one a new worker served; 1 s covers that.)
    const firstOnNew = new Map<string, number>();
    for (const s of traffic.seen) if (s.backend === 'new' && !firstOnNew.has(s.uri)) firstOnNew.set(s.uri, s.at);
    const movedBack = traffic.seen.filter((s) => s.backend === 'legacy' && !s.fallback && (firstOnNew.get(s.uri) ?? Infinity) < s.at - 1000);
    expect(firstOnNew.size).toBeGreaterThan(10);
    expect(movedBack.map((s) => s.uri)).toEqual([]);
    await controller.stop();
  });

  it('with no traffic the rollout holds and says why; a manual set pauses it; the operator commands work', async () => {
    await reset();
    setRollout({ steps: [5, 50, 100], interval: `${INTERVAL_S}s`, min_requests: 5, gates: { parity_min: 0.95, error_rate_max: 0.02 } });
    const controller = await startController();
    await waitFor('two holds', () => audit().filter((r) => r.decision === 'hold').length >= 2, 30_000, controller);
    const hold = audit().find((r) => r.decision === 'hold')!;
    expect(hold.reason).toMatch(/^too little traffic to judge: 0 of 5 requests on new, 0 of 5 mirrored pairs since /);
    expect(state()).toMatchObject({ status: 'running', step: 0, share: 5 });
    expect((await cli('rollout', 'status', 'images')).stdout).toContain('last decision: hold');

    const set = await cli('set', 'images', '30');
    expect(set.code).toBe(0);
    expect(set.stderr).toContain("the rollout of images is paused at step 1 (5%): a manual 'gateway set images 30' overrides it");
    expect(state()).toMatchObject({ status: 'paused' });
    expect((await cli('rollout', 'resume', 'images')).stdout).toContain('resume at step 1 (5%) -> 5%: resumed at step 1 of 3 (5%)');
    expect((await cli('rollout', 'promote', 'images')).stdout).toContain('-> 50%');
    expect((await cli('rollout', 'restart', 'images')).stderr).toContain('abort it first');
    expect((await cli('rollout', 'abort', 'images')).stdout).toContain('-> 0%');
    expect((await cli('rollout', 'restart', 'images')).stdout).toContain('-> 5%');
    expect((await cli('status', '--json')).stdout).toContain('"share": 5');
    expect(audit().map((r) => r.decision)).toEqual(expect.arrayContaining(['start', 'hold', 'pause', 'resume', 'promote', 'abort', 'restart']));
    await controller.stop();
  });

  it('killing and restarting the controller mid-rollout neither repeats nor skips a step (supervised as under npm start)', async () => {
    await reset();
    setRollout({ steps: [5, 25, 50, 100], interval: `${INTERVAL_S}s`, min_requests: 5, gates: { error_rate_max: 0.02 } });
    const traffic = load();
    // What npm start runs (stack/stack.ts): the controller as a supervised part, restarted when it exits.
    const logs: string[] = [];
    const supervised = startRolloutControllers({
      routes: ['images'],
      cutoverFile: stack.cutoverFile,
      runDir: stack.frontDoor.runDir,
      metricsPort: await freePort(),
      log: (l) => logs.push(l),
    });
    stops.push(() => supervised.stop());
    const kills: number[] = [];
    try {
      for (const step of [1, 2]) {
        // Killed right after a step changed, and again mid-interval.
        await waitFor(`step ${step + 1}`, () => (state()?.step ?? 0) >= step, 60_000);
        if (step === 2) await new Promise((r) => setTimeout(r, (INTERVAL_S * 1000) / 2));
        const pid = supervised.pids()['rollout controller (images)']!;
        process.kill(-pid, 'SIGKILL');
        kills.push(pid);
        await waitFor('the restart', () => supervised.pids()['rollout controller (images)'] !== pid, 30_000);
      }
      await waitFor('the rollout to complete', () => state()?.status === 'completed', 60_000);
    } finally {
      await supervised.stop();
      await traffic.stop();
    }
    expect(logs.filter((l) => /rollout controller \(images\).*killed by SIGKILL/.test(l))).toHaveLength(2);
    expect(advances(audit())).toEqual([5, 25, 50, 100]);
    expect(audit().map((r) => r.seq)).toEqual(audit().map((_, i) => i + 1));
    expect(traffic.seen.filter((s) => s.status !== 200)).toEqual([]);
  });

  it('a new service that starts returning wrong colours for one original is rolled back within failure_limit intervals, parity named', async () => {
    await reset();
    setRollout({ steps: [25, 50, 100], interval: `${INTERVAL_S}s`, min_requests: 5, failure_limit: 2, gates: { parity_min: 0.95, error_rate_max: 0.02 } });
    const traffic = load();
    const defective = path.join(serviceDir, 'r-b.jpg');
    try {
      const controller = await startController();
      await waitFor('step 2', () => (state()?.step ?? 0) >= 1, 60_000, controller);
      // Same size and format, red and blue swapped: only the pixels are wrong.
      const swapped = await sharp(path.join(legacyDir, 'r-b.jpg'))
        .recomb([
          [0, 0, 1],
          [0, 1, 0],
          [1, 0, 0],
        ])
        .jpeg({ quality: 90 })
        .toBuffer();
      writeFileSync(`${defective}.tmp`, swapped);
      renameSync(`${defective}.tmp`, defective);
      const plantedAt = Date.now();
      await waitFor('the rollback', () => state()?.status === 'rolled_back' || state()?.status === 'completed', 60_000, controller);
      const records = audit();
      const rollback = records.at(-1)!;
      const story = records.map((r) => `${r.time} ${r.decision} ${r.reason} pairs ${r.evidence?.pairs} mismatched ${r.evidence?.mismatches}`);
      expect(rollback.decision, `defect at ${new Date(plantedAt).toISOString()}\n${story.join('\n')}`).toBe('rollback');
      expect(rollback.reason).toMatch(/^rolled back: parity [0-9.]+ \(min 0\.95\)/);
      expect(rollback.gates!.find((g) => g.gate === 'parity')).toMatchObject({ ok: false, threshold: 0.95 });
      // Within failure_limit intervals of the defect (plus the interval whose window the defect split, and the sink's lag).
      const after = records.filter((r) => Date.parse(r.time) > plantedAt);
      expect(after.filter((r) => r.decision === 'advance')).toEqual([]);
      const checks = after.filter((r) => r.decision === 'fail' || r.decision === 'rollback' || r.decision === 'hold').length;
      console.log(`planted colour defect: rolled back ${Date.parse(rollback.time) - plantedAt} ms after it, ${checks} checks later (${rollback.reason})`);
      expect(Date.parse(rollback.time) - plantedAt).toBeLessThan((2 + 1) * INTERVAL_S * 1000 + 1500);
      const running = await fetch(`${stack.frontDoor.url}/image/files/r-a.jpg?w=77`);
      await running.arrayBuffer();
      expect(running.headers.get('x-image-backend')).toBe('legacy'); // share 0 applied
      await controller.stop();
    } finally {
      await traffic.stop();
      copyFileSync(path.join(legacyDir, 'r-b.jpg'), defective);
    }
  });

  it('a new service that is killed is rolled back the same way, with 0 client errors thanks to the fallback', async () => {
    await reset();
    setRollout({ steps: [25, 50, 100], interval: `${INTERVAL_S}s`, min_requests: 5, failure_limit: 2, gates: { parity_min: 0.95, error_rate_max: 0.02 } });
    const traffic = load();
    try {
      const controller = await startController();
      await waitFor('step 2', () => (state()?.step ?? 0) >= 1, 60_000, controller);
      process.kill(-stack.service.process.pid, 'SIGKILL');
      const killedAt = Date.now();
      await waitFor('the rollback', () => state()?.status === 'rolled_back' || state()?.status === 'completed', 60_000, controller);
      const rollback = audit().at(-1)!;
      expect(rollback.decision, rollback.reason).toBe('rollback');
      expect(rollback.gates!.find((g) => g.gate === 'error_rate')).toMatchObject({ ok: false });
      expect(rollback.evidence!.fallbacks).toBeGreaterThan(0);
      console.log(`killed service: rolled back ${Date.parse(rollback.time) - killedAt} ms after the kill (${rollback.reason})`);
      expect(Date.parse(rollback.time) - killedAt).toBeLessThan((2 + 1) * INTERVAL_S * 1000 + 1500);
      await controller.stop();
    } finally {
      await traffic.stop();
    }
    const errors = traffic.seen.filter((s) => s.status !== 200);
    expect(errors, JSON.stringify(errors.slice(0, 5))).toEqual([]);
    expect(traffic.seen.some((s) => s.fallback)).toBe(true);
  });
});
