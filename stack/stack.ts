/**
 * The whole stack: legacy (PHP-FPM + Imagick behind its nginx), the image service, and the front
 * door configured from a cutover file. What `npm start` runs (scripts/stack.ts), and what tests,
 * chaos runs and benchmarks start when they need all three.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressOverrides } from '../gateway/src/config.ts';
import { setYamlValue } from '../gateway/src/cutover/edit.ts';
import { parseCutover, type CutoverFile, type CutoverRoute } from '../gateway/src/cutover/schema.ts';
import { projectRoot } from '../common/paths.ts';
import { startFrontDoor, type RunningFrontDoor } from './frontdoor.ts';
import { startLegacy, type RunningLegacy } from './legacy.ts';
import { freePort } from './process.ts';
import { SHARED_HOST_SERVICE_NICE, startImageService, type RunningService } from './services.ts';

export interface RunningStack {
  frontDoor: RunningFrontDoor;
  legacy: RunningLegacy;
  service: RunningService;
  /** The cutover file the front door runs (edit it, then frontDoor.apply(); or `gateway set --file`). */
  cutoverFile: string;
  runDir: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** The originals directory both backends read and write (file:// storage for the image service). */
  storageDir: string;
  /** Everything runtime goes below it: frontdoor/ (nginx prefix), legacy/, cutover.yaml. */
  runDir: string;
  /** Share of the `images` route. Default 0 (ignored with `cutoverFile`). */
  share?: number;
  /** Ports on 127.0.0.1. Default: free ones (with `cutoverFile`: the file's). */
  ports?: { front?: number; legacy?: number; service?: number };
  /** Extra environment of the image service (CONCURRENCY, STORAGE_URL for S3, ...). */
  serviceEnv?: Record<string, string>;
  /** Fields of the `images` route to set in the derived cutover file (ignored with `cutoverFile`). Default: debug_headers true. */
  cutover?: Partial<CutoverRoute>;
  /** Top-level shadow_sink of the derived cutover file. Default: none. */
  shadowSink?: string;
  /**
   * Run on this cutover file as it is (npm start: nginx/cutover.yaml, so that `npx gateway set`
   * drives the running stack). Ports that differ from the file's are recorded in the front
   * door's run dir. Default: a cutover file derived from nginx/cutover.yaml in `runDir`.
   */
  cutoverFile?: string;
  /** PHP-FPM children. Default: legacy's default (the number of cores). */
  legacyChildren?: number;
  /** Niceness of the image service. Default SHARED_HOST_SERVICE_NICE: it shares the machine with legacy. */
  serviceNice?: number;
  /** Print nginx's stderr (npm start). Default false. */
  echo?: boolean;
  /** Host the front door listens on. Default 127.0.0.1 (0.0.0.0 in a container). */
  listenHost?: string;
}

export const shippedCutoverFile = path.join(projectRoot, 'nginx/cutover.yaml');

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/**
 * PURE: the ports a stack on `file` uses, and the address overrides its front door needs when
 * they (or the listen host) differ from the file's: recorded in the run dir, so that
 * `gateway apply` renders with them too.
 */
export function stackAddresses(
  file: CutoverFile,
  ports: { front?: number | undefined; legacy?: number | undefined; service?: number | undefined } = {},
  listenHost = '127.0.0.1',
): { ports: { front: number; legacy: number; service: number }; addresses: AddressOverrides } {
  const backend = file.routes[0]?.backend ?? '127.0.0.1:8082';
  const resolved = { front: ports.front ?? portOf(file.listen), legacy: ports.legacy ?? portOf(file.legacy), service: ports.service ?? portOf(backend) };
  const addresses: AddressOverrides = {};
  const listen = `${listenHost}:${resolved.front}`;
  if (listen !== file.listen) addresses.listen = listen;
  if (resolved.legacy !== portOf(file.legacy)) addresses.legacy = `127.0.0.1:${resolved.legacy}`;
  if (file.routes.some((r) => portOf(r.backend) !== resolved.service)) addresses.backend = `127.0.0.1:${resolved.service}`;
  return { ports: resolved, addresses };
}

