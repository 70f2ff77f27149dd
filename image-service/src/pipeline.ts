/**
 * sharp: original bytes + request -> encoded image. The geometry comes from geometry.ts; this
 * module only drives libvips so that the pixels match what ImageMagick gave clients:
 * EXIF orientation applied first, exact output sizes (fit 'fill' to the planned size, then a
 * centre crop for cover), Lanczos 3, sRGB output, alpha flattened onto white for JPEG, and no
 * metadata carried over. A resize that enlarges is done as ImageMagick does it
 * (legacy-resize.ts): libvips stops using Lanczos when a side grows. Where ImageMagick converts
 * colour its own way and libvips would not (CMYK without a profile, PNGs whose gAMA ImageMagick
 * reads as linear), the pixels are converted with legacy's formula first (colour.ts); every
 * other original takes the plain libvips path.
 */
import sharp, { type Sharp } from 'sharp';
import { open } from 'node:fs/promises';
import { MAX_SIDE_PIXELS } from '../../common/contract.ts';
import { legacyCmykToRgbInto, legacyLinearToSrgb, needsLegacyCmyk, needsLegacyLinearPng, readPngColourChunks, type PngColourChunks } from './colour.ts';
import { ImageError } from './errors.ts';
import { CONTENT_TYPES, SUPPORTED_FORMATS_TEXT, sniffFormat, type SourceFormat } from './formats.ts';
import { orientedSize, planResize, type Crop, type Size } from './geometry.ts';
import { enlarges, legacyLanczosSteps } from './legacy-resize.ts';
import { needsLibvipsTimeout } from './render-bound.ts';
import type { OutputFormat, ResizeRequest } from './params.ts';
import type { LocalFile } from './storage/types.ts';

// MAX_SIDE_PIXELS bounds the longest side of an original, and of the scaled image a cover crop is
// cut from: ImageMagick's policy limit, the most the legacy backend can decode or make. libvips
// could go far further (it computes only the cropped region, up to VIPS_MAX_COORD), but then one
// request would get a 200 here and a refusal there; legacy's answers stand (a 413 for such an
// original, and a 400 instead of its old 500 for such a box).

export interface PipelineLimits {
  /** Refuse originals with more pixels than this, from the header, before decoding. Default 50 000 000. */
  maxInputPixels: number;
  /**
   * sharp's `fastShrinkOnLoad` (full shrink-on-load): 'jpeg' (the default) for JPEG originals where
   * it keeps parity (fullShrinkOnLoad), true for JPEG and WebP always, false for neither (each then
   * keeps a factor of two for the Lanczos reduce).
   */
  fastShrinkOnLoad: FastShrinkOnLoad;
}

export type FastShrinkOnLoad = boolean | 'jpeg';

/**
 * PURE: whether to let libjpeg shrink this original as far as it can while decoding (DCT scaling
 * by 1/2, 1/4 or 1/8), rather than keep a factor of two for the Lanczos reduce (sharp's default).
 * `shrink` is the request's scale-down factor (original side / output side).
 *
 * 'jpeg': JPEG originals, except where it would decode at 1/8 and leave Lanczos less than 1.5x to
 * do (shrink 8-12). libjpeg's 1/8 keeps only each block's mean; measured against legacy on 20
 * large phone-camera JPEGs and the fixture photos (272 pairs), the lowest SSIM went from 0.951 to
 * 0.934 with full shrink-on-load everywhere, every one of the drops past 0.01 at shrink 8-10 (a 5760
 * px photo to 640: 1/8 to 720, then 1.125x). The 1/2 and 1/4 decodes left SSIM within 0.001
 * (w=1280 from 8-24 MP: 11% less CPU a render). WebP: libwebp's scaled decode is not a Lanczos; it
 * moved the WebP photo ten times further from ImageMagick's pixels (README, Tuning), so never.
 */
