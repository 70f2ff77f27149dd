/**
 * The whole stack from one command: stack/stack.ts, and `npm start`'s script (scripts/stack.ts)
 * run as a user runs it, with other ports and its own runtime directory.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { freePort, startProcess, type Managed } from '../../stack/process.ts';
import { deriveCutoverText, shippedCutoverFile, startStack, type RunningStack } from '../../stack/stack.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { queryRunningPlan } from '../src/nginx/control-socket.ts';
import { childrenOf } from '../src/nginx/master.ts';

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

/** scripts/stack.ts run to its end (a refusal): exit code and stderr. */
const runStackScript = (env: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/stack.ts')], { cwd: projectRoot, env, timeout: 60_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );

/** Resolves once scripts/stack.ts has printed "stack: ready"; throws with its output if it exits or takes longer. */
async function untilReady(proc: Managed, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.output().includes('stack: ready')) {
    if (proc.child.exitCode !== null) throw new Error(`scripts/stack.ts exited with ${proc.child.exitCode}:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`scripts/stack.ts not ready:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const accessLines = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
    : [];

/**
 * Sends one request and returns its status with the backend the access log names for it: nginx
 * writes the line after the response has gone out, so it is waited for. Debug headers are off in
 * the shipped file: the log is what says who served.
 */
async function viaFrontDoor(url: string, accessLog: string, headers: Record<string, string> = {}): Promise<[number, string]> {
  // Found by its own request id: the line of the request before may still be on its way to the
  // log (nginx logs after the response has gone), so "the next line" could be someone else's.
  const id = randomUUID();
  const res = await fetch(url, { headers: { ...headers, 'x-request-id': id } });
  await res.arrayBuffer();
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = accessLines(accessLog)
      .map((l) => JSON.parse(l) as { backend: string; request_id: string })
      .find((l) => l.request_id === id);
    if (line) return [res.status, line.backend];
    if (Date.now() > deadline) throw new Error(`no access-log line for ${url} in ${accessLog}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
    const text = deriveCutoverText(shipped, {
      listen: '127.0.0.1:1001',
      legacy: '127.0.0.1:1002',
      backend: '127.0.0.1:1003',
      share: 30,
      cutover: { timeout_ms: 700 },
    });
    expect(parseCutover(text)).toMatchObject({
      listen: '127.0.0.1:1001',
      legacy: '127.0.0.1:1002',
      routes: [{ backend: ['127.0.0.1:1003'], share: 30, timeout_ms: 700 }],
    });
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
    expect(await viaFrontDoor(`${stack.frontDoor.url}/image/health`, stack.frontDoor.accessLog)).toEqual([200, 'legacy']);
    expect((await fetch(`${stack.legacy.url}/image/health`)).status).toBe(200);
    expect((await fetch(`${stack.service.adminUrl}/healthz`)).status).toBe(200);
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
    await untilReady(proc, 150_000);
    const out = proc.output();
    expect(out).toContain(`front door     http://127.0.0.1:${ports.front}`);
    expect(out).toContain(`legacy         http://127.0.0.1:${ports.legacy}`);
    expect(out).toContain(`image service  http://127.0.0.1:${ports.service}`);
    expect(out).toContain('images: GET,HEAD /image/files/ -> 0% to the new service');
    expect(out).toContain(`npx gateway set images 10 --run-dir ${path.join(varDir, 'run/frontdoor')}`);
    expect(out).toMatch(/curl -sI 'http:\/\/127\.0\.0\.1:\d+\/image\/files\/gen-photo-1920x1280\.jpg\?w=400'/);
    expect(existsSync(path.join(varDir, 'originals/gen-photo-1920x1280.jpg'))).toBe(true);
  });

  it('serves per the shipped file: share 0 (legacy); the override header is off there, so it pins nothing', async () => {
    const front = `http://127.0.0.1:${ports.front}`;
    const accessLog = path.join(varDir, 'run/frontdoor/logs/access.log');
    expect(await viaFrontDoor(`${front}/image/files/gen-photo-777x555.png?w=100`, accessLog)).toEqual([200, 'legacy']);
    expect(await viaFrontDoor(`${front}/image/files/gen-photo-777x555.png?w=100`, accessLog, { 'X-Image-Backend': 'new' })).toEqual([200, 'legacy']);
  });

  it('`gateway apply` with only --run-dir renders with the ports the stack runs on (recorded in the run dir)', async () => {
    const runDir = path.join(varDir, 'run/frontdoor');
    expect(JSON.parse(readFileSync(path.join(runDir, 'addresses.json'), 'utf8'))).toEqual({
      listen: `127.0.0.1:${ports.front}`,
      legacy: `127.0.0.1:${ports.legacy}`,
      backend: [`127.0.0.1:${ports.service}`],
    });
    const { stdout } = await run(process.execPath, [path.join(projectRoot, 'gateway/bin/gateway.js'), 'apply', '--run-dir', runDir], { cwd: projectRoot });
    expect(stdout).toContain('nginx reloaded');
    const plan = (await queryRunningPlan(runDir))!.plan;
    expect([plan.listen, plan.legacy, plan.routes.images!.backend]).toEqual([
      `127.0.0.1:${ports.front}`,
      `127.0.0.1:${ports.legacy}`,
      [`127.0.0.1:${ports.service}`],
    ]);
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

describe('npm start supervises its parts (CUTOVER_FILE at share 100, fallback on)', () => {
  let proc: Managed;
  let work: string;
  let front: string;
  let servicePort = 0;
  let adminPort = 0;
  let legacyPort = 0;
  let all = '';
  const accessLog = () => path.join(work, 'var/run/frontdoor/logs/access.log');

  const waitForOutput = async (pattern: RegExp, timeoutMs: number, from = 0): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = all.slice(from).match(pattern);
      if (hit) return hit[0];
      if (proc.child.exitCode !== null) throw new Error(`scripts/stack.ts exited with ${proc.child.exitCode}:\n${proc.output()}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const servicePid = async () =>
    ((await (await fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(2000) })).json()) as { pid: number }).pid;
  /** A hot request sent now: its status and who served it. */
  const hotBackend = () => viaFrontDoor(`${front}/image/files/tiny.png?w=4`, accessLog());

  it('refuses a REQUEST_TIMEOUT_MS longer than the route lets the service take, IMAGE_SERVICE_REPLICAS out of 1..16 and a port in use, before starting anything', async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'npm-start-sup-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    mkdirSync(path.join(work, 'var/originals'), { recursive: true });
    await sharp({ create: { width: 8, height: 6, channels: 3, background: '#777' } })
      .png()
      .toFile(path.join(work, 'var/originals/tiny.png'));
    const ports = { front: await freePort(), legacy: await freePort(), service: await freePort() };
    servicePort = ports.service;
    legacyPort = ports.legacy;
    adminPort = await freePort();
    front = `http://127.0.0.1:${ports.front}`;
    const text = deriveCutoverText(readFileSync(shippedCutoverFile, 'utf8'), {
      listen: `127.0.0.1:${ports.front}`,
      legacy: `127.0.0.1:${ports.legacy}`,
      backend: `127.0.0.1:${ports.service}`,
      share: 100,
      cutover: { fallback: true, timeout_ms: 2000 },
    });
    writeFileSync(path.join(work, 'cutover.yaml'), text);
    // The ports are the file's; given again so that no run could ever fall back to the shipped 8080-8082.
    const env = {
      ...process.env,
      CUTOVER_FILE: path.join(work, 'cutover.yaml'),
      STACK_VAR_DIR: path.join(work, 'var'),
      STACK_SEED: 'false',
      FRONT_PORT: String(ports.front),
      LEGACY_PORT: String(ports.legacy),
      SERVICE_PORT: String(ports.service),
      ADMIN_PORT: String(adminPort),
    };
    const refusedRun = await runStackScript({ ...env, REQUEST_TIMEOUT_MS: '5000' });
    expect(refusedRun.code).toBe(2);
    expect(refusedRun.stderr).toContain(
      'REQUEST_TIMEOUT_MS=5000 is longer than the front door waits for the image service (route images: timeout_ms 2000); expected at most 1600',
    );
    expect(existsSync(path.join(work, 'var/run'))).toBe(false);
    const badReplicas = await runStackScript({ ...env, IMAGE_SERVICE_REPLICAS: '17' });
    expect(badReplicas.code).toBe(2);
    expect(badReplicas.stderr).toContain("IMAGE_SERVICE_REPLICAS: expected an integer from 1 to 16 (image-service processes behind the front door), got '17'");
    expect(existsSync(path.join(work, 'var/run'))).toBe(false);
    // A port another program holds (here the front door's): one line naming the part and the
    // variable that moves it, before legacy or the service is started.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(ports.front, '127.0.0.1', resolve));
    const portTaken = await runStackScript(env);
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    expect(portTaken.code).toBe(2);
    expect(portTaken.stderr).toContain(`port ${ports.front} on 127.0.0.1 (the front door) is already in use; stop what listens there, or set FRONT_PORT`);
    expect(existsSync(path.join(work, 'var/run'))).toBe(false);

    proc = startProcess('npm-start', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/stack.ts')], { cwd: projectRoot, env });
    // The whole output: proc.output() keeps only the last 200 lines, and the marks below are offsets into this.
    proc.child.stdout!.on('data', (c: Buffer) => (all += c.toString()));
    proc.child.stderr!.on('data', (c: Buffer) => (all += c.toString()));
    cleanups.push(() => proc.stop());
    await waitForOutput(/stack: ready/, 150_000);
    expect(all).toContain('images: GET,HEAD /image/files/ -> 100% to the new service, fallback to legacy');
    expect(all).toContain('request deadline 1600 ms');
    expect(await hotBackend()).toEqual([200, 'new']);
  });

  it('kill -9 of the image service: one log line, restarted on its port, the stack still up (legacy serves meanwhile)', async () => {
    const before = await servicePid();
    const mark = all.length;
    process.kill(before, 'SIGKILL');
    const line = await waitForOutput(/stack: the image service \(pid \d+\) killed by SIGKILL after [\d.]+ s up; restarting it in 0\.5 s/, 10_000, mark);
    expect(line).toContain(`(pid ${before})`);
    expect(await hotBackend()).toEqual([200, 'legacy']); // the front door falls back while it is down
    await waitForOutput(/stack: the image service is up again \(pid \d+/, 30_000, mark);
    expect(await servicePid()).not.toBe(before);
    expect(await hotBackend()).toEqual([200, 'new']);
    expect(proc.child.exitCode).toBeNull();
  });

  it('a hung image service (SIGSTOP) misses its health checks, is killed and restarted', async () => {
    const before = await servicePid();
    const mark = all.length;
    process.kill(before, 'SIGSTOP');
    await waitForOutput(new RegExp(`stack: the image service \\(pid ${before}\\) did not answer its health check 3 times in a row`), 15_000, mark);
    await waitForOutput(/stack: the image service is up again/, 40_000, mark);
    expect(alive(before)).toBe(false);
    expect(await hotBackend()).toEqual([200, 'new']);
  });

  it('a hung front door (its worker stopped: no request answered) misses its health checks on the control socket, is killed and restarted', async () => {
    const master = Number(readFileSync(path.join(work, 'var/run/frontdoor/nginx.pid'), 'utf8'));
    const workers = childrenOf(master);
    expect(workers.length).toBeGreaterThan(0);
    const mark = all.length;
    for (const w of workers) process.kill(w, 'SIGSTOP');
    await waitForOutput(new RegExp(`stack: the front door's nginx \\(pid ${master}\\) did not answer its health check 3 times in a row`), 15_000, mark);
    await waitForOutput(/stack: the front door's nginx is up again/, 30_000, mark);
    expect(alive(master)).toBe(false);
    for (const w of workers) expect(alive(w)).toBe(false);
    expect(await hotBackend()).toEqual([200, 'new']);
  });

  it("kill -9 of the front door's nginx master, of legacy's PHP-FPM and of legacy's nginx: each restarted", async () => {
    const master = Number(readFileSync(path.join(work, 'var/run/frontdoor/nginx.pid'), 'utf8'));
    const mark = all.length;
    process.kill(master, 'SIGKILL');
    await waitForOutput(/stack: the front door's nginx is up again/, 30_000, mark);
    expect(await hotBackend()).toEqual([200, 'new']);
    const fpm = Number(readFileSync(path.join(work, 'var/run/legacy/php-fpm.pid'), 'utf8'));
    process.kill(fpm, 'SIGKILL');
    await waitForOutput(/stack: the legacy's PHP-FPM is up again/, 30_000, mark);
    expect((await fetch(`${front}/image/health`)).status).toBe(200);
    const legacyNginx = Number(readFileSync(path.join(work, 'var/run/legacy/nginx.pid'), 'utf8'));
    process.kill(legacyNginx, 'SIGKILL');
    await waitForOutput(new RegExp(`stack: the legacy's nginx \\(pid ${legacyNginx}\\) killed by SIGKILL`), 10_000, mark);
    await waitForOutput(/stack: the legacy's nginx is up again/, 30_000, mark);
    expect(await viaFrontDoor(`${front}/image/health`, accessLog())).toEqual([200, 'legacy']);
  });

  it('SIGKILL of npm start itself: every part stops anyway (parent-death signal), workers included, every port freed', async () => {
    const runDir = path.join(work, 'var/run');
    const pids = () => readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d));
    const read = (file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    // Each part leads a process group of its own (its workers are in it): the leaders are the
    // service and the masters, whose command lines name this stack's run dir.
    const leaders = new Set([String(await servicePid()), ...pids().filter((p) => read(`/proc/${p}/cmdline`).includes(runDir))]);
    const groupOf = (p: string) => read(`/proc/${p}/stat`).split(') ')[1]?.split(' ')[2];
    const members = () => pids().filter((p) => leaders.has(groupOf(p) ?? ''));
    expect(leaders.size).toBe(4); // the service, legacy's nginx and PHP-FPM, the front door's nginx
    expect(members().length).toBeGreaterThan(leaders.size); // and their workers
    process.kill(proc.pid, 'SIGKILL');
    await proc.exited;
    const deadline = Date.now() + 20_000;
    while (members().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(members()).toEqual([]);
    for (const port of [servicePort, adminPort, legacyPort, Number(new URL(front).port)]) expect(await refused(port)).toBe(true);
  });
});

describe('npm start and a closed terminal', () => {
  it('SIGHUP stops everything it started, exit 0 (here the front door alone, as in a container)', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'npm-start-hup-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    const ports = { front: await freePort(), legacy: await freePort(), service: await freePort() };
    const proc = startProcess('npm-start', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/stack.ts')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        STACK_PARTS: 'frontdoor',
        STACK_VAR_DIR: path.join(work, 'var'),
        STACK_SEED: 'false',
        FRONT_PORT: String(ports.front),
        LEGACY_PORT: String(ports.legacy),
        SERVICE_PORT: String(ports.service),
      },
    });
    cleanups.push(() => proc.stop());
    await untilReady(proc, 60_000);
    const nginxMaster = Number(readFileSync(path.join(work, 'var/run/frontdoor/nginx.pid'), 'utf8'));
    expect(await refused(ports.front)).toBe(false);
    process.kill(proc.pid, 'SIGHUP');
    const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(0);
    expect(proc.output()).toContain('stack: SIGHUP; stopping frontdoor');
    expect(proc.output()).toContain('stack: stopped');
    expect(alive(nginxMaster)).toBe(false);
    expect(await refused(ports.front)).toBe(true);
  });
});

describe('gateway status: whether each backend is up, on real processes', () => {
  let stack: RunningStack;
  const status = async () => {
    const { stdout } = await run(
      process.execPath,
      [path.join(projectRoot, 'gateway/bin/gateway.js'), 'status', '--file', stack.cutoverFile, '--run-dir', path.join(stack.runDir, 'frontdoor')],
      {
        cwd: projectRoot,
        timeout: 30_000,
      },
    );
    const line = (name: string) => stdout.split('\n').find((l) => l.startsWith(`  ${name} `)) ?? `(no ${name} line in:\n${stdout})`;
    return { legacy: line('legacy'), images: line('images (new)') };
  };

  it('up (N ms) for both while they run', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'status-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    mkdirSync(path.join(work, 'originals'));
    stack = await startStack({ storageDir: path.join(work, 'originals'), runDir: path.join(work, 'run'), share: 100, legacyChildren: 1 });
    cleanups.push(() => stack.stop());
    const s = await status();
    expect(s.legacy).toMatch(new RegExp(`^  legacy +127\\.0\\.0\\.1:${stack.legacy.port} +up \\(\\d+ ms\\)$`));
    expect(s.images).toMatch(new RegExp(`^  images \\(new\\) +127\\.0\\.0\\.1:${stack.service.port} +up \\(\\d+ ms\\)$`));
  });

  it('a hung image service (SIGSTOP): not answering within 1 s; legacy still up', async () => {
    process.kill(stack.service.process.pid, 'SIGSTOP');
    const s = await status();
    expect(s.images).toMatch(/ not answering within 1 s$/);
    expect(s.legacy).toMatch(/ up \(\d+ ms\)$/);
  });

  it('a killed image service: down (connection refused)', async () => {
    process.kill(stack.service.process.pid, 'SIGKILL');
    await stack.service.process.exited;
    const s = await status();
    expect(s.images).toMatch(/ down \(connection refused\)$/);
    expect(s.legacy).toMatch(/ up \(\d+ ms\)$/);
  });
});
