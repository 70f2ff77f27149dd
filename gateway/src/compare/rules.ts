/**
 * PURE parity rules for one request: what the two backends answered (status, headers, body
 * facts) and, for images, what the decoded pixels say. Every rule that does not hold becomes a
 * Finding with a category and a detail naming both values. Table-driven tests: rules.test.ts.
 */
import type { Category, Finding, IntendedFinding } from './result.ts';
import { colourSignals, computeSignals, type RgbImage, type Signals } from './signals.ts';
import type { Thresholds } from './thresholds.ts';

/** What one backend answered, as far as the header rules care. Header names lower-case. */
export interface ResponseFacts {
  /** null when there was no answer. */
  status: number | null;
  /** Why there was no answer. */
  error?: string;
  headers: Readonly<Record<string, string | undefined>>;
  /** Body bytes received. */
  bodyLength: number;
  /** `error` field of a JSON error body. */
  errorCode?: string;
}

const SIDES = ['legacy', 'new'] as const;

/** `Cache-Control` as a set of directives: order, case and spacing do not change its meaning. */
export function normaliseCacheControl(value: string | undefined): string {
  if (value === undefined) return '(none)';
  return value
    .split(',')
    .map((d) =>
      d
        .trim()
        .toLowerCase()
        .replace(/\s*=\s*/, '='),
    )
    .filter(Boolean)
    .sort()
    .join(', ');
}

