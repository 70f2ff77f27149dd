/**
 * Test images: the real ones in ../shared/fixtures/images (or FIXTURES_DIR) when present, and
 * generated ones otherwise, so that every test and benchmark still runs in a checkout without them.
 * The real images are never copied into the repository.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../common/paths.ts';
import { mulberry32 } from '../common/random.ts';

/** The real fixtures folder, or undefined when this checkout has none. */
export function realFixturesDir(env: Record<string, string | undefined> = process.env): string | undefined {
  const dir = env.FIXTURES_DIR ?? path.resolve(projectRoot, '../shared/fixtures/images');
  return existsSync(dir) && readdirSync(dir).length > 0 ? dir : undefined;
}

/** A photo-like picture: gradients, shapes and fine detail, so resamplers and codecs have work to do. */
export function photoSvg(width: number, height: number, seed: number): Buffer {
  const rnd = mulberry32(seed);
  const shapes: string[] = [];
  for (let i = 0; i < 40; i++) {
    const x = Math.floor(rnd() * width);
    const y = Math.floor(rnd() * height);
    const r = Math.floor(5 + rnd() * Math.min(width, height) * 0.15);
    const hue = Math.floor(rnd() * 360);
    shapes.push(`<circle cx="${x}" cy="${y}" r="${r}" fill="hsl(${hue},70%,50%)" fill-opacity="${(0.3 + rnd() * 0.6).toFixed(2)}"/>`);
  }
  for (let i = 0; i < 60; i++) {
    const x1 = Math.floor(rnd() * width);
    const y1 = Math.floor(rnd() * height);
    shapes.push(
      `<line x1="${x1}" y1="${y1}" x2="${x1 + Math.floor(rnd() * 200 - 100)}" y2="${y1 + Math.floor(rnd() * 200 - 100)}" ` +
        `stroke="hsl(${Math.floor(rnd() * 360)},60%,30%)" stroke-width="${(1 + rnd() * 3).toFixed(1)}"/>`,
    );
  }
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="hsl(${Math.floor(rnd() * 360)},60%,70%)"/><stop offset="1" stop-color="hsl(${Math.floor(rnd() * 360)},50%,25%)"/>
      </linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/>${shapes.join('')}
    </svg>`,
  );
}

export async function photoRaw(width: number, height: number, seed: number): Promise<ReturnType<typeof sharp>> {
  // Fine grain on top of the shapes, like sensor noise in a real photo.
  const base = await sharp(photoSvg(width, height, seed))
    .removeAlpha()
    .raw()
    .toBuffer();
  const rnd = mulberry32(seed ^ 0x9e3779b9);
  for (let i = 0; i < base.length; i++) base[i] = Math.max(0, Math.min(255, base[i]! + Math.floor((rnd() - 0.5) * 24)));
  return sharp(base, { raw: { width, height, channels: 3 } });
}

export interface GeneratedImage {
  name: string;
  file: string;
  /** Oriented size of the picture. */
  width: number;
  height: number;
}

/**
 * Writes the generated set into `dir` (skipping files already there) and lists it. Sizes are odd
 * and even on purpose; the set covers what the real fixtures cover: EXIF orientation, CMYK,
 * alpha, WebP, GIF, and a truncated JPEG.
 */
export async function generateImages(dir: string): Promise<GeneratedImage[]> {
  mkdirSync(dir, { recursive: true });
  const out: GeneratedImage[] = [];
  const make = async (name: string, width: number, height: number, build: () => Promise<Buffer>) => {
    const file = path.join(dir, name);
    if (!existsSync(file)) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(file, await build());
    }
    out.push({ name, file, width, height });
  };
  await make('gen-photo-2999x2001.jpg', 2999, 2001, async () => (await photoRaw(2999, 2001, 1)).jpeg({ quality: 90 }).toBuffer());
  await make('gen-photo-1920x1280.jpg', 1920, 1280, async () => (await photoRaw(1920, 1280, 2)).jpeg({ quality: 90 }).toBuffer());
  await make('gen-photo-1001x667.webp', 1001, 667, async () => (await photoRaw(1001, 667, 3)).webp({ quality: 90 }).toBuffer());
  await make('gen-photo-777x555.png', 777, 555, async () => (await photoRaw(777, 555, 4)).png().toBuffer());
  await make('gen-alpha-640x480.png', 640, 480, async () =>
    sharp(photoSvg(640, 480, 5))
      .ensureAlpha()
      .composite([
        {
          input: Buffer.from(
            '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect x="160" y="120" width="320" height="240" fill="black"/></svg>',
          ),
          blend: 'dest-out',
        },
      ])
      .png()
      .toBuffer(),
  );
  // Stored as 450x600 with orientation 6: displays as a 600x450 landscape.
  await make('gen-exif-6.jpg', 600, 450, async () => (await photoRaw(450, 600, 6)).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer());
  await make('gen-cmyk.jpg', 800, 600, async () => (await photoRaw(800, 600, 7)).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer());
  await make('gen-anim.gif', 120, 90, async () => {
    const frames = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        sharp(photoSvg(120, 90, 10 + i))
          .png()
          .toBuffer(),
      ),
    );
    return sharp(frames, { join: { animated: true } })
      .gif({ loop: 0, delay: 100 })
      .toBuffer();
  });
  await make('gen-truncated.jpg', 0, 0, async () => (await (await photoRaw(1200, 800, 8)).jpeg({ quality: 90 }).toBuffer()).subarray(0, 10_000));
  return out;
}

/** Photographs for benchmarks and parity runs: the real ones when present, generated ones otherwise. */
export async function benchPhotos(cacheDir: string): Promise<string[]> {
  const real = realFixturesDir();
  if (real) {
    return readdirSync(real)
      .filter((f) => /^photo-.*\.(jpe?g|webp)$/.test(f))
      .sort()
      .map((f) => path.join(real, f));
  }
  const generated = await generateImages(cacheDir);
  return generated.filter((g) => g.name.startsWith('gen-photo-')).map((g) => g.file);
}
