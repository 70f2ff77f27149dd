/**
 * PURE image similarity signals over normalised 8-bit RGB rasters (see image.ts for how both
 * sides are normalised). Two signals, because one is not enough: a red/blue swap keeps grey-level
 * structure almost intact (grey SSIM ~0.99) while a legitimate resampler difference can score
 * lower (~0.95), so structure and colour each get their own calibrated threshold (docs/parity.md).
 *
 * - structure: mean SSIM on luma, box windows over summed-area tables (Weber's linear-time SSIM,
 *   as ssim.js's default `weber` mode), after the original Wang et al. downsampling to ~256 px on
 *   the short side. O(pixels), no per-window loops; ~1 ms at 640x480.
 * - colour: per-channel means of 16x16 blocks; the largest absolute difference of any block mean
 *   in any channel (0..255), and the mean CIE76 deltaE between the block means in Lab. Block means
 *   forgive resampling and codec noise (high frequency) but not a colour cast, a channel swap or
 *   moved content (low frequency).
 * - compression: how much more one side shows the 8x8 block grid of a JPEG-style codec than the
 *   other. Measured: a q20 re-encode of a 640 px photo keeps luma SSIM at 0.97 (downsampled SSIM
 *   averages the blocking away) while its block-edge steps triple; two honest q85 encoders differ
 *   by under 20%.
 */

/** An image both sides were normalised to: sRGB, alpha over white, 8-bit, 3 channels, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, R G B. */
  data: Uint8Array;
}

export interface Signals {
  /** Mean SSIM of luma (-1..1; 1 = identical structure). */
  ssim: number;
  /** Largest |difference| of any 16x16 block mean in any channel (0..255). */
  blockMaxDiff: number;
  /** Mean CIE76 deltaE between the 16x16 block means, in Lab (0 = identical colour; ~2.3 = just noticeable). */
  deltaE: number;
  /** Blockiness ratio, >= 1: the blockier side's 8x8 grid strength over the other's (1 = equally blocky). */
  blockiness: number;
}

/** SSIM options. Defaults follow ssim.js (k1 0.01, k2 0.03, 11 px windows, downsample to 256). */
export interface SsimOptions {
  /** Side of the square box window, default 11. Shrunk to the image for tiny images. */
  windowSize?: number;
  /** 'original': Wang et al.'s downsampling by round(min(w, h) / maxSize) (default); 'none': full resolution. */
  downsample?: 'original' | 'none';
  /** Target short side for 'original' downsampling, default 256. */
  maxSize?: number;
}

/** Block size for the colour signal, in pixels. */
export const BLOCK = 16;

/** Integer luma as ssim.js's rgb2grayInteger: (77 R + 150 G + 29 B + 128) >> 8. */
export function luma(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (77 * d[j]! + 150 * d[j + 1]! + 29 * d[j + 2]! + 128) >> 8;
  return out;
}

/** Mean of each f x f block (partial blocks at the edges are dropped, as MATLAB's skip does). */
function downsampleBy(gray: Float64Array | Uint8Array, width: number, height: number, f: number): { data: Float64Array; width: number; height: number } {
  const w = Math.floor(width / f);
  const h = Math.floor(height / f);
  const out = new Float64Array(w * h);
  const area = f * f;
  for (let by = 0; by < h; by++) {
    for (let bx = 0; bx < w; bx++) {
      let sum = 0;
      for (let y = by * f; y < by * f + f; y++) {
        const row = y * width;
        for (let x = bx * f; x < bx * f + f; x++) sum += gray[row + x]!;
      }
      out[by * w + bx] = sum / area;
    }
  }
  return { data: out, width: w, height: h };
}

/**
 * Mean SSIM between two grey rasters of the same size, with box windows (Weber's linear-time
 * SSIM). Running sums instead of 2-D summed-area tables: per output row, column sums over the
 * window's rows are updated by one row in and one row out, then slid across; memory stays at
 * five rows, which keeps it in cache (4x faster than summed-area tables at 640 px).
 */
