import { describe, expect, it } from 'vitest';
import type { PhaseResult } from '../lib/drive.ts';
import { peerChecks, renderPeers, summarizePeerRow, type PeerRow } from '../lib/peer-report.ts';
import type { PhaseMeasurement } from '../lib/report.ts';

function phase(o: { ok: number; seconds: number; cpuS: number; genS: number; busyS: number; lat: number[]; errors?: number; rss?: number }): PhaseMeasurement {
  const result: PhaseResult = {
    ok: o.ok,
    errors: o.errors ?? 0,
    errorSamples: o.errors ? ['status 503'] : [],
    elapsedS: o.seconds,
    latenciesMs: o.lat,
    indices: o.lat.map((_, i) => i),
    completedInWindow: o.ok,
    dropped: 0,
  };
  return { round: 0, result, usage: { cpuS: o.cpuS, peakRssMb: o.rss ?? 100, peakPssMb: 80, machineBusyS: o.busyS }, generatorCpuS: o.genS };
}

const row = (subject: string, rps: number, p99: number, cpu: number, errors = 0): PeerRow => ({
  subject,
  description: subject,
  rps,
  rps_rounds: [rps],
  p50_ms: p99 / 2,
  p99_ms: p99,
  cpu_s_per_req: cpu,
  subject_cpu_s_per_req: cpu,
  machine_cpu_s_per_req: cpu,
  peak_rss_mb: 100,
  requests: 100,
  errors,
  error_samples: [],
});

describe('summarizePeerRow', () => {
  it('medians over rounds; CPU per request with and without the generator; the machine figure apart', () => {
    const r = summarizePeerRow('new', 'the service', [
      phase({ ok: 100, seconds: 4, cpuS: 8, genS: 1, busyS: 12, lat: [10, 20, 30], rss: 150 }),
      phase({ ok: 100, seconds: 5, cpuS: 9, genS: 1, busyS: 11, lat: [40] }),
    ]);
    expect(r.rps).toBe(22.5);
    expect(r.rps_rounds).toEqual([25, 20]);
    expect(r.subject_cpu_s_per_req).toBe(0.085);
    expect(r.cpu_s_per_req).toBe(0.095);
    expect(r.machine_cpu_s_per_req).toBe(0.115);
    expect(r.p99_ms).toBe(40);
    expect(r.peak_rss_mb).toBe(150);
    expect(r.requests).toBe(200);
  });
});

describe('peerChecks', () => {
  it('holds when the service beats the bar, and says NO where it does not', () => {
    const checks = peerChecks([row('new', 30, 80, 0.05), row('ipx', 25, 100, 0.05), row('thumbor', 20, 200, 0.06)]);
    expect(checks.map((c) => [c.name, c.value, c.pass])).toEqual([
      ['throughput vs ipx', 1.2, true],
      ['throughput vs thumbor', 1.5, false],
      ['p99 vs ipx', 0.8, true],
      ['CPU per request vs ipx', 1, true],
    ]);
  });
  it('a throughput bar beyond the decode-floor ceiling is out of reach; one within it is only "not yet"', () => {
    const rows = [row('new', 30, 80, 0.05), row('ipx', 25, 100, 0.05), row('thumbor', 20, 200, 0.06)];
    // The bare decodes allow 34 req/s: at most 1.36x ipx (bar 1.12: reachable), 1.7x thumbor (bar 1.8: not).
    const checks = peerChecks(rows, { cpu_s_per_req: 2 / 34, ceiling_rps: 34 });
    expect(checks.map((c) => [c.name, c.pass, c.best_possible, c.out_of_reach])).toEqual([
      ['throughput vs ipx', true, 1.36, false],
      ['throughput vs thumbor', false, 1.7, true],
      ['p99 vs ipx', true, null, false],
      ['CPU per request vs ipx', true, null, false],
    ]);
    // A faster thumbor only lowers the reach; a slower one (10 req/s) puts the bar within it.
    expect(peerChecks([rows[0]!, rows[1]!, row('thumbor', 10, 200, 0.06)], { cpu_s_per_req: 2 / 34, ceiling_rps: 34 })[1]).toMatchObject({
      pass: true,
      best_possible: 3.4,
      out_of_reach: false,
    });
    const floor = { cpu_s_per_req: 2 / 34, ceiling_rps: 34 };
    const md = renderPeers([{ name: 'p', description: 'd', originals: 1, variants: ['w=300'], paths: 1, rows, checks, floor }], {
      concurrency: 4,
      rounds: 2,
      seconds: 8,
      defaults: {},
    }).join('\n');
    expect(md).toContain('| throughput vs thumbor (service rps / thumbor rps) | 1.500 | >= 1.8 | <= 1.700 | 1.500 | NO: out of reach |');
    // Without a floor nothing is called out of reach.
    expect(peerChecks(rows).every((c) => c.best_possible === null && !c.out_of_reach)).toBe(true);
  });
  it('pairs the rounds: service round i over the peer round i, beside the ratio of the medians the check uses', () => {
    const svc = { ...row('new', 26, 80, 0.05), rps_rounds: [24, 26, 28] };
    const ipx = { ...row('ipx', 23.5, 100, 0.05), rps_rounds: [20, 23.5, 25] };
    const [vsIpx, , p99] = peerChecks([svc, ipx, row('thumbor', 20, 200, 0.06)]);
    expect(vsIpx!.value).toBe(1.106);
    expect(vsIpx!.per_round).toEqual([1.2, 1.106, 1.12]);
    expect(p99!.per_round).toEqual([]);
  });
  it('is n/a (not a pass) when a subject failed requests or is missing', () => {
    const checks = peerChecks([row('new', 30, 80, 0.05, 3), row('ipx', 25, 100, 0.05)]);
    expect(checks.every((c) => c.pass === null)).toBe(true);
  });
  it('prints every check with whether it holds', () => {
    const rows = [row('new', 30, 80, 0.05), row('ipx', 25, 100, 0.06), row('thumbor', 10, 200, 0.06)];
    const floor = { cpu_s_per_req: 0.04, ceiling_rps: 50 };
    const md = renderPeers(
      [{ name: 'large', description: 'big ones', originals: 20, variants: ['w=300'], paths: 20, rows, checks: peerChecks(rows, floor), floor }],
      {
        concurrency: 4,
        rounds: 2,
        seconds: 8,
        defaults: { ipx: 'no orientation' },
      },
    ).join('\n');
    expect(md).toContain('| throughput vs ipx (service rps / ipx rps) | 1.200 | >= 1.12 | <= 2.000 | 1.200 | yes |');
    expect(md).toContain('| throughput vs thumbor (service rps / thumbor rps) | 3.000 | >= 1.8 | <= 5.000 | 3.000 | yes |');
    expect(md).toContain('| CPU per request vs ipx (service CPU s/req / ipx CPU s/req) | 0.833 | <= 1 |  |  | yes |');
    expect(md).toContain('cost 40.0 ms of CPU per request over this mix, so no resizer on these decoders serves more than 50.0 req/s');
    // Without a measured floor: no bound printed, no paragraph.
    const bare = renderPeers([{ name: 'p', description: 'd', originals: 1, variants: ['w=300'], paths: 1, rows, checks: peerChecks(rows), floor: null }], {
      concurrency: 4,
      rounds: 2,
      seconds: 8,
      defaults: {},
    }).join('\n');
    expect(bare).toContain('| throughput vs ipx (service rps / ipx rps) | 1.200 | >= 1.12 |  | 1.200 | yes |');
    expect(bare).not.toContain('Best possible:');
    expect(md).toContain('- **ipx**: no orientation');
  });
});
