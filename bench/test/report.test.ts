import { describe, expect, it } from 'vitest';
import type { PhaseResult } from '../lib/drive.ts';
import { floorVerdicts } from '../lib/floor.ts';
import {
  evaluate,
  renderMarkdown,
  TARGET_P99_RATIO,
  TARGET_RPS_RATIO,
  summarizeHop,
  summarizeSubject,
  type PhaseMeasurement,
  type SubjectMeasurements,
  type SubjectResult,
} from '../lib/report.ts';
import type { SubjectName } from '../lib/settings.ts';

const phase = (o: Partial<PhaseResult> & { ok: number; elapsedS: number }, cpuS: number, rssMb: number, round = 0): PhaseMeasurement => ({
  round,
  result: {
    errors: 0,
    errorSamples: [],
    latenciesMs: Array.from({ length: o.ok }, (_, i) => i + 1),
    indices: Array.from({ length: o.ok }, (_, i) => i),
    completedInWindow: o.ok,
    dropped: 0,
    ...o,
  },
  usage: { cpuS, peakRssMb: rssMb, peakPssMb: rssMb / 2, machineBusyS: cpuS + 0.5 },
  generatorCpuS: 0.1,
});

describe('summarizeSubject', () => {
  const m: SubjectMeasurements = {
    name: 'legacy',
    description: 'd',
    processes: 'p',
    saturation: [phase({ ok: 50, elapsedS: 10 }, 20, 300), phase({ ok: 60, elapsedS: 10 }, 24, 320, 1), phase({ ok: 40, elapsedS: 10 }, 16, 310, 2)],
    fixed: [phase({ ok: 100, elapsedS: 10 }, 30, 350)],
  };
  const s = summarizeSubject(m, 3.5, false);

  it('takes the median of the rounds for throughput and CPU per request', () => {
    expect(s.rps_rounds).toEqual([5, 6, 4]);
    expect(s.rps).toBe(5);
    expect(s.cpu_s_per_req).toBe(0.4);
    expect(s.cpu_s_per_req_fixed).toBe(0.3);
  });
  it('takes the peak memory over every phase, and memory per unit of throughput from it', () => {
    expect(s.peak_rss_mb).toBe(350);
    expect(s.peak_pss_mb).toBe(175);
    expect(s.mb_per_rps).toBe(70);
  });
  it('reports latency percentiles of the fixed-load phases', () => {
    expect(s.p50_ms).toBe(50);
    expect(s.p99_ms).toBe(99);
    expect(s.fixed).toMatchObject({ rate_rps: 3.5, requests: 100, errors: 0 });
  });
  it("estimates the other processes' CPU from the machine's busy time", () => {
    // 0.5 s busy beyond the subject and 0.1 s of it the generator's, over 10 s: 0.04 cores.
    expect(s.background_cores).toBe(0.04);
    expect(s.generator_cpu_ms_per_req).toBe(2);
  });
  it('breaks the fixed-load p50 down by variant', () => {
    const v = summarizeSubject(m, 3.5, false, (i) => (i % 2 === 0 ? 'w=300' : 'w=1280'));
    expect(v.by_variant['w=300']).toEqual({ requests: 50, p50_ms: 49 });
    expect(v.by_variant['w=1280']).toEqual({ requests: 50, p50_ms: 50 });
  });
  it('has no generator figure for an in-process subject', () => {
    expect(summarizeSubject({ ...m, name: 'sharp-limit' }, 3.5, true).generator_cpu_ms_per_req).toBeNull();
  });
});

const subject = (name: SubjectName, o: Partial<SubjectResult>): SubjectResult =>
  ({
    by_variant: {},
    name,
    description: '',
    processes: '',
    rps: null,
    rps_rounds: [],
    p50_ms: null,
    p95_ms: null,
    p99_ms: null,
    cpu_s_per_req: null,
    cpu_s_per_req_fixed: null,
    peak_rss_mb: null,
    peak_pss_mb: null,
    mb_per_rps: null,
    fixed: { rate_rps: 3, requests: 0, errors: 0, dropped: 0, max_ms: null },
    saturation_latency: { requests: 0, errors: 0, p50_ms: null, p95_ms: null, p99_ms: null },
    generator_cpu_ms_per_req: null,
    background_cores: 0,
    error_samples: [],
    ...o,
  }) as SubjectResult;

