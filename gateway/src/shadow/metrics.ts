/**
 * The sink's Prometheus metrics (prom-client, its own registry): what operators watch while a
 * share of traffic is shadowed — parity, mismatches by category, what was dropped, how deep the
 * queue is, and each backend's latency as the sink saw it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PairResult } from '../compare/result.ts';

export interface ShadowMetrics {
  registry: Registry;
  record(result: PairResult): void;
  dropped: Counter<'reason'>;
  refused: Counter<'reason'>;
}

export function createShadowMetrics(options: { queueDepth: () => number; inFlight: () => number; defaultMetrics?: boolean }): ShadowMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'gateway_shadow_' });
  const compared = new Counter({
    name: 'gateway_shadow_compared_total',
    help: 'Mirrored requests compared, by verdict (match, mismatch, intended) and primary category ("" for a match)',
    labelNames: ['verdict', 'category'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'gateway_shadow_dropped_total',
    help: 'Mirrored requests not compared: queue full',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const refused = new Counter({
    name: 'gateway_shadow_refused_total',
    help: 'Mirrored requests refused: method (not GET/HEAD) or route (not shadowable) or target (not a request path)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'gateway_shadow_queue_depth',
    help: 'Mirrored requests waiting to be compared',
    registers: [registry],
    collect() {
      this.set(options.queueDepth());
    },
  });
  new Gauge({
    name: 'gateway_shadow_in_flight',
    help: 'Comparisons in progress',
    registers: [registry],
    collect() {
      this.set(options.inFlight());
    },
  });
  const latency = new Histogram({
    name: 'gateway_shadow_backend_duration_seconds',
    help: 'Total time of the backend answer as the sink measured it, by backend (legacy, new)',
    labelNames: ['backend'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  let total = 0;
  let good = 0;
  const parity = new Gauge({
    name: 'gateway_shadow_parity',
    help: 'Share (0..1) of compared requests that matched or differed only as intended, since start',
    registers: [registry],
  });
  parity.set(1);
  return {
    registry,
    dropped,
    refused,
    record(r) {
      compared.inc({ verdict: r.verdict, category: r.category ?? '' });
      if (r.legacy.status !== null) latency.observe({ backend: 'legacy' }, r.legacy.totalMs / 1000);
      if (r.new.status !== null) latency.observe({ backend: 'new' }, r.new.totalMs / 1000);
      total++;
      if (r.verdict !== 'mismatch') good++;
      parity.set(good / total);
    },
  };
}
