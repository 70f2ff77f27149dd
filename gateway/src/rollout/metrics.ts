/**
 * The controller's Prometheus metrics (prom-client, its own registry): the same facts as the
 * audit log and `gateway status`, for dashboards and alerts.
 */
import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { STATUSES, type AuditRecord, type RolloutState } from './core/machine.ts';

export interface RolloutMetrics {
  registry: Registry;
  /** The state as it is now (called every tick). */
  observe(state: RolloutState, steps: readonly number[]): void;
  /** One decision. */
  record(r: AuditRecord): void;
}

export function createRolloutMetrics(): RolloutMetrics {
  const registry = new Registry();
  const labels = ['route'] as const;
  const share = new Gauge({ name: 'gateway_rollout_share', help: 'Share (percent) the rollout last applied', labelNames: labels, registers: [registry] });
  const step = new Gauge({ name: 'gateway_rollout_step', help: 'Current step, from 1', labelNames: labels, registers: [registry] });
  const steps = new Gauge({ name: 'gateway_rollout_steps', help: 'Number of steps', labelNames: labels, registers: [registry] });
  const status = new Gauge({
    name: 'gateway_rollout_status',
    help: `1 for the rollout's status (${STATUSES.join(', ')}), 0 for the others`,
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const next = new Gauge({
    name: 'gateway_rollout_next_decision_timestamp_seconds',
    help: 'When the next decision is due (epoch seconds); 0 when none is (paused or finished)',
    labelNames: labels,
    registers: [registry],
  });
  const failures = new Gauge({ name: 'gateway_rollout_failures', help: 'Failed checks in a row', labelNames: labels, registers: [registry] });
  const decisions = new Counter({
    name: 'gateway_rollout_decisions_total',
    help: 'Decisions, by decision (start, hold, advance, fail, rollback, complete, and the operator commands)',
    labelNames: ['route', 'decision'] as const,
    registers: [registry],
  });
  const gate = new Gauge({
    name: 'gateway_rollout_gate_value',
    help: "Each gate's value at the last judged check",
    labelNames: ['route', 'gate'] as const,
    registers: [registry],
  });
  const threshold = new Gauge({
    name: 'gateway_rollout_gate_threshold',
    help: "Each gate's threshold",
    labelNames: ['route', 'gate'] as const,
    registers: [registry],
  });
  const gateOk = new Gauge({
    name: 'gateway_rollout_gate_ok',
    help: '1 when the gate passed at the last judged check',
    labelNames: ['route', 'gate'] as const,
    registers: [registry],
  });
  const evidence = new Gauge({
    name: 'gateway_rollout_evidence',
    help: "The last decision's evidence counts: new_requests, legacy_requests, pairs, mismatches, fallbacks, new_errors, shed",
    labelNames: ['route', 'kind'] as const,
    registers: [registry],
  });
  return {
    registry,
    observe(s, list) {
      share.set({ route: s.route }, s.share);
      step.set({ route: s.route }, s.step + 1);
      steps.set({ route: s.route }, list.length);
      for (const st of STATUSES) status.set({ route: s.route, status: st }, st === s.status ? 1 : 0);
      next.set({ route: s.route }, s.status === 'running' ? s.nextDecisionAt / 1000 : 0);
      failures.set({ route: s.route }, s.failures);
    },
    record(r) {
      decisions.inc({ route: r.route, decision: r.decision });
      for (const g of r.gates ?? []) {
        if (g.value !== null) gate.set({ route: r.route, gate: g.gate }, g.value);
        threshold.set({ route: r.route, gate: g.gate }, g.threshold);
        gateOk.set({ route: r.route, gate: g.gate }, g.ok ? 1 : 0);
      }
      const e = r.evidence;
      if (e) {
        const counts = {
          new_requests: e.newRequests,
          legacy_requests: e.legacyRequests,
          pairs: e.pairs,
          mismatches: e.mismatches,
          fallbacks: e.fallbacks,
          new_errors: e.newErrors,
          shed: e.shed,
        };
        for (const [kind, v] of Object.entries(counts)) evidence.set({ route: r.route, kind }, v);
      }
    },
  };
}

/** Serves GET /metrics on host:port; resolves once listening. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
