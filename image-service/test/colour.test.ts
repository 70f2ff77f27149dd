/**
 * The legacy colour formulas (colour.ts), pinned to values measured on the legacy system's
 * ImageMagick 6.9.11 Q16 (php-imagick, `exportImagePixels` after `transformImageColorspace`).
 */
import { describe, expect, it } from 'vitest';
import {
  legacyCmykChannel,
  legacyCmykToRgb,
  legacyCmykToRgbInto,
  legacyLinearToSrgb,
  needsLegacyCmyk,
  needsLegacyLinearPng,
  readPngColourChunks,
} from '../src/colour.ts';
import { insertAfterIhdr, pngChunk } from './colour-originals.ts';

describe('CMYK without a profile, as ImageMagick converts it', () => {
  it.each([
    // [C, M, Y, K] decoded samples -> RGB measured on ImageMagick
    [
      [133, 145, 0, 0],
      [122, 110, 255],
    ],
    [
      [150, 146, 6, 3],
      [104, 108, 246],
    ],
    [
      [0, 0, 0, 0],
      [255, 255, 255],
    ],
    [
      [0, 0, 0, 255],
      [0, 0, 0],
    ],
    [
      [255, 255, 255, 0],
      [0, 0, 0],
    ],
  ])('%j -> %j', (cmyk, rgb) => {
    expect([...legacyCmykToRgb(Uint8Array.from(cmyk))]).toEqual(rgb);
  });

  it('is (1 - c)(1 - k), rounded', () => {
    for (const [c, k] of [
      [10, 20],
      [128, 128],
      [200, 60],
    ] as const) {
      expect(Math.abs(legacyCmykChannel(c, k) - ((255 - c) * (255 - k)) / 255)).toBeLessThanOrEqual(0.5 + 1e-9);
    }
  });

  it('converts in place to the same bytes as into a new buffer', () => {
    const cmyk = Uint8Array.from({ length: 4 * 1000 }, (_, i) => (i * 37 + (i >> 3)) % 256);
    const expected = legacyCmykToRgb(cmyk);
    legacyCmykToRgbInto(cmyk, cmyk);
    expect([...cmyk.subarray(0, expected.length)]).toEqual([...expected]);
  });

  it('refuses samples that do not come in fours', () => {
    expect(() => legacyCmykToRgb(new Uint8Array(5))).toThrow(/fours/);
  });

  it('applies only to CMYK without an embedded profile', () => {
    expect(needsLegacyCmyk({ space: 'cmyk' })).toBe(true);
    expect(needsLegacyCmyk({ space: 'cmyk', icc: Buffer.from('x') })).toBe(false);
    expect(needsLegacyCmyk({ space: 'srgb' })).toBe(false);
    expect(needsLegacyCmyk({ space: 'b-w' })).toBe(false);
  });
});

describe('PNG gamma, as ImageMagick reads it', () => {
  const ihdr = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', Buffer.alloc(13))]);
  const png = (...chunks: Buffer[]) => Buffer.concat([insertAfterIhdr(ihdr, chunks), pngChunk('IDAT', Buffer.alloc(2)), pngChunk('IEND', Buffer.alloc(0))]);
  const gama = (g: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(g);
    return pngChunk('gAMA', b);
  };

  it('reads gAMA, sRGB and iCCP up to IDAT', () => {
    expect(readPngColourChunks(png(gama(100000)))).toEqual({ gamma: 1, srgb: false, iccp: false, complete: true });
    expect(readPngColourChunks(png(pngChunk('sRGB', Buffer.from([0])), pngChunk('iCCP', Buffer.from('p\0\0x'))))).toMatchObject({
      srgb: true,
      iccp: true,
      complete: true,
    });
    expect(readPngColourChunks(png(gama(45455)).subarray(0, 20)).complete).toBe(false);
    expect(readPngColourChunks(Buffer.from('not a png at all')).complete).toBe(false);
  });

  it.each([
    // [gAMA, sRGB chunk, iCCP, linear to ImageMagick] (measured: 0.75 stays, 0.75001 and up convert)
    [100000, false, false, true],
    [75001, false, false, true],
    [1000000, false, false, true],
    [75000, false, false, false],
    [45455, false, false, false],
    [100000, true, false, false],
    [100000, false, true, false],
  ])('gAMA %i, sRGB %s, iCCP %s -> linear %s', (g, srgb, iccp, linear) => {
    expect(needsLegacyLinearPng({ gamma: g / 100000, srgb, iccp, complete: true }, false)).toBe(linear);
  });

  it('a profile from the metadata wins too; no gAMA: nothing to do', () => {
    expect(needsLegacyLinearPng({ gamma: 1, srgb: false, iccp: false, complete: true }, true)).toBe(false);
    expect(needsLegacyLinearPng({ srgb: false, iccp: false, complete: true }, false)).toBe(false);
  });

  it('encodes linear samples with the sRGB curve, 8- and 16-bit, alpha left alone', () => {
    // Measured on ImageMagick: (128, 64, 200) linear -> (188, 137, 229).
    expect([...legacyLinearToSrgb(Uint8Array.from([128, 64, 200]), 3, false)]).toEqual([188, 137, 229]);
    expect([...legacyLinearToSrgb(Uint8Array.from([128, 77]), 2, true)]).toEqual([188, 77]);
    expect([...legacyLinearToSrgb(Uint16Array.from([128 * 257, 65535, 0, 40000]), 4, true)]).toEqual([188, 255, 0, 156]);
  });
});
