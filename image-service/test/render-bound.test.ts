import { describe, expect, it } from 'vitest';
import { needsLibvipsTimeout, worstRenderMs } from '../src/render-bound.ts';

const MP = 1e6;

describe("when a render needs libvips' timeout to hold the render bound", () => {
  it.each([
    // [original pixels, output pixels, bound ms, needs it]
    [2 * MP, 0.3 * MP, 1600, false], // the benchmark's photos: far under the bound
    [12 * MP, 1280 * 960, 1600, false], // a 12-megapixel phone photo to 1280 px: ~870 ms at worst
    [30 * MP, 1280 * 960, 1600, true], // 30 megapixels could come near it
    [45 * MP, 0.1 * MP, 1600, true], // admin.int.test's huge noise JPEG
    [2 * MP, 4096 * 4096, 1600, true], // a large output (enlarged, or a 4096 box as PNG)
    [2 * MP, 0.3 * MP, 100, true], // a tight bound (RENDER_TIMEOUT_MS=100)
    [0, 0, 0, false], // nothing to do is never past even a zero bound
  ])('%d px into %d px under %d ms: %s', (input, output, bound, expected) => {
    expect(needsLibvipsTimeout(input, output, bound)).toBe(expected);
  });

  it('the estimate grows with the original and with the output', () => {
    expect(worstRenderMs(2 * MP, MP)).toBeGreaterThan(worstRenderMs(MP, MP));
    expect(worstRenderMs(MP, 2 * MP)).toBeGreaterThan(worstRenderMs(MP, MP));
  });
});
