/**
 * The front door's nginx, as I/O: run directory layout, `nginx -t`, the atomic swap, reload and
 * its verification. Thin: every decision about what the config says is in render.ts.
 *
 * apply = read + validate the cutover file -> render -> write a temp file in the run dir ->
 * `nginx -t` on it -> keep the current nginx.conf as nginx.conf.prev -> rename the temp file over
 * nginx.conf -> SIGHUP the master -> ask the workers on the control socket which digest they run.
 * Any failure before the rename leaves everything as it was; a failure after it (nginx refused
 * the config on reload, or the new workers never answered) puts nginx.conf.prev back and reloads
 * it, so the file on disk and the running config agree again.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync, readSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressOverrides } from '../config.ts';
import { planCutover, type FrontDoorPlan, type PlanSummary } from '../cutover/plan.ts';
import { parseCutover, type CutoverFile } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import { controlSocketPath, renderNginxConfig, type RenderedConfig } from './render.ts';
import { loadTemplates } from './templates.ts';

const execFileAsync = promisify(execFile);

/** Where everything of one front door lives, inside its run directory (the nginx prefix). */
export interface FrontDoorPaths {
  runDir: string;
  conf: string;
  prevConf: string;
  pidFile: string;
  accessLog: string;
  errorLog: string;
  controlSocket: string;
  /** Deployment address overrides recorded at start (other ports than the cutover file's). */
  addressesFile: string;
  lockFile: string;
}

export function frontDoorPaths(runDir: string): FrontDoorPaths {
  const dir = path.resolve(runDir);
  return {
    runDir: dir,
    conf: path.join(dir, 'nginx.conf'),
    prevConf: path.join(dir, 'nginx.conf.prev'),
    pidFile: path.join(dir, 'nginx.pid'),
    accessLog: path.join(dir, 'logs/access.log'),
    errorLog: path.join(dir, 'logs/error.log'),
    controlSocket: controlSocketPath(dir),
    addressesFile: path.join(dir, 'addresses.json'),
    lockFile: path.join(dir, 'apply.lock'),
  };
}

export function prepareRunDir(runDir: string): FrontDoorPaths {
  const paths = frontDoorPaths(runDir);
  // sun_path holds 108 bytes; nginx would fail later with a less helpful message.
  if (Buffer.byteLength(paths.controlSocket) > 107) {
    throw new GatewayError('run_dir_too_long', `run directory path is too long for a unix socket (${paths.controlSocket}): expected at most 107 bytes; use a shorter --run-dir`);
  }
  for (const sub of ['logs', 'tmp']) mkdirSync(path.join(paths.runDir, sub), { recursive: true });
  return paths;
}

/** Writes `text` to `file` so that readers see the old or the new content, never half of it. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function readAddressOverrides(runDir: string): AddressOverrides {
  const file = frontDoorPaths(runDir).addressesFile;
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as AddressOverrides;
  } catch (err) {
    throw new GatewayError('invalid_run_dir', `${file} is not valid JSON: remove it or restart the front door`, { cause: err });
  }
}

export function writeAddressOverrides(runDir: string, overrides: AddressOverrides): void {
  const file = frontDoorPaths(runDir).addressesFile;
  if (Object.keys(overrides).length === 0) rmSync(file, { force: true });
  else writeFileAtomic(file, `${JSON.stringify(overrides, null, 2)}\n`);
}

export interface RenderedCutover {
  file: CutoverFile;
  plan: FrontDoorPlan;
  rendered: RenderedConfig;
}

/**
 * Cutover text -> validated plan -> rendered config. Address overrides: the environment's
 * (compose) win over the run directory's (npm start with other ports), which win over the file's.
 */
export function renderCutover(text: string, options: { source: string; runDir: string; envOverrides?: AddressOverrides }): RenderedCutover {
  const file = parseCutover(text, options.source);
  const overrides = { ...readAddressOverrides(options.runDir), ...(options.envOverrides ?? {}) };
  const plan = planCutover(file, overrides);
  // Under root, workers stay root: nginx would make them `nobody`, who cannot reach a run dir
  // inside a 0700 directory (see RenderOptions.user).
  const user = process.getuid?.() === 0 ? 'root' : undefined;
  const rendered = renderNginxConfig(plan, { templates: loadTemplates(), runDir: path.resolve(options.runDir), source: options.source, user });
  return { file, plan, rendered };
}

