import { describe, expect, it } from 'vitest';
import { LARGE_SHAPES, largeSpecs } from '../lib/large-originals.ts';

describe('largeSpecs', () => {
  it('twenty phone-camera shapes: 8-24 MP, 4:3 or 16:9, some stored sideways', () => {
    const specs = largeSpecs(20);
    expect(specs.length).toBe(20);
    expect(new Set(specs.map((s) => s.key)).size).toBe(20);
    for (const s of specs) {
      const mp = (s.width * s.height) / 1e6;
      expect(mp).toBeGreaterThanOrEqual(7.9);
      expect(mp).toBeLessThanOrEqual(24.1);
      const ratio = s.width / s.height;
      expect(Math.abs(ratio - 4 / 3) < 0.01 || Math.abs(ratio - 16 / 9) < 0.01).toBe(true);
      expect(s.key).toMatch(/^[A-Za-z0-9._-]+$/);
    }
    expect(specs.filter((s) => s.orientation === 6).length).toBe(5);
    // Every shape twice: no single size decides the mix.
    expect(new Set(specs.map((s) => `${s.width}x${s.height}`)).size).toBe(LARGE_SHAPES.length);
  });
});
