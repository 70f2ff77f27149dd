/**
 * The stack's processes as supervised parts (stack/supervisor.ts): how each is watched, probed
 * and started again on the same address.
 */
import type { RunningFrontDoor } from './frontdoor.ts';
import type { RunningLegacy } from './legacy.ts';
import type { Managed } from './process.ts';
import type { RunningService } from './services.ts';
import type { PartInstance, SupervisedPart } from './supervisor.ts';

function instanceOf(proc: Managed): PartInstance {
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

/** The image service: restarted on its port with the same environment; probed on its health endpoint. */
export function servicePart(
  first: RunningService,
  start: () => Promise<RunningService>,
  onRestarted: () => void = () => undefined,
): { part: SupervisedPart; instance: PartInstance } {
  let current = first;
  // Liveness on the admin listener: the public port may be busy with real work, and is for clients.
  const healthUrl = () => `${current.adminUrl}/healthz`;
  const part: SupervisedPart = {
    name: 'image service',
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

/** The front door's nginx: started again from the cutover file as it is now, same run dir. */
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
