/**
 * PURE: the likely cause of an original's mismatches. A count of "pixels" mismatches says that
 * something is wrong, not what; most differences between ImageMagick and libvips come from a few
 * properties of the original (its colour space and profile, its alpha, its EXIF orientation, its
 * bit depth), so the report puts each original's findings next to those properties and names the
 * one that most likely explains them. A heuristic, said as such in the report ("likely cause").
 */
import type { Category } from './result.ts';

/** What an original is, as far as colour and geometry go (probed with sharp by whoever has the file). */
export interface OriginalInfo {
  /** Container format: jpeg, png, webp, gif, ... */
  format: string;
  /** Stored size, before EXIF orientation. */
  width: number;
  height: number;
  /** libvips' interpretation: srgb, cmyk, b-w, rgb16, grey16, ... */
  space: string;
  channels: number;
  hasAlpha: boolean;
  /** Bits per sample: 8, 16 (and 1/2/4 for palette PNGs, reported as their palette depth). */
  bitDepth: number;
  /** An embedded ICC profile, and its description tag when it has one. */
  icc: boolean;
  iccDescription?: string;
  /** EXIF orientation, 1 (upright) when absent. */
  orientation: number;
  progressive?: boolean;
  /** Frames of an animation (GIF, WebP). */
  pages?: number;
  /** Where it came from (package and version, or the transform that derived it). */
  source?: string;
}

export const CAUSES = ['status', 'orientation', 'geometry', 'colour_space', 'alpha', 'compression', 'header', 'other'] as const;
/** Likely cause of an original's mismatches: the five image causes, plus status/error and headers, plus "other". */
export type Cause = (typeof CAUSES)[number];

/** What the report gathered about one original's mismatched variants. */
export interface OriginalEvidence {
  /** Mismatched requests by primary category. */
  categories: Partial<Record<Category, number>>;
  /** Standing findings by rule over those requests. */
  rules: Record<string, number>;
  /** Mismatched requests whose two outputs have each other's width and height (a rotation one side missed). */
  swappedSides: number;
}

const COLOUR_RULES = ['delta_e', 'block_colour'];

const isSrgbProfile = (d: string | undefined) => d !== undefined && /srgb|iec\s*61966/i.test(d);

/** The colour-space property of an original that most likely explains a colour difference, if any. */
function colourSpaceReason(info: OriginalInfo): string | undefined {
  if (info.space === 'cmyk') return info.icc ? `CMYK with the ICC profile "${info.iccDescription ?? '?'}"` : 'CMYK without an ICC profile';
  if (info.icc && !isSrgbProfile(info.iccDescription)) return `ICC profile "${info.iccDescription ?? '(no description)'}"`;
  if (info.space === 'b-w' || info.space === 'grey16') return `greyscale (${info.space})`;
  if (info.bitDepth > 8) return `${info.bitDepth}-bit samples`;
  if (info.space !== 'srgb' && info.space !== 'rgb16') return `colour space ${info.space}`;
  return undefined;
}

/**
 * The likely cause, in the order a viewer would check: no answer or a wrong status first (then
 * pixels are not comparable), then orientation (a missed rotation changes sizes and structure),
 * geometry, colour explained by the original's colour space or profile, alpha, compression,
 * headers; a colour difference on a plain 8-bit sRGB original is "other" (resampling, gamma,
 * palette): it has no property to blame.
 */
export function classifyOriginal(ev: OriginalEvidence, info?: OriginalInfo): { cause: Cause; why: string } {
  const has = (c: Category) => (ev.categories[c] ?? 0) > 0;
  const rule = (r: string) => (ev.rules[r] ?? 0) > 0;
  const list = (rs: Record<string, number>) =>
    Object.entries(rs)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  if (has('error') || has('status') || has('format')) return { cause: 'status', why: `status, error or format differs (${list(ev.categories)})` };
  const geometric = has('dimensions') || has('dimensions_off_by_one');
  // SSIM and the colour signals often fire together (a swap of channels changes luma; a shift
  // moves block means): the one that fires on more variants is the kind of difference it is.
  const ssimN = ev.rules.ssim ?? 0;
  const colourN = Math.max(...COLOUR_RULES.map((r) => ev.rules[r] ?? 0));
  const structural = ssimN > 0 && ssimN >= colourN;
  if (ev.swappedSides > 0) return { cause: 'orientation', why: `${ev.swappedSides} output(s) with width and height swapped` };
  if (info && info.orientation > 1 && (geometric || structural))
    return { cause: 'orientation', why: `EXIF orientation ${info.orientation}; ${geometric ? 'sizes' : 'structure (SSIM)'} differ` };
  if (geometric) return { cause: 'geometry', why: `output sizes differ (${list(ev.categories)})` };
  if (colourN > 0 && info) {
    const space = colourSpaceReason(info);
    // Alpha first when both apply: the flattening and premultiplication differences are larger
    // than a profile conversion's, and an sRGB profile on an alpha PNG explains nothing.
    if (info.hasAlpha) return { cause: 'alpha', why: `colour differs on an original with alpha${space ? ` (also ${space})` : ''} (${list(ev.rules)})` };
    if (space) return { cause: 'colour_space', why: `colour differs; the original is ${space} (${list(ev.rules)})` };
  }
  if (structural && info?.hasAlpha)
    return { cause: 'alpha', why: `structure differs on an original with alpha (transparent pixels' colour) (${list(ev.rules)})` };
  if (structural) return { cause: 'geometry', why: `structure differs (SSIM): shifted, cropped or resampled differently (${list(ev.rules)})` };
  const colour = colourN > 0;
  if (rule('blockiness') || rule('original_bytes')) return { cause: 'compression', why: `encoding differs (${list(ev.rules)})` };
  if (colour) return { cause: 'other', why: `colour differs on ${info ? 'a plain 8-bit sRGB original' : 'an original without metadata'} (${list(ev.rules)})` };
  if (has('header')) return { cause: 'header', why: `headers differ (${list(ev.rules)})` };
  return { cause: 'other', why: `unclassified (${list(ev.rules) || 'no findings'})` };
}

/** One line of an original's metadata, for the tables: format, size, colour space, depth, profile, orientation. */
export function describeOriginal(info: OriginalInfo | undefined): string {
  if (!info) return '(no metadata)';
  const parts = [
    `${info.format} ${info.width}x${info.height} ${info.space}${info.hasAlpha ? '+alpha' : ''} ${info.bitDepth}-bit`,
    info.icc ? `ICC "${info.iccDescription ?? '(no description)'}"` : 'no ICC',
  ];
  if (info.orientation > 1) parts.push(`orientation ${info.orientation}`);
  if (info.progressive) parts.push('progressive');
  if (info.pages && info.pages > 1) parts.push(`${info.pages} frames`);
  return parts.join(', ');
}
