/**
 * PURE colour conversions that copy the legacy system (ImageMagick 6, Q16, non-HDRI) where libvips
 * would convert differently, so clients keep the colours they have seen for years.
 *
 * CMYK without an ICC profile: libvips substitutes its built-in CMYK profile (a press profile
 * with ink limits and GCR); ImageMagick's `transformImageColorspace(sRGB)` has no profile to use
 * and applies its own formula (`ConvertCMYKToRGB`, colorspace-private.h):
 *
 *     R = QuantumRange - (QuantumScale * C * (QuantumRange - K) + K)      (same for G/M, B/Y)
 *
 * i.e. R = (1 - c)(1 - k) in 0..1, computed at 16 bits and rounded twice (to the quantum, then
 * to 8 bits on output). Both decoders hand over the same CMYK samples (measured: libjpeg-turbo
 * under both inverts Adobe-style CMYK with and without the APP14 marker, and converts YCCK to
 * CMYK), so the formula on the decoded samples is all there is to copy.
 */

/** Q16 QuantumRange. */
const QUANTUM_RANGE = 65535;

/** ImageMagick's ScaleCharToQuantum for Q16: 8-bit * 257. */
const charToQuantum = (v: number) => v * 257;

/** ImageMagick's ClampToQuantum (non-HDRI): round half up, clamp to 0..QuantumRange. */
const clampToQuantum = (v: number) => (v <= 0 ? 0 : v >= QUANTUM_RANGE ? QUANTUM_RANGE : Math.floor(v + 0.5));

/** ImageMagick's ScaleQuantumToChar for Q16 (what an 8-bit encoder writes). */
const quantumToChar = (q: number) => (q + 128 - ((q + 128) >> 8)) >> 8;

/** One channel of ImageMagick's CMYK -> RGB without a profile: ink `c` (0..255) under black `k` (0..255). */
export function legacyCmykChannel(c: number, k: number): number {
  const c16 = charToQuantum(c);
  const k16 = charToQuantum(k);
  return quantumToChar(clampToQuantum(QUANTUM_RANGE - ((c16 / QUANTUM_RANGE) * (QUANTUM_RANGE - k16) + k16)));
}

let lut: Uint8Array | undefined;

/** legacyCmykChannel for every (ink, black) pair, at index ink * 256 + black: 64 KiB, built once. */
function cmykLut(): Uint8Array {
  if (!lut) {
    lut = new Uint8Array(256 * 256);
    for (let c = 0; c < 256; c++) for (let k = 0; k < 256; k++) lut[c * 256 + k] = legacyCmykChannel(c, k);
  }
  return lut;
}

/**
 * Interleaved 8-bit CMYK samples (as libvips decodes them: 0 = no ink) -> interleaved 8-bit RGB,
 * as ImageMagick converts a CMYK image that has no ICC profile.
 */
export function legacyCmykToRgb(cmyk: Uint8Array): Uint8Array {
  if (cmyk.length % 4 !== 0) throw new RangeError(`CMYK samples come in fours; got ${cmyk.length}`);
  const rgb = new Uint8Array((cmyk.length / 4) * 3);
  legacyCmykToRgbInto(cmyk, rgb);
  return rgb;
}

/**
 * legacyCmykToRgb written into `rgb` from byte 0. `rgb` may be `cmyk` itself (converted in place:
 * pixel p is read whole before its 3 bytes go to 3p, which is never past 4p), so that a large
 * original needs no second buffer.
 */
export function legacyCmykToRgbInto(cmyk: Uint8Array, rgb: Uint8Array): void {
  if (cmyk.length % 4 !== 0) throw new RangeError(`CMYK samples come in fours; got ${cmyk.length}`);
  const table = cmykLut();
  const pixels = cmyk.length / 4;
  if (pixels * 3 > rgb.length) throw new RangeError(`${pixels} pixels do not fit in ${rgb.length} bytes`);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += 4, o += 3) {
    const c = cmyk[i]!;
    const m = cmyk[i + 1]!;
    const y = cmyk[i + 2]!;
    const k = cmyk[i + 3]!;
    rgb[o] = table[c * 256 + k]!;
    rgb[o + 1] = table[m * 256 + k]!;
    rgb[o + 2] = table[y * 256 + k]!;
  }
}

