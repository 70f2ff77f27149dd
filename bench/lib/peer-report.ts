/**
 * PURE: the peer comparison's figures (issue 16: why not just run ipx or thumbor?) from its
 * measured rounds, the checks the issue asks for, and their markdown. No I/O.
 */
import type { PhaseMeasurement } from './report.ts';
import { median, round, summarizeLatencies } from './stats.ts';

export interface PeerRow {
  subject: string;
  description: string;
  /** Closed loop, median over rounds, req/s. */
  rps: number | null;
  rps_rounds: number[];
  /** Latency of the closed-loop requests, all rounds pooled, ms. */
  p50_ms: number | null;
  p99_ms: number | null;
  /** CPU seconds per request of the subject's processes plus the load generator's (median over rounds): what the checks use. */
  cpu_s_per_req: number | null;
  /** The subject's processes alone. */
  subject_cpu_s_per_req: number | null;
  /** Busy time of the whole machine per request, other processes included (the issue's definition; noisy on a shared machine). */
  machine_cpu_s_per_req: number | null;
  peak_rss_mb: number | null;
  requests: number;
  errors: number;
  error_samples: string[];
}

export interface PeerCheck {
  name: string;
  formula: string;
  value: number | null;
  goal: string;
  pass: boolean | null;
  /**
   * Throughput checks: the largest ratio any resizer on this machine's decoders could reach
   * against that peer (the workload's decode-floor ceiling / the peer's rps, floor.ts); null for
   * the others, or without a floor.
   */
  best_possible: number | null;
  /** The goal lies beyond best_possible: no implementation can meet it on this workload. */
  out_of_reach: boolean;
  /**
   * Throughput checks: the ratio round by round (service round i / peer round i; rounds are
   * interleaved, so each pair ran within the same minutes). The check itself uses the ratio of the
   * medians; these show how far the host's drift between rounds moves it. Empty for the others.
   */
  per_round: number[];
}

/** What the workload allows (floor.ts): the decodes alone, on the cores the subjects share. */
export interface PeerFloor {
  /** Mean decode-floor CPU seconds per request over the workload's paths. */
  cpu_s_per_req: number;
  /** cores / cpu_s_per_req: no implementation serves more. */
  ceiling_rps: number;
}

export interface PeerWorkloadResult {
  name: string;
  description: string;
  originals: number;
  variants: readonly string[];
  paths: number;
  rows: PeerRow[];
  checks: PeerCheck[];
  floor: PeerFloor | null;
}

const r = (v: number | undefined | null, d: number): number | null => (v === undefined || v === null || !Number.isFinite(v) ? null : round(v, d));

export function summarizePeerRow(subject: string, description: string, phases: readonly PhaseMeasurement[]): PeerRow {
  const counted = phases.filter((p) => p.result.completedInWindow > 0);
  const per = (f: (p: PhaseMeasurement) => number) => r(median(counted.map((p) => f(p) / p.result.completedInWindow)), 4);
  const lat = summarizeLatencies(phases.flatMap((p) => p.result.latenciesMs));
  const rounds = phases.map((p) => (p.result.elapsedS > 0 ? p.result.ok / p.result.elapsedS : 0));
  return {
    subject,
    description,
    rps: r(median(rounds), 2),
    rps_rounds: rounds.map((v) => round(v, 2)),
    p50_ms: lat.p50_ms,
    p99_ms: lat.p99_ms,
    cpu_s_per_req: per((p) => p.usage.cpuS + p.generatorCpuS),
    subject_cpu_s_per_req: per((p) => p.usage.cpuS),
    machine_cpu_s_per_req: per((p) => p.usage.machineBusyS),
    peak_rss_mb: phases.length ? r(Math.max(...phases.map((p) => p.usage.peakRssMb)), 1) : null,
    requests: phases.reduce((n, p) => n + p.result.ok + p.result.errors, 0),
    errors: phases.reduce((n, p) => n + p.result.errors, 0),
    error_samples: [...new Set(phases.flatMap((p) => p.result.errorSamples))].slice(0, 5),
  };
}

/** The issue's bar: the service must beat ipx by 12% and thumbor by 80% on throughput, ipx's p99 by 20%, and use no more CPU per request than ipx. */
export const PEER_GOALS = { rpsOverIpx: 1.12, rpsOverThumbor: 1.8, p99OverIpx: 0.8, cpuOverIpx: 1 } as const;