describe('evaluate', () => {
  const base = [
    subject('legacy', { rps: 10, p99_ms: 900, mb_per_rps: 40, cpu_s_per_req: 0.2 }),
    subject('legacy-2x', { rps: 12, p99_ms: 600, mb_per_rps: 50, cpu_s_per_req: 0.19 }),
    subject('new', { rps: 60, p50_ms: 20, p99_ms: 150, mb_per_rps: 4, cpu_s_per_req: 0.03 }),
    subject('new-via-nginx', { rps: 58, p50_ms: 20.6 }),
    subject('sharp-limit', { rps: 64 }),
  ];

  it('judges each target against the stronger legacy row', () => {
    const { targets, ratios } = evaluate(base, summarizeHop([10, 20, 30], [10.3, 20.4, 30.2]));
    const t = Object.fromEntries(targets.map((x) => [x.name, x]));
    expect(t.throughput).toMatchObject({ value: 5, pass: true }); // 60 / 12, not 60 / 10
    expect(t['tail latency at the legacy load']).toMatchObject({ value: 0.25, pass: true }); // 150 / 600
    expect(t['memory per unit of throughput']).toMatchObject({ value: 0.1, pass: true }); // 4 / 40
    expect(t['through nginx: throughput']).toMatchObject({ value: 0.967, pass: true });
    expect(t['through nginx: added latency']).toMatchObject({ value: 0.3, pass: true });
    expect(ratios.via_nginx_minus_new_p50_ms).toBe(0.6);
    expect(t["the library's limit"]).toMatchObject({ value: 0.938, pass: true });
    expect(ratios.new_over_legacy_rps).toBe(6);
    expect(ratios.new_over_legacy_2x_rps).toBe(5);
  });

  it('judges the front door by its paired requests, not by two phases whose p50s drifted apart', () => {
    // The fixed-load p50s differ by 0.6 ms; pair by pair nginx adds 2.5 ms: it fails.
    const slow = summarizeHop([10, 20, 300, 40], [12.5, 22.5, 302.5, 42.5]);
    expect(slow).toEqual({ pairs: 4, direct_p50_ms: 30, via_p50_ms: 32.5, added_ms: 2.5 });
    expect(evaluate(base, slow).targets.find((x) => x.name === 'through nginx: added latency')).toMatchObject({ value: 2.5, pass: false });
    // Not measured: n/a, whatever the p50s say.
    expect(evaluate(base).targets.find((x) => x.name === 'through nginx: added latency')).toMatchObject({ value: null, pass: null });
    // Unequal lists pair up to the shorter one.
    expect(summarizeHop([1, 2, 3], [1.5]).pairs).toBe(1);
  });
  it('fails a target that is missed, and leaves n/a where a subject was not run', () => {
    const slow = base.map((s) => (s.name === 'new' ? { ...s, rps: 40 } : s)).filter((s) => s.name !== 'sharp-limit');
    const t = Object.fromEntries(evaluate(slow).targets.map((x) => [x.name, x]));
    expect(t.throughput!.pass).toBe(false);
    expect(t["the library's limit"]).toMatchObject({ value: null, pass: null });
  });
});

describe('renderMarkdown', () => {
  it('prints the machine, one row per subject, and the targets with pass/FAIL, and flags noise', () => {
    const subjects = [subject('legacy', { rps: 10, background_cores: 0.6 }), subject('new', { rps: 40 })];
    const { ratios, targets } = evaluate(subjects);
    const md = renderMarkdown({
      machine: {
        date: '2026-01-01',
        cpu_model: 'Test CPU',
        cpus: 2,
        usable_cpus: 2,
        memory_gib: 24,
        os: 'Debian',
        node: 'v20',
        sharp: '0.35',
        libvips: '8.17',
        php: 'PHP 8.2',
        imagemagick: '6.9',
        nginx: 'nginx/1.22',
        commit: 'abc',
      },
      config: {
        command: 'npm run bench',
        seconds: 8,
        rounds: 3,
        concurrency: 4,
        fixed_rate_rps: 7,
        fixed_rate_basis: '70%',
        originals: 6,
        source: 'x',
        variants: ['w=300&format=jpeg'],
        paths: 6,
        generator: 'g',
      },
      subjects,
      ratios,
      targets,
      hop: { pairs: 144, direct_p50_ms: 30, via_p50_ms: 30.4, added_ms: 0.35 },
    });
    expect(md).toContain('Test CPU, 2 cores');
    expect(md).toContain('What the front door adds: 144 pairs of requests');
    expect(md).toContain('p50 30.00 ms direct, 30.40 ms through nginx');
    expect(md).toMatch(/\| legacy \| 10\.0 \|/);
    expect(md).toMatch(/\| new \| 40\.0 \|/);
    expect(md).toMatch(/\| throughput \| 4\.000 \| >= 5 \|.*\| FAIL \|/);
    expect(md).toContain('Noise: other processes used more than a quarter of a core during legacy');
    expect(md).not.toContain('What the workload allows');
  });

  it('adds what the workload allows when the decode floor was measured', () => {
    const subjects = [subject('legacy', { rps: 10, p99_ms: 600 }), subject('new', { rps: 20 })];
    const { ratios, targets } = evaluate(subjects);
    const bounds = { cpu_s_per_req: 0.052, ceiling_rps: 38.5, ceiling_over_legacy_rps: 3.85, p99_floor_ms: 250, p99_floor_over_legacy_p99: 0.417 };
    const md = renderMarkdown({
      machine: {},
      config: { variants: [] },
      subjects,
      ratios,
      targets,
      decode_floor: {
        originals: [{ key: 'big.jpg', format: 'jpeg', width: 3840, height: 2160, method: 'eighth', cpu_ms: 251.9, wall_ms: 250 }],
        bounds,
        verdicts: floorVerdicts(bounds, TARGET_RPS_RATIO, TARGET_P99_RATIO),
      },
    });
    expect(md).toContain('## What the workload allows');
    expect(md).toContain('| big.jpg | jpeg | 3840x2160 | 1/8 | 251.9 | 250.0 |');
    expect(md).toContain('at most 38.5 req/s on these cores, 3.85 x the legacy');
    expect(md).toMatch(/\| throughput \| >= 5 \| <= 3\.85 \| out of reach \|/);
    expect(md).toMatch(/\| tail latency at the legacy load \| <= 0\.333 \| >= 0\.417 \| out of reach \|/);
  });
});
