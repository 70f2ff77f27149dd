/**
 * Real sharp over real images: the fixture folder when it is there, generated images always
 * (support/fixtures.ts), and a few images built here for what needs exact pixels (all eight EXIF
 * orientations with a known layout, metadata to strip).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImages, realFixturesDir, type GeneratedImage } from '../../support/fixtures.ts';
import { ImageError } from '../src/errors.ts';
import { planResize } from '../src/geometry.ts';
import type { ResizeRequest } from '../src/params.ts';
import { fullShrinkOnLoad, renderImage, type PipelineInput, type PipelineLimits } from '../src/pipeline.ts';
import { legacyCmykToRgb } from '../src/colour.ts';
import { legacyLanczosResize } from '../src/legacy-resize.ts';
import { insertAfterIhdr, pngChunk } from './colour-originals.ts';

const LIMITS: PipelineLimits = { maxInputPixels: 50_000_000, fastShrinkOnLoad: false };
const real = realFixturesDir();
let tmp: string;
let generated: Record<string, GeneratedImage>;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'pipeline-test-'));
  generated = Object.fromEntries((await generateImages(tmp)).map((g) => [g.name, g]));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const req = (r: Partial<ResizeRequest>): ResizeRequest => ({ width: undefined, height: undefined, fit: 'inside', quality: 85, format: undefined, ...r });
const gen = (name: string) => readFileSync(generated[name]!.file);
/**
 * Cases on the real fixtures are declared only when the folder exists (not skipped: a checkout
 * without it has no such cases, and the generated-image cases beside them cover the same ground).
 */
const describeWithRealFixtures = (name: string, fn: () => void): void => {
  if (real) describe(name, fn);
};
const itWithRealFixtures = (name: string, fn: () => Promise<void>): void => {
  if (real) it(name, fn);
};
/** Real fixture bytes. */
const fixture = (name: string) => readFileSync(path.join(real!, name));

async function pixel(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [...data.subarray(i, i + info.channels)];
}

/** Mean absolute difference of two images scaled to the same small greyscale thumbnail (0..255). */
async function difference(a: Buffer, b: Buffer): Promise<number> {
  const thumb = (img: Buffer) => sharp(img).flatten({ background: '#ffffff' }).greyscale().resize(64, 48, { fit: 'fill' }).raw().toBuffer();
  const [ta, tb] = await Promise.all([thumb(a), thumb(b)]);
  let sum = 0;
  for (let i = 0; i < ta.length; i++) sum += Math.abs(ta[i]! - tb[i]!);
  return sum / ta.length;
}

async function expectNoMetadata(image: Buffer): Promise<void> {
  const meta = await sharp(image).metadata();
  expect(meta.exif).toBeUndefined();
  expect(meta.icc).toBeUndefined();
  expect(meta.xmp).toBeUndefined();
  expect(meta.iptc).toBeUndefined();
  expect(meta.orientation).toBeUndefined();
}

