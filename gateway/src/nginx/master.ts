/**
 * The nginx master process of a front door and its workers, seen through the pid file and /proc:
 * is it ours and alive, which workers does it have, have the old ones begun to shut down.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { frontDoorPaths } from './run-dir.ts';

/** The master's pid when an nginx master runs for this run directory, else undefined. */
export function runningMasterPid(runDir: string): number | undefined {
  const { pidFile } = frontDoorPaths(runDir);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A stale pid file may name a pid that now belongs to something else.
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'nginx') return undefined;
  } catch {
    /* no /proc (not Linux): trust the pid file */
  }
  return pid;
}

/** Direct children of a process (an nginx master's workers), from /proc; [] where there is none. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the parent pid; field 2 (the name) may contain spaces, so count from ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

function processTitle(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return undefined; // exited
  }
}

/**
 * Waits until each of the old workers has exited or has begun its graceful shutdown. nginx sets
 * the title "worker process is shutting down" right before it closes the worker's idle
 * keep-alive connections, so after this an idle client connection to an old worker is closed
 * (the client has its FIN) instead of about to be. Busy connections finish their request and
 * close with "Connection: close". Bounded: an old worker stuck elsewhere does not stall apply.
 */
export async function waitForOldWorkersShuttingDown(oldWorkers: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pending = oldWorkers.filter((pid) => {
      const title = processTitle(pid);
      return title !== undefined && /worker process/.test(title) && !/shutting down/.test(title);
    });
    if (pending.length === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  // Let a client in this very process (tests, stack/frontdoor.ts) read those FINs before its
  // next request picks a pooled connection.
  await new Promise((r) => setTimeout(r, 50));
}
