/**
 * The front door as the tests, benchmarks and the stack run it: nginx with its own prefix in a
 * run directory, configured from a cutover file by the same code as `gateway apply`.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { AddressOverrides } from '../gateway/src/config.ts';
import { listenUrl } from '../gateway/src/cutover/plan.ts';
import { applyCutover, installInitialConfig } from '../gateway/src/nginx/apply.ts';
import { waitForDigest } from '../gateway/src/nginx/control-socket.ts';
import { childrenOf, runningMasterPid } from '../gateway/src/nginx/master.ts';
import { prepareRunDir, writeAddressOverrides } from '../gateway/src/nginx/run-dir.ts';
import { startProcess, type Managed } from './process.ts';
import { findTool } from './tools.ts';

export interface RunningFrontDoor {
  url: string;
  port: number;
  runDir: string;
  cutoverFile: string;
  /** Path of the JSON access log. */
  accessLog: string;
  /** Same code path as `gateway apply` (render, nginx -t, atomic swap, reload, verify); throws GatewayError on failure. */
  apply(): Promise<void>;
  /** nginx master + workers (old workers still draining after a reload included), for CPU/RSS accounting. */
  pids(): number[];
  /** Resolves with nginx's exit code when the master exits (stopped or crashed). */
  exited: Promise<number | null>;
  /** The nginx master process (its exit signal, a kill). */
  master: Managed;
  /**
   * A new front door on the same cutover file, run dir and addresses, after this one's master
   * died (npm start's supervisor). The file is rendered afresh: what `gateway set` wrote holds.
   */
  restart(): Promise<RunningFrontDoor>;
  stop(): Promise<void>;
}

export interface FrontDoorOptions {
  cutoverFile: string;
  runDir: string;
  /**
   * Addresses that differ from the cutover file's (other ports): recorded in the run directory,
   * so that a later `gateway apply --run-dir <runDir>` renders with them too. Default none.
   */
  addresses?: AddressOverrides;
  /** Print nginx's stderr as it comes (npm start). Default false. */
  echo?: boolean;
}

export async function startFrontDoor(options: FrontDoorOptions): Promise<RunningFrontDoor> {
  const nginxBin = findTool('nginx');
  const cutoverFile = path.resolve(options.cutoverFile);
  const paths = prepareRunDir(options.runDir);
  const already = runningMasterPid(paths.runDir);
  if (already !== undefined) throw new Error(`a front door already runs in ${paths.runDir} (nginx master ${already}); stop it first`);
  writeAddressOverrides(paths.runDir, options.addresses ?? {});
  const { plan, digest } = await installInitialConfig({ cutoverFile, runDir: paths.runDir, nginxBin });
  // Left behind by a front door that was killed: nginx would refuse to bind it.
  rmSync(paths.controlSocket, { force: true });
  rmSync(paths.pidFile, { force: true });

  // -e stderr: nginx's messages before it has read the config go to our output, not to the
  // build's default error log (/var/log/nginx on some distributions).
  const nginx: Managed = startProcess('frontdoor-nginx', nginxBin, ['-p', `${paths.runDir}/`, '-c', paths.conf, '-e', 'stderr', '-g', 'daemon off;'], {
    echo: options.echo ?? false,
  });
  const alive = () => nginx.child.exitCode === null && nginx.child.signalCode === null;
  if (!(await waitForDigest(paths.runDir, digest, 15_000, alive))) {
    const log = readTail(paths.errorLog);
    await nginx.stop();
    throw new Error(`the front door did not come up in ${paths.runDir}:\n${nginx.output()}${log ? `\n--- error.log ---\n${log}` : ''}`);
  }
  const url = listenUrl(plan.listen);
  return {
    url,
    port: Number(new URL(url).port),
    runDir: paths.runDir,
    cutoverFile,
    accessLog: paths.accessLog,
    async apply() {
      await applyCutover({ cutoverFile, runDir: paths.runDir, nginxBin });
    },
    pids: () => (alive() ? [nginx.pid, ...childrenOf(nginx.pid)] : []),
    exited: nginx.exited,
    master: nginx,
    restart: () => startFrontDoor(options),
    stop: () => nginx.stop(),
  };
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}