async function renderError(input: PipelineInput, r: ResizeRequest, limits = LIMITS): Promise<ImageError> {
  const err = await renderImage(input, r, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

describe('EXIF orientation: all eight come out as 600x450 landscapes the right way round', () => {
  // A 600x450 landscape with four coloured quadrants: any wrong rotation or mirror moves a colour.
  const QUADRANTS = { topLeft: [255, 0, 0], topRight: [0, 255, 0], bottomLeft: [0, 0, 255], bottomRight: [255, 255, 255] };
  const displayColour = (x: number, y: number) =>
    y < 225 ? (x < 300 ? QUADRANTS.topLeft : QUADRANTS.topRight) : x < 300 ? QUADRANTS.bottomLeft : QUADRANTS.bottomRight;
  /** Where a stored pixel shows on screen for each EXIF orientation (the TIFF/EXIF definition). */
  const toDisplay = (o: number, x: number, y: number, ws: number, hs: number): [number, number] =>
    [
      [x, y],
      [ws - 1 - x, y],
      [ws - 1 - x, hs - 1 - y],
      [x, hs - 1 - y],
      [y, x],
      [hs - 1 - y, x],
      [hs - 1 - y, ws - 1 - x],
      [y, ws - 1 - x],
    ][o - 1] as [number, number];

  async function stored(orientation: number): Promise<Buffer> {
    const [ws, hs] = orientation >= 5 ? [450, 600] : [600, 450];
    const raw = Buffer.alloc(ws * hs * 3);
    for (let y = 0; y < hs; y++) {
      for (let x = 0; x < ws; x++) {
        const [dx, dy] = toDisplay(orientation, x, y, ws, hs);
        raw.set(displayColour(dx, dy), (y * ws + x) * 3);
      }
    }
    return sharp(raw, { raw: { width: ws, height: hs, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation })
      .toBuffer();
  }

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('built here, orientation %i', async (orientation) => {
    const input = await stored(orientation);
    expect((await sharp(input).metadata()).orientation).toBe(orientation);
    const out = await renderImage(input, req({ width: 600 }), LIMITS);
    expect([out.width, out.height]).toEqual([600, 450]);
    const meta = await sharp(out.body).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([600, 450, 'jpeg']);
    await expectNoMetadata(out.body);
    for (const [x, y, colour] of [
      [150, 110, QUADRANTS.topLeft],
      [450, 110, QUADRANTS.topRight],
      [150, 340, QUADRANTS.bottomLeft],
      [450, 340, QUADRANTS.bottomRight],
    ] as const) {
      const px = await pixel(out.body, x, y);
      for (let c = 0; c < 3; c++) expect(Math.abs(px[c]! - colour[c]!)).toBeLessThan(40);
    }
  });

  // A cover crop turns the picture after resizing and before cutting (pipeline.ts asks for the
  // orientation last, so that shrink-on-load stays on): the cut must land on the oriented picture.
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('built here, orientation %i, cover crops across both axes land the right way round', async (orientation) => {
    const input = await stored(orientation);
    // 300x100: scaled to 300x225, rows 62..161 kept (the quadrants meet at row 112).
    const wide = await renderImage(input, req({ width: 300, height: 100, fit: 'cover' }), LIMITS);
    expect([wide.width, wide.height]).toEqual([300, 100]);
    // 100x300: scaled to 400x300, columns 150..249 kept (the quadrants meet at column 200).
    const tall = await renderImage(input, req({ width: 100, height: 300, fit: 'cover' }), LIMITS);
    expect([tall.width, tall.height]).toEqual([100, 300]);
    for (const [body, x, y, colour] of [
      [wide.body, 75, 20, QUADRANTS.topLeft],
      [wide.body, 225, 20, QUADRANTS.topRight],
      [wide.body, 75, 80, QUADRANTS.bottomLeft],
      [wide.body, 225, 80, QUADRANTS.bottomRight],
      [tall.body, 20, 75, QUADRANTS.topLeft],
      [tall.body, 80, 75, QUADRANTS.topRight],
      [tall.body, 20, 225, QUADRANTS.bottomLeft],
      [tall.body, 80, 225, QUADRANTS.bottomRight],
    ] as const) {
      const px = await pixel(body, x, y);
      for (let c = 0; c < 3; c++) expect(Math.abs(px[c]! - colour[c]!)).toBeLessThan(40);
    }
  });

  it('built here, orientation 6, resized: the box applies to the oriented size', async () => {
    const out = await renderImage(await stored(6), req({ width: 300, height: 300 }), LIMITS);
    expect([out.width, out.height]).toEqual([300, 225]);
  });

  it('generated gen-exif-6.jpg', async () => {
    const out = await renderImage(gen('gen-exif-6.jpg'), req({ width: 600 }), LIMITS);
    expect([out.width, out.height]).toEqual([600, 450]);
    await expectNoMetadata(out.body);
  });

  describeWithRealFixtures('real fixtures exif-landscape-1..8.jpg', () => {
    it.each([1, 2, 3, 4, 5, 6, 7, 8])('orientation %i is 600x450 and looks like orientation 1', async (orientation) => {
      const reference = await renderImage(fixture('exif-landscape-1.jpg'), req({ width: 600 }), LIMITS);
      const out = await renderImage(fixture(`exif-landscape-${orientation}.jpg`), req({ width: 600 }), LIMITS);
      expect([out.width, out.height]).toEqual([600, 450]);
      await expectNoMetadata(out.body);
      const mirrored = await sharp(reference.body).flop().jpeg().toBuffer();
      // The same picture, the right way round: far closer to the reference than its mirror image is.
      const diff = await difference(out.body, reference.body);
      expect(diff).toBeLessThan(8);
      expect(await difference(mirrored, reference.body)).toBeGreaterThan(diff * 3 + 10);
    });
  });
});

describe('colour: output is sRGB', () => {
  it('generated CMYK JPEG comes out as 3-channel sRGB close to the RGB it was made from', async () => {
    const input = gen('gen-cmyk.jpg');
    expect((await sharp(input).metadata()).space).toBe('cmyk');
    const out = await renderImage(input, req({ width: 400 }), LIMITS);
    const meta = await sharp(out.body).metadata();
    expect([meta.space, meta.channels, meta.format, out.width, out.height]).toEqual(['srgb', 3, 'jpeg', 400, 300]);
    await expectNoMetadata(out.body);
    // The same picture as the RGB it was converted from (an un-converted or inverted CMYK is far off).
    const { photoRaw } = await import('../../support/fixtures.ts');
    const rgb = await (await photoRaw(800, 600, 7)).jpeg().toBuffer();
    expect(await difference(out.body, rgb)).toBeLessThan(20);
    expect(await difference(await sharp(out.body).negate().toBuffer(), rgb)).toBeGreaterThan(40);
  });

  it("CMYK without a profile: every pixel is ImageMagick's formula on the decoded CMYK samples", async () => {
    const input = gen('gen-cmyk.jpg');
    const cmyk = await sharp(input).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer();
    const expected = legacyCmykToRgb(new Uint8Array(cmyk));
    // 800 px wide: no resize, PNG: no lossy re-encode, so the pixels are the conversion's.
    const out = await renderImage(input, req({ width: 800, format: 'png' }), LIMITS);
    const got = await sharp(out.body).raw().toBuffer();
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it.each([
    [100000, 188],
    [75000, 128],
  ])('PNG with gAMA %i and no sRGB/ICC: mid-grey 128 comes out %i, as ImageMagick reads it', async (gamma, value) => {
    const g = Buffer.alloc(4);
    g.writeUInt32BE(gamma);
    const png = insertAfterIhdr(
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .png()
        .toBuffer(),
      [pngChunk('gAMA', g)],
    );
    const out = await renderImage(png, req({ width: 8 }), LIMITS);
    expect(await pixel(out.body, 4, 4)).toEqual([value, value, value]);
  });

  itWithRealFixtures('real cmyk-with-profile.jpg (embedded ICC) comes out as 3-channel sRGB without a profile', async () => {
    const input = fixture('cmyk-with-profile.jpg');
    const inMeta = await sharp(input).metadata();
    expect(inMeta.space).toBe('cmyk');
    expect(inMeta.icc).toBeDefined();
    const out = await renderImage(input, req({ width: 250 }), LIMITS);
    const meta = await sharp(out.body).metadata();
    expect([meta.space, meta.channels, out.width, out.height]).toEqual(['srgb', 3, 250, 167]);
    await expectNoMetadata(out.body);
  });

  it.each<[string, 'png' | 'webp' | 'jpeg']>([
    ['png', 'png'],
    ['webp', 'webp'],
    ['jpeg', 'jpeg'],
  ])('CMYK into %s is sRGB too', async (_name, format) => {
    const out = await renderImage(gen('gen-cmyk.jpg'), req({ width: 80, format }), LIMITS);
    const meta = await sharp(out.body).metadata();
    expect([meta.format, meta.space]).toEqual([format, 'srgb']);
  });
});

describe('alpha', () => {
  it('generated PNG with a transparent hole: flattened onto white in JPEG', async () => {
    const out = await renderImage(gen('gen-alpha-640x480.png'), req({ width: 320, format: 'jpeg' }), LIMITS);
    expect(out.contentType).toBe('image/jpeg');
    expect((await sharp(out.body).metadata()).channels).toBe(3);
    // The hole is the centre 320x240 of 640x480: at w=320 its middle is (160, 120).
    for (const v of await pixel(out.body, 160, 120)) expect(v).toBeGreaterThanOrEqual(250);
  });

  it('keeps alpha in PNG and WebP', async () => {
    for (const format of ['png', 'webp'] as const) {
      const out = await renderImage(gen('gen-alpha-640x480.png'), req({ width: 320, format }), LIMITS);
      const meta = await sharp(out.body).metadata();
      expect(meta.hasAlpha).toBe(true);
      expect((await pixel(out.body, 160, 120))[3]).toBeLessThan(5);
    }
  });

  itWithRealFixtures('real alpha-blackbug.png: transparent corners land on white in JPEG, stay transparent in PNG', async () => {
    const input = fixture('alpha-blackbug.png');
    expect((await pixel(input, 0, 0))[3]).toBe(0);
    const jpeg = await renderImage(input, req({ width: 512, format: 'jpeg' }), LIMITS);
    expect([jpeg.width, jpeg.height]).toEqual([512, 384]);
    for (const v of await pixel(jpeg.body, 2, 2)) expect(v).toBeGreaterThanOrEqual(250);
    const png = await renderImage(input, req({ width: 512 }), LIMITS);
    expect(png.contentType).toBe('image/png');
    expect((await pixel(png.body, 2, 2))[3]).toBe(0);
  });

  itWithRealFixtures('real alpha-5.webp: JPEG output is opaque, WebP keeps alpha', async () => {
    const jpeg = await renderImage(fixture('alpha-5.webp'), req({ width: 100, format: 'jpeg' }), LIMITS);
    expect((await sharp(jpeg.body).metadata()).channels).toBe(3);
    const webp = await renderImage(fixture('alpha-5.webp'), req({ width: 100 }), LIMITS);
    expect(webp.contentType).toBe('image/webp');
    expect((await sharp(webp.body).metadata()).hasAlpha).toBe(true);
  });
});

describe('formats', () => {
  it('an animated GIF becomes a PNG of its first frame by default', async () => {
    const input = gen('gen-anim.gif');
    const out = await renderImage(input, req({ width: 60 }), LIMITS);
    expect(out.contentType).toBe('image/png');
    const meta = await sharp(out.body).metadata();
    expect([meta.format, meta.width, meta.height, meta.pages ?? 1]).toEqual(['png', 60, 45, 1]);
    const frame0 = await sharp(input, { page: 0 }).png().toBuffer();
    const frame1 = await sharp(input, { page: 1 }).png().toBuffer();
    expect(await difference(out.body, frame0)).toBeLessThan(await difference(out.body, frame1));
  });

  itWithRealFixtures('real animated-rotating-squares.gif: first frame, PNG, never enlarged', async () => {
    const input = fixture('animated-rotating-squares.gif');
    const out = await renderImage(input, req({ width: 200 }), LIMITS);
    const meta = await sharp(out.body).metadata();
    expect([meta.format, out.width, out.height]).toEqual(['png', 80, 80]);
    const frame0 = await sharp(input, { page: 0 }).png().toBuffer();
    expect(await difference(out.body, frame0)).toBeLessThan(3);
  });

  itWithRealFixtures('real crash-test.gif can be asked for as WebP', async () => {
    const out = await renderImage(fixture('crash-test.gif'), req({ width: 400, format: 'webp' }), LIMITS);
    expect([out.contentType, out.width, out.height]).toEqual(['image/webp', 400, 267]);
  });

  it.each<[string, 'jpeg' | 'png' | 'webp' | undefined, string]>([
    ['gen-photo-1001x667.webp', undefined, 'webp'],
    ['gen-photo-777x555.png', undefined, 'png'],
    ['gen-photo-1920x1280.jpg', undefined, 'jpeg'],
    ['gen-photo-1920x1280.jpg', 'webp', 'webp'],
    ['gen-photo-777x555.png', 'jpeg', 'jpeg'],
    ['gen-photo-1001x667.webp', 'png', 'png'],
  ])('%s with format=%s gives %s', async (name, format, expected) => {
    const out = await renderImage(gen(name), req({ width: 100, format }), LIMITS);
    expect(out.contentType).toBe(`image/${expected}`);
    expect((await sharp(out.body).metadata()).format).toBe(expected);
  });

  it('quality changes the encoded size (q is honoured)', async () => {
    const low = await renderImage(gen('gen-photo-1920x1280.jpg'), req({ width: 640, quality: 20 }), LIMITS);
    const high = await renderImage(gen('gen-photo-1920x1280.jpg'), req({ width: 640, quality: 95 }), LIMITS);
    expect(high.body.length).toBeGreaterThan(low.body.length * 1.5);
  });

  it('strips EXIF, XMP and ICC that the original carries', async () => {
    const input = await sharp(gen('gen-photo-777x555.png'))
      .jpeg()
      .withMetadata({ orientation: 1 })
      .withIccProfile('p3')
      .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>')
      .toBuffer();
    const inMeta = await sharp(input).metadata();
    expect(inMeta.exif).toBeDefined();
    expect(inMeta.icc).toBeDefined();
    expect(inMeta.xmp).toBeDefined();
    for (const format of ['jpeg', 'png', 'webp'] as const) {
      await expectNoMetadata((await renderImage(input, req({ width: 100, format }), LIMITS)).body);
    }
  });
});

describe('resampling', () => {
  /** ImageMagick's way: decode at full size, then one Lanczos resize (no shrink-on-load). */
  async function fullDecodeReference(input: Buffer, width: number, height: number): Promise<Buffer> {
    const { data, info } = await sharp(input).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .png()
      .toBuffer();
  }
  async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
    const [ra, rb] = await Promise.all([sharp(a).removeAlpha().raw().toBuffer(), sharp(b).removeAlpha().raw().toBuffer()]);
    expect(ra.length).toBe(rb.length);
    let sum = 0;
    for (let i = 0; i < ra.length; i++) sum += Math.abs(ra[i]! - rb[i]!);
    return sum / ra.length;
  }

  it('by default (no fast shrink-on-load) a WebP resize stays within 1/255 of a full-size decode + Lanczos', async () => {
    const input = gen('gen-photo-1001x667.webp');
    const out = await renderImage(input, req({ width: 300, format: 'png' }), LIMITS);
    const reference = await fullDecodeReference(input, out.width, out.height);
    const defaultDiff = await meanAbsDiff(out.body, reference);
    expect(defaultDiff).toBeLessThan(1);
    // What the setting buys: fast shrink-on-load lands measurably further away.
    const fast = await renderImage(input, req({ width: 300, format: 'png' }), { ...LIMITS, fastShrinkOnLoad: true });
    expect(await meanAbsDiff(fast.body, reference)).toBeGreaterThan(defaultDiff * 2);
  });

  it("by default a JPEG uses libjpeg's 1/2 and 1/4 decodes fully, stays within 1.5/255 of a full-size decode + Lanczos, and keeps a factor of 2 where 1/8 would leave less", async () => {
    const input = gen('gen-photo-2999x2001.jpg');
    const byDefault = await renderImage(input, req({ width: 900, format: 'png' }), { ...LIMITS, fastShrinkOnLoad: 'jpeg' });
    const halfOnly = await renderImage(input, req({ width: 900, format: 'png' }), { ...LIMITS, fastShrinkOnLoad: false });
    const reference3 = await fullDecodeReference(input, byDefault.width, byDefault.height);
    // Shrink 3.3: the default decodes at 1/2 (sharp's own default keeps a factor of 2: a full decode).
    expect(byDefault.body.equals(halfOnly.body)).toBe(false);
    expect(await meanAbsDiff(byDefault.body, reference3)).toBeLessThan(1.5);
    // Shrink 10: 1/8 would leave Lanczos 1.25x; the default decodes at 1/4, exactly as with the setting off.
    const at10 = await renderImage(input, req({ width: 300, format: 'png' }), { ...LIMITS, fastShrinkOnLoad: 'jpeg' });
    const at10off = await renderImage(input, req({ width: 300, format: 'png' }), { ...LIMITS, fastShrinkOnLoad: false });
    expect(at10.body.equals(at10off.body)).toBe(true);
  });

  /** A small RGBA original with hard edges and partial alpha: where resamplers differ most. */
  async function smallAlphaPng(width: number, height: number): Promise<{ png: Buffer; raw: Uint8Array }> {
    const raw = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const edge = Math.min(x, y, width - 1 - x, height - 1 - y);
        raw.set([(x * 53) % 256, (y * 97) % 256, (x + y) % 2 ? 255 : 0, edge === 0 ? 0 : edge === 1 ? 128 : 255], (y * width + x) * 4);
      }
    }
    return {
      png: await sharp(raw, { raw: { width, height, channels: 4 } })
        .png()
        .toBuffer(),
      raw,
    };
  }

  it('enlarging (cover past the original) resamples as ImageMagick: every pixel of the crop is its Lanczos', async () => {
    const { png, raw } = await smallAlphaPng(13, 9);
    const out = await renderImage(png, req({ width: 200, height: 120, fit: 'cover', format: 'png' }), LIMITS);
    const plan = planResize({ width: 13, height: 9 }, { width: 200, height: 120, fit: 'cover' });
    const expected = legacyLanczosResize({ data: raw, width: 13, height: 9, channels: 4, hasAlpha: true }, plan.resize, plan.crop);
    const { data, info } = await sharp(out.body).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([200, 120, 4]);
    let differing = 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== expected.data[i]) differing++;
    expect(differing).toBe(0);
  });

  it('enlarging: the pixel limit is on the original, not on the enlarged output', async () => {
    const { png } = await smallAlphaPng(20, 20);
    const out = await renderImage(png, req({ width: 300, height: 300, fit: 'cover', format: 'jpeg' }), { ...LIMITS, maxInputPixels: 10_000 });
    expect([out.width, out.height]).toEqual([300, 300]);
  });

  it("enlarging past the render bound stops with libvips' timeout message (a 504 in service.ts)", async () => {
    const { png } = await smallAlphaPng(200, 150);
    const limits = { ...LIMITS, renderTimeoutMs: 0 } as PipelineLimits;
    const err = await renderError(png, req({ width: 1000, height: 1000, fit: 'cover', format: 'png' }), limits);
    expect((err.cause as Error).message).toMatch(/^timeout: \d+% complete/);
  });
});

describe('sizes are exactly the planned ones', () => {
  const boxes: Array<Partial<ResizeRequest>> = [
    { width: 300 },
    { width: 640 },
    { height: 77 },
    { width: 333, height: 250 },
    { width: 101, height: 77 },
    { width: 97, height: 131 },
    { width: 200, height: 200, fit: 'cover' },
    { width: 97, height: 131, fit: 'cover' },
    { width: 4096 },
  ];
  const names = ['gen-photo-2999x2001.jpg', 'gen-photo-1001x667.webp', 'gen-photo-777x555.png'];

  for (const fastShrinkOnLoad of [true, false, 'jpeg'] as const) {
    it.each(names.flatMap((name) => boxes.map((box) => [name, box] as const)))(`%s %o (fastShrinkOnLoad ${fastShrinkOnLoad})`, async (name, box) => {
      const g = generated[name]!;
      const plan = planResize({ width: g.width, height: g.height }, { width: box.width, height: box.height, fit: box.fit ?? 'inside' });
      const want = plan.crop ? [plan.crop.width, plan.crop.height] : [plan.resize.width, plan.resize.height];
      const out = await renderImage(gen(name), req(box), { ...LIMITS, fastShrinkOnLoad });
      const meta = await sharp(out.body).metadata();
      expect([out.width, out.height]).toEqual(want);
      expect([meta.width, meta.height]).toEqual(want);
    });
  }

  describeWithRealFixtures('real photographs', () => {
    it.each(['photo-elephants-3840x2160.jpg', 'photo-flower-1600x1203.jpg', 'photo-1024x772.webp'])('%s', async (name) => {
      const input = fixture(name);
      const { width, height } = await sharp(input).metadata();
      for (const box of boxes) {
        const plan = planResize({ width: width!, height: height! }, { width: box.width, height: box.height, fit: box.fit ?? 'inside' });
        const out = await renderImage(input, req(box), LIMITS);
        expect([out.width, out.height]).toEqual(plan.crop ? [plan.crop.width, plan.crop.height] : [plan.resize.width, plan.resize.height]);
      }
    });
  });

  it('cover crops the centre: a left/right split source keeps both halves evenly', async () => {
    // 400x100: left half black, right half white; cover into 100x100 keeps the middle 100 columns.
    const raw = Buffer.alloc(400 * 100 * 3);
    for (let y = 0; y < 100; y++) for (let x = 200; x < 400; x++) raw.fill(255, (y * 400 + x) * 3, (y * 400 + x) * 3 + 3);
    const input = await sharp(raw, { raw: { width: 400, height: 100, channels: 3 } })
      .png()
      .toBuffer();
    const out = await renderImage(input, req({ width: 100, height: 100, fit: 'cover' }), LIMITS);
    expect([out.width, out.height]).toEqual([100, 100]);
    expect((await pixel(out.body, 10, 50))[0]).toBeLessThan(10);
    expect((await pixel(out.body, 90, 50))[0]).toBeGreaterThan(245);
  });
});

describe('refusals', () => {
  it('generated truncated JPEG: 415 unsupported_image, not a half image', async () => {
    const err = await renderError(gen('gen-truncated.jpg'), req({ width: 100 }));
    expect([err.status, err.code]).toEqual([415, 'unsupported_image']);
    expect(err.message).toContain('could not be decoded');
  });

  itWithRealFixtures('real bad-truncated.jpg: 415 unsupported_image', async () => {
    const err = await renderError(fixture('bad-truncated.jpg'), req({ width: 100 }));
    expect([err.status, err.code]).toEqual([415, 'unsupported_image']);
  });

  it.each([
    ['text', Buffer.from('hello, not an image')],
    ['svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')],
    ['empty', Buffer.alloc(0)],
    ['a JPEG header and nothing else', Buffer.from('ffd8ffe000104a46494600', 'hex')],
  ])('%s: 415 naming the accepted formats', async (_name, input) => {
    const err = await renderError(input, req({ width: 10 }));
    expect([err.status, err.code]).toEqual([415, 'unsupported_image']);
    expect(err.message).toContain('JPEG, PNG, WebP or GIF');
  });

  it('a local file is decoded from its path, and refused when its format is not the one its first bytes showed', async () => {
    const file = generated['gen-photo-1920x1280.jpg']!.file;
    const head = readFileSync(file).subarray(0, 16);
    const out = await renderImage({ path: file, head }, req({ width: 100 }), LIMITS);
    expect((await renderImage(gen('gen-photo-1920x1280.jpg'), req({ width: 100 }), LIMITS)).body.equals(out.body)).toBe(true);
    // Replaced between the open and the decode: the bytes libvips finds are not what was recognised.
    const pngHead = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const err = await renderError({ path: file, head: pngHead }, req({ width: 100 }));
    expect([err.status, err.code]).toEqual([415, 'unsupported_image']);
  });

  it('a local file deleted before its decode: 404 not_found', async () => {
    const head = readFileSync(generated['gen-photo-1920x1280.jpg']!.file).subarray(0, 16);
    const err = await renderError({ path: path.join(tmp, 'gone.jpg'), head }, req({ width: 100 }));
    expect([err.status, err.code]).toEqual([404, 'not_found']);
  });

  it('over the pixel limit: 413 from the header, before decoding', async () => {
    // A PNG whose header claims 10000x10000 (100 MP) with almost no pixel data behind it.
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      return Buffer.concat([len, body, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(10000, 0);
    ihdr.writeUInt32BE(10000, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    const png = Buffer.concat([
      Buffer.from('89504e470d0a1a0a', 'hex'),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(Buffer.alloc(1000))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    expect(png.length).toBeLessThan(200);
    const err = await renderError(png, req({ width: 100 }));
    expect([err.status, err.code]).toEqual([413, 'image_too_large']);
    expect(err.message).toContain('50 megapixels');
  });

  it('honours a lower pixel limit', async () => {
    const err = await renderError(gen('gen-photo-777x555.png'), req({ width: 100 }), { ...LIMITS, maxInputPixels: 100_000 });
    expect([err.status, err.code]).toEqual([413, 'image_too_large']);
  });

  it('cover of a very thin original past libvips coordinates: 400 naming fit, not a decode failure', async () => {
    const thin = await sharp({ create: { width: 1, height: 10000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const err = await renderError(thin, req({ width: 4096, height: 4096, fit: 'cover' }));
    expect([err.status, err.code]).toEqual([400, 'invalid_parameter']);
    expect(err.message).toContain('invalid parameter fit');
  });
});

describe('fullShrinkOnLoad', () => {
  it.each([
    ['jpeg', 'jpeg', 3, true],
    ['jpeg', 'jpeg', 7.99, true],
    ['jpeg', 'jpeg', 8, false],
    ['jpeg', 'jpeg', 11.9, false],
    ['jpeg', 'jpeg', 12, true],
    ['jpeg', 'webp', 3, false],
    ['jpeg', 'png', 20, false],
    [true, 'webp', 3, true],
    [false, 'jpeg', 20, false],
  ] as const)('setting %s, a %s original shrunk %sx: %s', (setting, source, shrink, expected) => {
    expect(fullShrinkOnLoad(setting, source, shrink)).toBe(expected);
  });
});