/** `Content-Type` without case or spacing differences: `text/html;charset=UTF-8` = `text/html; charset=utf-8`. */
export function normaliseContentType(value: string | undefined): string {
  if (value === undefined) return '(none)';
  return value
    .split(';')
    .map((p) =>
      p
        .trim()
        .toLowerCase()
        .replace(/\s*=\s*/, '=')
        .replace(/"/g, ''),
    )
    .filter(Boolean)
    .join('; ');
}

const show = (v: string | number | undefined | null) => (v === undefined || v === null ? '(none)' : JSON.stringify(v));

/**
 * Status, error code and header rules. A missing answer or a status difference ends the check:
 * headers of a 200 and a 500 are not comparable, and one finding says what matters.
 */
export function compareResponses(method: 'GET' | 'HEAD', legacy: ResponseFacts, next: ResponseFacts): Finding[] {
  const sides = { legacy, new: next };
  const noAnswer = SIDES.filter((s) => sides[s].status === null);
  if (noAnswer.length > 0) {
    return [{ category: 'error', rule: 'no_answer', detail: noAnswer.map((s) => `${s} did not answer: ${sides[s].error ?? 'no response'}`).join('; ') }];
  }
  if (legacy.status !== next.status) {
    return [{ category: 'status', rule: 'status', detail: `status legacy ${legacy.status}${codeSuffix(legacy)}, new ${next.status}${codeSuffix(next)}` }];
  }
  const status = legacy.status!;
  const findings: Finding[] = [];
  if (status >= 400 && legacy.errorCode !== next.errorCode) {
    findings.push({
      category: 'status',
      rule: 'error_code',
      detail: `error code legacy ${show(legacy.errorCode)}, new ${show(next.errorCode)} (both ${status})`,
    });
  }

  const ctL = normaliseContentType(legacy.headers['content-type']);
  const ctN = normaliseContentType(next.headers['content-type']);
  if (ctL !== ctN) {
    const bothImages = ctL.startsWith('image/') && ctN.startsWith('image/');
    findings.push({
      category: bothImages ? 'format' : 'header',
      rule: 'content_type',
      detail: `Content-Type legacy ${show(legacy.headers['content-type'])}, new ${show(next.headers['content-type'])}`,
    });
  }

  const ccL = normaliseCacheControl(legacy.headers['cache-control']);
  const ccN = normaliseCacheControl(next.headers['cache-control']);
  if (ccL !== ccN) {
    findings.push({
      category: 'header',
      rule: 'cache_control',
      detail: `Cache-Control legacy ${show(legacy.headers['cache-control'])}, new ${show(next.headers['cache-control'])}`,
    });
  }

  // ETag values legitimately differ between implementations (contract, section 1); presence must not.
  if (status === 200 || status === 304) {
    for (const s of SIDES) {
      if (!sides[s].headers.etag) findings.push({ category: 'header', rule: 'etag_missing', detail: `${s} sent no ETag on a ${status}` });
    }
  }

  for (const s of SIDES) {
    const raw = sides[s].headers['content-length'];
    if (raw === undefined) {
      if (status === 200) findings.push({ category: 'header', rule: 'content_length_missing', detail: `${s} sent no Content-Length on a 200` });
      continue;
    }
    const declared = Number(raw);
    // HEAD has no body to hold the header against; a 304 has none either.
    if (method === 'GET' && status !== 304 && status !== 204 && declared !== sides[s].bodyLength) {
      findings.push({ category: 'header', rule: 'content_length', detail: `${s} Content-Length ${raw} but the body has ${sides[s].bodyLength} bytes` });
    }
  }
  return findings;
}

function codeSuffix(f: ResponseFacts): string {
  return f.errorCode ? ` (${f.errorCode})` : '';
}

/** One side's image, decoded and normalised, or why it could not be. */
export type DecodeOutcome = { ok: true; image: RgbImage & { format: string } } | { ok: false; reason: string };

export interface ImageComparison {
  findings: Finding[];
  /** Present when both sides decoded to the same dimensions. */
  signals?: Signals;
}

/**
 * The pixel rules for two image bodies: decodable, the declared format is the real one, the
 * formats agree, the dimensions are exactly equal (1 px off is its own category: page layouts
 * break on it), then structure and colour each within their calibrated threshold.
 */
export function compareImages(
  legacy: DecodeOutcome,
  next: DecodeOutcome,
  declared: { legacy: string | undefined; new: string | undefined },
  thresholds: Thresholds,
): ImageComparison {
  const sides = { legacy, new: next };
  const findings: Finding[] = [];
  for (const s of SIDES) {
    const o = sides[s];
    if (!o.ok) findings.push({ category: 'format', rule: 'undecodable', detail: `${s} body is not a decodable image: ${o.reason}` });
    else if (declared[s] !== undefined && declared[s] !== o.image.format) {
      findings.push({ category: 'format', rule: 'declared_format', detail: `${s} declares ${declared[s]} but the body is ${o.image.format}` });
    }
  }
  if (!legacy.ok || !next.ok) return { findings };
  const a = legacy.image;
  const b = next.image;
  if (a.format !== b.format && !findings.some((f) => f.rule === 'declared_format')) {
    findings.push({ category: 'format', rule: 'format', detail: `format legacy ${a.format}, new ${b.format}` });
  }
  if (a.width !== b.width || a.height !== b.height) {
    const offByOne = Math.abs(a.width - b.width) <= 1 && Math.abs(a.height - b.height) <= 1;
    findings.push({
      category: offByOne ? 'dimensions_off_by_one' : 'dimensions',
      rule: 'dimensions',
      detail: `dimensions legacy ${a.width}x${a.height}, new ${b.width}x${b.height}`,
    });
    return { findings };
  }
  const signals = computeSignals(a, b, thresholds.ssim);
  findings.push(...judgeSignals(signals, thresholds));
  return { findings, signals };
}

/** The signal thresholds alone (also what the calibration table reports against). */
export function judgeSignals(signals: Signals, thresholds: Thresholds): Finding[] {
  const findings: Finding[] = [];
  if (signals.ssim < thresholds.ssimMin) {
    findings.push({ category: 'pixels', rule: 'ssim', detail: `structure: luma SSIM ${signals.ssim.toFixed(4)} < ${thresholds.ssimMin}` });
  }
  if (signals.blockMaxDiff > thresholds.blockMaxDiff) {
    findings.push({
      category: 'pixels',
      rule: 'block_colour',
      detail: `colour: a 16x16 block mean differs by ${signals.blockMaxDiff.toFixed(1)} > ${thresholds.blockMaxDiff} in one channel`,
    });
  }
  if (signals.deltaE > thresholds.deltaEMax) {
    findings.push({ category: 'pixels', rule: 'delta_e', detail: `colour: mean block deltaE ${signals.deltaE.toFixed(2)} > ${thresholds.deltaEMax}` });
  }
  if (signals.blockiness > thresholds.blockinessMax) {
    findings.push({
      category: 'pixels',
      rule: 'blockiness',
      detail: `compression: one side's 8x8 block grid is ${signals.blockiness.toFixed(2)}x the other's > ${thresholds.blockinessMax}`,
    });
  }
  return findings;
}

/**
 * Declared difference `legacy_ignores_png_orientation`: ImageMagick 6 (the legacy backend) does
 * not read the orientation from a PNG's eXIf chunk, so it resizes the stored pixels as they are;
 * the new service applies it, as the contract says (and as browsers show the original). Measured
 * in image-service/test/colour-parity.int.test.ts; see docs/parity.md.
 */
export const LEGACY_IGNORES_PNG_ORIENTATION = 'legacy_ignores_png_orientation';

/** The seven EXIF re-orientations (2..8) as "where does output pixel (x, y) come from". */
const REORIENT: ReadonlyArray<{ orientation: number; transposes: boolean; from: (x: number, y: number, w: number, h: number) => [number, number] }> = [
  { orientation: 2, transposes: false, from: (x, y, w) => [w - 1 - x, y] },
  { orientation: 3, transposes: false, from: (x, y, w, h) => [w - 1 - x, h - 1 - y] },
  { orientation: 4, transposes: false, from: (x, y, _w, h) => [x, h - 1 - y] },
  { orientation: 5, transposes: true, from: (x, y) => [y, x] },
  { orientation: 6, transposes: true, from: (x, y, _w, h) => [y, h - 1 - x] },
  { orientation: 7, transposes: true, from: (x, y, w, h) => [w - 1 - y, h - 1 - x] },
  { orientation: 8, transposes: true, from: (x, y, w) => [w - 1 - y, x] },
];

/** PURE: `img` re-oriented; `from` maps an output pixel to its source pixel in `img`. */
function reorient(img: RgbImage, transposes: boolean, from: (x: number, y: number, w: number, h: number) => [number, number]): RgbImage {
  const width = transposes ? img.height : img.width;
  const height = transposes ? img.width : img.height;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = from(x, y, img.width, img.height);
      const s = (sy * img.width + sx) * 3;
      const d = (y * width + x) * 3;
      data[d] = img.data[s]!;
      data[d + 1] = img.data[s + 1]!;
      data[d + 2] = img.data[s + 2]!;
    }
  }
  return { width, height, data };
}

