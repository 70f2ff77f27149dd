/**
 * Enlarging parity with legacy, on real servers: `fit=cover` of an original smaller than the box
 * scales it UP, where libvips stops using Lanczos (it hands upsizing to a bicubic affine) and
 * ImageMagick keeps its Lanczos filter. Small hard-edged originals (icons, sprites, strips) show
 * the difference most, so the originals here are made at test time with hard edges, alpha and
 * odd sizes, rendered on the real legacy backend (nginx + PHP-FPM + Imagick) and the real image
 * service, and judged by the comparison harness's own rules and calibrated thresholds.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../common/random.ts';
import { startLegacy, type RunningLegacy } from '../../stack/legacy.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { judgePair } from './parity-judge.ts';

let work: string;
let legacy: RunningLegacy | undefined;
let service: RunningService | undefined;

/** Deterministic pseudo-random bytes (no Math.random: the same originals on every run). */
function bytes(n: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
}

/** Blocks of saturated colour with a 1 px dark grid: the hard edges Lanczos rings on. */
function blocks(width: number, height: number, channels: 3 | 4): Uint8Array {
  const palette = [
    [230, 30, 40],
    [20, 160, 60],
    [30, 60, 220],
    [250, 220, 30],
    [255, 255, 255],
    [10, 10, 10],
  ];
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      const grid = x % 5 === 0 || y % 4 === 0;
      const c = grid ? [40, 40, 40] : palette[(Math.floor(x / 5) + 2 * Math.floor(y / 4)) % palette.length]!;
      out.set(c, i);
      // Alpha: a transparent frame, a half-transparent ring, an opaque centre.
      if (channels === 4) {
        const edge = Math.min(x, y, width - 1 - x, height - 1 - y);
        out[i + 3] = edge === 0 ? 0 : edge === 1 ? 128 : 255;
      }
    }
  }
  return out;
}

/** A vertical strip: a gradient crossed by dark bars (cover scales it ~7x and crops its middle). */
function strip(width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const bar = y % 9 < 2;
      out.set(bar ? [20, 20, 30] : [Math.round((255 * x) / width), Math.round((255 * y) / height), 180], i);
    }
  }
  return out;
}

const raw = (data: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4) => sharp(data, { raw: { width, height, channels } });

/** name -> how it is made. */
const ORIGINALS: Record<string, () => Promise<Buffer>> = {
  'blocks.png': () =>
    raw(blocks(23, 17, 3), 23, 17, 3)
      .png()
      .toBuffer(),
  'blocks.jpg': () =>
    raw(blocks(37, 29, 3), 37, 29, 3)
      .jpeg({ quality: 95 })
      .toBuffer(),
  'blocks-alpha.png': () =>
    raw(blocks(16, 16, 4), 16, 16, 4)
      .png()
      .toBuffer(),
  'blocks-alpha.gif': () =>
    raw(
      blocks(20, 20, 4).map((v, i) => (i % 4 === 3 ? (v < 128 ? 0 : 255) : v)),
      20,
      20,
      4,
    )
      .gif()
      .toBuffer(),
  'noise-4x4.jpg': () =>
    raw(bytes(4 * 4 * 3, 7), 4, 4, 3)
      .jpeg({ quality: 90 })
      .toBuffer(),
  'grey-alpha.png': () =>
    raw(
      blocks(12, 9, 4).filter((_, i) => i % 4 === 0 || i % 4 === 3),
      12,
      9,
      2,
    )
      .png()
      .toBuffer(),
  'strip.jpg': () => raw(strip(30, 140), 30, 140, 3).jpeg({ quality: 92 }).toBuffer(),
};

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'upscale-parity-'));
  const storage = path.join(work, 'originals');
  mkdirSync(storage);
  await Promise.all(Object.entries(ORIGINALS).map(async ([name, make]) => writeFileSync(path.join(storage, name), await make())));
  [legacy, service] = await Promise.all([startLegacy({ storageDir: storage }), startImageService({ STORAGE_URL: pathToFileURL(storage).href })]);
});

afterAll(async () => {
  await Promise.allSettled([legacy?.stop(), service?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Renders one request on both backends and judges it as `gateway compare` would. */
const judge = (target: string) => judgePair(legacy!.url, service!.url, target);

/** Enlarging boxes (square, wide, with each output format), and one shrinking request as a control. */
const VARIANTS = [
  'w=200&h=200&fit=cover',
  'w=200&h=200&fit=cover&format=jpeg',
  'w=300&h=120&fit=cover&format=webp',
  'w=120&h=400&fit=cover&format=png',
  'w=16',
];

describe('enlarging parity with legacy (real Imagick vs real sharp, judged by the harness)', () => {
  describe.each(Object.keys(ORIGINALS))('%s', (name) => {
    it.each(VARIANTS)('?%s matches', async (variant) => {
      const { findings } = await judge(`/image/files/${name}?${variant}`);
      expect(findings).toEqual([]);
    });
  });
});
