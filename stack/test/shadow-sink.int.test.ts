/**
 * npm start runs the shadow sink when its cutover file mirrors: on `shadow_sink`, comparing legacy
 * with the new service, writing pairs the rollout controller's own reader (readPairsSince) reads;
 * supervised (a killed sink is restarted, the stack keeps serving) and stopped on shutdown. Without
 * shadow_sample no sink runs. Real nginx, PHP-FPM/Imagick, image service and `gateway shadow`.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { readPairsSince } from '../../gateway/src/rollout/gather.ts';
import { photoRaw } from '../../support/fixtures.ts';
import { freePort, startProcess, type Managed } from '../process.ts';
import { deriveCutoverText, shippedCutoverFile, startStack } from '../stack.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
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

/** The `gateway shadow` processes listening on `listen`, with their options (from /proc: the sink prints no pid). */
function sinks(listen: string): Array<{ pid: number; options: Record<string, string> }> {
  return readdirSync('/proc')
    .filter((d) => /^[0-9]+$/.test(d))
    .flatMap((d) => {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      } catch {
        return []; // gone meanwhile
      }
      const at = argv.indexOf('shadow');
      if (at < 0 || argv[argv.indexOf('--listen') + 1] !== listen) return [];
      const options = Object.fromEntries(argv.slice(at + 1).flatMap((a, i, all) => (a.startsWith('--') ? [[a.slice(2), all[i + 1] ?? '']] : [])));
      return [{ pid: Number(d), options }];
    });
}
const sinkPids = (listen: string) => sinks(listen).map((s) => s.pid);

async function until<T>(what: string, timeoutMs: number, f: () => T | undefined | Promise<T | undefined>, context = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const targets = ['photo.jpg?w=320', 'photo.jpg?w=160&format=webp', 'drawing.png?w=200'];

async function writeOriginals(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await (await photoRaw(900, 600, 1)).jpeg({ quality: 90 }).toFile(path.join(dir, 'photo.jpg'));
  await (await photoRaw(400, 300, 2)).png().toFile(path.join(dir, 'drawing.png'));
}

describe('npm start on a cutover file with shadow_sample 100 (share 100)', () => {
  let proc: Managed;
  let work: string;
  let front: string;
  let sinkListen: string;
  let all = '';
  const results = () => path.join(work, 'var/shadow/results.jsonl');
  const waitForOutput = (pattern: RegExp, timeoutMs: number, from = 0) =>
    until(
      `${pattern} in the output`,
      timeoutMs,
      () => all.slice(from).match(pattern)?.[0],
      () => all,
    );
  /** GETs every target through the front door; resolves with the pairs compared since `since`. */
  const mirrorAndWait = async (since: number) => {
    for (const t of targets) {
      const res = await fetch(`${front}/image/files/${t}`);
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    }
    return until(`${targets.length} pairs in ${results()}`, 30_000, () => {
      const pairs = readPairsSince(results(), 'images', since);
      return pairs.length >= targets.length ? pairs : undefined;
    });
  };

  it("starts the sink on shadow_sink and says so; mirrored GETs become pairs the rollout's reader reads, every one a match", async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'npm-start-shadow-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    await writeOriginals(path.join(work, 'var/originals'));
    const ports = { front: await freePort(), legacy: await freePort(), service: await freePort(), sink: await freePort() };
    front = `http://127.0.0.1:${ports.front}`;
    sinkListen = `127.0.0.1:${ports.sink}`;
    const text = deriveCutoverText(readFileSync(shippedCutoverFile, 'utf8'), {
      listen: `127.0.0.1:${ports.front}`,
      legacy: `127.0.0.1:${ports.legacy}`,
      backend: `127.0.0.1:${ports.service}`,
      share: 100,
      cutover: { shadow_sample: 100 },
      shadowSink: sinkListen,
    });
    writeFileSync(path.join(work, 'cutover.yaml'), text);
    proc = startProcess('npm-start', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/stack.ts')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        CUTOVER_FILE: path.join(work, 'cutover.yaml'),
        STACK_VAR_DIR: path.join(work, 'var'),
        STACK_SEED: 'false',
        ADMIN_PORT: String(await freePort()),
      },
    });
    proc.child.stdout!.on('data', (c: Buffer) => (all += c.toString()));
    proc.child.stderr!.on('data', (c: Buffer) => (all += c.toString()));
    cleanups.push(() => proc.stop());
    await waitForOutput(/stack: ready/, 120_000);
    expect(all).toContain(`shadow sink    http://${sinkListen}`);
    expect(all).toContain(`results ${results()}`);
    // Legacy against the (first) replica itself, not the front door: a fallback there would compare legacy with legacy.
    expect(sinks(sinkListen).map((s) => s.options)).toEqual([
      { listen: sinkListen, legacy: `http://127.0.0.1:${ports.legacy}`, new: `http://127.0.0.1:${ports.service}`, out: results(), 'results-max-mb': '64' },
    ]);

    const since = Date.now();
    const pairs = await mirrorAndWait(since);
    // PairFacts types only what the gates use; each line names its target too.
    expect(pairs.map((p) => (p as typeof p & { target: string }).target).sort()).toEqual(targets.map((t) => `/image/files/${t}`).sort());
    expect(pairs.map((p) => [p.verdict, p.legacy.status, p.new.status])).toEqual(targets.map(() => ['match', 200, 200]));
  });

  it('a killed sink is restarted on its address while the front door keeps serving; its new process compares again', async () => {
    const [before] = sinkPids(sinkListen);
    const mark = all.length;
    process.kill(before!, 'SIGKILL');
    await waitForOutput(new RegExp(`stack: the shadow sink \\(pid ${before}\\) killed by SIGKILL`), 10_000, mark);
    const res = await fetch(`${front}/image/files/${targets[0]}`); // served whether the sink is up or not
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    await waitForOutput(/stack: the shadow sink is up again/, 30_000, mark);
    expect(sinkPids(sinkListen)).not.toContain(before);
    const pairs = await mirrorAndWait(Date.now());
    expect(pairs.every((p) => p.verdict === 'match')).toBe(true);
    expect(proc.child.exitCode).toBeNull();
  });

  it('SIGTERM stops the sink with the rest, exit 0', async () => {
    const [sink] = sinkPids(sinkListen);
    expect(sink).toBeDefined();
    process.kill(proc.pid, 'SIGTERM');
    const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code).toBe(0);
    expect(all).toMatch(/stack: SIGTERM; stopping frontdoor, service, legacy, shadow sink/);
    expect(alive(sink!)).toBe(false);
    expect(await refused(Number(sinkListen.split(':')[1]))).toBe(true);
  });
});