export function readCutoverText(cutoverFile: string): string {
  try {
    return readFileSync(cutoverFile, 'utf8');
  } catch (err) {
    throw new GatewayError('cutover_unreadable', `cannot read the cutover file ${cutoverFile}: ${(err as Error).message}`, { cause: err, exitCode: 2 });
  }
}

/** `nginx -t` on a config file; throws GatewayError('nginx_test_failed') with nginx's own words. */
export async function testNginxConfig(nginxBin: string, runDir: string, confFile: string): Promise<void> {
  try {
    await execFileAsync(nginxBin, ['-t', '-q', '-p', `${path.resolve(runDir)}/`, '-e', 'stderr', '-c', path.resolve(confFile)], { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new GatewayError('nginx_test_failed', `nginx rejected the rendered config (nginx -t):\n${detail}`, { cause: err });
  }
}

/** The master's pid when an nginx master runs for this run directory, else undefined. */
export function runningMasterPid(runDir: string): number | undefined {
  const { pidFile } = frontDoorPaths(runDir);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A stale pid file may name a pid that now belongs to something else.
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'nginx') return undefined;
  } catch {
    /* no /proc (not Linux): trust the pid file */
  }
  return pid;
}

/** What the serving workers report on the control socket: the digest and plan they run. */
export interface RunningPlan {
  digest: string;
  plan: PlanSummary;
}

