/**
 * sharp: original bytes + request -> encoded image. The geometry comes from geometry.ts; this
 * module only drives libvips so that the pixels match what ImageMagick gave clients:
 * EXIF orientation applied first, exact output sizes (fit 'fill' to the planned size, then a
 * centre crop for cover), Lanczos 3, sRGB output, alpha flattened onto white for JPEG, and no
 * metadata carried over.
 */
import sharp from 'sharp';
import { ImageError } from './errors.ts';
import { CONTENT_TYPES, SUPPORTED_FORMATS_TEXT, sniffFormat, type SourceFormat } from './formats.ts';
import { orientedSize, planResize } from './geometry.ts';
import type { OutputFormat, ResizeRequest } from './params.ts';
import type { LocalFile } from './storage/types.ts';

/** libvips' VIPS_MAX_COORD: no image side, even a lazily computed one, may exceed it. */
const MAX_INTERMEDIATE_SIDE = 10_000_000;

export interface PipelineLimits {
  /** Refuse originals with more pixels than this, from the header, before decoding. Default 50 000 000. */
  maxInputPixels: number;
  /**
   * sharp's `fastShrinkOnLoad`: shrink JPEG/WebP as far as possible while decoding. Off by default:
   * it leaves a visible difference from ImageMagick (which decodes at full size) on WebP and
   * progressive JPEG originals, and saved only ~1% CPU on the benchmark's workload (README, Tuning).
   */
  fastShrinkOnLoad: boolean;
}

const WEBP_EFFORT = 2;

export interface RenderedImage {
  body: Buffer;
  contentType: string;
  width: number;
  height: number;
}

/** Default output for a source format: the same, except GIF, whose first frame becomes PNG. */
export function defaultOutputFormat(source: SourceFormat): OutputFormat {
  return source === 'gif' ? 'png' : source;
}

/** The original's bytes, or a local file libvips reads itself (with its first bytes for sniffing). */
export type PipelineInput = Buffer | LocalFile;

export async function renderImage(input: PipelineInput, req: ResizeRequest, limits: PipelineLimits): Promise<RenderedImage> {
  const source = sniffFormat(Buffer.isBuffer(input) ? input : input.head);
  if (!source) throw new ImageError('unsupported_image', `unsupported image: the original is not a ${SUPPORTED_FORMATS_TEXT} image`);
  const format = req.format ?? defaultOutputFormat(source);

  try {
    // failOn 'error' (which implies 'truncated'): a damaged original is a 415, never a half image.
    // limitInputPixels is checked by libvips from the header, before any pixel is decoded.
    const image = sharp(Buffer.isBuffer(input) ? input : input.path, { failOn: 'error', limitInputPixels: limits.maxInputPixels, pages: 1, sequentialRead: true });
    const meta = await image.metadata();
    if (!meta.width || !meta.height) throw new ImageError('unsupported_image', 'unsupported image: the original has no dimensions');
    // libvips detects the format itself; it must be the one recognised above (a local file could
    // have been replaced in between, and libvips also reads SVG, PDF, HEIF... that are refused here).
    if (meta.format !== source) throw new ImageError('unsupported_image', `unsupported image: the original is not a ${SUPPORTED_FORMATS_TEXT} image`);
    if (meta.width * meta.height > limits.maxInputPixels) throw tooManyPixels(meta.width, meta.height, limits.maxInputPixels);

    const oriented = orientedSize({ width: meta.width, height: meta.height }, meta.orientation);
    const plan = planResize(oriented, { width: req.width, height: req.height, fit: req.fit });
    // cover scales a very thin original far past the box before cropping (1x10000 into 4096x4096:
    // 4096x40960000). libvips computes only the cropped region, but refuses sides past its
    // coordinate limit; say so as the client's parameter problem rather than as a decode failure.
    if (plan.resize.width > MAX_INTERMEDIATE_SIDE || plan.resize.height > MAX_INTERMEDIATE_SIDE) {
      throw new ImageError(
        'invalid_parameter',
        `invalid parameter fit: cover of this ${oriented.width}x${oriented.height} original into ${req.width}x${req.height} would scale it to ${plan.resize.width}x${plan.resize.height}; expected a box that scales each side to at most ${MAX_INTERMEDIATE_SIDE} pixels`,
      );
    }

    let pipeline = image
      .rotate()
      .resize(plan.resize.width, plan.resize.height, {
        fit: 'fill',
        kernel: 'lanczos3',
        fastShrinkOnLoad: limits.fastShrinkOnLoad,
      });
    if (plan.crop) pipeline = pipeline.extract(plan.crop);
    if (format === 'jpeg' && meta.hasAlpha) pipeline = pipeline.flatten({ background: '#ffffff' });
    pipeline = pipeline.toColourspace('srgb');

    switch (format) {
      case 'jpeg':
        pipeline = pipeline.jpeg({ quality: req.quality, mozjpeg: false, chromaSubsampling: '4:2:0' });
        break;
      case 'webp':
        // effort 2 instead of libwebp's default 4: measured here on a 1920x1280 photo resized to
        // 1280 px, effort 4 took 101 ms of CPU and effort 2 took 50 ms, for a file 3% larger (and
        // still a third smaller than ImageMagick's at the same quality).
        pipeline = pipeline.webp({ quality: req.quality, effort: WEBP_EFFORT });
        break;
      case 'png':
        pipeline = pipeline.png({ compressionLevel: 6, adaptiveFiltering: false });
        break;
    }
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return { body: data, contentType: CONTENT_TYPES[format], width: info.width, height: info.height };
  } catch (err) {
    throw mapSharpError(err, limits.maxInputPixels);
  }
}

function tooManyPixels(width: number, height: number, max: number): ImageError {
  return new ImageError(
    'image_too_large',
    `image too large: the original is ${width}x${height} (${((width * height) / 1e6).toFixed(1)} megapixels); at most ${max / 1e6} megapixels are accepted`,
  );
}

function mapSharpError(err: unknown, maxPixels: number): ImageError {
  if (err instanceof ImageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/input file is missing/i.test(message)) {
    // A local original deleted between its open and its decode.
    return new ImageError('not_found', 'no original with this key any more', { cause: err });
  }
  if (/pixel limit/i.test(message)) {
    return new ImageError('image_too_large', `image too large: the original has more than ${maxPixels / 1e6} megapixels`, { cause: err });
  }
  // Everything else libvips says about an input is a decode failure: corrupt, truncated, or a
  // format variant it cannot read.
  return new ImageError('unsupported_image', `unsupported image: the original could not be decoded as a ${SUPPORTED_FORMATS_TEXT} image`, {
    cause: err,
  });
}
