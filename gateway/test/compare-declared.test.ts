/**
 * The recognition rule of the declared difference `legacy_ignores_png_orientation` (rules.ts):
 * legacy's image is the new one re-oriented, for a PNG original, and nothing else.
 */
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { judgePair } from '../src/compare/pair.ts';
import { recogniseLegacyPngOrientation } from '../src/compare/rules.ts';
import type { SendOutcome } from '../src/compare/send.ts';
import type { RgbImage } from '../src/compare/signals.ts';
import { DEFAULT_THRESHOLDS } from '../src/compare/thresholds.ts';
import { photoRaw } from '../../support/fixtures.ts';

async function raw(image: Sharp): Promise<RgbImage> {
  const { data, info } = await image.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

let stored: Buffer;
let storedSquare: Buffer;
beforeAll(async () => {
  stored = await (await photoRaw(320, 240, 5)).png().toBuffer();
  storedSquare = await (await photoRaw(240, 240, 5)).png().toBuffer();
});

const legacyOf = (png: Buffer) => raw(sharp(png));
/** What the new service shows: the stored pixels tagged with an orientation, oriented by libvips. */
const newOf = async (png: Buffer, orientation: number) => raw(sharp(await sharp(png).png().withMetadata({ orientation }).toBuffer()).autoOrient());

describe('recogniseLegacyPngOrientation', () => {
  it.each([2, 3, 4])('orientation %i (same size): recognised', async (o) => {
    expect(recogniseLegacyPngOrientation('/image/files/a/b.png', await legacyOf(stored), await newOf(stored, o), DEFAULT_THRESHOLDS)).toBe(o);
  });

  it.each([5, 6, 7, 8])('orientation %i on a square output: recognised', async (o) => {
    expect(recogniseLegacyPngOrientation('/image/files/sq.PNG', await legacyOf(storedSquare), await newOf(storedSquare, o), DEFAULT_THRESHOLDS)).toBe(o);
  });

  it('only for PNG originals (JPEG and WebP orientation is applied by both)', async () => {
    expect(recogniseLegacyPngOrientation('/image/files/a.jpg', await legacyOf(stored), await newOf(stored, 3), DEFAULT_THRESHOLDS)).toBeUndefined();
  });

  it('not for a picture that is simply different, nor for a colour defect', async () => {
    const other = await raw(sharp(await (await photoRaw(320, 240, 99)).png().toBuffer()));
    expect(recogniseLegacyPngOrientation('/image/files/a.png', await legacyOf(stored), other, DEFAULT_THRESHOLDS)).toBeUndefined();
    const swapped = await raw(
      sharp(stored)
        .rotate(180)
        .recomb([
          [0, 0, 1],
          [0, 1, 0],
          [1, 0, 0],
        ]),
    );
    expect(recogniseLegacyPngOrientation('/image/files/a.png', await legacyOf(stored), swapped, DEFAULT_THRESHOLDS)).toBeUndefined();
  });
});

describe('the harness reports legacy_ignores_png_orientation as intended, apart from mismatches', () => {
  const answer = (body: Buffer): SendOutcome => ({
    ok: true,
    status: 200,
    headers: { 'content-type': 'image/png', 'content-length': String(body.length), 'cache-control': 'public, max-age=86400', etag: '"x"' },
    body,
    ttfbMs: 1,
    totalMs: 2,
  });
  /** legacy: the stored pixels as they are; new: the same pixels with orientation 3 applied. */
  async function bodies(): Promise<[Buffer, Buffer]> {
    return [await sharp(stored).png().toBuffer(), await sharp(stored).rotate(180).png().toBuffer()];
  }
  const ctx = { thresholds: DEFAULT_THRESHOLDS, ignore: [] };

  it('a PNG whose legacy image is the new one re-oriented: verdict intended, with the declared reason', async () => {
    const [l, n] = await bodies();
    const { result } = await judgePair({ method: 'GET', target: '/image/files/a/b.png?w=320', route: 'images' }, answer(l), answer(n), ctx);
    expect(result.verdict).toBe('intended');
    expect(result.findings).toEqual([]);
    expect(result.category).toBe('pixels');
    expect(result.intended.length).toBeGreaterThan(0);
    expect(result.intended.every((f) => f.reason.startsWith('legacy_ignores_png_orientation: ') && f.reason.includes('orientation 3'))).toBe(true);
  });

  it('the same bodies for a JPEG original stay a mismatch', async () => {
    const [l, n] = await bodies();
    const { result } = await judgePair({ method: 'GET', target: '/image/files/a/b.jpg?w=320', route: 'images' }, answer(l), answer(n), ctx);
    expect(result.verdict).toBe('mismatch');
    expect(result.intended).toEqual([]);
  });

  it('a header difference still stands beside a recognised orientation', async () => {
    const [l, n] = await bodies();
    const { result } = await judgePair(
      { method: 'GET', target: '/image/files/a/b.png?w=320', route: 'images' },
      answer(l),
      { ...answer(n), headers: { ...(answer(n) as { headers: Record<string, string> }).headers, 'cache-control': 'no-store' } } as SendOutcome,
      ctx,
    );
    expect(result.verdict).toBe('mismatch');
    expect(result.category).toBe('header');
    expect(result.intended.map((f) => f.category)).toContain('pixels');
  });
});
