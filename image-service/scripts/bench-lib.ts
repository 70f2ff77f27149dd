/**
 * What bench.ts and tune.ts share: the workload, the service process under test, the raw-sharp
 * child, closed- and open-loop load over HTTP keep-alive, and /proc accounting.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchPhotos, projectRoot, realFixturesDir } from '../../support/fixtures.ts';
import { runLoad, type RequestResult } from '../../support/keepalive-load.ts';
import { cpuSeconds, machineCpuTicks, peakRssMb } from '../../support/proc-stats.ts';
import { freePort, startProcess, waitForHttp, type Managed } from '../../support/process.ts';
import { parseImageRequest, queryPairs, type ResizeRequest } from '../src/params.ts';
import { MAX_SEMI_SPACE_MB, RUNTIME_ENV } from '../src/runtime-env.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The boxes and formats of the workload, applied to every photograph. */
export const VARIANTS = ['w=300', 'w=640', 'w=1280', 'w=200&h=200&fit=cover'].flatMap((box) => ['jpeg', 'webp'].map((f) => `${box}&format=${f}`));

export interface WorkItem {
  key: string;
  query: string;
  resize: ResizeRequest;
}

export interface Workload {
  /** Directory holding the photographs: the service's STORAGE_URL and the raw child's input. */
  dir: string;
  source: 'real fixtures' | 'generated';
  photos: string[];
  /** Ordered so that consecutive items are different photos: concurrent requests never coalesce. */
  items: WorkItem[];
}