export function fullShrinkOnLoad(setting: FastShrinkOnLoad, source: SourceFormat, shrink: number): boolean {
  if (setting !== 'jpeg') return setting;
  return source === 'jpeg' && (shrink < 8 || shrink >= 12);
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
  // The render bound, for the work done in JavaScript (libvips' own work has its timeout below).
  const deadline = 'renderTimeoutMs' in limits && typeof limits.renderTimeoutMs === 'number' ? performance.now() + limits.renderTimeoutMs : undefined;

  try {
    // failOn 'error' (which implies 'truncated'): a damaged original is a 415, never a half image.
    // limitInputPixels is checked by libvips from the header, before any pixel is decoded.
    const image = sharp(Buffer.isBuffer(input) ? input : input.path, {
      failOn: 'error',
      limitInputPixels: limits.maxInputPixels,
      pages: 1,
      sequentialRead: true,
    });
    const meta = await image.metadata();
    if (!meta.width || !meta.height) throw new ImageError('unsupported_image', 'unsupported image: the original has no dimensions');
    // libvips detects the format itself; it must be the one recognised above (a local file could
    // have been replaced in between, and libvips also reads SVG, PDF, HEIF... that are refused here).
    if (meta.format !== source) throw new ImageError('unsupported_image', `unsupported image: the original is not a ${SUPPORTED_FORMATS_TEXT} image`);
    if (meta.width * meta.height > limits.maxInputPixels) throw tooManyPixels(meta.width, meta.height, limits.maxInputPixels);
    if (meta.width > MAX_SIDE_PIXELS || meta.height > MAX_SIDE_PIXELS) {
      throw new ImageError(
        'image_too_large',
        `image too large: the original is ${meta.width}x${meta.height}; at most ${MAX_SIDE_PIXELS} pixels a side are accepted`,
      );
    }

    const oriented = orientedSize({ width: meta.width, height: meta.height }, meta.orientation);
    const plan = planResize(oriented, { width: req.width, height: req.height, fit: req.fit });
    // cover scales a very thin original far past the box before cropping (1x10000 into 4096x4096:
    // 4096x40960000), past what legacy can make (MAX_SIDE_PIXELS): the client's parameter problem.
    if (plan.resize.width > MAX_SIDE_PIXELS || plan.resize.height > MAX_SIDE_PIXELS) {
      throw new ImageError(
        'invalid_parameter',
        `invalid parameter fit: cover of this ${oriented.width}x${oriented.height} original into ${req.width}x${req.height} would scale it to ` +
          `${plan.resize.width}x${plan.resize.height}; expected a box that scales each side to at most ${MAX_SIDE_PIXELS} pixels`,
      );
    }

    // CMYK without a profile: libvips would convert through its own CMYK profile; clients have
    // seen ImageMagick's formula for years (colour.ts). Only such originals pay for the detour.
    // A PNG that says gamma ~1.0 is linear to ImageMagick, which encodes it to sRGB (colour.ts).
    let pixels = image;
    if (needsLegacyCmyk(meta)) pixels = await legacyCmykSource(image, limits.maxInputPixels);
    else if (source === 'png' && needsLegacyLinearPng(await pngColourChunksOf(input), meta.icc !== undefined)) {
      pixels = await legacyLinearSource(image, meta.depth === 'ushort' ? String(meta.space) : undefined, meta.hasAlpha === true, limits.maxInputPixels);
    }
    // Enlarging: libvips would not use Lanczos (it upsizes with a bicubic affine), so the
    // original is resampled as ImageMagick does it (legacy-resize.ts), only the crop computed.
    const enlarging = enlarges(oriented, plan.resize);
    let pipeline = enlarging
      ? await legacyEnlarged(pixels, plan.resize, plan.crop, deadline)
      : pixels.resize(plan.resize.width, plan.resize.height, {
          fit: 'fill',
          kernel: 'lanczos3',
          fastShrinkOnLoad: fullShrinkOnLoad(
            limits.fastShrinkOnLoad,
            source,
            Math.min(oriented.width / plan.resize.width, oriented.height / plan.resize.height),
          ),
        });
    if (plan.crop && !enlarging) pipeline = pipeline.extract(plan.crop);
    // EXIF orientation, asked for last on purpose: sizes and the crop are still read in the
    // oriented picture (sharp turns the image after resizing and before a post-resize crop), but
    // an extract() called after rotate() makes sharp turn the original *before* resizing, which
    // turns shrink-on-load off: a 12 MP portrait phone photo (orientation 6) to a 200x200 cover
    // took 250-280 ms of CPU instead of 50-60 (sharp 0.35, measured). Same pixels either way.
    if (!enlarging) pipeline = pipeline.rotate();
    if (format === 'jpeg' && meta.hasAlpha) pipeline = pipeline.flatten({ background: '#ffffff' });
    pipeline = pipeline.toColourspace('srgb');
    // A bound on the render's processing (RENDER_TIMEOUT_MS; libvips counts whole seconds): a
    // pathological original must not hold a slot and a core long after its client has gone.
    // service.ts turns libvips' "timeout: N% complete" into a 504.
    // Only for renders that could come near it (render-bound.ts): the timeout's progress reporting
    // costs every render CPU, and the service answers a render that finished past the bound with
    // the same 504 anyway.
    const boundMs = 'renderTimeoutMs' in limits && typeof limits.renderTimeoutMs === 'number' ? limits.renderTimeoutMs : undefined;
    if (boundMs !== undefined && needsLibvipsTimeout(meta.width * meta.height, plan.resize.width * plan.resize.height, boundMs))
      pipeline = pipeline.timeout({ seconds: Math.max(1, Math.ceil(boundMs / 1000)) });

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

/**
 * The original, oriented, as 8-bit RGB converted with ImageMagick's CMYK formula. The CMYK
 * samples come out of libvips unconverted (a CMYK pipeline colourspace skips its profile), and
 * the conversion happens before resizing, as legacy does it. In place, so that only the CMYK
 * samples are held (4 bytes a pixel): measured on a 7000x7000 original, peak RSS 305 MB, against
 * 445 MB with a separate RGB buffer and 111 MB through libvips' profile (which streams).
 */
async function legacyCmykSource(image: Sharp, maxInputPixels: number): Promise<Sharp> {
  const { data, info } = await image.rotate().pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`CMYK original decoded to ${info.channels} channels, expected 4`);
  legacyCmykToRgbInto(data, data);
  const rgb = data.subarray(0, info.width * info.height * 3);
  return sharp(rgb, { raw: { width: info.width, height: info.height, channels: 3 }, limitInputPixels: maxInputPixels });
}

/**
 * The original, oriented and in sRGB (through its ICC profile, as on the libvips path), resized
 * to `size` and cut to `crop` with ImageMagick's Lanczos (legacy-resize.ts). The samples leave
 * libvips at 8 bits: ImageMagick reads 16-bit originals at 16, a difference under one level.
 */
async function legacyEnlarged(image: Sharp, size: Size, crop: Crop | undefined, deadline: number | undefined): Promise<Sharp> {
  const { data, info } = await image.rotate().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const src = {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels: info.channels,
    hasAlpha: info.channels === 2 || info.channels === 4,
  };
  const out = await runYielding(legacyLanczosSteps(src, size, crop), deadline);
  // No pixel limit here: the limit is on originals (checked above), and this is the output, at
  // most the box (MAX_BOX_SIDE a side).
  return sharp(out.data, { raw: { width: out.width, height: out.height, channels: out.channels as 1 | 2 | 3 | 4 }, limitInputPixels: false });
}

/**
 * Runs resampling steps on the event loop without holding it: other requests get a turn between
 * chunks. Measured on a 2000x1500 original into a 4096x4096 cover: 2.2-2.7 s of CPU here, 1.4 s
 * in ImageMagick (php-imagick, one thread); a 1000x800 into 1280x1280: ~0.3 s.
 * Past `deadline` (performance.now() ms) it gives up with libvips' own timeout message, which
 * service.ts turns into the 504 of the render bound.
 */
async function runYielding<T>(steps: Generator<number, T>, deadline: number | undefined): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (deadline !== undefined && performance.now() > deadline) throw new Error(`timeout: ${Math.floor(step.value * 100)}% complete`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** How much of a PNG file is read for its colour chunks: they sit before IDAT, near the start. */
const PNG_CHUNK_HEAD = 64 * 1024;

async function pngColourChunksOf(input: PipelineInput): Promise<PngColourChunks> {
  if (Buffer.isBuffer(input)) return readPngColourChunks(input);
  const handle = await open(input.path, 'r');
  try {
    const head = Buffer.alloc(PNG_CHUNK_HEAD);
    const { bytesRead } = await handle.read(head, 0, PNG_CHUNK_HEAD, 0);
    return readPngColourChunks(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/**
 * The original, oriented, with its linear samples encoded to 8-bit sRGB as ImageMagick does it.
 * `wideSpace` ('rgb16', 'grey16') keeps a 16-bit original at 16 bits up to the encoding: linear
 * samples cut to 8 bits first would band in the shadows, which ImageMagick (Q16) does not.
 */
async function legacyLinearSource(image: Sharp, wideSpace: string | undefined, hasAlpha: boolean, maxInputPixels: number): Promise<Sharp> {
  const wide = wideSpace !== undefined;
  const oriented = image.rotate();
  const { data, info } = await (wide ? oriented.toColourspace(wideSpace).raw({ depth: 'ushort' }) : oriented.raw({ depth: 'uchar' })).toBuffer({
    resolveWithObject: true,
  });
  const samples = wide ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const encoded = legacyLinearToSrgb(samples, info.channels, hasAlpha);
  return sharp(encoded, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 }, limitInputPixels: maxInputPixels });
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
