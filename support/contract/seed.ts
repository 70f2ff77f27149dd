/**
 * The originals the contract suite needs, written into a backend's storage directory: generated
 * ones always (odd sizes, EXIF orientation, CMYK, alpha, GIF, truncated, oversize), the real
 * fixtures as well when the fixtures folder is present.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { MAX_INPUT_BYTES } from '../../common/contract.ts';
import { projectRoot } from '../../common/paths.ts';
import { generateImages, realFixturesDir, type GeneratedImage } from '../fixtures.ts';
import { corruptHuffmanTable, gifClaiming } from '../hostile-images.ts';
import { pngHeaderOnly } from './images.ts';

const GENERATED_CACHE = path.join(projectRoot, 'var/cache/generated-images');
const REAL = [
  'exif-landscape-1.jpg',
  'exif-landscape-2.jpg',
  'exif-landscape-3.jpg',
  'exif-landscape-4.jpg',
  'exif-landscape-5.jpg',
  'exif-landscape-6.jpg',
  'exif-landscape-7.jpg',
  'exif-landscape-8.jpg',
  'cmyk-with-profile.jpg',
  'alpha-blackbug.png',
  'alpha-5.webp',
  'animated-rotating-squares.gif',
  'bad-truncated.jpg',
  'photo-flower-1600x1203.jpg',
  'photo-1024x772.webp',
];

/**
 * The generated set, made once and kept in var/cache. generateImages writes in place and skips
 * files that exist, so a run killed mid-write would leave a torn file there for good: it writes
 * into a private staging directory instead, and finished files are renamed into the cache.
 */
async function generatedOriginals(): Promise<GeneratedImage[]> {
  mkdirSync(GENERATED_CACHE, { recursive: true });
  const staging = mkdtempSync(`${GENERATED_CACHE}-staging-`);
  try {
    for (const name of readdirSync(GENERATED_CACHE)) copyFileSync(path.join(GENERATED_CACHE, name), path.join(staging, name));
    const images = await generateImages(staging);
    for (const g of images) {
      if (!existsSync(path.join(GENERATED_CACHE, g.name))) renameSync(g.file, path.join(GENERATED_CACHE, g.name));
    }
    return images.map((g) => ({ ...g, file: path.join(GENERATED_CACHE, g.name) }));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Writes every original the suite needs into `dir`; returns the real fixtures it copied (empty without them). */
export async function seedOriginals(dir: string): Promise<string[]> {
  for (const g of await generatedOriginals()) copyFileSync(g.file, path.join(dir, g.name));
  mkdirSync(path.join(dir, 'nested/a-b_c.1'), { recursive: true });
  copyFileSync(path.join(dir, 'gen-photo-777x555.png'), path.join(dir, 'nested/a-b_c.1/photo.png'));
  // Left half red, right half blue: shows where a cover crop was taken from.
  await sharp({ create: { width: 400, height: 200, channels: 3, background: '#ff0000' } })
    .composite([{ input: { create: { width: 200, height: 200, channels: 3, background: '#0000ff' } }, left: 200, top: 0 }])
    .png()
    .toFile(path.join(dir, 'halves-400x200.png'));
  await sharp({ create: { width: 120, height: 90, channels: 3, background: '#777777' } })
    .toColourspace('b-w')
    .jpeg()
    .toFile(path.join(dir, 'grey-120x90.jpg'));
  writeFileSync(path.join(dir, 'notes.txt'), 'these are not the pixels you are looking for\n');
  writeFileSync(
    path.join(dir, 'drawing.svg'),
    '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100" fill="red"/></svg>',
  );
  writeFileSync(path.join(dir, 'not-really.jpg'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 0x5a)]));
  writeFileSync(path.join(dir, 'header-60mp.png'), pngHeaderOnly(10_000, 6_000));
  // Over 50 MiB without writing 50 MiB: a sparse file (its size is all that matters).
  writeFileSync(path.join(dir, 'huge-bytes.jpg'), Buffer.from([0xff, 0xd8, 0xff]));
  truncateSync(path.join(dir, 'huge-bytes.jpg'), MAX_INPUT_BYTES + 1);
  // GIFs whose logical screen and first frame differ: both backends size them from the screen.
  const gifFrame = (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: '#ff0000' } })
      .gif()
      .toBuffer();
  writeFileSync(path.join(dir, 'gif-screen-8000x7000.gif'), gifClaiming(await gifFrame(1, 1), 8000, 7000));
  writeFileSync(path.join(dir, 'gif-screen-3000x2000.gif'), gifClaiming(await gifFrame(1, 1), 3000, 2000));
  writeFileSync(path.join(dir, 'gif-screen-400x300.gif'), gifClaiming(await gifFrame(100, 100), 400, 300));
  writeFileSync(path.join(dir, 'gif-screen-100x100-frame-300x200.gif'), gifClaiming(await gifFrame(300, 200), 100, 100));
  // A header libjpeg reads, a Huffman table it cannot build: ImageMagick hands back a 0x0 image.
  writeFileSync(
    path.join(dir, 'bogus-huffman.jpg'),
    corruptHuffmanTable(
      await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } })
        .jpeg()
        .toBuffer(),
    ),
  );

  const real = realFixturesDir();
  if (!real) return [];
  mkdirSync(path.join(dir, 'real'), { recursive: true });
  const copied: string[] = [];
  for (const name of REAL) {
    if (!existsSync(path.join(real, name))) continue;
    copyFileSync(path.join(real, name), path.join(dir, 'real', name));
    copied.push(name);
  }
  return copied;
}
