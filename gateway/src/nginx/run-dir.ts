/**
 * The front door's run directory (the nginx prefix): where each file lives, creating it, writing
 * files in it atomically, and the deployment address overrides recorded there at start.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { AddressOverrides } from '../config.ts';
import { GatewayError } from '../errors.ts';
import { controlSocketPath } from './render.ts';

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
    throw new GatewayError(
      'run_dir_too_long',
      `run directory path is too long for a unix socket (${paths.controlSocket}): expected at most 107 bytes; use a shorter --run-dir`,
    );
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