export function peerChecks(rows: readonly PeerRow[], floor: PeerFloor | null = null): PeerCheck[] {
  const by = (n: string) => rows.find((x) => x.subject === n);
  const svc = by('new');
  const ipx = by('ipx');
  const thumbor = by('thumbor');
  const div = (a: number | null | undefined, b: number | null | undefined) => (a == null || !b ? null : round(a / b, 3));
  // A subject with failed requests is not a valid comparison: no pass either way.
  const valid = (...xs: Array<PeerRow | undefined>) => xs.every((x) => x && x.errors === 0);
  const check = (
    name: string,
    formula: string,
    value: number | null,
    goal: string,
    ok: (v: number) => boolean,
    ...xs: Array<PeerRow | undefined>
  ): PeerCheck => ({
    name,
    formula,
    value,
    goal,
    pass: value === null || !valid(...xs) ? null : ok(value),
    best_possible: null,
    out_of_reach: false,
    per_round: [],
  });
  // A throughput bar against a peer cannot be met when even the bare decodes could not serve
  // goal x the peer's rps: the ratio then says "out of reach", not "not yet".
  const throughput = (name: string, peer: PeerRow | undefined, goal: number): PeerCheck => {
    const c = check(`throughput vs ${name}`, `service rps / ${name} rps`, div(svc?.rps, peer?.rps), `>= ${goal}`, (v) => v >= goal, svc, peer);
    const best = floor && peer?.rps ? round(floor.ceiling_rps / peer.rps, 3) : null;
    const paired = svc && peer ? svc.rps_rounds.slice(0, peer.rps_rounds.length).map((v, i) => div(v, peer.rps_rounds[i])) : [];
    const perRound = paired.every((v) => v !== null) ? (paired as number[]) : [];
    return { ...c, best_possible: best, out_of_reach: best !== null && best < goal, per_round: perRound };
  };
  const g = PEER_GOALS;
  return [
    throughput('ipx', ipx, g.rpsOverIpx),
    throughput('thumbor', thumbor, g.rpsOverThumbor),
    check('p99 vs ipx', 'service p99 / ipx p99', div(svc?.p99_ms, ipx?.p99_ms), `<= ${g.p99OverIpx}`, (v) => v <= g.p99OverIpx, svc, ipx),
    check(
      'CPU per request vs ipx',
      'service CPU s/req / ipx CPU s/req',
      div(svc?.cpu_s_per_req, ipx?.cpu_s_per_req),
      `<= ${g.cpuOverIpx}`,
      (v) => v <= g.cpuOverIpx,
      svc,
      ipx,
    ),
  ];
}

const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(d));

export function renderPeers(
  workloads: readonly PeerWorkloadResult[],
  meta: { concurrency: number; rounds: number; seconds: number; defaults: Readonly<Record<string, string>> },
): string[] {
  const lines = [
    '## Against ipx and thumbor',
    '',
    `Why not just run an off-the-shelf resizer? The same originals, the same four variants at q=85, one after another on the same machine: ` +
      `closed loop, ${meta.concurrency} in flight, whole passes over the list (about ${meta.seconds}s each), ${meta.rounds} interleaved rounds ` +
      `(throughput and CPU: medians over rounds; latency: every closed-loop request of every round). Every subject's answer to every path ` +
      `was checked first (status, format, and the contract's dimensions after EXIF orientation), so none is measured doing less work.`,
    '',
    "CPU s/req is the subject's processes plus the load generator (the issue's whole-machine figure without other processes of the shared " +
      "machine); the machine's own busy time per request is listed beside it.",
  ];
  for (const w of workloads) {
    lines.push(
      '',
      `### ${w.name}: ${w.description}`,
      '',
      `${w.originals} originals x ${w.variants.length} variants (${w.variants.join(', ')}) = ${w.paths} paths.`,
      '',
      '| subject | req/s | p50 (ms) | p99 (ms) | CPU s / req | subject CPU s / req | machine CPU s / req | peak RSS (MB) | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const x of w.rows) {
      lines.push(
        `| ${x.subject} | ${f(x.rps)} | ${f(x.p50_ms)} | ${f(x.p99_ms)} | ${f(x.cpu_s_per_req, 4)} | ${f(x.subject_cpu_s_per_req, 4)} | ` +
          `${f(x.machine_cpu_s_per_req, 4)} | ${f(x.peak_rss_mb, 0)} | ${x.errors} |`,
      );
    }
    lines.push('', '| check | measured | goal | best possible | round by round | holds |', '|---|---:|---:|---:|---:|---|');
    for (const c of w.checks) {
      const holds = c.pass === null ? 'n/a' : c.pass ? 'yes' : c.out_of_reach ? 'NO: out of reach' : 'NO';
      const best = c.best_possible === null ? '' : `<= ${f(c.best_possible, 3)}`;
      lines.push(`| ${c.name} (${c.formula}) | ${f(c.value, 3)} | ${c.goal} | ${best} | ${c.per_round.map((v) => f(v, 3)).join(' / ')} | ${holds} |`);
    }
    if (w.floor) {
      lines.push(
        '',
        `Best possible: the decodes alone (each original's cheapest decode, as in "What the workload allows") cost ${f(w.floor.cpu_s_per_req * 1000)} ms ` +
          `of CPU per request over this mix, so no resizer on these decoders serves more than ${f(w.floor.ceiling_rps)} req/s on these cores; ` +
          `divided by a peer's req/s, that is the largest throughput ratio anyone could show against it. Round by round: the service's ` +
          `req/s over the peer's in the same round (the rounds are interleaved); the check uses the ratio of the medians.`,
      );
    }
    lines.push('', ...w.rows.map((x) => `- **${x.subject}**: ${x.description}; rounds ${x.rps_rounds.map((v) => f(v)).join(' / ')} req/s.`));
    for (const x of w.rows.filter((x) => x.error_samples.length > 0))
      lines.push('', `Errors of ${x.subject}: ${x.error_samples.map((e) => `\`${e}\``).join(', ')}`);
  }
  lines.push('', 'What each peer does by default, and what the benchmark sets:', '');
  for (const [name, text] of Object.entries(meta.defaults)) lines.push(`- **${name}**: ${text}`);
  return lines;
}
