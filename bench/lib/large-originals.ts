/**
 * The benchmark's second workload: large originals of ordinary phone-camera shape (baseline JPEG
 * q90, 8-24 MP, 4:3 and 16:9, some stored sideways with EXIF orientation 6 as phones store portrait
 * shots). The fixture photos are six files, one of which (a 3840x2160 progressive JPEG at q100)
 * decides much of the result; these are many, so no single file does.
 *
 * Generated deterministically from the project's seeded random (a picture of shapes and gradients,
 * grain at two scales like a sensor's) and cached under ~/.cache/image-gateway/bench-large, never
 * in the repository. No package ships twenty camera photographs of this size.
 */
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from '../../common/random.ts';
import { photoSvg } from '../../support/fixtures.ts';

/** Stored (sensor) sizes: five 4:3 and five 16:9, 8 to 24 megapixels. */
export const LARGE_SHAPES: ReadonlyArray<readonly [number, number]> = [
  [3264, 2448],
  [4000, 3000],
  [4624, 3468],
  [5184, 3888],
  [5600, 4200],
  [3840, 2160],
  [4608, 2592],
  [5120, 2880],
  [5760, 3240],
  [6528, 3672],
];

/** Bump when the picture or the encoding changes, so cached files from an older recipe are not reused. */
const RECIPE = 'v1';

export interface LargeSpec {
  key: string;
  /** Stored size (before orientation). */
  width: number;
  height: number;
  /** EXIF orientation: 6 (portrait shot, stored sideways) or 1. */
  orientation: 1 | 6;
  seed: number;
}

export interface LargeOriginal extends LargeSpec {
  file: string;
  bytes: number;
}

/** PURE: `count` originals cycling through the shapes; every fourth is a portrait shot stored with orientation 6. */
export function largeSpecs(count: number): LargeSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const [width, height] = LARGE_SHAPES[i % LARGE_SHAPES.length]!;
    const orientation = i % 4 === 1 ? 6 : 1;
    const n = String(i + 1).padStart(2, '0');
    return { key: `large-${n}-${width}x${height}${orientation === 6 ? '-o6' : ''}.jpg`, width, height, orientation, seed: 1000 + i };
  });
}

export function defaultLargeDir(env: Record<string, string | undefined> = process.env): string {
  return path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'image-gateway', 'bench-large', RECIPE);
}

/** The originals in `dir`, generating those that are missing (the first run takes about a second per file). */
export async function ensureLargeOriginals(dir: string, count: number, log: (text: string) => void = () => {}): Promise<LargeOriginal[]> {
  mkdirSync(dir, { recursive: true });
  const out: LargeOriginal[] = [];
  for (const spec of largeSpecs(count)) {
    const file = path.join(dir, spec.key);
    if (!existsSync(file)) {
      const t0 = Date.now();
      const tmp = `${file}.${process.pid}.tmp`;
      await (await largePicture(spec)).toFile(tmp);
      renameSync(tmp, file);
      log(`generated ${spec.key} (${(statSync(file).size / 1e6).toFixed(1)} MB, ${Date.now() - t0} ms)`);
    }
    out.push({ ...spec, file, bytes: statSync(file).size });
  }
  return out;
}

const TILE = 509; // prime, so the grain tile does not line up with 8x8 JPEG blocks

/** Grain: a seeded tile of roughly Gaussian noise around mid-grey (sum of three uniforms). */
function grainTile(seed: number, sigma: number): Buffer {
  const rnd = mulberry32(seed);
  const px = Buffer.alloc(TILE * TILE * 3);
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, Math.round(128 + (rnd() + rnd() + rnd() - 1.5) * 2 * sigma)));
  return px;
}

async function largePicture(spec: LargeSpec): Promise<ReturnType<typeof sharp>> {
  const { width, height } = spec;
  // The scene at a quarter of the size (shapes, gradients, fine noise), scaled up: detail at the
  // scale of leaves and edges; then grain at full size, like a sensor's.
  const small = await sharp(photoSvg(Math.round(width / 4), Math.round(height / 4), spec.seed))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rnd = mulberry32(spec.seed ^ 0x5bd1e995);
  for (let i = 0; i < small.data.length; i++) small.data[i] = Math.max(0, Math.min(255, small.data[i]! + Math.floor((rnd() - 0.5) * 40)));
  const scene = await sharp(small.data, { raw: { width: small.info.width, height: small.info.height, channels: 3 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
  const grain = await sharp(grainTile(spec.seed, 9), { raw: { width: TILE, height: TILE, channels: 3 } })
    .png()
    .toBuffer();
  const picture = sharp(scene, { raw: { width, height, channels: 3 } })
    .composite([{ input: grain, tile: true, blend: 'overlay' }])
    .jpeg({ quality: 90, progressive: false, mozjpeg: false, chromaSubsampling: '4:2:0' });
  return spec.orientation === 1 ? picture : picture.withMetadata({ orientation: spec.orientation });
}
