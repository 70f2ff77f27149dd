/**
 * GIFs are sized from their logical screen, as the legacy backend sizes them (getimagesize reads
 * the screen, and Imagick's coalesceImages() paints the first frame on a canvas of that size).
 *
 * Why the screen and not the frame: it is what a decoder may allocate. Measured (peak RSS of one
 * resize to w=200, `/usr/bin/time -f %M`) on a 1x1 frame with a 1x1, 2048x2048 and 7000x7000
 * (49-megapixel) screen: PHP + Imagick 25, 98 and 419 MB (the coalesce canvas, 8 bytes a screen
 * pixel); node + sharp 98, 124 and 96 MB. libvips allocates the screen too (4 bytes a pixel), but
 * its GIF loader, libnsgif, ignores a screen wider or taller than 2048, or of a few "common" sizes
 * like 640x480, and then sizes the image from its frames. So the 50-megapixel limit has to hold for the screen, or a GIF
 * would be refused by one backend and served by the other; and libvips' canvas has to be brought
 * to the screen size, or the two would answer the same request with different sizes (a 1x1 frame
 * on a 3000x2000 screen: 200x133 from legacy, 1x1 from libvips).
 */
import sharp from 'sharp';
import { ImageError } from './errors.ts';
import type { LocalFile } from './storage/types.ts';

export interface Size {
  width: number;
  height: number;
}

/** PURE: the logical screen size a GIF declares (bytes 6..9, little-endian), or undefined for any other bytes. */
export function gifLogicalScreen(head: Uint8Array): Size | undefined {
  if (head.length < 10 || head[0] !== 0x47 || head[1] !== 0x49 || head[2] !== 0x46 || head[3] !== 0x38) return undefined;
  return { width: head[6]! | (head[7]! << 8), height: head[8]! | (head[9]! << 8) };
}

/**
 * PURE: refuses a GIF on its logical screen, before anything is decoded, with the answers legacy
 * gives: 415 for a screen with a zero side (no readable header for getimagesize), 413 over the
 * pixel limit.
 */
export function checkGifScreen(screen: Size, maxPixels: number): void {
  if (screen.width === 0 || screen.height === 0) {
    throw new ImageError(
      'unsupported_image',
      `unsupported image: the GIF's logical screen is ${screen.width}x${screen.height}; expected both sides of at least 1 pixel`,
    );
  }
  const pixels = screen.width * screen.height;
  if (pixels > maxPixels) {
    throw new ImageError(
      'image_too_large',
      `image too large: the original is ${screen.width}x${screen.height} (${(pixels / 1e6).toFixed(1)} megapixels); at most ${maxPixels / 1e6} megapixels are accepted`,
    );
  }
}

/**
 * The GIF's first frame on a transparent canvas of its logical screen size, as a PNG (lossless, and
 * GIF sources become PNG anyway), when libvips would size it otherwise; undefined when libvips
 * already gives the screen size (the usual case: no extra work). Frames reaching past the screen
 * are cut at its edges, as ImageMagick's coalesce cuts them.
 */
export async function gifOnLogicalScreen(input: Buffer | string, screen: Size, maxPixels: number): Promise<Buffer | undefined> {
  const options = { failOn: 'error', limitInputPixels: maxPixels, pages: 1 } as const;
  const meta = await sharp(input, options).metadata();
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width === screen.width && height === screen.height) return undefined;
  if (width === 0 || height === 0) throw new ImageError('unsupported_image', 'unsupported image: the GIF has no frame to show');
  const kept = { width: Math.min(width, screen.width), height: Math.min(height, screen.height) };
  return sharp(input, options)
    .ensureAlpha()
    .extract({ left: 0, top: 0, ...kept })
    .extend({ right: screen.width - kept.width, bottom: screen.height - kept.height, background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/**
 * The original as the pipeline should see it: a GIF checked on its logical screen and, when
 * libvips would size it otherwise, replaced by its first frame on that screen; anything else as it is.
 */
export async function onGifScreen(input: Buffer | LocalFile, maxPixels: number): Promise<Buffer | LocalFile> {
  const screen = gifLogicalScreen(Buffer.isBuffer(input) ? input : input.head);
  if (!screen) return input;
  checkGifScreen(screen, maxPixels);
  try {
    return (await gifOnLogicalScreen(Buffer.isBuffer(input) ? input : input.path, screen, maxPixels)) ?? input;
  } catch (err) {
    if (err instanceof ImageError) throw err;
    // A GIF libvips cannot open is the original's fault, as in the pipeline (a 415, never a 500).
    throw new ImageError('unsupported_image', 'unsupported image: the original could not be decoded as a GIF image', { cause: err });
  }
}
