/**
 * Builds the service as main.ts does, minus the listening socket: a real FsSourceStore on a temp
 * directory (or any SourceStore), real metrics, a real Limiter and ImageService, and the Hono app,
 * which the tests drive with app.request().
 */
import { pino } from 'pino';
import { createAdminApp, createApp } from '../src/http/app.ts';
import { Limiter } from '../src/limiter.ts';
import { ResultCache } from '../src/cache/index.ts';
import { createMetrics, type ServiceMetrics } from '../src/metrics.ts';
import { ImageService, type ImageServiceOptions } from '../src/service.ts';
import type { SourceObject, SourceStore } from '../src/storage/index.ts';

export interface Harness {
  app: ReturnType<typeof createApp>;
  /** The admin listener's app: /healthz, /readyz, /metrics. */
  admin: ReturnType<typeof createAdminApp>;
  service: ImageService;
  limiter: Limiter;
  metrics: ServiceMetrics;
  /** The value of a counter or gauge without labels (or the sum over its labels). */
  metric(name: string): Promise<number>;
  shuttingDown: { value: boolean };
}

export const DEFAULT_OPTIONS: ImageServiceOptions = {
  maxInputBytes: 50 * 1024 * 1024,
  maxInputPixels: 50_000_000,
  fastShrinkOnLoad: false,
  requestTimeoutMs: 10_000,
  renderTimeoutMs: 10_000,
  storageTimeoutMs: 5_000,
};

export interface HarnessOptions {
  concurrency?: number;
  queueLimit?: number;
  /** Limiter lookahead (main.ts: one per slot). Default 0. */
  lookahead?: number;
  service?: Partial<ImageServiceOptions>;
}

export function buildHarness(store: SourceStore, options: HarnessOptions = {}): Harness {
  const limiter = new Limiter({
    concurrency: options.concurrency ?? 2,
    queueLimit: options.queueLimit ?? 32,
    retryAfterSeconds: 1,
    lookahead: options.lookahead,
  });
  return assemble(store, options, limiter, createMetrics({ limiter }), undefined);
}

/** The harness with the result cache on (memory budget in bytes, optional disk tier), as main.ts builds it. */
export async function buildCachedHarness(
  store: SourceStore,
  cacheOptions: { memoryBytes: number; disk?: { dir: string; bytes: number } },
  options: HarnessOptions = {},
): Promise<Harness & { cache: ResultCache }> {
  const limiter = new Limiter({
    concurrency: options.concurrency ?? 2,
    queueLimit: options.queueLimit ?? 32,
    retryAfterSeconds: 1,
    lookahead: options.lookahead,
  });
  const made: { cache?: ResultCache } = {};
  const metrics = createMetrics({ limiter, resultCacheBytes: () => made.cache?.bytes ?? { memory: 0, disk: 0 } });
  const cache = await ResultCache.create({ ...cacheOptions, metrics: metrics.resultCache });
  made.cache = cache;
  return { ...assemble(store, options, limiter, metrics, cache), cache };
}

function assemble(store: SourceStore, options: HarnessOptions, limiter: Limiter, metrics: ServiceMetrics, cache: ResultCache | undefined): Harness {
  const service = new ImageService({ store, limiter, metrics, options: { ...DEFAULT_OPTIONS, ...options.service }, cache });
  const shuttingDown = { value: false };
  const deps = {
    service,
    store,
    metrics,
    logger: pino({ level: 'silent' }),
    policy: { signingSecret: undefined, allowedSizes: undefined },
    isShuttingDown: () => shuttingDown.value,
  };
  const app = createApp(deps);
  const admin = createAdminApp(deps);
  return {
    app,
    admin,
    service,
    limiter,
    metrics,
    shuttingDown,
    async metric(name) {
      const m = await metrics.registry.getSingleMetric(name)?.get();
      return (m?.values ?? []).filter((v) => !('metricName' in v) || v.metricName === name).reduce((sum, v) => sum + v.value, 0);
    },
  };
}

/** A gate that holds every `open` of the wrapped store until `release()`; counts the opens. */
export function gatedStore(inner: SourceStore): { store: SourceStore; release(): void; opens(): number; waiting(): number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let opens = 0;
  let waiting = 0;
  return {
    release,
    opens: () => opens,
    waiting: () => waiting,
    store: {
      description: 'gated',
      ping: (signal) => inner.ping(signal),
      async open(key, signal): Promise<SourceObject> {
        opens++;
        waiting++;
        await gate;
        waiting--;
        return inner.open(key, signal);
      },
    },
  };
}

/** Resolves once `check()` is true, polling on the event loop (no wall-clock assertions). */
export async function until(check: () => boolean | Promise<boolean>, what: string, maxTicks = 2000): Promise<void> {
  for (let i = 0; i < maxTicks; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never happened: ${what}`);
}