export function queryRunningPlan(runDir: string, timeoutMs = 1000): Promise<RunningPlan | undefined> {
  const socketPath = frontDoorPaths(runDir).controlSocket;
  if (!existsSync(socketPath)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    // A fresh connection each time (agent: false): a kept-alive one could reach an old worker.
    const req = http.request({ socketPath, path: '/frontdoor/plan', agent: false, timeout: timeoutMs, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as RunningPlan) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Polls the control socket until the workers report `digest`; false on timeout, when nginx died, or when `failed()` says so. */
export async function waitForDigest(runDir: string, digest: string, timeoutMs: number, isAlive: () => boolean = () => true, failed: () => boolean = () => false): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const running = await queryRunningPlan(runDir);
    if (running?.digest === digest) return true;
    if (!isAlive() || failed()) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function readFrom(file: string, offset: number): string {
  try {
    const size = statSync(file).size;
    if (size <= offset) return '';
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(size - offset, 64 * 1024));
      readSync(fd, buf, 0, buf.length, Math.max(offset, size - buf.length));
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

const sizeOf = (file: string) => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

/** One apply at a time per run directory: two interleaved swaps could each restore the other's file. */
function acquireLock(paths: FrontDoorPaths): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(paths.lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(paths.lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(paths.lockFile, 'utf8').trim());
      let alive = false;
      try {
        if (holder > 0) {
          process.kill(holder, 0);
          alive = true;
        }
      } catch {
        /* stale */
      }
      if (alive) throw new GatewayError('apply_in_progress', `another apply is running on ${paths.runDir} (pid ${holder}); try again when it has finished`);
      rmSync(paths.lockFile, { force: true });
    }
  }
  throw new GatewayError('apply_in_progress', `could not take the lock ${paths.lockFile}`);
}

/** Direct children of a process (an nginx master's workers), from /proc; [] where there is none. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the parent pid; field 2 (the name) may contain spaces, so count from ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

function processTitle(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return undefined; // exited
  }
}

/**
 * Waits until each of the old workers has exited or has begun its graceful shutdown. nginx sets
 * the title "worker process is shutting down" right before it closes the worker's idle
 * keep-alive connections, so after this an idle client connection to an old worker is closed
 * (the client has its FIN) instead of about to be. Busy connections finish their request and
 * close with "Connection: close". Bounded: an old worker stuck elsewhere does not stall apply.
 */
async function waitForOldWorkersShuttingDown(oldWorkers: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pending = oldWorkers.filter((pid) => {
      const title = processTitle(pid);
      return title !== undefined && /worker process/.test(title) && !/shutting down/.test(title);
    });
    if (pending.length === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  // Let a client in this very process (tests, support/frontdoor.ts) read those FINs before its
  // next request picks a pooled connection.
  await new Promise((r) => setTimeout(r, 50));
}

/** What an apply did. */
export interface ApplyResult {
  status: 'reloaded';
  digest: string;
  plan: FrontDoorPlan;
  /** The plan the workers ran before, when they could tell. */
  previous: PlanSummary | undefined;
}

export interface ApplyOptions {
  cutoverFile: string;
  runDir: string;
  /** The nginx binary (binary.ts findNginx). */
  nginxBin: string;
  envOverrides?: AddressOverrides;
  /** The cutover text to apply; default: read cutoverFile. */
  text?: string;
  /** How long the new workers may take to answer after the reload. Default 10 000 ms. */
  verifyTimeoutMs?: number;
}

/**
 * Render, check, swap, reload, verify. Throws GatewayError on any failure, with the running
 * configuration as it was: `invalid_cutover`, `nginx_test_failed`, `not_running`,
 * `reload_failed`, `apply_in_progress`.
 */
export async function applyCutover(options: ApplyOptions): Promise<ApplyResult> {
  const paths = frontDoorPaths(options.runDir);
  const text = options.text ?? readCutoverText(options.cutoverFile);
  const { plan, rendered } = renderCutover(text, { source: options.cutoverFile, runDir: paths.runDir, envOverrides: options.envOverrides ?? {} });
  const nginxBin = options.nginxBin;
  prepareRunDir(paths.runDir);
  const release = acquireLock(paths);
  try {
    const tmp = `${paths.conf}.new-${process.pid}`;
    writeFileSync(tmp, rendered.text);
    try {
      await testNginxConfig(nginxBin, paths.runDir, tmp);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    const master = runningMasterPid(paths.runDir);
    if (master === undefined) {
      rmSync(tmp, { force: true });
      throw new GatewayError(
        'not_running',
        `the front door is not running in ${paths.runDir} (no live nginx master in ${paths.pidFile}): the cutover file is valid and nginx accepts it; it takes effect when the front door starts (npm start)`,
        { exitCode: 3 },
      );
    }
    // An unchanged config is reloaded too: `apply` means "make nginx run the file now" (it also
    // re-resolves backend host names), and a reload that loses requests must show up in tests.
    const before = await queryRunningPlan(paths.runDir);
    const current = existsSync(paths.conf) ? readFileSync(paths.conf, 'utf8') : undefined;
    if (current !== undefined) writeFileAtomic(paths.prevConf, current);
    renameSync(tmp, paths.conf);
    const errorLogOffset = sizeOf(paths.errorLog);
    const oldWorkers = childrenOf(master);
    process.kill(master, 'SIGHUP');
    const alive = () => runningMasterPid(paths.runDir) === master;
    // A master that cannot use the new config says so at [emerg] and keeps its old workers:
    // no need to wait for the timeout then.
    const refused = () => /\[emerg\]/.test(readFrom(paths.errorLog, errorLogOffset));
    if (await waitForDigest(paths.runDir, rendered.digest, options.verifyTimeoutMs ?? 10_000, alive, refused)) {
      await waitForOldWorkersShuttingDown(oldWorkers, 2000);
      return { status: 'reloaded', digest: rendered.digest, plan, previous: before?.plan };
    }
    // nginx kept its old workers (it logs why) or the new ones never answered: put the old file
    // back so that disk and running config agree, and reload that.
    const log = readFrom(paths.errorLog, errorLogOffset).trim();
    if (current !== undefined) {
      writeFileAtomic(paths.conf, current);
      if (alive()) process.kill(master, 'SIGHUP');
    }
    throw new GatewayError(
      'reload_failed',
      `nginx did not start serving the new config (within ${options.verifyTimeoutMs ?? 10_000} ms); the previous config is back in place and still serving${log ? `. nginx's error log says:\n${log}` : ''}`,
    );
  } finally {
    release();
  }
}

/**
 * First config of a front door about to start: render, `nginx -t`, atomic rename. The running
 * master (if any) is not touched; startFrontDoor refuses to start a second one.
 */
export async function installInitialConfig(options: Omit<ApplyOptions, 'verifyTimeoutMs'>): Promise<{ plan: FrontDoorPlan; digest: string; paths: FrontDoorPaths }> {
  const paths = prepareRunDir(options.runDir);
  const text = options.text ?? readCutoverText(options.cutoverFile);
  const { plan, rendered } = renderCutover(text, { source: options.cutoverFile, runDir: paths.runDir, envOverrides: options.envOverrides ?? {} });
  const tmp = `${paths.conf}.new-${process.pid}`;
  writeFileSync(tmp, rendered.text);
  try {
    await testNginxConfig(options.nginxBin, paths.runDir, tmp);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, paths.conf);
  return { plan, digest: rendered.digest, paths };
}
