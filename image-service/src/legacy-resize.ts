/**
 * PURE: ImageMagick 6's `ResizeImage` with the Lanczos filter (Q16, non-HDRI; resize.c
 * HorizontalFilter / VerticalFilter), for the requests that ENLARGE the original.
 *
 * Why not libvips: when a side grows, libvips does not resample with Lanczos at all (vips_resize
 * hands upsizing to vips_affine with a bicubic interpolator, whatever the kernel), so small
 * originals enlarged by `fit=cover` came out visibly softer or ringing differently than the
 * ImageMagick output clients have seen (measured on sprites, icons and strips: SSIM down to
 * 0.74, block means 20-100 levels apart on hard edges). ImageMagick, for both directions:
 *
 *  - separable: the axis with the larger scale factor first (x_factor > y_factor: horizontal
 *    first), the intermediate image stored as Q16 integers (clamped and rounded);
 *  - output pixel d on an axis of factor f: centre `bisect = (d + 0.5) / f + 1e-12`, support
 *    3 * max(1/f, 1) source pixels, sources [trunc(bisect - support + 0.5), trunc(bisect +
 *    support + 0.5)) clipped to the image, weight sinc(t) * sinc(t / 3) at t = (s + 0.5 - bisect)
 *    scaled by min(f, 1), normalised to sum 1;
 *  - with alpha, colours are weighted by alpha (and divided by the summed alpha weight), alpha
 *    itself by the plain weights: a transparent pixel lends no colour to its neighbours.
 *
 * Only the output window (the cover crop) is computed: each output pixel depends on its own
 * source span only, so the result equals resizing in full and cropping, at a cost bounded by
 * the window rather than by the scaled image.
 */

/** Q16 QuantumRange. */
const QUANTUM_RANGE = 65535;
/** ImageMagick's MagickEpsilon (IM6). */
const EPSILON = 1e-12;
/** The Lanczos filter's support in source pixels at scale 1 (3 lobes). */
const LANCZOS_SUPPORT = 3;

/** ImageMagick's ClampToQuantum (non-HDRI): clamp to 0..QuantumRange, round half up. */
const clampToQuantum = (v: number) => (v <= 0 ? 0 : v >= QUANTUM_RANGE ? QUANTUM_RANGE : Math.floor(v + 0.5));
/** ImageMagick's ScaleQuantumToChar for Q16. */
const quantumToChar = (q: number) => (q + 128 - ((q + 128) >> 8)) >> 8;
/** ImageMagick's PerceptibleReciprocal: 1/x, without dividing by (near) zero. */
const perceptibleReciprocal = (x: number) => {
  const sign = x < 0 ? -1 : 1;
  return sign * x >= EPSILON ? 1 / x : sign / EPSILON;
};
const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

/** Lanczos 3: sinc windowed by sinc stretched over the support. */
export function lanczosWeight(t: number): number {
  const x = Math.abs(t);
  return sinc(x / LANCZOS_SUPPORT) * sinc(x);
}

/** Which source pixels make output pixel `index` of an axis, and how much each weighs (sum 1). */
export interface Contribution {
  start: number;
  weights: Float64Array;
}

/** The contributions of output pixels `from` .. `to - 1` of an axis of `srcLength` -> `dstLength` pixels. */
export function axisContributions(srcLength: number, dstLength: number, from = 0, to = dstLength): Contribution[] {
  const factor = dstLength / srcLength;
  let scale = Math.max(1 / factor + EPSILON, 1);
  let support = scale * LANCZOS_SUPPORT;
  if (support < 0.5) {
    support = 0.5;
    scale = 1;
  }
  scale = perceptibleReciprocal(scale);
  const out: Contribution[] = [];
  for (let d = from; d < to; d++) {
    const bisect = (d + 0.5) / factor + EPSILON;
    const start = Math.trunc(Math.max(bisect - support + 0.5, 0));
    const stop = Math.trunc(Math.min(bisect + support + 0.5, srcLength));
    const weights = new Float64Array(Math.max(0, stop - start));
    let density = 0;
    for (let i = 0; i < weights.length; i++) {
      weights[i] = lanczosWeight(scale * (start + i - bisect + 0.5));
      density += weights[i]!;
    }
    if (density !== 0 && density !== 1) {
      const r = perceptibleReciprocal(density);
      for (let i = 0; i < weights.length; i++) weights[i]! *= r;
    }
    out.push({ start, weights });
  }
  return out;
}

/** Interleaved samples: `channels` per pixel, the last one alpha when `hasAlpha`. */
export interface Raster<T extends Uint8Array | Uint16Array> {
  data: T;
  width: number;
  height: number;
  channels: number;
  hasAlpha: boolean;
}

/** A rectangle of the scaled image (the cover crop, or all of it). */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A pass's output rows are computed in chunks of about this many samples, so that a caller can yield between them. */
const CHUNK_SAMPLES = 1 << 18;

/**
 * One separable pass: `src` (Q16 samples) resampled along one axis to `dstLength`, keeping only
 * output pixels `from` .. `from + length - 1` of that axis. Q16 out, as ImageMagick stores the
 * intermediate image. A generator: between chunks of output rows (each a few ms of work) it
 * yields how many of its output rows are done, and it returns the pass's output.
 */
