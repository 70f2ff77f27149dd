/** Likely causes of an original's mismatches, from its findings and its metadata. */
import { describe, expect, it } from 'vitest';
import { classifyOriginal, describeOriginal, type OriginalInfo, type OriginalEvidence } from '../src/compare/causes.ts';

const srgb: OriginalInfo = { format: 'jpeg', width: 640, height: 480, space: 'srgb', channels: 3, hasAlpha: false, bitDepth: 8, icc: false, orientation: 1 };
const evidence = (over: Partial<OriginalEvidence>): OriginalEvidence => ({ categories: {}, rules: {}, swappedSides: 0, ...over });
const colour = evidence({ categories: { pixels: 4 }, rules: { delta_e: 4, block_colour: 2 } });

describe('classifyOriginal', () => {
  it.each<[string, OriginalEvidence, OriginalInfo | undefined, string]>([
    ['no answer or a status difference', evidence({ categories: { status: 1, pixels: 2 }, rules: { status: 1, delta_e: 2 } }), srgb, 'status'],
    ['sides swapped on output', evidence({ categories: { dimensions: 3 }, rules: { dimensions: 3 }, swappedSides: 3 }), srgb, 'orientation'],
    ['structure differs on an EXIF-rotated original', evidence({ categories: { pixels: 2 }, rules: { ssim: 2 } }), { ...srgb, orientation: 6 }, 'orientation'],
    ['sizes differ on an upright original', evidence({ categories: { dimensions_off_by_one: 2 }, rules: { dimensions: 2 } }), srgb, 'geometry'],
    ['structure differs on an upright original', evidence({ categories: { pixels: 2 }, rules: { ssim: 2 } }), srgb, 'geometry'],
    ['colour on CMYK', colour, { ...srgb, space: 'cmyk', channels: 4 }, 'colour_space'],
    ['colour on a Display P3 profile', colour, { ...srgb, icc: true, iccDescription: 'Display P3' }, 'colour_space'],
    ['colour on 16-bit', colour, { ...srgb, format: 'png', space: 'rgb16', bitDepth: 16 }, 'colour_space'],
    ['colour on grey', colour, { ...srgb, space: 'b-w', channels: 1 }, 'colour_space'],
    ['colour with alpha', colour, { ...srgb, format: 'png', channels: 4, hasAlpha: true }, 'alpha'],
    [
      'colour with an sRGB profile and alpha: alpha',
      colour,
      { ...srgb, format: 'png', channels: 4, hasAlpha: true, icc: true, iccDescription: 'sRGB built-in' },
      'alpha',
    ],
    ['blockiness', evidence({ categories: { pixels: 1 }, rules: { blockiness: 1 } }), srgb, 'compression'],
    ['plain download not byte-identical', evidence({ categories: { pixels: 1 }, rules: { original_bytes: 1 } }), srgb, 'compression'],
    ['only headers', evidence({ categories: { header: 2 }, rules: { cache_control: 2 } }), srgb, 'header'],
    ['colour on a plain sRGB original', colour, srgb, 'other'],
    // A channel swap also lowers luma SSIM on some variants: colour dominates, not structure.
    ['colour on most variants, structure on some', evidence({ categories: { pixels: 4 }, rules: { delta_e: 4, block_colour: 4, ssim: 1 } }), srgb, 'other'],
    [
      'colour on most variants of a CMYK original, structure on some',
      evidence({ categories: { pixels: 4 }, rules: { delta_e: 4, ssim: 2 } }),
      { ...srgb, space: 'cmyk', channels: 4 },
      'colour_space',
    ],
    // A shift moves block means too: structure dominates.
    ['structure on every variant, colour on some', evidence({ categories: { pixels: 4 }, rules: { ssim: 4, block_colour: 2 } }), srgb, 'geometry'],
    ['colour without metadata', colour, undefined, 'other'],
  ])('%s', (_name, ev, info, cause) => {
    const c = classifyOriginal(ev, info);
    expect(c.cause).toBe(cause);
    expect(c.why.length).toBeGreaterThan(5);
  });

  it('says which profile or colour space it blames', () => {
    expect(classifyOriginal(colour, { ...srgb, space: 'cmyk', channels: 4 }).why).toContain('CMYK without an ICC profile');
    expect(classifyOriginal(colour, { ...srgb, space: 'cmyk', channels: 4, icc: true, iccDescription: 'U.S. Web Coated' }).why).toContain('U.S. Web Coated');
  });

  it('an sRGB profile alone is not a colour-space cause', () => {
    expect(classifyOriginal(colour, { ...srgb, icc: true, iccDescription: 'sRGB IEC61966-2.1' }).cause).toBe('other');
  });
});

describe('describeOriginal', () => {
  it('one line of metadata', () => {
    expect(describeOriginal({ ...srgb, icc: true, iccDescription: 'Display P3', orientation: 6, progressive: true })).toBe(
      'jpeg 640x480 srgb 8-bit, ICC "Display P3", orientation 6, progressive',
    );
    expect(describeOriginal({ ...srgb, format: 'png', channels: 2, hasAlpha: true, space: 'b-w', bitDepth: 16 })).toBe('png 640x480 b-w+alpha 16-bit, no ICC');
    expect(describeOriginal(undefined)).toBe('(no metadata)');
  });
});