/**
 * PURE recognition rule for `legacy_ignores_png_orientation`: the request's original is a PNG,
 * and legacy's image is the new one re-oriented by one EXIF orientation (2..8) within the colour
 * thresholds (block max diff and mean deltaE). It can only see cases where re-orienting keeps the output size: orientations
 * 2-4 with any parameters, 5-8 with a square box (`fit=cover` with w = h). Other 5-8 cases come
 * out at a different size on each side and stay `dimensions` mismatches. Returns the orientation
 * that explains the difference, or undefined.
 */
export function recogniseLegacyPngOrientation(originalPath: string, legacy: RgbImage, next: RgbImage, thresholds: Thresholds): number | undefined {
  if (!/\.png$/i.test(originalPath)) return undefined;
  for (const r of REORIENT) {
    const w = r.transposes ? next.height : next.width;
    const h = r.transposes ? next.width : next.height;
    if (w !== legacy.width || h !== legacy.height) continue;
    // Undo the orientation the new service applied: the inverse of 6 is 8 and vice versa.
    const inverse = r.orientation === 6 ? REORIENT[6]! : r.orientation === 8 ? REORIENT[4]! : r;
    const candidate = reorient(next, inverse.transposes, inverse.from);
    // Colour only: a centre crop re-oriented can land 1 px away from the other side's (odd
    // margins round down on both), which luma SSIM punishes at thumbnail sizes; block colours
    // mostly forgive it (measured on a 200x200 cover of a 320x240 photo: block max 7.6, deltaE
    // 2.0, right at the match threshold), so deltaE gets twice the match threshold here; a wrongly
    // oriented picture is far off (measured deltaE 31-53).
    const colour = colourSignals(legacy, candidate);
    if (colour.blockMaxDiff <= thresholds.blockMaxDiff && colour.deltaE <= 2 * thresholds.deltaEMax) return r.orientation;
  }
  return undefined;
}

/** Categories a declared image difference can explain (never a status, format or header finding). */
const IMAGE_CATEGORIES: ReadonlySet<Category> = new Set<Category>(['pixels', 'dimensions', 'dimensions_off_by_one']);

/**
 * PURE: the declared differences (docs/parity.md) applied to one pair's findings. When a
 * recognition rule explains the images, their image findings move to `intended` with a reason
 * that names the declared category, so the report lists them apart (never a silent match and
 * never a mismatch); status, format and header findings always stand.
 */
export function applyDeclaredDifferences(
  originalPath: string,
  findings: readonly Finding[],
  legacy: RgbImage | undefined,
  next: RgbImage | undefined,
  thresholds: Thresholds,
): { findings: Finding[]; intended: IntendedFinding[] } {
  const image = findings.filter((f) => IMAGE_CATEGORIES.has(f.category));
  if (image.length === 0 || !legacy || !next) return { findings: [...findings], intended: [] };
  const orientation = recogniseLegacyPngOrientation(originalPath, legacy, next, thresholds);
  if (orientation === undefined) return { findings: [...findings], intended: [] };
  const reason = `${LEGACY_IGNORES_PNG_ORIENTATION}: legacy ignores this PNG's EXIF orientation ${orientation}; new applies it (docs/parity.md)`;
  return { findings: findings.filter((f) => !IMAGE_CATEGORIES.has(f.category)), intended: image.map((f) => ({ ...f, reason })) };
}