export function ssimGray(a: ArrayLike<number>, b: ArrayLike<number>, width: number, height: number, windowSize = 11): number {
  if (a.length !== width * height || b.length !== width * height) throw new Error('ssimGray: raster size does not match width x height');
  const win = Math.max(1, Math.min(windowSize, width, height));
  const cx = new Float64Array(width);
  const cy = new Float64Array(width);
  const cxx = new Float64Array(width);
  const cyy = new Float64Array(width);
  const cxy = new Float64Array(width);
  const addRow = (row: number, sign: number) => {
    const base = row * width;
    for (let x = 0; x < width; x++) {
      const p = a[base + x]!;
      const q = b[base + x]!;
      cx[x]! += sign * p;
      cy[x]! += sign * q;
      cxx[x]! += sign * p * p;
      cyy[x]! += sign * q * q;
      cxy[x]! += sign * p * q;
    }
  };
  const L = 255;
  const c1 = (0.01 * L) ** 2;
  const c2 = (0.03 * L) ** 2;
  const inv = 1 / (win * win);
  let total = 0;
  let count = 0;
  for (let r = 0; r < win - 1; r++) addRow(r, 1);
  for (let y = 0; y + win <= height; y++) {
    addRow(y + win - 1, 1);
    let sx = 0,
      sy = 0,
      sxx = 0,
      syy = 0,
      sxy = 0;
    for (let x = 0; x < win - 1; x++) {
      sx += cx[x]!;
      sy += cy[x]!;
      sxx += cxx[x]!;
      syy += cyy[x]!;
      sxy += cxy[x]!;
    }
    for (let x = 0; x + win <= width; x++) {
      const e = x + win - 1;
      sx += cx[e]!;
      sy += cy[e]!;
      sxx += cxx[e]!;
      syy += cyy[e]!;
      sxy += cxy[e]!;
      const mx = sx * inv;
      const my = sy * inv;
      const vx = sxx * inv - mx * mx;
      const vy = syy * inv - my * my;
      const cov = sxy * inv - mx * my;
      total += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      count++;
      sx -= cx[x]!;
      sy -= cy[x]!;
      sxx -= cxx[x]!;
      syy -= cyy[x]!;
      sxy -= cxy[x]!;
    }
    addRow(y, -1);
  }
  return count === 0 ? 1 : total / count;
}

/** Mean SSIM of the luma of two same-sized RGB images (pass their luma when already computed). */
export function ssimLuma(a: RgbImage, b: RgbImage, options: SsimOptions = {}, lumas?: [Uint8Array, Uint8Array]): number {
  assertSameSize(a, b);
  let ga: ArrayLike<number> = lumas?.[0] ?? luma(a);
  let gb: ArrayLike<number> = lumas?.[1] ?? luma(b);
  let { width, height } = a;
  if ((options.downsample ?? 'original') === 'original') {
    const f = Math.round(Math.min(width, height) / (options.maxSize ?? 256));
    if (f > 1) {
      const da = downsampleBy(ga as Uint8Array, width, height, f);
      const db = downsampleBy(gb as Uint8Array, width, height, f);
      ga = da.data;
      gb = db.data;
      width = da.width;
      height = da.height;
    }
  }
  return ssimGray(ga, gb, width, height, options.windowSize ?? 11);
}

