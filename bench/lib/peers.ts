/**
 * The off-the-shelf resizers the benchmark compares the image service with, each as a real
 * process of its own on 127.0.0.1, serving the same originals directory:
 *
 *   ipx 3.1.1      its Node server (createIPX + createIPXNodeServer, ipxFSStorage), its own sharp 0.34
 *   thumbor 7.8.0  its CLI from the virtual environment `scripts/bootstrap.sh bench` makes, PIL engine,
 *                  2 processes (= the cores of the reference machine), file loader, no result storage
 *
 * What each does differently by default is in PEER_DEFAULTS (printed in results.md).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../common/paths.ts';
import { freePort, startProcess, waitForHttp } from '../../stack/process.ts';
import { processTree } from './proc.ts';

export interface RunningPeer {
  name: 'ipx' | 'thumbor';
  url: string;
  /** The server and every process it forked, for CPU and RSS. */
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * The service's request deadline wherever the benchmark measures throughput: the load generator's
 * own timeout (http-exec.ts). The peers have no deadline; at its default (1600 ms, just under the
 * front door's 2 s timeout) the service answers 503 instead of queueing when a busy machine slows
 * its renders. The CDN-expiry measurement keeps the default: that one is about the deployed service.
 */
export const BENCH_REQUEST_TIMEOUT_MS = 60_000;

export const IPX_VERSION = '3.1.1';
export const THUMBOR_VERSION = '7.8.0';

/** How each peer differs from the image service when left at its defaults, and what the benchmark sets. */
export const PEER_DEFAULTS: Readonly<Record<'ipx' | 'thumbor', string>> = {
  ipx:
    'sharp 0.34 with its defaults: shrink-on-load on (libjpeg DCT scaling by up to 8x, then Lanczos 3), WebP effort 4, JPEG ' +
    "progressive (`jpegProgressive: true`, ipx's default), metadata stripped. EXIF orientation is NOT applied by default and its URL API " +
    'cannot ask for it; the benchmark sets `sharpOptions: { autoOrient: true }` so portrait phone photos come out upright and full size ' +
    '(without it ipx renders them sideways and smaller: less work). One Node process, sharp concurrency = cores, libuv pool 4.',
  thumbor:
    "Pillow (PIL engine) with thumbor's defaults: JPEG draft mode (decode at 1/2, 1/4 or 1/8 when the target allows: shrink-on-load), " +
    "then Lanczos; JPEG progressive + optimize (extra Huffman pass), chroma subsampling kept from the original; WebP at Pillow's method 4 " +
    '(libwebp effort 4). EXIF orientation is NOT applied by default (RESPECT_ORIENTATION = False); the benchmark sets it True. ' +
    'Original storage off (no_storage: the file loader reads the originals directory, like the service), no result storage. 2 processes.' +
    ' Its processes share one listening socket, so the load generator opens a fresh connection per request to it (kept-alive ' +
    'connections stay with the process that accepted them: all 4 on one process halved its throughput in some rounds before 2026-12-03).',
};

/** The same for the two subjects of this project, so the comparison reads both ways. */
export const SUBJECT_DEFAULTS: Readonly<Record<'legacy' | 'new', string>> = {
  legacy: 'ImageMagick 6 through Imagick: full decode (no shrink-on-load), Lanczos, baseline JPEG, WebP at its default method, orientation applied.',
  new:
    'sharp 0.35: JPEG shrink-on-load by libjpeg DCT scaling (1/2, 1/4, 1/8) except where 1/8 would leave Lanczos 3 less than 1.5x ' +
    '(FAST_SHRINK_ON_LOAD=jpeg), WebP decoded at full size, baseline JPEG (no mozjpeg, ' +
    '4:2:0), WebP effort 2 (libwebp default 4), EXIF orientation applied, metadata stripped; result cache off in this table. Its request ' +
    "deadline (REQUEST_TIMEOUT_MS, 1600 ms by default, just under the front door's 2 s timeout) is raised to the load generator's 60 s " +
    'here, because the peers have none: at the default it answers 503 instead of queueing when a busy machine slows its renders.',
};

const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

/** ipx's Node server over `dir`. */
export async function startIpx(dir: string): Promise<RunningPeer> {
  const port = await freePort();
  const proc = startProcess('ipx', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'bench/peers/ipx-server.ts')], {
    cwd: projectRoot,
    env: { ...process.env, IPX_BENCH_DIR: dir, IPX_BENCH_PORT: String(port), NODE_ENV: 'production' },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    // ipx answers 400 (no modifiers) on '/': any answer below 500 means it listens.
    await waitForHttp(`${url}/`, { process: proc, timeoutMs: 30_000 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { name: 'ipx', url, pids: () => (proc.child.exitCode === null ? processTree(proc.pid) : []), stop: () => proc.stop() };
}

/** Where the bootstrap puts thumbor's virtual environment (THUMBOR_VENV overrides). */
export function thumborVenv(env: Record<string, string | undefined> = process.env): string {
  return env.THUMBOR_VENV ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'image-gateway', 'thumbor-venv');
}

/** PURE: thumbor's configuration file for the benchmark. */
export function thumborConfig(dir: string): string {
  return [
    "LOADER = 'thumbor.loaders.file_loader'",
    `FILE_LOADER_ROOT_PATH = ${JSON.stringify(dir)}`,
    // The service reads its originals from the directory on every render; so does thumbor here
    // (its default file storage would also copy each original into /tmp/thumbor/storage).
    "STORAGE = 'thumbor.storages.no_storage'",
    'RESULT_STORAGE = None',
    // The contract applies EXIF orientation; thumbor's default does not (less work, wrong picture).
    'RESPECT_ORIENTATION = True',
    'ALLOW_UNSAFE_URL = True',
    '',
  ].join('\n');
}

/** thumbor's CLI with `processes` forked servers over `dir`. */
export async function startThumbor(dir: string, processes = 2): Promise<RunningPeer> {
  const venv = thumborVenv();
  const bin = path.join(venv, 'bin', 'thumbor');
  if (!existsSync(bin))
    throw new Error(`thumbor ${THUMBOR_VERSION} is not installed at ${bin}: run \`bash scripts/bootstrap.sh bench\` (it makes the virtual environment)`);
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'bench-thumbor-'));
  const conf = path.join(runDir, 'thumbor.conf');
  writeFileSync(conf, thumborConfig(dir));
  const port = await freePort();
  const proc = startProcess('thumbor', bin, ['-i', '127.0.0.1', '-p', String(port), '-c', conf, '-l', 'warning', '--processes', String(processes)], {
    cwd: runDir,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${url}/healthcheck`, { process: proc, timeoutMs: 60_000 });
    // The forked servers come up one by one; wait until all are there so the first phase measures them all.
    const deadline = Date.now() + 15_000;
    while (processTree(proc.pid).length < processes + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (processTree(proc.pid).length < processes + 1) log(`thumbor: only ${processTree(proc.pid).length - 1} of ${processes} processes after 15 s`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: 'thumbor', url, pids: () => (proc.child.exitCode === null ? processTree(proc.pid) : []), stop };
}
