/**
 * support/fixtures.ts: the real fixtures folder is found (or not) as documented, and the generated
 * set, which every test falls back to, really has the properties the tests rely on.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchPhotos, generateImages, realFixturesDir, type GeneratedImage } from '../fixtures.ts';

let tmp: string;
let images: Record<string, GeneratedImage>;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fixtures-test-'));
  images = Object.fromEntries((await generateImages(path.join(tmp, 'gen'))).map((g) => [g.name, g]));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('realFixturesDir', () => {
  it('is undefined for a missing or empty folder, and the folder when it has files', () => {
    expect(realFixturesDir({ FIXTURES_DIR: path.join(tmp, 'absent') })).toBeUndefined();
    mkdirSync(path.join(tmp, 'empty'));
    expect(realFixturesDir({ FIXTURES_DIR: path.join(tmp, 'empty') })).toBeUndefined();
    mkdirSync(path.join(tmp, 'full'));
    writeFileSync(path.join(tmp, 'full', 'photo-1x1.jpg'), 'x');
    expect(realFixturesDir({ FIXTURES_DIR: path.join(tmp, 'full') })).toBe(path.join(tmp, 'full'));
  });
});

describe('generateImages', () => {
  it('writes every image at its stated (oriented) size, odd sizes included', async () => {
    for (const g of Object.values(images)) {
      if (g.name === 'gen-truncated.jpg') continue;
      const meta = await sharp(g.file).metadata();
      const oriented = (meta.orientation ?? 1) >= 5 ? [meta.height, meta.width] : [meta.width, meta.height];
      expect(oriented, g.name).toEqual([g.width, g.height]);
    }
    expect(images['gen-photo-2999x2001.jpg']).toBeDefined();
  });

  it('covers EXIF orientation, CMYK, alpha, animation and truncation', async () => {
    expect((await sharp(images['gen-exif-6.jpg']!.file).metadata()).orientation).toBe(6);
    expect((await sharp(images['gen-cmyk.jpg']!.file).metadata()).space).toBe('cmyk');
    expect((await sharp(images['gen-alpha-640x480.png']!.file).metadata()).hasAlpha).toBe(true);
    expect((await sharp(images['gen-anim.gif']!.file).metadata()).pages).toBeGreaterThan(1);
    const truncated = readFileSync(images['gen-truncated.jpg']!.file);
    expect(truncated.length).toBe(10_000);
    await expect(sharp(truncated, { failOn: 'truncated' }).toBuffer()).rejects.toThrow();
  });

  it('keeps files already there (a second call is cheap and stable)', async () => {
    const again = await generateImages(path.join(tmp, 'gen'));
    expect(again.map((g) => g.name)).toEqual(Object.keys(images));
  });
});

describe('benchPhotos', () => {
  it('lists the generated photographs when the real folder is absent', async () => {
    const saved = process.env.FIXTURES_DIR;
    process.env.FIXTURES_DIR = path.join(tmp, 'absent');
    try {
      const photos = await benchPhotos(path.join(tmp, 'gen'));
      expect(photos.map((p) => path.basename(p))).toEqual([
        'gen-photo-2999x2001.jpg',
        'gen-photo-1920x1280.jpg',
        'gen-photo-1001x667.webp',
        'gen-photo-777x555.png',
      ]);
    } finally {
      if (saved === undefined) delete process.env.FIXTURES_DIR;
      else process.env.FIXTURES_DIR = saved;
    }
  });
});