export async function loadWorkload(): Promise<Workload> {
  const files = await benchPhotos(path.join(projectRoot, 'var/bench-cache/generated'));
  if (files.length === 0) throw new Error('no photographs for the benchmark');
  const dir = path.dirname(files[0]!);
  const photos = files.map((f) => path.basename(f));
  const items: WorkItem[] = [];
  for (const query of VARIANTS) {
    const parsed = parseImageRequest(queryPairs(query));
    if (!parsed.ok || parsed.value.kind !== 'resize') throw new Error(`bad variant ${query}`);
    for (const key of photos) items.push({ key, query, resize: parsed.value.resize });
  }
  return { dir, source: realFixturesDir() ? 'real fixtures' : 'generated', photos, items };
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
const TUNING_NAMES = ['UV_THREADPOOL_SIZE', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'V8_MAX_SEMI_SPACE_MB', 'SHARP_CONCURRENCY', 'FAST_SHRINK_ON_LOAD', 'CONCURRENCY'] as const;

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

/** Starts image-service/src/main.ts with exactly the given tuning (unlike support/services.ts, which fixes two of them). */
export async function startService(workload: Workload, tuning: TuningEnv): Promise<ServiceUnderTest> {
  const port = await freePort();
  const adminPort = await freePort();
  const proc = startProcess('image-service', process.execPath, [...nodeFlags(tuning), '--import', 'tsx', path.join(projectRoot, 'image-service/src/main.ts')], {
    cwd: projectRoot,
    env: childEnv(tuning, { PORT: String(port), HOST: '127.0.0.1', ADMIN_PORT: String(adminPort), ADMIN_HOST: '127.0.0.1', LOG_LEVEL: 'warn', STORAGE_URL: pathToFileURL(workload.dir).href }),
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

/** Closed loop: `connections` keep-alive connections, each sending its next request when the previous is answered. */
export async function serviceRound(service: ServiceUnderTest, workload: Workload, connections: number, seconds: number, offset = 0): Promise<RoundResult> {
  const cpu0 = cpuSeconds(service.pid) ?? 0;
  const self0 = process.cpuUsage();
  const machine0 = machineCpuTicks();
  const report = await runLoad({ target: (i) => urlOf(service, workload, offset + i), connections, durationMs: seconds * 1000, timeoutMs: 60_000 });
  const cpu = (cpuSeconds(service.pid) ?? 0) - cpu0;
  const self = process.cpuUsage(self0);
  const ok = report.byStatus['200'] ?? 0;
  return {
    requests: ok,
    seconds: report.elapsedMs / 1000,
    rate: ok / (report.elapsedMs / 1000),
    cpuPerRequest: cpu / ok,
    errors: report.sent - ok,
    othersCpuShare: othersShare(machine0, cpu + (self.user + self.system) / 1e6),
  };
}

export interface OpenLoopResult {
  rate: number;
  seconds: number;
  requests: number;
  errors: number;
  latenciesMs: number[];
  /** Each answered request: its URL and latency. */
  samples: Array<{ url: string; ms: number }>;
  /** Latencies by photo, to tell queueing from a photo that is simply slower to resize. */
  byPhoto: Map<string, number[]>;
  othersCpuShare: number;
}

/** Open loop: requests start at a fixed rate whatever the answers; latency counts from the scheduled start. */
export async function openLoop(service: ServiceUnderTest, workload: Workload, rate: number, seconds: number, maxConnections: number): Promise<OpenLoopResult> {
  const cpu0 = cpuSeconds(service.pid) ?? 0;
  const self0 = process.cpuUsage();
  const machine0 = machineCpuTicks();
  const report = await runLoad({ target: (i) => urlOf(service, workload, i), rate, connections: maxConnections, durationMs: seconds * 1000, timeoutMs: 60_000 });
  const cpu = (cpuSeconds(service.pid) ?? 0) - cpu0;
  const self = process.cpuUsage(self0);
  const ok = report.results.filter((r: RequestResult) => r.status === 200);
  const byPhoto = new Map<string, number[]>();
  for (const r of ok) {
    const key = decodeURIComponent(new URL(r.url).pathname.slice('/image/files/'.length));
    byPhoto.set(key, [...(byPhoto.get(key) ?? []), r.ms]);
  }
  return {
    rate,
    seconds: report.elapsedMs / 1000,
    requests: ok.length,
    errors: report.sent - ok.length,
    latenciesMs: ok.map((r) => r.ms),
    samples: ok.map((r) => ({ url: r.url, ms: r.ms })),
    byPhoto,
    othersCpuShare: othersShare(machine0, cpu + (self.user + self.system) / 1e6),
  };
}

/**
 * The unloaded latency of every distinct request: each sent `passes` times, one at a time, the
 * fastest kept. The open loop's latencies divided by these tell queueing apart from a photo that
 * is simply slow to resize (a 3840x2160 progressive JPEG takes 20 times longer than the others).
 */
export async function unloadedLatencies(service: ServiceUnderTest, workload: Workload, passes = 2): Promise<Map<string, number>> {
  const best = new Map<string, number>();
  const report = await runLoad({ target: (i) => urlOf(service, workload, i), connections: 1, durationMs: 600_000, maxRequests: workload.items.length * passes, timeoutMs: 60_000 });
  for (const r of report.results) if (r.status === 200) best.set(r.url, Math.min(best.get(r.url) ?? Infinity, r.ms));
  return best;
}

function urlOf(service: ServiceUnderTest, workload: Workload, i: number): string {
  const item = workload.items[i % workload.items.length]!;
  return `${service.url}/image/files/${encodeURIComponent(item.key)}?${item.query}`;
}

/** Share of all CPU time on the machine, since `before`, not spent by the processes we measure. */
function othersShare(before: { idle: number; total: number }, ourCpuSeconds: number): number {
  const after = machineCpuTicks();
  const total = (after.total - before.total) / 100;
  const busy = total - (after.idle - before.idle) / 100;
  return total > 0 ? Math.max(0, busy - ourCpuSeconds) / total : 0;
}

/** The raw in-process sharp rate, measured in a child process so that it never shares a process with the load. */
export class RawSharp {
  readonly #child: ChildProcess;
  readonly #ready: Promise<void>;
  #pending: ((r: RawRoundReply) => void) | undefined;

  constructor(workload: Workload, tuning: TuningEnv, concurrency: number) {
    this.#child = fork(path.join(here, 'bench-raw.ts'), [], {
      execArgv: [...nodeFlags(tuning), '--import', 'tsx'],
      env: childEnv(tuning, { BENCH_RAW_DIR: workload.dir, BENCH_RAW_CONCURRENCY: String(concurrency) }),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#ready = new Promise((resolve, reject) => {
      this.#child.once('error', reject);
      this.#child.once('exit', (code) => reject(new Error(`bench-raw exited with ${code}`)));
      this.#child.on('message', (m: RawRoundReply | { ready: true }) => {
        if ('ready' in m) resolve();
        else {
          const p = this.#pending;
          this.#pending = undefined;
          p?.(m);
        }
      });
    });
    this.#child.send({ items: workload.items.map(({ key, resize }) => ({ key, resize })) });
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  async round(seconds: number): Promise<RoundResult & { peakRssMb: number }> {
    await this.#ready;
    const machine0 = machineCpuTicks();
    const reply = await new Promise<RawRoundReply>((resolve) => {
      this.#pending = resolve;
      this.#child.send({ seconds });
    });
    return {
      requests: reply.requests,
      seconds: reply.seconds,
      rate: reply.requests / reply.seconds,
      cpuPerRequest: reply.cpuSeconds / reply.requests,
      errors: reply.errors,
      peakRssMb: peakRssMb(this.pid) ?? Number.NaN,
      othersCpuShare: othersShare(machine0, reply.cpuSeconds),
    };
  }

  stop(): void {
    this.#child.removeAllListeners('exit');
    this.#child.kill('SIGTERM');
  }
}

export interface RawRoundReply {
  requests: number;
  seconds: number;
  cpuSeconds: number;
  errors: number;
}

export const median = (values: number[]): number => {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Nearest-rank percentile (0..100). */
export const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

/** A number for a table cell. */
export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
