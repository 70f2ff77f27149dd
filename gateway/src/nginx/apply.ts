/**
 * Putting a cutover into the front door's nginx: the first install before it starts, and the
 * apply (swap + reload + verify) while it runs. The pieces live beside this file: run-dir.ts,
 * cutover-file.ts (read + render), check.ts (nginx -t), lock.ts, master.ts, control-socket.ts.
 *
 * apply = read + validate the cutover file -> render -> write a temp file in the run dir ->
 * `nginx -t` on it -> keep the current nginx.conf as nginx.conf.prev -> rename the temp file over
 * nginx.conf -> SIGHUP the master -> ask the workers on the control socket which digest they run.
 * Any failure before the rename leaves everything as it was; a failure after it (nginx refused
 * the config on reload, or the new workers never answered) puts nginx.conf.prev back and reloads
 * it, so the file on disk and the running config agree again.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressOverrides } from '../config.ts';
import type { FrontDoorPlan, PlanSummary } from '../cutover/plan.ts';
import { GatewayError } from '../errors.ts';
import { testNginxConfig } from './check.ts';
import { queryRunningPlan, waitForDigest } from './control-socket.ts';
import { readCutoverText, renderCutover } from './cutover-file.ts';
import { acquireApplyLock } from './lock.ts';
import { childrenOf, runningMasterPid, waitForOldWorkersShuttingDown } from './master.ts';
import { frontDoorPaths, prepareRunDir, writeFileAtomic, type FrontDoorPaths } from './run-dir.ts';

/** A rendered config written next to nginx.conf and accepted by `nginx -t`, not yet in place. */
interface StagedConfig {
  /** Renames it over nginx.conf (atomic: nginx reads the old file or the new one). */
  swapIn(): void;
  discard(): void;
}

/** Write + `nginx -t`: the one way a config gets near nginx.conf. On a rejection the temp file is gone. */
async function stageCheckedConfig(nginxBin: string, paths: FrontDoorPaths, text: string): Promise<StagedConfig> {
  const tmp = `${paths.conf}.new-${process.pid}`;
  writeFileSync(tmp, text);
  try {
    await testNginxConfig(nginxBin, paths.runDir, tmp);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return { swapIn: () => renameSync(tmp, paths.conf), discard: () => rmSync(tmp, { force: true }) };
}

/** The error log from `offset` on (at most its last 64 KiB): what nginx said about this reload. */
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
  prepareRunDir(paths.runDir);
  const release = acquireApplyLock(paths);
  try {
    const staged = await stageCheckedConfig(options.nginxBin, paths, rendered.text);
    const master = runningMasterPid(paths.runDir);
    if (master === undefined) {
      staged.discard();
      throw new GatewayError(
        'not_running',
        `the front door is not running in ${paths.runDir} (no live nginx master in ${paths.pidFile}): the cutover file is valid and nginx accepts ` +
          `it; it takes effect when the front door starts (npm start)`,
        { exitCode: 3 },
      );
    }
    // An unchanged config is reloaded too: `apply` means "make nginx run the file now" (it also
    // re-resolves backend host names), and a reload that loses requests must show up in tests.
    const before = await queryRunningPlan(paths.runDir);
    const current = existsSync(paths.conf) ? readFileSync(paths.conf, 'utf8') : undefined;
    if (current !== undefined) writeFileAtomic(paths.prevConf, current);
    staged.swapIn();
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
      `nginx did not start serving the new config (within ${options.verifyTimeoutMs ?? 10_000} ms); the previous config is back in place and still ` +
        `serving${log ? `. nginx's error log says:\n${log}` : ''}`,
    );
  } finally {
    release();
  }
}

/**
 * First config of a front door about to start: render, `nginx -t`, atomic rename. The running
 * master (if any) is not touched; startFrontDoor refuses to start a second one.
 */
export async function installInitialConfig(
  options: Omit<ApplyOptions, 'verifyTimeoutMs'>,
): Promise<{ plan: FrontDoorPlan; digest: string; paths: FrontDoorPaths }> {
  const paths = prepareRunDir(options.runDir);
  const text = options.text ?? readCutoverText(options.cutoverFile);
  const { plan, rendered } = renderCutover(text, { source: options.cutoverFile, runDir: paths.runDir, envOverrides: options.envOverrides ?? {} });
  (await stageCheckedConfig(options.nginxBin, paths, rendered.text)).swapIn();
  return { plan, digest: rendered.digest, paths };
}
