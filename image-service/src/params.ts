/**
 * PURE parsing of the hot endpoint's key and query (section 1 of the image API contract).
 * Every function here returns a typed result or an ImageError; none of them throws, which the
 * property tests check with arbitrary strings.
 */
import { DEFAULT_QUALITY, KEY_RULE, MAX_BOX_SIDE, QUALITY_RANGE, keyProblem } from '../../common/contract.ts';
import { ImageError } from './errors.ts';

export type Fit = 'inside' | 'cover';
export type OutputFormat = 'jpeg' | 'png' | 'webp';

/** A validated resize request. `undefined` width/height means that side is unbounded. */
export interface ResizeRequest {
  width: number | undefined;
  height: number | undefined;
  fit: Fit;
  /** Encoder quality for jpeg and webp; default 85. */
  quality: number;
  /** Explicit output format; undefined means "the source's format" (gif sources become png). */
  format: OutputFormat | undefined;
}

/** What a request asks for: the original bytes, or a transformed variant. */
export type ImageRequest = { kind: 'original' } | { kind: 'resize'; resize: ResizeRequest };

export type Result<T> = { ok: true; value: T } | { ok: false; error: ImageError };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(error: ImageError): Result<T> => ({ ok: false, error });

const KNOWN_PARAMS = ['w', 'h', 'fit', 'q', 'format'] as const;
type KnownParam = (typeof KNOWN_PARAMS)[number];

const invalidKey = (why: string) => new ImageError('invalid_key', `invalid key: ${why}; expected ${KEY_RULE}`);

/**
 * Validates the raw (still percent-encoded) path segment after `/image/files/`.
 * Exactly one round of percent-decoding, as the contract says: `%252e` stays `%2e` and is refused.
 */
export function parseKey(rawEncoded: string): Result<string> {
  let key: string;
  try {
    key = decodeURIComponent(rawEncoded);
  } catch {
    return fail(invalidKey('malformed percent-encoding'));
  }
  const problem = keyProblem(key);
  return problem === undefined ? ok(key) : fail(invalidKey(problem));
}

const invalidParam = (name: string, expected: string, got: string) =>
  new ImageError('invalid_parameter', `invalid parameter ${name}: expected ${expected}, got ${JSON.stringify(got.slice(0, 64))}`);

/**
 * Canonical decimal integer only: no sign, exponent, hex, fraction, whitespace or leading zero.
 * One spelling per number, so that `w=0100` and `w=100` cannot become two cache entries for the
 * same image (or two answers, where another parser reads the zero as octal).
 */
function parseIntInRange(name: string, raw: string, min: number, max: number): Result<number> {
  const expected = `a canonical decimal integer from ${min} to ${max} (digits only: no sign, leading zero, exponent or spaces)`;
  if (!/^(0|[1-9][0-9]{0,9})$/.test(raw)) return fail(invalidParam(name, expected, raw));
  const n = Number(raw);
  if (n < min || n > max) return fail(invalidParam(name, expected, raw));
  return ok(n);
}

/**
 * Parses the query of the hot endpoint. Takes the raw query pairs in order (so that repeated
 * parameters can be refused); unknown parameters are ignored, as the contract says.
 */
export function parseImageRequest(pairs: ReadonlyArray<readonly [string, string]>): Result<ImageRequest> {
  const seen = new Map<KnownParam, string>();
  for (const [name, value] of pairs) {
    if ((KNOWN_PARAMS as readonly string[]).includes(name)) {
      const known = name as KnownParam;
      if (seen.has(known)) {
        return fail(new ImageError('invalid_parameter', `invalid parameter ${known}: expected at most one value, got it more than once`));
      }
      seen.set(known, value);
    }
  }
  if (seen.size === 0) return ok({ kind: 'original' });

  let width: number | undefined;
  let height: number | undefined;
  let quality = DEFAULT_QUALITY;
  let fit: Fit = 'inside';
  let format: OutputFormat | undefined;

  const w = seen.get('w');
  if (w !== undefined) {
    const r = parseIntInRange('w', w, 1, MAX_BOX_SIDE);
    if (!r.ok) return r;
    width = r.value;
  }
  const h = seen.get('h');
  if (h !== undefined) {
    const r = parseIntInRange('h', h, 1, MAX_BOX_SIDE);
    if (!r.ok) return r;
    height = r.value;
  }
  const q = seen.get('q');
  if (q !== undefined) {
    const r = parseIntInRange('q', q, QUALITY_RANGE.min, QUALITY_RANGE.max);
    if (!r.ok) return r;
    quality = r.value;
  }
  const f = seen.get('fit');
  if (f !== undefined) {
    if (f !== 'inside' && f !== 'cover') return fail(invalidParam('fit', "'inside' or 'cover'", f));
    fit = f;
  }
  if (fit === 'cover' && (width === undefined || height === undefined)) {
    const missing = width === undefined && height === undefined ? 'w and h' : width === undefined ? 'w' : 'h';
    return fail(
      new ImageError(
        'invalid_parameter',
        `invalid parameter fit: expected both w and h (integers from 1 to ${MAX_BOX_SIDE}) with fit=cover, got cover without ${missing}`,
      ),
    );
  }
  const fmt = seen.get('format');
  if (fmt !== undefined) {
    if (fmt !== 'jpeg' && fmt !== 'png' && fmt !== 'webp') return fail(invalidParam('format', "'jpeg', 'png' or 'webp'", fmt));
    format = fmt;
  }
  return ok({ kind: 'resize', resize: { width, height, fit, quality, format } });
}

/**
 * A canonical string for a resize request: requests that mean the same thing get the same
 * string (parameter order, defaults spelt out or not), so that they coalesce and share an ETag.
 */
export function canonicalVariant(req: ImageRequest): string {
  if (req.kind === 'original') return 'original';
  const r = req.resize;
  return `w=${r.width ?? ''}&h=${r.height ?? ''}&fit=${r.fit}&q=${r.quality}&format=${r.format ?? ''}`;
}

/**
 * Splits a raw query string into decoded pairs. `URLSearchParams` keeps repeats and never throws;
 * `w[]=1` stays the unknown name `w[]` and is ignored like any unknown parameter.
 */
export function queryPairs(rawQuery: string): Array<[string, string]> {
  return [...new URLSearchParams(rawQuery)];
}