/**
 * The derived cutover file: the shipped one (comments and all) with this stack's addresses, the
 * share and the route fields written in, so that it reads like the real thing.
 */
export function deriveCutoverText(
  shipped: string,
  options: { listen: string; legacy: string; backend: string; share: number; cutover?: Partial<CutoverRoute>; shadowSink?: string },
): string {
  let text = shipped;
  text = setYamlValue(text, ['listen'], options.listen);
  text = setYamlValue(text, ['legacy'], options.legacy);
  const file = parseCutover(text);
  const i = file.routes.findIndex((r) => r.name === 'images');
  if (i < 0) throw new Error(`${shippedCutoverFile} has no route named images`);
  text = setYamlValue(text, ['routes', i, 'backend'], options.backend);
  text = setYamlValue(text, ['routes', i, 'share'], options.share);
  for (const [key, value] of Object.entries(options.cutover ?? {})) {
    if (value === undefined || key === 'name') continue;
    text = setYamlValue(text, ['routes', i, key], value as string | number | boolean | string[]);
  }
  // The shipped file names the default sink (127.0.0.1:8083); a test stack has its own or none.
  text = options.shadowSink ? setYamlValue(text, ['shadow_sink'], options.shadowSink) : text.replace(/^shadow_sink:.*\n/m, '');
  parseCutover(text); // what the front door will read must be valid
  return text;
}

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const runDir = path.resolve(options.runDir);
  mkdirSync(runDir, { recursive: true });
  let cutoverFile: string;
  let addresses: AddressOverrides;
  let ports: { front: number; legacy: number; service: number };

  if (options.cutoverFile) {
    cutoverFile = path.resolve(options.cutoverFile);
    ({ ports, addresses } = stackAddresses(parseCutover(readFileSync(cutoverFile, 'utf8'), cutoverFile), options.ports, options.listenHost));
  } else {
    ports = {
      front: options.ports?.front ?? (await freePort()),
      legacy: options.ports?.legacy ?? (await freePort()),
      service: options.ports?.service ?? (await freePort()),
    };
    cutoverFile = path.join(runDir, 'cutover.yaml');
    writeFileSync(
      cutoverFile,
      deriveCutoverText(readFileSync(shippedCutoverFile, 'utf8'), {
        listen: `${options.listenHost ?? '127.0.0.1'}:${ports.front}`,
        legacy: `127.0.0.1:${ports.legacy}`,
        backend: `127.0.0.1:${ports.service}`,
        share: options.share ?? 0,
        // A test or benchmark stack shows who served each response (X-Image-Backend /
        // X-Image-Fallback); the shipped file keeps them off for real clients.
        cutover: { debug_headers: true, ...options.cutover },
        ...(options.shadowSink ? { shadowSink: options.shadowSink } : {}),
      }),
    );
    addresses = {};
  }

  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    // Front door first: stop taking traffic, then the backends.
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    // allSettled, not all: when one fails, the other must have finished starting before it is stopped.
    const [legacyResult, serviceResult] = await Promise.allSettled([
      startLegacy({
        storageDir: options.storageDir,
        port: ports.legacy,
        runDir: path.join(runDir, 'legacy'),
        ...(options.legacyChildren ? { children: options.legacyChildren } : {}),
      }),
      startImageService(
        { STORAGE_URL: pathToFileURL(path.resolve(options.storageDir)).href, ...options.serviceEnv },
        { port: ports.service, nice: options.serviceNice ?? SHARED_HOST_SERVICE_NICE },
      ),
    ]);
    if (legacyResult.status === 'fulfilled') started.push(legacyResult.value);
    if (serviceResult.status === 'fulfilled') started.push(serviceResult.value);
    if (legacyResult.status === 'rejected') throw legacyResult.reason;
    if (serviceResult.status === 'rejected') throw serviceResult.reason;
    const legacy = legacyResult.value;
    const service = serviceResult.value;
    const frontDoor = await startFrontDoor({ cutoverFile, runDir: path.join(runDir, 'frontdoor'), addresses, echo: options.echo ?? false });
    started.push(frontDoor);
    return { frontDoor, legacy, service, cutoverFile, runDir, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
