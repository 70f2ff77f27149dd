import { describe, expect, it } from 'vitest';
import { PART_NAMES, readBenchSettings, SUBJECT_NAMES } from '../lib/settings.ts';

describe('readBenchSettings', () => {
  it('defaults: 8 s, 3 rounds, concurrency 2 x cores, 70% of the legacy, every subject', () => {
    expect(readBenchSettings({}, 2)).toEqual({
      parts: [...PART_NAMES],
      peers: { rounds: 3, seconds: 8, largeCount: 20, thumborProcesses: 2 },
      cache: {
        mb: 256,
        zipf: { requests: 20_000, variants: 2000, exponent: 1, nocacheRequests: 2000, seed: 16 },
        stampede: { requests: 1000, variants: 50, seconds: 1 },
      },
      seconds: 8,
      rounds: 3,
      concurrency: 4,
      fixedFraction: 0.7,
      fixedRps: undefined,
      subjects: [...SUBJECT_NAMES],
      outDir: undefined,
      cores: 2,
    });
  });
  it('reads every variable', () => {
    const s = readBenchSettings(
      {
        BENCH_SECONDS: '30',
        BENCH_ROUNDS: '5',
        BENCH_CONCURRENCY: '8',
        BENCH_FIXED_FRACTION: '0.5',
        BENCH_FIXED_RPS: '12.5',
        BENCH_SUBJECTS: 'sharp-limit, new',
        BENCH_OUT_DIR: '/tmp/x',
      },
      2,
    );
    expect(s).toMatchObject({ seconds: 30, rounds: 5, concurrency: 8, fixedFraction: 0.5, fixedRps: 12.5, outDir: '/tmp/x' });
    // Always in the canonical order, whatever order they were given in.
    expect(s.subjects).toEqual(['new', 'sharp-limit']);
  });
  it('reads the parts and the peer and cache knobs', () => {
    const s = readBenchSettings({ BENCH_PARTS: 'cache, peers', BENCH_LARGE_COUNT: '24', BENCH_ZIPF_REQUESTS: '500', BENCH_STAMPEDE_VARIANTS: '10' }, 2);
    expect(s.parts).toEqual(['peers', 'cache']);
    expect(s.peers.largeCount).toBe(24);
    expect(s.cache.zipf.requests).toBe(500);
    expect(s.cache.stampede.variants).toBe(10);
    expect(() => readBenchSettings({ BENCH_PARTS: 'main,ipx' }, 2)).toThrow(
      /BENCH_PARTS: expected a comma-separated list of main, peers, cache, got 'main,ipx'/,
    );
  });
  it('reports every problem at once, naming the variable', () => {
    expect(() => readBenchSettings({ BENCH_SECONDS: 'ten', BENCH_ROUNDS: '1.5', BENCH_SUBJECTS: 'new,old' }, 2)).toThrow(
      /BENCH_SECONDS: expected a number from 1 to 3600, got 'ten'[\s\S]*BENCH_ROUNDS: expected an integer[\s\S]*BENCH_SUBJECTS: expected a comma-separated list/,
    );
  });
});