/** Per-channel means of BLOCK x BLOCK blocks (edge blocks average what they have). */
export function blockMeans(img: RgbImage, block = BLOCK): { cols: number; rows: number; means: Float64Array } {
  const { width, height, data } = img;
  const cols = Math.ceil(width / block);
  const rows = Math.ceil(height / block);
  const means = new Float64Array(cols * rows * 3);
  // Row by row, block column by block column, with local accumulators: no per-pixel division.
  for (let by = 0; by < rows; by++) {
    const y0 = by * block;
    const y1 = Math.min(height, y0 + block);
    for (let bx = 0; bx < cols; bx++) {
      const x0 = bx * block;
      const x1 = Math.min(width, x0 + block);
      let r = 0,
        g = 0,
        b = 0;
      for (let y = y0; y < y1; y++) {
        const end = (y * width + x1) * 3;
        for (let j = (y * width + x0) * 3; j < end; j += 3) {
          r += data[j]!;
          g += data[j + 1]!;
          b += data[j + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const k = (by * cols + bx) * 3;
      means[k] = r / n;
      means[k + 1] = g / n;
      means[k + 2] = b / n;
    }
  }
  return { cols, rows, means };
}

// sRGB decoding through a table with linear interpolation (error < 1e-5): Math.pow per channel
// was most of the colour signal's cost.
const LUT_STEPS = 16;
const LINEAR_LUT = (() => {
  const t = new Float64Array(255 * LUT_STEPS + 2);
  for (let i = 0; i < t.length; i++) {
    const v = Math.min(1, i / LUT_STEPS / 255);
    t[i] = v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }
  return t;
})();
function linear(c: number): number {
  const p = Math.max(0, Math.min(255, c)) * LUT_STEPS;
  const i = Math.floor(p);
  const f = p - i;
  return LINEAR_LUT[i]! * (1 - f) + LINEAR_LUT[i + 1]! * f;
}

/** sRGB (0..255) -> CIE Lab (D65). */
export function srgbToLab(r: number, g: number, b: number): [number, number, number] {
  const R = linear(r),
    G = linear(g),
    B = linear(b);
  const X = (0.4124564 * R + 0.3575761 * G + 0.1804375 * B) / 0.95047;
  const Y = 0.2126729 * R + 0.7151522 * G + 0.072175 * B;
  const Z = (0.0193339 * R + 0.119192 * G + 0.9503041 * B) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  const fx = f(X),
    fy = f(Y),
    fz = f(Z);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** The colour signals: largest block-mean channel difference and mean block deltaE (CIE76). */
export function colourSignals(a: RgbImage, b: RgbImage, block = BLOCK): { blockMaxDiff: number; deltaE: number } {
  assertSameSize(a, b);
  const ma = blockMeans(a, block).means;
  const mb = blockMeans(b, block).means;
  let max = 0;
  let sumDe = 0;
  const blocks = ma.length / 3;
  for (let k = 0; k < blocks; k++) {
    const r1 = ma[k * 3]!,
      g1 = ma[k * 3 + 1]!,
      b1 = ma[k * 3 + 2]!;
    const r2 = mb[k * 3]!,
      g2 = mb[k * 3 + 1]!,
      b2 = mb[k * 3 + 2]!;
    max = Math.max(max, Math.abs(r1 - r2), Math.abs(g1 - g2), Math.abs(b1 - b2));
    const [L1, A1, B1] = srgbToLab(r1, g1, b1);
    const [L2, A2, B2] = srgbToLab(r2, g2, b2);
    sumDe += Math.sqrt((L1 - L2) ** 2 + (A1 - A2) ** 2 + (B1 - B2) ** 2);
  }
  return { blockMaxDiff: round(max, 2), deltaE: round(blocks ? sumDe / blocks : 0, 3) };
}

/**
 * Strength of an 8x8 block grid in a grey raster: the mean absolute step between neighbours
 * across block boundaries (x or y a multiple of 8) over the mean step across block middles (4
 * mod 8), each plus one grey level so that flat images do not divide by almost nothing. About 1
 * for an image without a grid. Sampling the middles rather than every inner step gives the same
 * reference at a quarter of the work.
 */
export function gridStrength(gray: Uint8Array, width: number, height: number): number {
  let edge = 0,
    edgeN = 0,
    mid = 0,
    midN = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    // Horizontal steps into columns 4, 8, 12, ...
    for (let x = 4; x < width; x += 4) {
      const d = Math.abs(gray[row + x]! - gray[row + x - 1]!);
      if ((x & 7) === 0) {
        edge += d;
        edgeN++;
      } else {
        mid += d;
        midN++;
      }
    }
    // Vertical steps into rows 4, 8, 12, ...
    if (y >= 4 && (y & 3) === 0) {
      const up = row - width;
      let sum = 0;
      for (let x = 0; x < width; x++) sum += Math.abs(gray[row + x]! - gray[up + x]!);
      if ((y & 7) === 0) {
        edge += sum;
        edgeN += width;
      } else {
        mid += sum;
        midN += width;
      }
    }
  }
  if (edgeN === 0 || midN === 0) return 1;
  return (edge / edgeN + 1) / (mid / midN + 1);
}

/** The compression signal: max(ga / gb, gb / ga) of the two grid strengths (symmetric: either side may be the blocky one). */
export function blockinessRatio(a: RgbImage, b: RgbImage, lumas?: [Uint8Array, Uint8Array]): number {
  assertSameSize(a, b);
  const ga = gridStrength(lumas?.[0] ?? luma(a), a.width, a.height);
  const gb = gridStrength(lumas?.[1] ?? luma(b), b.width, b.height);
  return round(Math.max(ga / gb, gb / ga), 4);
}

/** All signals. */
export function computeSignals(a: RgbImage, b: RgbImage, options: SsimOptions = {}): Signals {
  assertSameSize(a, b);
  const lumas: [Uint8Array, Uint8Array] = [luma(a), luma(b)];
  return { ssim: round(ssimLuma(a, b, options, lumas), 5), ...colourSignals(a, b), blockiness: blockinessRatio(a, b, lumas) };
}

function assertSameSize(a: RgbImage, b: RgbImage): void {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`signals need equal sizes, got ${a.width}x${a.height} and ${b.width}x${b.height}`);
  if (a.data.length !== a.width * a.height * 3 || b.data.length !== b.width * b.height * 3) throw new Error('signals need 3-channel 8-bit rasters');
}

function round(v: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}
