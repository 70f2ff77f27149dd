/**
 * What the service benchmark (bench/service.ts) and the tuning script (bench/tune.ts) share: the
 * service's tuning variables, the service process under test started with exactly those, and its
 * rounds: closed loop for a time, open loop at a fixed rate, unloaded latencies, and the raw
 * sharp rounds of the sharp-limit child. Load comes from the benchmark's one driver (drive.ts over
 * http-exec.ts), CPU and memory from its one /proc reader (proc.ts).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../image-service/src/config.ts';
import { MAX_SEMI_SPACE_MB, RUNTIME_ENV } from '../../image-service/src/runtime-env.ts';
import { projectRoot } from '../../common/paths.ts';
import { benchPhotos, realFixturesDir } from '../../support/fixtures.ts';
import { freePort, startProcess, waitForHttp, type Managed } from '../../stack/process.ts';
import { closedLoop, closedLoopFor, openLoop as driveOpenLoop } from './drive.ts';
import { httpExec, type HttpTarget } from './http-exec.ts';
import { clockTicksPerSecond, cpuSeconds, machineTicks, othersShare, peakRssMb } from './proc.ts';
import { startSharpLimit, type SharpLimitSubject } from './subjects.ts';
import { buildWorkload, splitPath, type Workload } from './workload.ts';

export interface ServiceWorkload extends Workload {
  /** Directory holding the photographs: the service's STORAGE_URL and the raw child's input. */
  dir: string;
  source: 'real fixtures' | 'generated';
  /** Storage key -> file, for the raw child. */
  files: Record<string, string>;
}

/** The photographs at every variant of the one list (workload.ts), photo by photo within a variant: concurrent requests never coalesce. */
export async function loadWorkload(): Promise<ServiceWorkload> {
  const files = await benchPhotos(path.join(projectRoot, 'var/bench-cache/generated'));
  if (files.length === 0) throw new Error('no photographs for the benchmark');
  const workload = buildWorkload(files);
  return {
    ...workload,
    dir: path.dirname(files[0]!),
    source: realFixturesDir() ? 'real fixtures' : 'generated',
    files: Object.fromEntries(files.map((f) => [path.basename(f), f])),
  };
}

/** The settings the benchmark varies, as environment variables of both the service and the raw child. */
export interface TuningEnv {
  UV_THREADPOOL_SIZE?: string;
  MALLOC_ARENA_MAX?: string;
  MALLOC_MMAP_THRESHOLD_?: string;
  /** Not an environment variable: becomes `--max-semi-space-size=N` on the node command line (unset: V8's default). */
  V8_MAX_SEMI_SPACE_MB?: string;
  SHARP_CONCURRENCY?: string;
  FAST_SHRINK_ON_LOAD?: string;
  CONCURRENCY?: string;
}

/** The same defaults `npm run start -w image-service` applies. */
export const START_DEFAULTS: TuningEnv = { ...RUNTIME_ENV, V8_MAX_SEMI_SPACE_MB: String(MAX_SEMI_SPACE_MB) };

/** The node flags a tuning asks for. */
export function nodeFlags(tuning: TuningEnv): string[] {
  return tuning.V8_MAX_SEMI_SPACE_MB ? [`--max-semi-space-size=${tuning.V8_MAX_SEMI_SPACE_MB}`] : [];
}
const TUNING_NAMES = [
  'UV_THREADPOOL_SIZE',
  'MALLOC_ARENA_MAX',
  'MALLOC_MMAP_THRESHOLD_',
  'V8_MAX_SEMI_SPACE_MB',
  'SHARP_CONCURRENCY',
  'FAST_SHRINK_ON_LOAD',
  'CONCURRENCY',
] as const;

/** The environment of a child: this process's, minus the tuning variables, plus `tuning` (undefined = unset). */
export function childEnv(tuning: TuningEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of TUNING_NAMES) {
    delete env[name];
    const value = tuning[name];
    if (value !== undefined && name !== 'V8_MAX_SEMI_SPACE_MB') env[name] = value;
  }
  return { ...env, ...extra };
}

export interface ServiceUnderTest {
  url: string;
  pid: number;
  process: Managed;
  stop(): Promise<void>;
}

/** Starts image-service/src/main.ts with exactly the given tuning (unlike stack/services.ts, which fixes two of them). */
export async function startService(workload: ServiceWorkload, tuning: TuningEnv): Promise<ServiceUnderTest> {
  const port = await freePort();
  const adminPort = await freePort();
  const proc = startProcess('image-service', process.execPath, [...nodeFlags(tuning), '--import', 'tsx', path.join(projectRoot, 'image-service/src/main.ts')], {
    cwd: projectRoot,
    env: childEnv(tuning, {
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      STORAGE_URL: pathToFileURL(workload.dir).href,
    }),
  });
  const url = `http://127.0.0.1:${port}`;
  // /healthz is on the admin listener; the public port answers too once it listens (its JSON 404 on '/').
  await waitForHttp(`http://127.0.0.1:${adminPort}/healthz`, { process: proc, timeoutMs: 30_000 });
  await waitForHttp(`${url}/`, { process: proc, timeoutMs: 30_000 });
  return { url, pid: proc.pid, process: proc, stop: () => proc.stop() };
}

export interface RoundResult {
  requests: number;
  seconds: number;
  rate: number;
  /** CPU seconds per request of the measured process. */
  cpuPerRequest: number;
  errors: number;
  /** Share of the machine's CPU time used by processes other than the measured ones (noise). */
  othersCpuShare: number;
}

const target = (service: ServiceUnderTest, workload: Workload): HttpTarget => ({
  baseUrl: service.url,
  paths: workload.paths,
  contentTypes: workload.contentTypes,
});

