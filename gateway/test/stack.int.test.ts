/**
 * The whole stack from one command: support/stack.ts, and `npm start`'s script (scripts/stack.ts)
 * run as a user runs it, with other ports and its own runtime directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../support/fixtures.ts';
import { freePort, startProcess, type Managed } from '../../support/process.ts';
import { deriveCutoverText, shippedCutoverFile, startStack, type RunningStack } from '../../support/stack.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { queryRunningPlan } from '../src/nginx/apply.ts';

const run = promisify(execFile);
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('deriveCutoverText', () => {
  it("is the shipped file with this stack's addresses and share written in, comments kept", () => {
    const shipped = readFileSync(shippedCutoverFile, 'utf8');
    const text = deriveCutoverText(shipped, { listen: '127.0.0.1:1001', legacy: '127.0.0.1:1002', backend: '127.0.0.1:1003', share: 30, cutover: { timeout_ms: 700 } });
    expect(parseCutover(text)).toMatchObject({ listen: '127.0.0.1:1001', legacy: '127.0.0.1:1002', routes: [{ backend: '127.0.0.1:1003', share: 30, timeout_ms: 700 }] });
    expect(parseCutover(text).shadow_sink).toBeUndefined();
    expect(text).toContain('# 0..100, percent of variants sent to the new service');
    expect(text.split('\n').length).toBe(shipped.split('\n').length - 1); // only the shadow_sink line went
  });
});

describe('startStack', () => {
  let stack: RunningStack;
  it('starts legacy, the image service and the front door, on a cutover file of its own', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'stack-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    mkdirSync(path.join(work, 'originals'));
    await sharp({ create: { width: 8, height: 6, channels: 3, background: '#777' } })
      .png()
      .toFile(path.join(work, 'originals/tiny.png'));
    stack = await startStack({ storageDir: path.join(work, 'originals'), runDir: path.join(work, 'run'), share: 100, legacyChildren: 1 });
    cleanups.push(() => stack.stop());
    expect(stack.cutoverFile).toBe(path.join(work, 'run/cutover.yaml'));
    expect(parseCutover(readFileSync(stack.cutoverFile, 'utf8')).routes[0]!.share).toBe(100);
    const hot = await fetch(`${stack.frontDoor.url}/image/files/tiny.png?w=4`);
    expect([hot.status, hot.headers.get('x-image-backend')]).toEqual([200, 'new']);
    const health = await fetch(`${stack.frontDoor.url}/image/health`);
    expect([health.status, health.headers.get('x-image-backend')]).toEqual([200, 'legacy']);
    expect((await fetch(`${stack.legacy.url}/image/health`)).status).toBe(200);
    expect((await fetch(`${stack.service.url}/healthz`)).status).toBe(200);
  });

  it('stop() stops all of it', async () => {
    const pids = [...stack.frontDoor.pids(), ...stack.legacy.pids(), stack.service.process.pid];
    expect(pids.length).toBeGreaterThanOrEqual(5); // nginx master + worker, FPM master + child, legacy nginx, node
    await stack.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(pids.filter(alive)).toEqual([]);
    for (const port of [stack.frontDoor.port, stack.legacy.port, stack.service.port]) expect(await refused(port)).toBe(true);
  });
});

describe('npm start (scripts/stack.ts)', () => {
  let proc: Managed;
  let varDir: string;
  const ports = { front: 0, legacy: 0, service: 0 };

  it('seeds, starts all three on the shipped cutover file with other ports, and prints where everything is', async () => {
    varDir = mkdtempSync(path.join(os.tmpdir(), 'npm-start-'));
    cleanups.push(() => rmSync(varDir, { recursive: true, force: true }));
    ports.front = await freePort();
    ports.legacy = await freePort();
    ports.service = await freePort();
    proc = startProcess('npm-start', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/stack.ts')], {
      cwd: projectRoot,
      env: { ...process.env, STACK_VAR_DIR: varDir, FRONT_PORT: String(ports.front), LEGACY_PORT: String(ports.legacy), SERVICE_PORT: String(ports.service) },
    });
    cleanups.push(() => proc.stop());
    const deadline = Date.now() + 150_000;
    while (!proc.output().includes('stack: ready')) {
      if (proc.child.exitCode !== null) throw new Error(`scripts/stack.ts exited with ${proc.child.exitCode}:\n${proc.output()}`);
      if (Date.now() > deadline) throw new Error(`scripts/stack.ts not ready:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const out = proc.output();
    expect(out).toContain(`front door     http://127.0.0.1:${ports.front}`);
    expect(out).toContain(`legacy         http://127.0.0.1:${ports.legacy}`);
    expect(out).toContain(`image service  http://127.0.0.1:${ports.service}`);
    expect(out).toContain('images: GET,HEAD /image/files/ -> 0% to the new service');
    expect(out).toContain(`npx gateway set images 10 --run-dir ${path.join(varDir, 'run/frontdoor')}`);
    expect(out).toMatch(/curl -sI 'http:\/\/127\.0\.0\.1:\d+\/image\/files\/gen-photo-1920x1280\.jpg\?w=400'/);
    expect(existsSync(path.join(varDir, 'originals/gen-photo-1920x1280.jpg'))).toBe(true);
  });

  it('serves per the shipped file: share 0 (legacy), the override header pins new', async () => {
    const front = `http://127.0.0.1:${ports.front}`;
    const a = await fetch(`${front}/image/files/gen-photo-777x555.png?w=100`);
    expect([a.status, a.headers.get('x-image-backend')]).toEqual([200, 'legacy']);
    await a.arrayBuffer();
    const b = await fetch(`${front}/image/files/gen-photo-777x555.png?w=100`, { headers: { 'X-Image-Backend': 'new' } });
    expect([b.status, b.headers.get('x-image-backend'), b.headers.get('content-type')]).toEqual([200, 'new', 'image/png']);
    await b.arrayBuffer();
  });

  it('`gateway apply` with only --run-dir renders with the ports the stack runs on (recorded in the run dir)', async () => {
    const runDir = path.join(varDir, 'run/frontdoor');
    expect(JSON.parse(readFileSync(path.join(runDir, 'addresses.json'), 'utf8'))).toEqual({
      listen: `127.0.0.1:${ports.front}`,
      legacy: `127.0.0.1:${ports.legacy}`,
      backend: `127.0.0.1:${ports.service}`,
    });
    const { stdout } = await run(process.execPath, [path.join(projectRoot, 'gateway/bin/gateway.js'), 'apply', '--run-dir', runDir], { cwd: projectRoot });
    expect(stdout).toContain('nginx reloaded');
    const plan = (await queryRunningPlan(runDir))!.plan;
    expect([plan.listen, plan.legacy, plan.routes.images!.backend]).toEqual([`127.0.0.1:${ports.front}`, `127.0.0.1:${ports.legacy}`, `127.0.0.1:${ports.service}`]);
    expect((await fetch(`http://127.0.0.1:${ports.front}/image/health`)).status).toBe(200);
  });

  it('SIGTERM stops everything it started, and it exits 0', async () => {
    const nginxMaster = Number(readFileSync(path.join(varDir, 'run/frontdoor/nginx.pid'), 'utf8'));
    expect(alive(nginxMaster)).toBe(true);
    process.kill(proc.pid, 'SIGTERM');
    const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(0);
    expect(proc.output()).toContain('stack: stopped');
    expect(alive(nginxMaster)).toBe(false);
    for (const port of Object.values(ports)) expect(await refused(port)).toBe(true);
  });
});
