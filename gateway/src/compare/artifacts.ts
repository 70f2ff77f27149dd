/**
 * Evidence for the HTML report: for a mismatch (or an intended difference), the legacy image,
 * the new image and a diff heat map, written as files beside the results so the report needs no
 * network and no data URIs the size of a photo. Capped: a run with thousands of mismatches keeps
 * the images of the first `max` and says so.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { DecodedImage } from './image.ts';
import type { PairEvidence } from './pair.ts';
import type { PairResult } from './result.ts';
import type { RgbImage } from './signals.ts';

/** Formats a browser shows as they are; anything else is written as a PNG of the normalised pixels. */
const SHOWABLE = new Set(['jpeg', 'png', 'webp', 'gif']);

export interface ArtifactWriter {
  /** Writes the images of a non-matching result; returns their paths relative to `relativeTo`, or undefined. */
  save(result: PairResult, evidence: PairEvidence): Promise<PairResult['images']>;
  /** How many results got images, and how many were left without because of the cap. */
  counts(): { saved: number; skipped: number };
}

export function createArtifactWriter(options: { dir: string; relativeTo: string; max: number }): ArtifactWriter {
  let saved = 0;
  let skipped = 0;
  let made = false;
  return {
    counts: () => ({ saved, skipped }),
    async save(result, evidence) {
      if (result.verdict === 'match') return undefined;
      const hasImage = evidence.legacyImage || evidence.newImage;
      if (!hasImage) return undefined;
      if (saved >= options.max) {
        skipped++;
        return undefined;
      }
      saved++;
      if (!made) {
        await mkdir(options.dir, { recursive: true });
        made = true;
      }
      const images: NonNullable<PairResult['images']> = {};
      const rel = (file: string) => path.relative(options.relativeTo, file).split(path.sep).join('/');
      for (const side of ['legacy', 'new'] as const) {
        const img = side === 'legacy' ? evidence.legacyImage : evidence.newImage;
        const body = side === 'legacy' ? evidence.legacyBody : evidence.newBody;
        if (!img || !body) continue;
        const showable = SHOWABLE.has(img.format);
        const file = path.join(options.dir, `${result.id}-${side}.${showable ? extension(img.format) : 'png'}`);
        await atomicWrite(file, showable ? body : await encodePng(img));
        images[side] = rel(file);
      }
      if (evidence.legacyImage && evidence.newImage) {
        const file = path.join(options.dir, `${result.id}-diff.png`);
        await atomicWrite(file, await heatMapPng(evidence.legacyImage, evidence.newImage));
        images.diff = rel(file);
      }
      return images;
    },
  };
}

function extension(format: string): string {
  return format === 'jpeg' ? 'jpg' : format;
}

async function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}

/**
 * Diff heat map at the legacy image's size (the new image is stretched to it when the sizes
 * differ, so a crop or a shift still shows where): a dimmed grey of the legacy picture where the
 * largest channel difference is at most 4, else a black-red-yellow-white ramp (dark red for
 * small differences, white from 128), so resampling noise stays dark and real defects glow.
 */
export async function heatMapPng(legacy: DecodedImage, next: DecodedImage): Promise<Buffer> {
  let other: RgbImage = next;
  if (next.width !== legacy.width || next.height !== legacy.height) {
    const data = await sharp(Buffer.from(next.data.buffer, next.data.byteOffset, next.data.length), {
      raw: { width: next.width, height: next.height, channels: 3 },
    })
      .resize(legacy.width, legacy.height, { fit: 'fill' })
      .raw()
      .toBuffer();
    other = { width: legacy.width, height: legacy.height, data };
  }
  return sharp(heatMap(legacy, other), { raw: { width: legacy.width, height: legacy.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

/** PURE: the heat map raster of two same-sized images. */
export function heatMap(a: RgbImage, b: RgbImage): Buffer {
  const n = a.width * a.height;
  const out = Buffer.alloc(n * 3);
  const da = a.data;
  const db = b.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const d = Math.max(Math.abs(da[j]! - db[j]!), Math.abs(da[j + 1]! - db[j + 1]!), Math.abs(da[j + 2]! - db[j + 2]!));
    if (d <= 4) {
      const grey = ((77 * da[j]! + 150 * da[j + 1]! + 29 * da[j + 2]!) >> 8) * 0.35;
      out[j] = out[j + 1] = out[j + 2] = grey;
    } else {
      out[j] = Math.min(255, 40 + d * 5);
      out[j + 1] = Math.max(0, Math.min(255, (d - 42) * 6));
      out[j + 2] = Math.max(0, Math.min(255, (d - 85) * 6));
    }
  }
  return out;
}

async function atomicWrite(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}