/** Closed loop: `connections` keep-alive connections, each sending its next request when the previous is answered, for `seconds`. */
export async function serviceRound(service: ServiceUnderTest, workload: Workload, connections: number, seconds: number, offset = 0): Promise<RoundResult> {
  const cpu0 = cpuSeconds(service.pid) ?? 0;
  const self0 = process.cpuUsage();
  const machine0 = machineTicks();
  const client = httpExec(target(service, workload), connections);
  const r = await closedLoopFor(client.exec, { first: offset, seconds, concurrency: connections }).finally(() => client.close());
  const cpu = (cpuSeconds(service.pid) ?? 0) - cpu0;
  const self = process.cpuUsage(self0);
  return {
    requests: r.ok,
    seconds: r.elapsedS,
    rate: r.ok / r.elapsedS,
    cpuPerRequest: cpu / r.ok,
    errors: r.errors,
    othersCpuShare: othersShare(machine0, machineTicks(), cpu + (self.user + self.system) / 1e6, clockTicksPerSecond()),
  };
}

export interface OpenLoopResult {
  rate: number;
  seconds: number;
  requests: number;
  errors: number;
  latenciesMs: number[];
  /** Each answered request: its index in the request list and latency. */
  samples: Array<{ index: number; ms: number }>;
  /** Latencies by photo, to tell queueing from a photo that is simply slower to resize. */
  byPhoto: Map<string, number[]>;
  othersCpuShare: number;
}

/** Open loop: requests start at a fixed rate whatever the answers; latency counts from the scheduled start. */
export async function openLoop(service: ServiceUnderTest, workload: Workload, rate: number, seconds: number, maxConnections: number): Promise<OpenLoopResult> {
  const cpu0 = cpuSeconds(service.pid) ?? 0;
  const self0 = process.cpuUsage();
  const machine0 = machineTicks();
  const client = httpExec(target(service, workload), maxConnections);
  const count = Math.max(1, Math.round(rate * seconds));
  const r = await driveOpenLoop(client.exec, { first: 0, count, rate, maxInFlight: maxConnections }).finally(() => client.close());
  const cpu = (cpuSeconds(service.pid) ?? 0) - cpu0;
  const self = process.cpuUsage(self0);
  const L = workload.paths.length;
  const samples = r.indices.map((index, k) => ({ index: index % L, ms: r.latenciesMs[k]! }));
  const byPhoto = new Map<string, number[]>();
  for (const s of samples) {
    const key = splitPath(workload.paths[s.index]!).key;
    byPhoto.set(key, [...(byPhoto.get(key) ?? []), s.ms]);
  }
  return {
    rate,
    seconds: r.elapsedS,
    requests: r.ok,
    errors: r.errors,
    latenciesMs: r.latenciesMs,
    samples,
    byPhoto,
    othersCpuShare: othersShare(machine0, machineTicks(), cpu + (self.user + self.system) / 1e6, clockTicksPerSecond()),
  };
}

/**
 * The unloaded latency of every distinct request (by index in the list): each sent `passes` times,
 * one at a time, the fastest kept. The open loop's latencies divided by these tell queueing apart
 * from a photo that is simply slow to resize (a 3840x2160 progressive JPEG takes 20 times longer
 * than the others).
 */
export async function unloadedLatencies(service: ServiceUnderTest, workload: Workload, passes = 2): Promise<Map<number, number>> {
  const L = workload.paths.length;
  const client = httpExec(target(service, workload), 1);
  const r = await closedLoop(client.exec, { first: 0, count: L * passes, concurrency: 1 }).finally(() => client.close());
  const best = new Map<number, number>();
  r.indices.forEach((i, k) => best.set(i % L, Math.min(best.get(i % L) ?? Infinity, r.latenciesMs[k]!)));
  return best;
}

/**
 * The raw in-process sharp rate (bench/sharp-limit.ts), in its own process so that it never shares
 * one with the load, with the tuning's environment and node flags and the service's own sharp
 * settings read the service's own way (SHARP_CONCURRENCY, FAST_SHRINK_ON_LOAD, limits).
 */
export class RawSharp {
  readonly #child: Promise<SharpLimitSubject>;
  #pid = -1;

  constructor(workload: ServiceWorkload, tuning: TuningEnv, concurrency: number) {
    const env = childEnv(tuning);
    const config = loadConfig(env, { storageUrl: pathToFileURL(workload.dir).href, cpus: concurrency });
    this.#child = startSharpLimit({
      workload,
      files: workload.files,
      concurrency,
      limits: { maxInputPixels: config.maxInputPixels, fastShrinkOnLoad: config.fastShrinkOnLoad },
      sharpConcurrency: config.sharpConcurrency,
      nodeFlags: nodeFlags(tuning),
      env,
    });
    this.#child.then((c) => (this.#pid = c.pids()[0] ?? -1)).catch(() => {});
  }

  get pid(): number {
    return this.#pid;
  }

  async round(seconds: number): Promise<RoundResult & { peakRssMb: number }> {
    const child = await this.#child;
    const machine0 = machineTicks();
    const { result, cpuS } = await child.timed(seconds);
    return {
      requests: result.ok,
      seconds: result.elapsedS,
      rate: result.ok / result.elapsedS,
      cpuPerRequest: cpuS / result.ok,
      errors: result.errors,
      peakRssMb: peakRssMb(this.#pid) ?? Number.NaN,
      othersCpuShare: othersShare(machine0, machineTicks(), cpuS, clockTicksPerSecond()),
    };
  }

  async stop(): Promise<void> {
    await (await this.#child.catch(() => undefined))?.stop();
  }
}
