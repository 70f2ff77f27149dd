/**
 * What every chaos scenario shares: the result record and its checks, the run context, and the
 * small helpers that turn a load report into figures. Scenarios live one per file beside this
 * one; scripts/chaos.ts lists and runs them and prints the table.
 */
import type { LoadReport, RequestResult } from './keepalive-load.ts';
import path from 'node:path';
import { projectRoot } from '../../common/paths.ts';
import { startProcess, type Managed } from '../../stack/process.ts';
import type { RunningService } from '../../stack/services.ts';

export interface ScenarioResult {
  name: string;
  requests: number;
  clientErrors: number;
  lost: number;
  peakRssMb: number | undefined;
  verdict: 'PASS' | 'FAIL';
  /** Figures behind the verdict. */
  notes: string;
  checks: Array<{ what: string; ok: boolean }>;
}

export interface Timing {
  /** Load duration of one scenario phase. */
  loadMs: number;
}

export interface Context {
  short: boolean;
  t: Timing;
  workDir: string;
  /** Originals (photos) in a file store directory, shared by the scenarios. */
  storageDir: string;
  photos: string[];
}

export type Scenario = { name: string; run: (ctx: Context) => Promise<ScenarioResult> };

/** Peak RSS budget of the image service under every scenario, overload included. */
export const RSS_BUDGET_MB = 400;

// --- scenario helpers ------------------------------------------------------------------------------

export class Checks {
  readonly list: Array<{ what: string; ok: boolean }> = [];
  check(what: string, ok: boolean): boolean {
    this.list.push({ what, ok });
    return ok;
  }
  get ok(): boolean {
    return this.list.every((c) => c.ok);
  }
  failed(): string {
    return this.list
      .filter((c) => !c.ok)
      .map((c) => `FAILED: ${c.what}`)
      .join('; ');
  }
}

export function isClientError(r: RequestResult): boolean {
  return r.outcome !== 'answered' || r.status >= 500;
}

export function result(name: string, load: { sent: number; results: RequestResult[] }, checks: Checks, rss: number | undefined, notes: string): ScenarioResult {
  const lost = load.results.filter((r) => r.outcome === 'lost').length;
  return {
    name,
    requests: load.sent,
    clientErrors: load.results.filter(isClientError).length,
    lost,
    peakRssMb: rss,
    verdict: checks.ok ? 'PASS' : 'FAIL',
    notes: checks.ok ? notes : `${checks.failed()} | ${notes}`,
    checks: checks.list,
  };
}

export function merge(...loads: LoadReport[]): { sent: number; results: RequestResult[] } {
  return { sent: loads.reduce((n, l) => n + l.sent, 0), results: loads.flatMap((l) => l.results) };
}

export function summarise(results: RequestResult[]): string {
  const counts = new Map<string, number>();
  for (const r of results) {
    const key = r.outcome === 'answered' ? String(r.status) : (r.error ?? r.outcome);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${n}x${k}`)
    .join(' ');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function poll(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    try {
      if (await check()) return performance.now() - started;
    } catch {
      /* not yet */
    }
    await sleep(everyMs);
  }
  return undefined;
}

/** Where a service answers /metrics, /readyz and /healthz: its admin listener (kept off the public port). */
export function adminUrl(service: RunningService): string {
  return service.adminUrl;
}

export async function gauge(service: RunningService, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl(service)}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Samples a function every `everyMs` until stopped; returns the maximum seen. */
export function sampleMax(sample: () => Promise<number>, everyMs = 100): { stop: () => Promise<number> } {
  let max = Number.NEGATIVE_INFINITY;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        max = Math.max(max, await sample());
      } catch {
        /* the process may be gone for a moment */
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

/** 200s completed within [t0, t0 + windowMs]. */
export function okWithin(load: LoadReport, t0: number, windowMs: number): number {
  return load.results.filter((r) => r.status === 200 && r.endedAt <= t0 + windowMs).length;
}

export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export const variant = (ctx: Context, i: number) => `${ctx.photos[i % ctx.photos.length]}?w=${120 + (i % 600)}`;

/** A cheap hot-path request with a URI of its own (`n` is an unknown parameter, ignored by both backends, but part of the sticky split key). */
export const tiny = (i: number) => `tiny.png?w=${8 + (i % 24)}&n=${i}`;

/** The ports of one scenario's `npm start`: the front door, legacy, the (first) image service and its admin port. */
export interface StackPorts {
  front: number;
  legacy: number;
  service: number;
  admin: number;
}

/**
 * The environment of an `npm start` on `ports`, with its own var directory under `work` and its
 * own cutover file, and no sample originals seeded (the scenario brings its own).
 */
export function npmStartEnv(work: string, cutoverFile: string, ports: StackPorts): Record<string, string> {
  return {
    CUTOVER_FILE: cutoverFile,
    STACK_VAR_DIR: path.join(work, 'var'),
    STACK_SEED: 'false',
    FRONT_PORT: String(ports.front),
    LEGACY_PORT: String(ports.legacy),
    SERVICE_PORT: String(ports.service),
    ADMIN_PORT: String(ports.admin),
  };
}

/**
 * `npm start` (scripts/stack.ts) as a child, as a user runs it, with `env` on top of this
 * process's; resolves once it prints that it is ready (`ready: false` when it exits or takes
 * longer than `readyWithinMs`). Its whole output is kept: Managed.output() keeps the last 200
 * lines, and a scenario reads the supervisor's lines of a whole run.
 */
export async function startNpmStart(env: Record<string, string>, readyWithinMs = 150_000): Promise<{ stack: Managed; output(): string; ready: boolean }> {
  let output = '';
  const stack = startProcess('npm-start', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/stack.ts')], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
  });
  stack.child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  stack.child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const readyBy = Date.now() + readyWithinMs;
  while (!output.includes('stack: ready')) {
    if (stack.child.exitCode !== null || Date.now() > readyBy) return { stack, output: () => output, ready: false };
    await sleep(200);
  }
  return { stack, output: () => output, ready: true };
}
