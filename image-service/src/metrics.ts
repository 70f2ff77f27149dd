import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus metrics operators watch. One registry per app, so tests can build many apps. */
export interface ServiceMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route' | 'status'>;
  inFlight: Gauge;
  queueDepth: Gauge;
  resizes: Counter;
  coalesced: Counter;
  sourceFetch: Histogram<'outcome'>;
  /** The result cache's counters (registered whether or not the cache is on: a flat 0 says it is off). */
  resultCache: {
    hits: Counter<'tier'>;
    misses: Counter;
    evictions: Counter<'tier'>;
    invalidations: Counter;
  };
}

/** Live values read at scrape time; the limiter is the source of truth for both gauges. */
export interface LimiterState {
  readonly active: number;
  readonly queued: number;
}

export function createMetrics(
  options: { defaultMetrics?: boolean; limiter?: LimiterState; resultCacheBytes?: () => { memory: number; disk: number } } = {},
): ServiceMetrics {
  const limiter = options.limiter;
  const cacheBytes = options.resultCacheBytes;
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'image_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'image_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'image_resizes_in_flight',
      help: 'Resizes holding a slot',
      registers: [registry],
      collect() {
        if (limiter) this.set(limiter.active);
      },
    }),
    queueDepth: new Gauge({
      name: 'image_resize_queue_depth',
      help: 'Resizes waiting for a slot',
      registers: [registry],
      collect() {
        if (limiter) this.set(limiter.queued);
      },
    }),
    resizes: new Counter({ name: 'image_resizes_total', help: 'Resizes performed (after coalescing)', registers: [registry] }),
    coalesced: new Counter({
      name: 'image_coalesced_requests_total',
      help: 'Requests that joined an identical resize already in flight instead of starting their own',
      registers: [registry],
    }),
    sourceFetch: new Histogram({
      name: 'image_source_fetch_seconds',
      help: 'Time to open and read an original from storage',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    resultCache: {
      hits: new Counter({
        name: 'image_result_cache_hits_total',
        help: 'Variants answered from the result cache, by tier (memory, disk)',
        labelNames: ['tier'],
        registers: [registry],
      }),
      misses: new Counter({ name: 'image_result_cache_misses_total', help: 'Variants looked up in the result cache and not found', registers: [registry] }),
      evictions: new Counter({
        name: 'image_result_cache_evictions_total',
        help: 'Result cache entries pushed out by the byte budget, by tier',
        labelNames: ['tier'],
        registers: [registry],
      }),
      invalidations: new Counter({
        name: 'image_result_cache_invalidations_total',
        help: 'Result cache entries dropped because their original was replaced or deleted',
        registers: [registry],
      }),
    },
    ...(cacheBytes && {
      resultCacheBytes: new Gauge({
        name: 'image_result_cache_bytes',
        help: 'Bytes held by the result cache, by tier',
        labelNames: ['tier'],
        registers: [registry],
        collect() {
          const b = cacheBytes();
          this.set({ tier: 'memory' }, b.memory);
          this.set({ tier: 'disk' }, b.disk);
        },
      }),
    }),
  };
}
