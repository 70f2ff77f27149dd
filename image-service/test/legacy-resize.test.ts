import { describe, expect, it } from 'vitest';
import { axisContributions, enlarges, lanczosWeight, legacyLanczosResize, legacyLanczosSteps, type Raster } from '../src/legacy-resize.ts';

const rgb = (data: number[], width: number, height: number): Raster<Uint8Array> => ({
  data: Uint8Array.from(data),
  width,
  height,
  channels: 3,
  hasAlpha: false,
});

describe('ImageMagick Lanczos resize (pure)', () => {
  it('matches real ImageMagick 6.9.11 Q16 on a 3x2 RGB image enlarged to 7x5', () => {
    // Printed by php-imagick: importImagePixels(3x2 'RGB' CHAR), resizeImage(7, 5, FILTER_LANCZOS, 1),
    // exportImagePixels('RGB', CHAR). The x factor (7/3) is larger, so the horizontal pass runs first.
    const src = rgb([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 64, 32], 3, 2);
    const expected = [
      255, 0, 11, 230, 34, 0, 122, 167, 0, 0, 255, 0, 0, 167, 122, 0, 34, 230, 11, 0, 255, 255, 0, 35, 230, 50, 12, 121, 163, 0, 0, 233, 0, 0, 152, 110, 2, 35,
      212, 23, 0, 255, 255, 124, 152, 228, 131, 110, 114, 140, 42, 0, 127, 0, 0, 82, 51, 49, 41, 125, 84, 18, 170, 255, 255, 255, 226, 211, 208, 106, 118, 105,
      0, 22, 0, 21, 11, 0, 97, 48, 39, 144, 72, 69, 255, 255, 255, 225, 227, 230, 101, 112, 122, 0, 0, 0, 39, 2, 0, 130, 61, 0, 187, 99, 11,
    ];
    expect([...legacyLanczosResize(src, { width: 7, height: 5 }).data]).toEqual(expected);
  });

  it('matches real ImageMagick with alpha: colours weighted by alpha, a transparent pixel lends none', () => {
    // Same procedure, 2x2 RGBA (opaque red, transparent blue, opaque green, half-transparent black) -> 5x3.
    const src: Raster<Uint8Array> = {
      data: Uint8Array.from([255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 255, 0, 0, 0, 128]),
      width: 2,
      height: 2,
      channels: 4,
      hasAlpha: true,
    };
    const expected = [
      255, 0, 0, 255, 255, 0, 0, 231, 255, 0, 0, 120, 255, 0, 0, 8, 0, 0, 0, 0, 127, 128, 0, 255, 125, 125, 0, 238, 102, 102, 0, 159, 35, 35, 0, 81, 0, 0, 0,
      51, 0, 255, 0, 255, 0, 255, 0, 245, 0, 183, 0, 199, 0, 42, 0, 154, 0, 0, 0, 115,
    ];
    expect([...legacyLanczosResize(src, { width: 5, height: 3 }).data]).toEqual(expected);
  });

  it('a window is exactly the same pixels as the full resize cropped', () => {
    const data = Array.from({ length: 9 * 7 * 3 }, (_, i) => (i * 37 + (i >> 3) * 11) % 256);
    const src = rgb(data, 9, 7);
    const full = legacyLanczosResize(src, { width: 31, height: 24 });
    const window = { left: 5, top: 3, width: 20, height: 17 };
    const part = legacyLanczosResize(src, { width: 31, height: 24 }, window);
    expect([part.width, part.height]).toEqual([20, 17]);
    const cropped: number[] = [];
    for (let y = window.top; y < window.top + window.height; y++)
      cropped.push(...full.data.subarray((y * 31 + window.left) * 3, (y * 31 + window.left + window.width) * 3));
    expect([...part.data]).toEqual(cropped);
  });

  it('refuses a window outside the scaled image', () => {
    expect(() => legacyLanczosResize(rgb([0, 0, 0], 1, 1), { width: 4, height: 4 }, { left: 2, top: 0, width: 3, height: 4 })).toThrow(RangeError);
  });

  it('the weights of every output pixel sum to 1, over 6 source pixels when enlarging', () => {
    for (const c of axisContributions(10, 37)) {
      expect(c.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(c.weights.length).toBeLessThanOrEqual(6);
    }
    expect(lanczosWeight(0)).toBe(1);
    expect(lanczosWeight(1)).toBeCloseTo(0, 15);
    expect(lanczosWeight(-2.5)).toBeCloseTo(lanczosWeight(2.5), 15);
  });

  it('at factor 1 an axis is copied unchanged', () => {
    const src = rgb([10, 20, 30, 200, 100, 0, 0, 255, 7, 90, 90, 90], 4, 1);
    expect([...legacyLanczosResize(src, { width: 4, height: 1 }).data]).toEqual([...src.data]);
  });

  it('a large enlargement comes in steps (the pipeline yields the event loop between them), with rising progress', () => {
    const src = rgb(
      Array.from({ length: 200 * 150 * 3 }, (_, i) => i % 251),
      200,
      150,
    );
    const steps = legacyLanczosSteps(src, { width: 1333, height: 1000 }, { left: 166, top: 0, width: 1000, height: 1000 });
    const progress: number[] = [];
    let result: Raster<Uint8Array> | undefined;
    for (;;) {
      const step = steps.next();
      if (step.done) {
        result = step.value;
        break;
      }
      progress.push(step.value);
    }
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.every((p, i) => p > 0 && p <= 1 && (i === 0 || p > progress[i - 1]!))).toBe(true);
    expect([result.width, result.height]).toEqual([1000, 1000]);
  });

  it('enlarges: either side grows', () => {
    expect(enlarges({ width: 10, height: 10 }, { width: 11, height: 10 })).toBe(true);
    expect(enlarges({ width: 10, height: 10 }, { width: 10, height: 12 })).toBe(true);
    expect(enlarges({ width: 10, height: 10 }, { width: 10, height: 10 })).toBe(false);
    expect(enlarges({ width: 10, height: 10 }, { width: 5, height: 5 })).toBe(false);
  });
});