describe('without shadow_sample, no sink runs', () => {
  it('startStack as npm start calls it, shadow_sink set but shadow_sample 0: no sink part, nothing on its port', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'stack-noshadow-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    await writeOriginals(path.join(work, 'originals'));
    const sinkPort = await freePort();
    const stack = await startStack({
      storageDir: path.join(work, 'originals'),
      runDir: path.join(work, 'run'),
      share: 100,
      legacyChildren: 1,
      shadowSink: `127.0.0.1:${sinkPort}`,
      cutover: { shadow_sample: 0 },
      runShadowSink: true,
    });
    cleanups.push(() => stack.stop());
    expect(stack.shadowSink).toBeUndefined();
    const res = await fetch(`${stack.frontDoor.url}/image/files/${targets[0]}`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    expect(sinkPids(`127.0.0.1:${sinkPort}`)).toEqual([]);
    expect(await refused(sinkPort)).toBe(true);
  });

  it('shadow_sample 100 but shadow_sink taken (a sink started by hand): none of its own, the stack serves', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'stack-taken-'));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    await writeOriginals(path.join(work, 'originals'));
    const sinkPort = await freePort();
    const holder = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => holder.listen(sinkPort, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const stack = await startStack({
      storageDir: path.join(work, 'originals'),
      runDir: path.join(work, 'run'),
      share: 100,
      legacyChildren: 1,
      shadowSink: `127.0.0.1:${sinkPort}`,
      cutover: { shadow_sample: 100 },
      runShadowSink: true,
    });
    cleanups.push(() => stack.stop());
    expect(stack.shadowSink).toBeUndefined();
    expect(sinkPids(`127.0.0.1:${sinkPort}`)).toEqual([]);
    const res = await fetch(`${stack.frontDoor.url}/image/files/${targets[0]}`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  });
});
