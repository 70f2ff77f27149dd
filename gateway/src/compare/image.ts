/**
 * Decoding and normalising one response body with sharp, the same way on both sides, so that the
 * signals compare what a viewer sees and not how it was encoded: EXIF orientation applied (a
 * browser applies it, so a forgotten orientation tag is a visible defect), sRGB (CMYK and ICC
 * profiles converted), alpha flattened over white (as the contract flattens into JPEG), 8-bit
 * RGB. GIFs and animated WebPs: the first frame.
 */
import sharp from 'sharp';
import { MAX_INPUT_PIXELS } from '../../../common/contract.ts';
import type { RgbImage } from './signals.ts';

export interface DecodedImage extends RgbImage {
  /** What sharp found in the bytes: 'jpeg', 'png', 'webp', 'gif', ... */
  format: string;
}

/**
 * The most pixels the comparer decodes: the contract's limit on originals (50 megapixels, see
 * docs/image-api.md, 413 image_too_large). A conforming answer is never larger, and the bodies the
 * comparer reads come from backends it does not trust (a shadowed candidate, or a target a client
 * chose): without a limit, a few hundred kB of PNG declaring a 16k x 16k canvas would make libvips
 * allocate ~800 MB (sharp's default allows 268 megapixels). libvips checks it from the header,
 * before any pixel is decoded.
 */
export const COMPARE_MAX_INPUT_PIXELS = MAX_INPUT_PIXELS;

/** Decodes and normalises; throws when the bytes are not an image sharp can read, or are over COMPARE_MAX_INPUT_PIXELS. */
export async function decodeNormalised(body: Uint8Array): Promise<DecodedImage> {
  const input = sharp(body, { failOn: 'error', pages: 1, limitInputPixels: COMPARE_MAX_INPUT_PIXELS });
  const meta = await input.metadata();
  const { data, info } = await input
    .autoOrient()
    .toColourspace('srgb')
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`normalised to ${info.channels} channels, expected 3`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length), format: meta.format ?? 'unknown' };
}

/** sharp's format name for a Content-Type, or undefined for a non-image type. */
export function formatOfContentType(contentType: string | undefined): string | undefined {
  const essence = contentType?.split(';')[0]?.trim().toLowerCase();
  switch (essence) {
    case 'image/jpeg':
    case 'image/jpg':
      return 'jpeg';
    case 'image/png':
      return 'png';
    case 'image/webp':
      return 'webp';
    case 'image/gif':
      return 'gif';
    case 'image/avif':
      return 'heif';
    default:
      return essence?.startsWith('image/') ? essence.slice('image/'.length) : undefined;
  }
}