export function* resamplePass(
  src: Raster<Uint16Array>,
  horizontal: boolean,
  dstLength: number,
  from: number,
  length: number,
): Generator<number, Raster<Uint16Array>> {
  const { data, width, height, channels, hasAlpha } = src;
  const contributions = axisContributions(horizontal ? width : height, dstLength, from, from + length);
  const outWidth = horizontal ? length : width;
  const outHeight = horizontal ? height : length;
  const out = new Uint16Array(outWidth * outHeight * channels);
  const colours = hasAlpha ? channels - 1 : channels;
  const rowSamples = outWidth * channels;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_SAMPLES / Math.max(1, rowSamples)));
  // Accumulators for one output row: colour sums, and with alpha the alpha sums and the
  // alpha-weighted weight sums ImageMagick divides the colours by.
  const sum = new Float64Array(rowSamples);
  const gamma = hasAlpha ? new Float64Array(outWidth) : undefined;
  for (let row = 0; row < outHeight; row++) {
    sum.fill(0);
    gamma?.fill(0);
    if (horizontal) {
      // Output row `row` is source row `row`, each output pixel a few neighbours of it.
      const base = row * width * channels;
      for (let d = 0; d < length; d++) {
        const { start, weights } = contributions[d]!;
        const o = d * channels;
        const first = base + start * channels;
        if (gamma) {
          let g = 0;
          for (let i = 0, at = first; i < weights.length; i++, at += channels) {
            const alpha = data[at + colours]!;
            const aw = (weights[i]! * alpha) / QUANTUM_RANGE;
            for (let k = 0; k < colours; k++) sum[o + k]! += aw * data[at + k]!;
            sum[o + colours]! += weights[i]! * alpha;
            g += aw;
          }
          gamma[d] = g;
        } else {
          for (let k = 0; k < channels; k++) {
            let acc = 0;
            for (let i = 0, at = first + k; i < weights.length; i++, at += channels) acc += weights[i]! * data[at]!;
            sum[o + k] = acc;
          }
        }
      }
    } else {
      // Output row `row` is a weighted sum of a few whole source rows.
      const { start, weights } = contributions[row]!;
      for (let i = 0; i < weights.length; i++) {
        const w = weights[i]!;
        const base = (start + i) * rowSamples;
        if (gamma) {
          for (let x = 0, o = 0; x < width; x++, o += channels) {
            const alpha = data[base + o + colours]!;
            const aw = (w * alpha) / QUANTUM_RANGE;
            for (let k = 0; k < colours; k++) sum[o + k]! += aw * data[base + o + k]!;
            sum[o + colours]! += w * alpha;
            gamma[x]! += aw;
          }
        } else {
          for (let j = 0; j < rowSamples; j++) sum[j]! += w * data[base + j]!;
        }
      }
    }
    const rowStart = row * rowSamples;
    for (let x = 0, o = 0; x < outWidth; x++, o += channels) {
      const g = gamma ? perceptibleReciprocal(gamma[x]!) : 1;
      for (let k = 0; k < colours; k++) out[rowStart + o + k] = clampToQuantum(g * sum[o + k]!);
      if (hasAlpha) out[rowStart + o + colours] = clampToQuantum(sum[o + colours]!);
    }
    if ((row + 1) % rowsPerChunk === 0) yield row + 1;
  }
  return { data: out, width: outWidth, height: outHeight, channels, hasAlpha };
}

/**
 * 8-bit samples resized to `size` as ImageMagick's Lanczos resize does it, and cut to `window`
 * (default: the whole scaled image). 8-bit out, as ImageMagick writes an 8-bit image. A
 * generator that yields the fraction done (0..1) between chunks of work, so that a caller can
 * give the event loop a turn or give up; legacyLanczosResize runs it all at once.
 */
export function* legacyLanczosSteps(src: Raster<Uint8Array>, size: { width: number; height: number }, window?: Window): Generator<number, Raster<Uint8Array>> {
  const win = window ?? { left: 0, top: 0, width: size.width, height: size.height };
  if (win.left < 0 || win.top < 0 || win.left + win.width > size.width || win.top + win.height > size.height) {
    throw new RangeError(`window ${win.width}x${win.height}+${win.left}+${win.top} is not inside ${size.width}x${size.height}`);
  }
  const q16 = new Uint16Array(src.data.length);
  for (let i = 0; i < q16.length; i++) q16[i] = src.data[i]! * 257;
  const wide: Raster<Uint16Array> = { ...src, data: q16 };
  const xFactor = size.width / src.width;
  const yFactor = size.height / src.height;
  const horizontalFirst = xFactor > yFactor;
  // Output rows of both passes: the vertical pass makes the window's rows, the horizontal one
  // as many rows as its input has (the source's when it runs first).
  const firstRows = horizontalFirst ? src.height : win.height;
  const rows = firstRows + win.height;
  const progress = function* (pass: Generator<number, Raster<Uint16Array>>, before: number): Generator<number, Raster<Uint16Array>> {
    for (;;) {
      const step = pass.next();
      if (step.done) return step.value;
      yield (before + step.value) / rows;
    }
  };
  const first = horizontalFirst
    ? yield* progress(resamplePass(wide, true, size.width, win.left, win.width), 0)
    : yield* progress(resamplePass(wide, false, size.height, win.top, win.height), 0);
  const resized = horizontalFirst
    ? yield* progress(resamplePass(first, false, size.height, win.top, win.height), firstRows)
    : yield* progress(resamplePass(first, true, size.width, win.left, win.width), firstRows);
  const out = new Uint8Array(resized.data.length);
  for (let i = 0; i < out.length; i++) out[i] = quantumToChar(resized.data[i]!);
  return { ...resized, data: out };
}

/** legacyLanczosSteps run to the end at once. */
export function legacyLanczosResize(src: Raster<Uint8Array>, size: { width: number; height: number }, window?: Window): Raster<Uint8Array> {
  const steps = legacyLanczosSteps(src, size, window);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Whether a resize from `source` to `target` enlarges either side (where libvips stops using Lanczos). */
export function enlarges(source: { width: number; height: number }, target: { width: number; height: number }): boolean {
  return target.width > source.width || target.height > source.height;
}
