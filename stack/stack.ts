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
import { startRolloutControllers } from './parts.ts';
import { startLegacy, type RunningLegacy } from './legacy.ts';
import { availableParallelism } from 'node:os';
import { freePort } from './process.ts';
import { replicaAdminPort, replicaConcurrency, replicaPorts } from './replicas.ts';
import { SHARED_HOST_SERVICE_NICE, startImageService, type RunningService } from './services.ts';
import { planShadowSink, startShadowSink, type RunningShadowSink } from './shadow-sink.ts';

export interface RunningStack {
  frontDoor: RunningFrontDoor;
  legacy: RunningLegacy;
  /** The first image-service replica (the only one unless `replicas` > 1). */
  service: RunningService;
  /** Every image-service replica, in the order the route lists them. */
  services: RunningService[];
  /** The cutover file the front door runs (edit it, then frontDoor.apply(); or `gateway set --file`). */
  cutoverFile: string;
  runDir: string;
  /** The shadow sink, when the cutover file mirrors (stack/shadow-sink.ts); supervised on its own. */
  shadowSink?: RunningShadowSink;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** The originals directory both backends read and write (file:// storage for the image service). */
  storageDir: string;
  /** Everything runtime goes below it: frontdoor/ (nginx prefix), legacy/, cutover.yaml. */
  runDir: string;
  /** Share of the `images` route. Default 0 (ignored with `cutoverFile`). */
  share?: number;
  /**
   * Ports on 127.0.0.1. Default: free ones (with `cutoverFile`: the file's). `service` is the first
   * replica's; with `cutoverFile` the others follow it in steps of 100 (stack/replicas.ts).
   */
  ports?: { front?: number; legacy?: number; service?: number };
  /**
   * Image-service replicas behind the route, 1..16. Default 1 (with `cutoverFile`: as many as the
   * route lists). Without CONCURRENCY in `serviceEnv`, each takes floor(cores / replicas) resizes
   * at once (replicaConcurrency).
   */
  replicas?: number;
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
  /**
   * Run the shadow sink (`gateway shadow`, supervised) when the cutover file mirrors: npm start
   * does. Default false: the tests that mirror start their own sink, or a fake, on `shadowSink`.
   */
  runShadowSink?: boolean;
  /**
   * The shadow sink's results file when no rollout reads one (a rollout's is where its
   * controller reads it). Default <runDir>/shadow/results.jsonl (npm start: var/shadow/results.jsonl).
   */
  shadowResults?: string;
}

export const shippedCutoverFile = path.join(projectRoot, 'nginx/cutover.yaml');

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/**
 * PURE: the ports a stack on `file` uses, and the address overrides its front door needs when
 * they (or the listen host) differ from the file's: recorded in the run dir, so that
 * `gateway apply` renders with them too. Replicas: as many as the first route lists, on its
 * ports, unless `ports.replicas` or `ports.service` say otherwise; then on the first port and
 * every 100 above it (8082, 8182, 8282), and every route's backend list is replaced.
 */
export function stackAddresses(
  file: CutoverFile,
  ports: { front?: number | undefined; legacy?: number | undefined; service?: number | undefined; replicas?: number | undefined } = {},
  listenHost = '127.0.0.1',
): { ports: { front: number; legacy: number; service: number; services: number[] }; addresses: AddressOverrides } {
  const backends = file.routes[0]?.backend ?? ['127.0.0.1:8082'];
  const replicas = ports.replicas ?? backends.length;
  const services =
    ports.service === undefined && replicas === backends.length ? backends.map(portOf) : replicaPorts(ports.service ?? portOf(backends[0]!), replicas);
  const resolved = { front: ports.front ?? portOf(file.listen), legacy: ports.legacy ?? portOf(file.legacy), service: services[0]!, services };
  const addresses: AddressOverrides = {};
  const listen = `${listenHost}:${resolved.front}`;
  if (listen !== file.listen) addresses.listen = listen;
  if (resolved.legacy !== portOf(file.legacy)) addresses.legacy = `127.0.0.1:${resolved.legacy}`;
  const same = (list: readonly string[]) => list.length === services.length && list.every((a, i) => portOf(a) === services[i]);
  if (file.routes.some((r) => !same(r.backend))) addresses.backend = services.map((p) => `127.0.0.1:${p}`);
  return { ports: resolved, addresses };
}

/**
 * The derived cutover file: the shipped one (comments and all) with this stack's addresses, the
 * share and the route fields written in, so that it reads like the real thing.
 */
export function deriveCutoverText(
  shipped: string,
  options: { listen: string; legacy: string; backend: string | string[]; share: number; cutover?: Partial<CutoverRoute>; shadowSink?: string },
): string {
  let text = shipped;
  text = setYamlValue(text, ['listen'], options.listen);
  text = setYamlValue(text, ['legacy'], options.legacy);
  const file = parseCutover(text);
  const i = file.routes.findIndex((r) => r.name === 'images');
  if (i < 0) throw new Error(`${shippedCutoverFile} has no route named images`);
  // One replica stays a plain address, as the shipped file writes it.
  const backend = typeof options.backend === 'string' || options.backend.length !== 1 ? options.backend : options.backend[0]!;
  text = setYamlValue(text, ['routes', i, 'backend'], backend);
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

/**
 * PURE: how to start each replica on `ports`: its admin port (ADMIN_PORT, when set, is the first
 * replica's; the others step like the public ports) and, among several replicas without a
 * CONCURRENCY set by hand, floor(cpus / replicas) resizes each (replicaConcurrency: they share
 * the cores). One replica gets the environment as it is. npm start's supervised restarts use the
 * same, so a restarted replica is the replica it replaces.
 */
export function replicaStartOptions(
  env: Record<string, string>,
  ports: readonly number[],
  cpus: number,
): Array<{ env: Record<string, string>; port: number; adminPort: number | undefined }> {
  const adminOfFirst = env.ADMIN_PORT ? Number(env.ADMIN_PORT) : undefined;
  const shared = ports.length > 1 && !env.CONCURRENCY ? { ...env, CONCURRENCY: String(replicaConcurrency(cpus, ports.length)) } : env;
  return ports.map((port, i) => ({ env: shared, port, adminPort: replicaAdminPort(i, port, adminOfFirst) }));
}

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const runDir = path.resolve(options.runDir);
  mkdirSync(runDir, { recursive: true });
  let cutoverFile: string;
  let addresses: AddressOverrides;
  let ports: { front: number; legacy: number; services: number[] };

  if (options.cutoverFile) {
    cutoverFile = path.resolve(options.cutoverFile);
    ({ ports, addresses } = stackAddresses(
      parseCutover(readFileSync(cutoverFile, 'utf8'), cutoverFile),
      { ...options.ports, replicas: options.replicas },
      options.listenHost,
    ));
  } else {
    const services: number[] = [];
    for (let i = 0; i < (options.replicas ?? 1); i++) services.push(i === 0 && options.ports?.service !== undefined ? options.ports.service : await freePort());
    ports = {
      front: options.ports?.front ?? (await freePort()),
      legacy: options.ports?.legacy ?? (await freePort()),
      services,
    };
    cutoverFile = path.join(runDir, 'cutover.yaml');
    writeFileSync(
      cutoverFile,
      deriveCutoverText(readFileSync(shippedCutoverFile, 'utf8'), {
        listen: `${options.listenHost ?? '127.0.0.1'}:${ports.front}`,
        legacy: `127.0.0.1:${ports.legacy}`,
        backend: ports.services.map((p) => `127.0.0.1:${p}`),
        share: options.share ?? 0,
        // A test or benchmark stack shows who served each response (X-Image-Backend /
        // X-Image-Fallback); the shipped file keeps them off for real clients.
        cutover: { debug_headers: true, ...options.cutover },
        ...(options.shadowSink ? { shadowSink: options.shadowSink } : {}),
      }),
    );
    addresses = {};
  }
  // Planned before anything starts: rollouts that read different results files are refused here.
  const cutover = parseCutover(readFileSync(cutoverFile, 'utf8'), cutoverFile);
  const sinkPlan = options.runShadowSink ? planShadowSink(cutover, cutoverFile, options.shadowResults ?? path.join(runDir, 'shadow/results.jsonl')) : undefined;

  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    // Front door first: stop taking traffic, then the backends.
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    // allSettled, not all: when one fails, the other must have finished starting before it is stopped.
    const serviceEnv = { STORAGE_URL: pathToFileURL(path.resolve(options.storageDir)).href, ...options.serviceEnv };
    const replicaStarts = replicaStartOptions(serviceEnv, ports.services, availableParallelism());
    const nice = options.serviceNice ?? SHARED_HOST_SERVICE_NICE;
    const [legacyResult, ...serviceResults] = await Promise.allSettled([
      startLegacy({
        storageDir: options.storageDir,
        port: ports.legacy,
        runDir: path.join(runDir, 'legacy'),
        ...(options.legacyChildren ? { children: options.legacyChildren } : {}),
      }),
      ...replicaStarts.map((r) => startImageService(r.env, { port: r.port, ...(r.adminPort ? { adminPort: r.adminPort } : {}), nice })),
    ]);
    for (const r of [legacyResult, ...serviceResults]) if (r.status === 'fulfilled') started.push(r.value);
    for (const r of [legacyResult, ...serviceResults]) if (r.status === 'rejected') throw r.reason;
    const legacy = (legacyResult as PromiseFulfilledResult<RunningLegacy>).value;
    const services = serviceResults.map((r) => (r as PromiseFulfilledResult<RunningService>).value);
    // Before the front door, so that its first mirrored requests are compared. It compares with the
    // first replica directly: all replicas run the same code on the same originals, and through the
    // front door a fallback would put legacy's answer on the "new" side and hide a failure.
    const shadowSink = sinkPlan
      ? await startShadowSink({ plan: sinkPlan, legacyUrl: legacy.url, newUrl: services[0]!.url, echo: options.echo ?? false })
      : undefined;
    if (shadowSink) started.push(shadowSink);
    const frontDoor = await startFrontDoor({ cutoverFile, runDir: path.join(runDir, 'frontdoor'), addresses, echo: options.echo ?? false });
    started.push(frontDoor);
    // Every route with a rollout: block gets its controller (docs/rollout.md), supervised; it stops first.
    const rolloutRoutes = cutover.routes.filter((r) => r.rollout).map((r) => r.name);
    started.push(startRolloutControllers({ routes: rolloutRoutes, cutoverFile, runDir: frontDoor.runDir, echo: options.echo ?? false }));
    return { frontDoor, legacy, service: services[0]!, services, cutoverFile, runDir, ...(shadowSink ? { shadowSink } : {}), stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
