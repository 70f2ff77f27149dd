/**
 * The benchmark's subjects, each behind the same small interface: the processes to account for,
 * a closed-loop phase and an open-loop phase over the request list. HTTP subjects are driven by
 * the same keep-alive client (http-exec.ts); sharp-limit is a child process driven over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PipelineLimits } from '../../image-service/src/pipeline.ts';
import { NODE_FLAGS, RUNTIME_ENV } from '../../image-service/src/runtime-env.ts';
import type { SharpLimitReply, SharpLimitRequest } from '../sharp-limit.ts';
import { closedLoop, openLoop, type Exec, type PhaseResult } from './drive.ts';
import { httpExec } from './http-exec.ts';
import type { SubjectName } from './settings.ts';
import type { Workload } from './workload.ts';

export interface Subject {
  name: SubjectName;
  description: string;
  /** What the CPU and memory figures sum over, in words. */
  processes: string;
  pids(): number[];
  /** Processes also reported on their own (their figures are included in pids()'s). */
  part?: { name: string; pids(): number[] };
  inProcess: boolean;
  /** Closed loop over requests first..first+count-1; calls onWindowClose when the last counted one returns. */
  closed(first: number, count: number, onWindowClose: () => void): Promise<PhaseResult>;
  /** Open loop at `rate` req/s. */
  open(first: number, count: number, rate: number): Promise<PhaseResult>;
  /**
   * HTTP subjects: one client whose connection stays open across calls (closed() and open() make a
   * fresh client per phase, so a phase of one request would pay a TCP connect each time).
   */
  client?(): { exec: Exec; close(): void };
}

/** Open-loop requests allowed in flight before new ones are dropped (and counted as errors). */
export const MAX_IN_FLIGHT = 256;

export function httpSubject(o: {
  name: SubjectName;
  description: string;
  processes: string;
  baseUrl: string;
  workload: Workload;
  concurrency: number;
  pids(): number[];
  part?: { name: string; pids(): number[] };
  /** A response header every answer must carry (the front door names the backend that answered). */
  header?: { name: string; value: string };
}): Subject {
  const target = { baseUrl: o.baseUrl, paths: o.workload.paths, contentTypes: o.workload.contentTypes, header: o.header };
  return {
    name: o.name,
    description: o.description,
    processes: o.processes,
    pids: o.pids,
    part: o.part,
    inProcess: false,
    async closed(first, count, onWindowClose) {
      const client = httpExec(target, o.concurrency);
      try {
        return await closedLoop(client.exec, { first, count, concurrency: o.concurrency, onWindowClose });
      } finally {
        client.close();
      }
    },
    client: () => httpExec(target, 1),
    async open(first, count, rate) {
      const client = httpExec(target, MAX_IN_FLIGHT);
      try {
        return await openLoop(client.exec, { first, count, rate, maxInFlight: MAX_IN_FLIGHT });
      } finally {
        client.close();
      }
    },
  };
}

const sharpLimitScript = path.join(path.dirname(fileURLToPath(import.meta.url)), '../sharp-limit.ts');

export interface SharpLimitSubject extends Subject {
  /** A closed loop for `seconds` (continuing the list), with the CPU seconds the child used in it. */
  timed(seconds: number): Promise<{ result: PhaseResult; cpuS: number }>;
  stop(): Promise<void>;
}

/**
 * Starts the sharp-limit child and loads the originals into it. By default with the node flags and
 * environment `npm start` gives the service; the service benchmark passes its tuning instead.
 */
export async function startSharpLimit(o: {
  workload: Workload;
  files: Record<string, string>;
  concurrency: number;
  limits: PipelineLimits;
  sharpConcurrency?: number;
  nodeFlags?: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<SharpLimitSubject> {
  const child: ChildProcess = fork(sharpLimitScript, [], {
    execArgv: [...(o.nodeFlags ?? NODE_FLAGS), '--import', 'tsx'],
    env: o.env ?? { ...process.env, ...RUNTIME_ENV },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let listener: ((m: SharpLimitReply) => void) | undefined;
  child.on('message', (m: SharpLimitReply) => listener?.(m));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const request = (msg: SharpLimitRequest, onWindowClose?: () => void): Promise<{ result: PhaseResult; cpuS: number } | undefined> =>
    new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('sharp-limit exited during a phase'));
      child.once('exit', onExit);
      listener = (m) => {
        if (m.event === 'windowClosed') onWindowClose?.();
        else if (m.event === 'ready') {
          child.off('exit', onExit);
          resolve(undefined);
        } else if (m.event === 'done') {
          child.off('exit', onExit);
          resolve({ result: m.result, cpuS: m.cpuS });
        } else if (m.event === 'error') {
          child.off('exit', onExit);
          reject(new Error(`sharp-limit: ${m.message}`));
        }
      };
      child.send(msg);
    });

  await request({ cmd: 'init', files: o.files, paths: o.workload.paths, concurrency: o.concurrency, limits: o.limits, sharpConcurrency: o.sharpConcurrency });
  const pid = child.pid ?? -1;
  return {
    name: 'sharp-limit',
    description: `image-service/src/pipeline.ts renderImage in a loop, ${o.concurrency} at a time, originals preloaded in memory (no HTTP, no storage reads)`,
    processes: 'the one Node process running the loop',
    pids: () => (child.exitCode === null ? [pid] : []),
    inProcess: true,
    async closed(first, count, onWindowClose) {
      return (await request({ cmd: 'closed', first, count }, onWindowClose))!.result;
    },
    async open(first, count, rate) {
      return (await request({ cmd: 'open', first, count, rate, maxInFlight: MAX_IN_FLIGHT }))!.result;
    },
    async timed(seconds) {
      return (await request({ cmd: 'timed', seconds }))!;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ cmd: 'exit' } satisfies SharpLimitRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
