/**
 * The raw in-process sharp loop: the library's own limit on this machine, the ceiling the image
 * service is measured against. A child process of bench/run.ts and bench/service.ts (so its CPU
 * and memory are its own in /proc), driven over IPC with the same load driver as the HTTP subjects.
 *
 * It runs the service's own pipeline (image-service/src/pipeline.ts renderImage) with the service's
 * libvips settings (sharp.concurrency as the parent says, 1 by default as in the service; no
 * operation cache; the environment the parent gives it), `concurrency` renders at a time (the
 * service's default: the usable cores), on originals preloaded in memory: no HTTP, no storage
 * reads, no limiter or coalescing.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { parseImageRequest, queryPairs, type ResizeRequest } from '../image-service/src/params.ts';
import { renderImage, type PipelineLimits } from '../image-service/src/pipeline.ts';
import { closedLoop, closedLoopFor, limitConcurrency, openLoop, type Exec, type PhaseResult } from './lib/drive.ts';
import { splitPath } from './lib/workload.ts';

export type SharpLimitRequest =
  | { cmd: 'init'; files: Record<string, string>; paths: string[]; concurrency: number; limits: PipelineLimits; sharpConcurrency?: number }
  | { cmd: 'closed'; first: number; count: number }
  /** A closed loop for `seconds`, continuing the request list where the previous timed one stopped. */
  | { cmd: 'timed'; seconds: number }
  | { cmd: 'open'; first: number; count: number; rate: number; maxInFlight: number }
  | { cmd: 'exit' };

export type SharpLimitReply =
  { event: 'ready' } | { event: 'windowClosed' } | { event: 'done'; result: PhaseResult; cpuS: number } | { event: 'error'; message: string };

sharp.concurrency(1);
sharp.cache(false);

let exec: Exec | undefined;
let concurrency = 1;
let timedNext = 0;

const send = (m: SharpLimitReply) => process.send?.(m);

// The benchmark holds the other end of the IPC channel: when it goes, so does this loop.
process.on('disconnect', () => process.exit(0));

process.on('message', (msg: SharpLimitRequest) => {
  handle(msg).catch((err: unknown) => send({ event: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});

async function handle(msg: SharpLimitRequest): Promise<void> {
  switch (msg.cmd) {
    case 'init': {
      const inputs = new Map(Object.entries(msg.files).map(([key, file]) => [key, readFileSync(file)]));
      const jobs = msg.paths.map((p) => {
        const { key, query } = splitPath(p);
        const input = inputs.get(key);
        if (!input) throw new Error(`no original for ${p}`);
        const parsed = parseImageRequest(queryPairs(query));
        if (!parsed.ok || parsed.value.kind !== 'resize') throw new Error(`not a resize request: ${p}`);
        return { input, request: parsed.value.resize as ResizeRequest };
      });
      const render: Exec = async (i) => {
        const job = jobs[i % jobs.length]!;
        const out = await renderImage(job.input, job.request, msg.limits);
        return out.body.length > 0 ? { ok: true } : { ok: false, error: 'empty output' };
      };
      concurrency = msg.concurrency;
      sharp.concurrency(msg.sharpConcurrency ?? 1);
      // Open loop: at most `concurrency` renders at once, the rest queue, as in the service.
      exec = render;
      send({ event: 'ready' });
      return;
    }
    case 'closed': {
      if (!exec) throw new Error('not initialised');
      const cpu0 = process.cpuUsage();
      const result = await closedLoop(exec, { first: msg.first, count: msg.count, concurrency, onWindowClose: () => send({ event: 'windowClosed' }) });
      send({ event: 'done', result, cpuS: cpuSince(cpu0) });
      return;
    }
    case 'open': {
      if (!exec) throw new Error('not initialised');
      const cpu0 = process.cpuUsage();
      const result = await openLoop(limitConcurrency(concurrency, exec), { first: msg.first, count: msg.count, rate: msg.rate, maxInFlight: msg.maxInFlight });
      send({ event: 'windowClosed' });
      send({ event: 'done', result, cpuS: cpuSince(cpu0) });
      return;
    }
    case 'timed': {
      if (!exec) throw new Error('not initialised');
      const cpu0 = process.cpuUsage();
      const result = await closedLoopFor(exec, { first: timedNext, seconds: msg.seconds, concurrency });
      timedNext += result.completedInWindow;
      send({ event: 'windowClosed' });
      send({ event: 'done', result, cpuS: cpuSince(cpu0) });
      return;
    }
    case 'exit':
      process.exit(0);
  }
}

/** This process's CPU seconds (user + system) since `before`. */
function cpuSince(before: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1e6;
}
