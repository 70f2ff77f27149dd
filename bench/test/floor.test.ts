import { describe, expect, it } from 'vitest';
import { floorBounds, floorVerdicts, type OriginalFloor } from '../lib/floor.ts';

const orig = (key: string, cpu_ms: number, wall_ms = cpu_ms): OriginalFloor => ({
  key,
  format: 'jpeg',
  width: 100,
  height: 100,
  method: 'eighth',
  cpu_ms,
  wall_ms,
});

describe('floorBounds', () => {
  const floors = [orig('a.jpg', 10), orig('b.jpg', 250, 240), orig('c.jpg', 20)];

  it('weights the mean CPU floor by the paths as replayed, and divides the cores by it', () => {
    // paths: a a b c -> (10 + 10 + 250 + 20) / 4 = 72.5 ms; 2 cores -> 27.6 req/s
    const b = floorBounds(floors, ['a.jpg', 'a.jpg', 'b.jpg', 'c.jpg'], 2, { rps: 10, p99_ms: 600 });
    expect(b.cpu_s_per_req).toBe(0.0725);
    expect(b.ceiling_rps).toBe(27.6);
    expect(b.ceiling_over_legacy_rps).toBe(2.76);
  });

  it("takes the p99 of the paths' floor wall times, so one costly original in six sets it", () => {
    const paths = Array.from({ length: 60 }, (_, i) => (i % 6 === 0 ? 'b.jpg' : i % 2 ? 'a.jpg' : 'c.jpg'));
    const b = floorBounds(floors, paths, 2, { rps: 10, p99_ms: 600 });
    expect(b.p99_floor_ms).toBe(240);
    expect(b.p99_floor_over_legacy_p99).toBe(0.4);
  });

  it('with no costly original the p99 floor is the cheap ones', () => {
    const b = floorBounds(
      floors,
      Array.from({ length: 100 }, () => 'a.jpg'),
      2,
      { rps: 10, p99_ms: 600 },
    );
    expect(b.p99_floor_ms).toBe(10);
  });

  it('leaves the ratios out when the legacy was not measured', () => {
    const b = floorBounds(floors, ['a.jpg'], 2, { rps: null, p99_ms: null });
    expect(b.ceiling_over_legacy_rps).toBeNull();
    expect(b.p99_floor_over_legacy_p99).toBeNull();
  });

  it('refuses a path without a floor, no paths, or no cores', () => {
    expect(() => floorBounds(floors, ['x.jpg'], 2, { rps: 1, p99_ms: 1 })).toThrow(/no decode floor for x\.jpg/);
    expect(() => floorBounds(floors, [], 2, { rps: 1, p99_ms: 1 })).toThrow(/no request paths/);
    expect(() => floorBounds(floors, ['a.jpg'], 0, { rps: 1, p99_ms: 1 })).toThrow(/cores/);
  });
});

describe('floorVerdicts', () => {
  const bounds = (ceiling_over_legacy_rps: number | null, p99_floor_over_legacy_p99: number | null) => ({
    cpu_s_per_req: 0.05,
    ceiling_rps: 40,
    ceiling_over_legacy_rps,
    p99_floor_ms: 250,
    p99_floor_over_legacy_p99,
  });

  it('calls a target out of reach when the goal lies beyond the bound', () => {
    const [rps, p99] = floorVerdicts(bounds(3.6, 0.38), 5, 1 / 3);
    expect(rps).toMatchObject({ target: 'throughput', bound_text: '<= 3.60', reachable: false });
    expect(p99).toMatchObject({ bound_text: '>= 0.380', reachable: false });
  });

  it('calls it within reach when the bound allows the goal', () => {
    const [rps, p99] = floorVerdicts(bounds(9, 0.1), 5, 1 / 3);
    expect(rps!.reachable).toBe(true);
    expect(p99!.reachable).toBe(true);
  });

  it('says n/a without a legacy figure', () => {
    expect(floorVerdicts(bounds(null, null), 5, 1 / 3).map((v) => v.reachable)).toEqual([null, null]);
  });
});
