/**
 * The shadow sink as a part of the stack: when the cutover file mirrors (a top-level
 * `shadow_sink` and a route with `shadow_sample` > 0), `gateway shadow` runs on that address,
 * supervised on its own (restarted with backoff; a sink that cannot be brought back is logged,
 * never the end of the stack: mirroring to a down sink costs clients nothing, nginx ignores a
 * mirror's failure and waits at most 100 ms for it, gateway/src/nginx/render.ts).
 */
import { createServer } from 'node:net';
import path from 'node:path';
import type { CutoverFile } from '../gateway/src/cutover/schema.ts';
import { needsShadow } from '../gateway/src/rollout/core/spec.ts';
import { shadowResultsFile } from '../gateway/src/rollout/gather.ts';
import { projectRoot } from '../common/paths.ts';
import { instanceOf } from './parts.ts';
import { startProcess, type Managed } from './process.ts';
import type { LivenessPolicy } from './restart-policy.ts';
import { Supervisor, type SupervisedPart } from './supervisor.ts';

export interface ShadowSinkPlan {
  /** host:port, the cutover file's `shadow_sink`. */
  listen: string;
  /** Absolute path of the results file (`--out`). */
  results: string;
  /** The routes whose rollout controller reads `results` (empty: only people read it). */
  readBy: string[];
}

/**
 * The controllers tail at most 64 MiB of each generation (gather.ts readPairsSince): rotating at
 * that size keeps every line on disk readable by them, and the disk use at ~128 MiB.
 */
export const SINK_RESULTS_MAX_MB = 64;

/**
 * A sink comparison's pixel diff runs on its event loop, at niceness 10 on a host it shares with
 * serving: slow answers under load are expected. A hung sink only costs each mirrored request
 * nginx's 100 ms mirror timeout, so it is killed after ~10 s of silence, not 3 s as a backend is.
 */
export const SINK_LIVENESS: LivenessPolicy = { intervalMs: 2000, timeoutMs: 1500, missesToKill: 5 };

/**
 * PURE: whether npm start runs a sink for `file`, where it listens and what file it writes. The
 * results file is the one the rollout controllers read (shadowResultsFile, their own resolution),
 * else `defaultResults`. One sink writes one file: rollouts that read different ones are refused.
 */
export function planShadowSink(file: CutoverFile, cutoverFile: string, defaultResults: string): ShadowSinkPlan | undefined {
  if (!file.shadow_sink || !file.routes.some((r) => r.shadow_sample > 0)) return undefined;
  const readers = file.routes.flatMap((r) =>
    r.rollout && (needsShadow(r.rollout.gates) || r.rollout.shadow_results) ? [{ route: r.name, results: shadowResultsFile(r.rollout, cutoverFile) }] : [],
  );
  const files = [...new Set(readers.map((r) => r.results))];
  if (files.length > 1) {
    throw new Error(
      `${cutoverFile}: the rollouts read different shadow results files (${readers.map((r) => `${r.route}: ${r.results}`).join(', ')}), ` +
        'but the one shadow sink writes one file: expected the same shadow_results in every rollout block',
    );
  }
  return { listen: file.shadow_sink, results: files[0] ?? path.resolve(defaultResults), readBy: readers.map((r) => r.route) };
}

/** PURE: the `gateway shadow` arguments of `plan`, comparing `legacyUrl` with `newUrl`. */
export function shadowSinkArgs(plan: ShadowSinkPlan, legacyUrl: string, newUrl: string): string[] {
  return ['shadow', '--listen', plan.listen, '--legacy', legacyUrl, '--new', newUrl, '--out', plan.results, '--results-max-mb', String(SINK_RESULTS_MAX_MB)];
}

export interface RunningShadowSink {
  plan: ShadowSinkPlan;
  /** http://host:port: /healthz, /metrics. */
  url: string;
  /** The pid the sink runs as now. */
  pid(): number | undefined;
  /** Stops the sink for good (SIGTERM: it finishes queued comparisons, for up to 5 s). */
  stop(): Promise<void>;
}

const urlOf = (listen: string) => `http://${listen}`;
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** Whether something (a sink started by hand, as the docs once said) already listens on host:port. */
function addressTaken(listen: string): Promise<boolean> {
  const i = listen.lastIndexOf(':');
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
    server.listen(Number(listen.slice(i + 1)), listen.slice(0, i).replace(/^\[|\]$/g, ''), () => server.close(() => resolve(false)));
  });
}

/**
 * Until the sink says it listens (its own line, printed once bound): not its /healthz, which
 * another process on the same address would answer while this one fails to bind.
 */
async function listening(proc: Managed, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.output().includes('gateway shadow: listening on ')) {
    // One line: the supervisor logs the first line of this; the sink's whole output is on stderr already with echo.
    const last = proc.output().split('\n').at(-1) ?? '';
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`exited (${proc.child.signalCode ?? `code ${proc.child.exitCode}`}) before listening: ${last}`);
    if (Date.now() > deadline) throw new Error(`not listening after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts the sink and waits (up to 20 s) until it listens; one that does not is left to its
 * supervisor, not thrown: the stack serves without it. On an address already taken it starts
 * nothing and says so (resolves undefined). Its pid is SIGTERMed when this process exits without
 * stop() (as the rollout controllers' are: npm start hands its own parts to its own supervisor).
 */
export async function startShadowSink(options: {
  plan: ShadowSinkPlan;
  legacyUrl: string;
  newUrl: string;
  echo?: boolean;
  log?: (line: string) => void;
}): Promise<RunningShadowSink | undefined> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (await addressTaken(options.plan.listen)) {
    log(
      `stack: ${options.plan.listen} (shadow_sink) is in use, by a \`gateway shadow\` started by hand?; ` +
        'not starting a shadow sink of its own (stop that one and restart, to have npm start run and supervise it)',
    );
    return undefined;
  }
  const url = urlOf(options.plan.listen);
  const name = 'shadow sink';
  const args = [path.join(projectRoot, 'gateway/bin/gateway.js'), ...shadowSinkArgs(options.plan, options.legacyUrl, options.newUrl)];
  const start = () => startProcess(name, process.execPath, args, { cwd: projectRoot, echo: options.echo ?? false });

  let current = start();
  try {
    await listening(current);
  } catch (err) {
    log(`stack: the ${name} did not start (${firstLine(err)}); its supervisor tries again`);
  }
  const part: SupervisedPart = {
    name,
    async restart() {
      current = start();
      try {
        await listening(current);
      } catch (err) {
        await current.stop();
        throw err;
      }
      return instanceOf(current);
    },
    async probe(timeoutMs) {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    },
  };
  const supervisor = new Supervisor({ log, liveness: SINK_LIVENESS });
  supervisor.watch(part, instanceOf(current));
  // Given up: logged only. The stack keeps serving; the rollout's shadow gates see no new pairs and hold.
  void supervisor.gaveUp.then((reason) => log(`stack: ${reason}; the stack keeps serving without it`));
  const atExit = () => {
    const pid = supervisor.pids()[name];
    try {
      if (pid) process.kill(-pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', atExit);
  return {
    plan: options.plan,
    url,
    pid: () => supervisor.pids()[name],
    stop: async () => {
      process.off('exit', atExit);
      await supervisor.stop();
    },
  };
}
