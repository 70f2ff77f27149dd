/**
 * The running front door's control socket: the workers answer which config (digest) and plan
 * they serve. The only way to know what nginx runs, as opposed to what is on disk.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { PlanSummary } from '../cutover/plan.ts';
import { frontDoorPaths } from './run-dir.ts';

/** What the serving workers report on the control socket: the digest and plan they run. */
export interface RunningPlan {
  digest: string;
  plan: PlanSummary;
}

export function queryRunningPlan(runDir: string, timeoutMs = 1000): Promise<RunningPlan | undefined> {
  const socketPath = frontDoorPaths(runDir).controlSocket;
  if (!existsSync(socketPath)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    // A fresh connection each time (agent: false): a kept-alive one could reach an old worker.
    const req = http.request({ socketPath, path: '/frontdoor/plan', agent: false, timeout: timeoutMs, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as RunningPlan) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Polls the control socket until the workers report `digest`; false on timeout, when nginx died, or when `failed()` says so. */
export async function waitForDigest(
  runDir: string,
  digest: string,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
  failed: () => boolean = () => false,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const running = await queryRunningPlan(runDir);
    if (running?.digest === digest) return true;
    if (!isAlive() || failed()) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
