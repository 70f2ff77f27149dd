/**
 * The comparer's decode: a hostile pair (a small file that declares a huge canvas) is refused from
 * its header, before libvips allocates its pixels.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { COMPARE_MAX_INPUT_PIXELS, decodeNormalised } from '../src/compare/image.ts';

describe('decodeNormalised', () => {
  it('refuses an image over 50 megapixels (the contract limit) instead of decoding it', async () => {
    // 7200 x 7000 = 50.4 MP of one colour: a few hundred kB as PNG, ~150 MB once decoded to RGB.
    const big = await sharp({ create: { width: 7200, height: 7000, channels: 3, background: '#808080' } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    await expect(decodeNormalised(big)).rejects.toThrow(/pixel limit/i);
  });

  it('still decodes an image at the limit', async () => {
    expect(COMPARE_MAX_INPUT_PIXELS).toBe(50_000_000);
    const ok = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const d = await decodeNormalised(ok);
    expect([d.width, d.height, d.format]).toEqual([64, 48, 'png']);
  });
});
