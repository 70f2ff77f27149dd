/**
 * The pixel signals and the verdict they give, over real sharp output: a photo (the real fixture
 * when present, else a generated one) resized to 640 px, against itself, against legitimate
 * variants (another resampler, a re-encode) and against defects (channel swap, 2 px shift, q20).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import sharp, { type KernelEnum, type Sharp } from 'sharp';
import { ssim as ssimJs } from 'ssim.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { shift, swapRedBlue } from '../src/compare/calibrate.ts';
import { decodeNormalised, type DecodedImage } from '../src/compare/image.ts';
import { compareImages, judgeSignals } from '../src/compare/rules.ts';
import { blockMeans, colourSignals, computeSignals, luma, srgbToLab, ssimGray, ssimLuma, type RgbImage } from '../src/compare/signals.ts';
import { DEFAULT_THRESHOLDS } from '../src/compare/thresholds.ts';
import { photoRaw, realFixturesDir } from '../../support/fixtures.ts';

async function source(): Promise<Sharp> {
  const real = realFixturesDir();
  const photo = real && readdirSync(real).find((f) => /^photo-flower.*\.jpg$/.test(f));
  return photo ? sharp(path.join(real, photo)) : photoRaw(1600, 1200, 42);
}

async function resized(kernel: keyof KernelEnum, quality = 85): Promise<Buffer> {
  return (await source()).resize(640, null, { kernel }).jpeg({ quality }).toBuffer();
}

const ok = (image: DecodedImage) => ({ ok: true as const, image });

let reference: DecodedImage;
let variants: Record<string, DecodedImage>;

beforeAll(async () => {
  reference = await decodeNormalised(await resized('lanczos3'));
  const raw = (img: RgbImage) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });
  variants = {
    identical: reference,
    'another resampler (mitchell)': await decodeNormalised(await resized('mitchell')),
    're-encoded q85': await decodeNormalised(await raw(reference).jpeg({ quality: 85 }).toBuffer()),
    'channel swap': { ...swapRedBlue(reference), format: 'jpeg' },
    '2 px shift': { ...shift(reference, 2, 2), format: 'jpeg' },
    'q20 re-encode': await decodeNormalised(await resized('lanczos3', 20)),
  };
});

describe('verdicts over real sharp output at 640 px', () => {
  it.each([
    // name, verdict, a rule that must be among the findings (the signal that is meant to catch it)
    ['identical', 'match', undefined],
    ['another resampler (mitchell)', 'match', undefined],
    ['re-encoded q85', 'match', undefined],
    ['channel swap', 'pixels', 'delta_e'],
    ['2 px shift', 'pixels', undefined],
    ['q20 re-encode', 'pixels', 'blockiness'],
  ])('%s -> %s %s', (name, verdict, rule) => {
    const v = variants[name]!;
    const cmp = compareImages(ok(reference), ok(v), { legacy: 'jpeg', new: 'jpeg' }, DEFAULT_THRESHOLDS);
    const why = `${name}: ${JSON.stringify(cmp.signals)} ${JSON.stringify(cmp.findings)}`;
    if (verdict === 'match') expect(cmp.findings, why).toEqual([]);
    else {
      expect(cmp.findings.length, why).toBeGreaterThan(0);
      expect(
        cmp.findings.every((f) => f.category === 'pixels'),
        why,
      ).toBe(true);
      if (rule)
        expect(
          cmp.findings.map((f) => f.rule),
          why,
        ).toContain(rule);
    }
  });

  it('identical images score exactly 1 / 0 / 0', () => {
    expect(computeSignals(reference, reference)).toEqual({ ssim: 1, blockMaxDiff: 0, deltaE: 0, blockiness: 1 });
  });

  it('a channel swap is caught by the colour signal with a wide margin, whatever SSIM says', () => {
    const s = computeSignals(reference, variants['channel swap']!);
    expect(s.deltaE).toBeGreaterThan(3 * DEFAULT_THRESHOLDS.deltaEMax);
    expect(s.blockMaxDiff).toBeGreaterThan(DEFAULT_THRESHOLDS.blockMaxDiff);
  });
});

describe('compareImages: format and dimension rules', () => {
  const small = (w: number, h: number): DecodedImage => ({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(128), format: 'jpeg' });
  it.each([
    ['100x80 vs 100x80', small(100, 80), small(100, 80), []],
    ['100x80 vs 99x80', small(100, 80), small(99, 80), ['dimensions_off_by_one']],
    ['100x80 vs 99x79', small(100, 80), small(99, 79), ['dimensions_off_by_one']],
    ['100x80 vs 101x80', small(100, 80), small(101, 80), ['dimensions_off_by_one']],
    ['100x80 vs 98x80', small(100, 80), small(98, 80), ['dimensions']],
    ['100x80 vs 80x100', small(100, 80), small(80, 100), ['dimensions']],
    ['jpeg vs png', small(100, 80), { ...small(100, 80), format: 'png' }, ['format']],
  ])('%s', (_name, a, b, categories) => {
    const cmp = compareImages(ok(a), ok(b), { legacy: a.format, new: b.format }, DEFAULT_THRESHOLDS);
    expect(cmp.findings.map((f) => f.category)).toEqual(categories);
  });

  it('an undecodable body is a format finding naming the side', () => {
    const cmp = compareImages(
      ok(small(10, 10)),
      { ok: false, reason: 'Input buffer contains unsupported image format' },
      { legacy: 'jpeg', new: 'jpeg' },
      DEFAULT_THRESHOLDS,
    );
    expect(cmp.findings).toEqual([expect.objectContaining({ category: 'format', rule: 'undecodable', detail: expect.stringContaining('new body') })]);
  });

  it('a body that is not what its Content-Type says is a format finding', () => {
    const cmp = compareImages(ok(small(10, 10)), ok({ ...small(10, 10), format: 'png' }), { legacy: 'jpeg', new: 'webp' }, DEFAULT_THRESHOLDS);
    expect(cmp.findings).toEqual([expect.objectContaining({ category: 'format', rule: 'declared_format', detail: 'new declares webp but the body is png' })]);
  });
});

describe('signals', () => {
  it('SSIM agrees with ssim.js (weber, default downsampling) within 0.01', () => {
    const toRgba = (img: RgbImage) => {
      const out = new Uint8ClampedArray(img.width * img.height * 4);
      for (let i = 0, j = 0; i < img.width * img.height; i++, j += 3) {
        out[i * 4] = img.data[j]!;
        out[i * 4 + 1] = img.data[j + 1]!;
        out[i * 4 + 2] = img.data[j + 2]!;
        out[i * 4 + 3] = 255;
      }
      return { data: out, width: img.width, height: img.height };
    };
    for (const name of ['another resampler (mitchell)', '2 px shift', 'q20 re-encode']) {
      const ours = ssimLuma(reference, variants[name]!);
      const theirs = ssimJs(toRgba(reference), toRgba(variants[name]!)).mssim;
      expect(Math.abs(ours - theirs), name).toBeLessThan(0.01);
    }
  });

  it('ssimGray: identical rasters give 1, an inverted one gives a negative score, tiny images still work', () => {
    const a = Uint8Array.from({ length: 64 * 48 }, (_, i) => (i * 37) % 256);
    expect(ssimGray(a, a, 64, 48)).toBeCloseTo(1, 10);
    expect(
      ssimGray(
        a,
        a.map((v) => 255 - v),
        64,
        48,
      ),
    ).toBeLessThan(0);
    expect(ssimGray(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3), 3, 1)).toBeCloseTo(1, 10);
    expect(() => ssimGray(a, a, 10, 10)).toThrow(/size/);
  });

  it('luma uses the integer Rec.601 weights of ssim.js', () => {
    expect([...luma({ width: 3, height: 1, data: Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255) })]).toEqual([77, 149, 29]);
  });

  it('block means average partial edge blocks over the pixels they have', () => {
    const img = { width: 17, height: 1, data: new Uint8Array(17 * 3) };
    img.data.fill(10, 0, 16 * 3);
    img.data.fill(200, 16 * 3);
    const { cols, rows, means } = blockMeans(img);
    expect([cols, rows]).toEqual([2, 1]);
    expect([...means]).toEqual([10, 10, 10, 200, 200, 200]);
  });

  it('Lab of reference colours (D65)', () => {
    const [L, a, b] = srgbToLab(255, 255, 255);
    expect(L).toBeCloseTo(100, 1);
    expect(Math.abs(a) + Math.abs(b)).toBeLessThan(0.05);
    const red = srgbToLab(255, 0, 0);
    expect(red[0]).toBeCloseTo(53.24, 0);
    expect(red[1]).toBeCloseTo(80.09, 0);
    expect(red[2]).toBeCloseTo(67.2, 0);
  });

  it('colour signals see a uniform cast that SSIM forgives', () => {
    const cast = { ...reference, data: reference.data.map((v, i) => (i % 3 === 2 ? Math.min(255, v + 40) : v)) };
    const c = colourSignals(reference, cast);
    expect(c.blockMaxDiff).toBeGreaterThan(DEFAULT_THRESHOLDS.blockMaxDiff);
    expect(judgeSignals({ ssim: 1, blockiness: 1, ...c }, DEFAULT_THRESHOLDS).map((f) => f.rule)).toContain('block_colour');
  });
});
