/**
 * The stack's processes as supervised parts (stack/supervisor.ts): how each is watched, probed
 * and started again on the same address.
 */
import path from 'node:path';
import { projectRoot } from '../common/paths.ts';
import { queryRunningPlan } from '../gateway/src/nginx/control-socket.ts';
import type { RunningFrontDoor } from './frontdoor.ts';
import type { RunningLegacy } from './legacy.ts';
import { startProcess, type Managed } from './process.ts';
import type { RunningService } from './services.ts';
import { Supervisor, type PartInstance, type SupervisedPart } from './supervisor.ts';

/** A started process as the supervisor watches it. */
export function instanceOf(proc: Managed): PartInstance {
  return {
    pid: proc.pid,
    exited: proc.exited.then((code) => ({ code, signal: proc.child.signalCode })),
    stop: () => proc.stop(),
    kill: () => signalGroup(proc.pid, 'SIGKILL'),
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a master killed with SIGKILL leaves behind (every process runs in its own group): nginx
 * workers that still hold the listening port, so a new master could not bind it; PHP-FPM
 * children. They get SIGQUIT (finish what they serve, then exit), and SIGKILL after `graceMs`.
 */
export async function drainGroup(pid: number, graceMs = 5000): Promise<void> {
  if (!signalGroup(pid, 'SIGQUIT')) return;
  const deadline = Date.now() + graceMs;
  while (signalGroup(pid, 0)) {
    if (Date.now() > deadline) {
      signalGroup(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The image service (or one of its replicas, each a part of its own named by `name`): restarted
 * on its ports with the same environment; probed on its health endpoint.
 */
export function servicePart(
  first: RunningService,
  start: () => Promise<RunningService>,
  onRestarted: () => void = () => undefined,
  name = 'image service',
): { part: SupervisedPart; instance: PartInstance } {
  let current = first;
  // Liveness on the admin listener: the public port may be busy with real work, and is for clients.
  const healthUrl = () => `${current.adminUrl}/healthz`;
  const part: SupervisedPart = {
    name,
    async restart() {
      await drainGroup(current.process.pid);
      current = await start();
      onRestarted();
      return instanceOf(current.process);
    },
    async probe(timeoutMs) {
      try {
        const res = await fetch(healthUrl(), { signal: AbortSignal.timeout(timeoutMs) });
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    },
  };
  return { part, instance: instanceOf(first.process) };
}

/**
 * The front door's nginx: started again from the cutover file as it is now, same run dir; probed
 * on its control socket, which the same workers serve as the public port (a hung worker answers
 * neither), unlogged and out of clients' reach.
 */
export function frontDoorPart(
  first: RunningFrontDoor,
  onRestart: (f: RunningFrontDoor) => void = () => undefined,
): { part: SupervisedPart; instance: PartInstance } {
  let current = first;
  const part: SupervisedPart = {
    name: "front door's nginx",
    async restart() {
      await drainGroup(current.master.pid);
      current = await current.restart();
      onRestart(current);
      return instanceOf(current.master);
    },
    async probe(timeoutMs) {
      return (await queryRunningPlan(current.runDir, timeoutMs)) !== undefined;
    },
  };
  return { part, instance: instanceOf(first.master) };
}

/** Legacy's two processes, each its own part: PHP-FPM, and the nginx in front of it. */
export function legacyParts(legacy: RunningLegacy): Array<{ part: SupervisedPart; instance: PartInstance }> {
  const { fpm, nginx } = legacy.processes();
  if (!fpm || !nginx) throw new Error('legacy is not running');
  let lastFpm = fpm;
  let lastNginx = nginx;
  const fpmPart: SupervisedPart = {
    name: "legacy's PHP-FPM",
    async restart() {
      await drainGroup(lastFpm.pid);
      await legacy.startFpm();
      lastFpm = legacy.processes().fpm!;
      return instanceOf(lastFpm);
    },
  };
  const nginxPart: SupervisedPart = {
    name: "legacy's nginx",
    async restart() {
      await drainGroup(lastNginx.pid);
      await legacy.startNginx();
      lastNginx = legacy.processes().nginx!;
      return instanceOf(lastNginx);
    },
  };
  return [
    { part: fpmPart, instance: instanceOf(fpm) },
    { part: nginxPart, instance: instanceOf(nginx) },
  ];
}

/**
 * The rollout controllers: `gateway rollout run <route>` for each route of the cutover file with
 * a `rollout:` block, each a part of its own supervisor (restarted with backoff when it exits).
 * A restarted controller carries on from its state file: no step repeated or skipped
 * (docs/rollout.md). Metrics on 127.0.0.1:<metricsPort + i>.
 */
export function startRolloutControllers(options: {
  routes: readonly string[];
  cutoverFile: string;
  runDir: string;
  metricsPort?: number;
  echo?: boolean;
  log?: (line: string) => void;
}): { stop(): Promise<void>; pids(): Record<string, number> } {
  if (options.routes.length === 0) return { stop: async () => undefined, pids: () => ({}) };
  const supervisor = new Supervisor({ log: options.log ?? ((line) => process.stdout.write(`${line}\n`)) });
  options.routes.forEach((route, i) => {
    const start = () =>
      startProcess(
        `rollout controller (${route})`,
        process.execPath,
        [
          path.join(projectRoot, 'gateway/bin/gateway.js'),
          'rollout',
          'run',
          route,
          '--file',
          options.cutoverFile,
          '--run-dir',
          options.runDir,
          '--metrics-listen',
          `127.0.0.1:${(options.metricsPort ?? 9084) + i}`,
        ],
        { cwd: projectRoot, echo: options.echo ?? false },
      );
    const part: SupervisedPart = { name: `rollout controller (${route})`, restart: async () => instanceOf(start()) };
    supervisor.watch(part, instanceOf(start()));
  });
  void supervisor.gaveUp.then((reason) => (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(`stack: ${reason}`));
  // npm start hands its own parts to its own supervisor and exits without stopping this one: the
  // controllers (detached, in their groups) would outlive it. SIGTERM at exit lets each finish its
  // tick; the state on disk keeps the rest for the next start.
  const atExit = () => {
    for (const pid of Object.values(supervisor.pids())) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  };
  process.once('exit', atExit);
  return {
    stop: async () => {
      process.off('exit', atExit);
      await supervisor.stop();
    },
    pids: () => supervisor.pids(),
  };
}