/** What the pipeline knows about an original's colour from its header (sharp's metadata). */
export interface ColourFacts {
  /** libvips' interpretation: 'srgb', 'cmyk', 'b-w', 'rgb16', ... */
  space?: string;
  /** The embedded ICC profile, if any. */
  icc?: Buffer;
}

/**
 * Whether the original needs the legacy CMYK formula: CMYK without an embedded profile. With a
 * profile, both systems convert through it (ImageMagick with lcms, libvips with lcms).
 * Everything else (every sRGB original) takes the plain libvips path and pays nothing.
 */
export function needsLegacyCmyk(facts: ColourFacts): boolean {
  return facts.space === 'cmyk' && (facts.icc === undefined || facts.icc.length === 0);
}

/**
 * What a PNG's header chunks say about its colour, read up to the first IDAT (where the
 * specification puts gAMA, sRGB and iCCP). `complete` is false when `bytes` ended before IDAT.
 */
export interface PngColourChunks {
  /** gAMA as a number (100000 in the file = 1.0), if present. */
  gamma?: number;
  srgb: boolean;
  iccp: boolean;
  complete: boolean;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** PURE: walks the chunk list of a PNG's first bytes (no CRC check: libvips decodes it next). */
export function readPngColourChunks(bytes: Uint8Array): PngColourChunks {
  const found: PngColourChunks = { srgb: false, iccp: false, complete: false };
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) return found;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (type === 'IDAT' || type === 'IEND') return { ...found, complete: true };
    if (type === 'gAMA' && length === 4 && at + 12 <= bytes.length) found.gamma = view.getUint32(at + 8) / 100000;
    else if (type === 'sRGB') found.srgb = true;
    else if (type === 'iCCP') found.iccp = true;
    at += 12 + length;
  }
  return found;
}

/**
 * ImageMagick 6's PNG reader takes a file gamma above 0.75 (without an sRGB chunk) to mean
 * linear RGB, and `transformImageColorspace(sRGB)` then encodes it with the sRGB curve (measured
 * on 6.9.11: gAMA 0.75 stays as stored, 0.75001 through 10 are all brightened the same way; an
 * sRGB chunk or an ICC profile wins). libvips ignores gAMA. A PNG written from linear data says
 * gamma 1.0, and a browser brightens it too, so copying legacy here is also what viewers see.
 */
export function needsLegacyLinearPng(chunks: PngColourChunks, hasIcc: boolean): boolean {
  return !hasIcc && !chunks.iccp && !chunks.srgb && chunks.gamma !== undefined && chunks.gamma > 0.75;
}

/** ImageMagick's EncodePixelGamma: linear 0..1 -> sRGB-encoded 0..1. */
function encodeSrgb(linear: number): number {
  return linear <= 0.0031306684425005883 ? 12.92 * linear : 1.055 * Math.pow(linear, 1 / 2.4) - 0.055;
}

let linear8: Uint8Array | undefined;
let linear16: Uint8Array | undefined;

/** Q16 linear sample -> 8-bit sRGB, as ImageMagick computes it at Q16 and writes 8 bits. */
function linearQ16ToSrgbChar(q: number): number {
  return quantumToChar(clampToQuantum(QUANTUM_RANGE * encodeSrgb(q / QUANTUM_RANGE)));
}

/**
 * Interleaved linear samples (8- or 16-bit, `channels` per pixel, the last one alpha when
 * `hasAlpha`) -> 8-bit sRGB-encoded samples; alpha is only rescaled to 8 bits.
 */
export function legacyLinearToSrgb(samples: Uint8Array | Uint16Array, channels: number, hasAlpha: boolean): Uint8Array {
  const wide = samples instanceof Uint16Array;
  const table = wide
    ? (linear16 ??= Uint8Array.from({ length: 65536 }, (_, q) => linearQ16ToSrgbChar(q)))
    : (linear8 ??= Uint8Array.from({ length: 256 }, (_, v) => linearQ16ToSrgbChar(charToQuantum(v))));
  const out = new Uint8Array(samples.length);
  const colours = hasAlpha ? channels - 1 : channels;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    out[i] = i % channels < colours ? table[v]! : wide ? quantumToChar(v) : v;
  }
  return out;
}
