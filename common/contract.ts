/**
 * PURE: what the image API contract (../shared/specs/image-api.md) fixes once, for both programs:
 * the hot prefix, the key rules, the limits and the default variants. The image service enforces
 * these, the gateway lists and replays requests by them, and the tests and the benchmark build
 * their inputs from them; one definition keeps the three from drifting apart.
 */

/** The hot endpoint: `GET|HEAD /image/files/<key>?<query>`. */
export const HOT_PREFIX = '/image/files/';

/** A key is 1 to 512 characters (after one round of percent-decoding). */
export const MAX_KEY_LENGTH = 512;

/** The characters of one '/'-separated segment of a key. */
const KEY_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** The rule in words, for the 400's message: what the client should have sent. */
export const KEY_RULE = `1 to ${MAX_KEY_LENGTH} characters of A-Z a-z 0-9 . _ - in '/'-separated segments, with no empty, '.' or '..' segment and no leading '/'`;

/**
 * Why a decoded key breaks the key rules, or undefined when it follows them. A reason rather than
 * a boolean, so that the service's 400 can say what was wrong.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.length > MAX_KEY_LENGTH) return `the key is ${key.length} characters long`;
  if (key.startsWith('/')) return 'the key starts with /';
  for (const segment of key.split('/')) {
    if (segment === '') return 'the key has an empty segment';
    if (segment === '.' || segment === '..') return `the key has a '${segment}' segment`;
    if (!KEY_SEGMENT.test(segment)) return 'the key contains a character outside the allowed set';
  }
  return undefined;
}

/** Whether a decoded key follows the key rules (so both backends would look it up). */
export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

/** Originals larger than this many bytes are refused (413 image_too_large). */
export const MAX_INPUT_BYTES = 50 * 1024 * 1024;

/** Originals of more pixels than this (width x height) are refused: 50 megapixels. */
export const MAX_INPUT_PIXELS = 50_000_000;

/**
 * At most this many pixels a side, of an original or of a resize step: ImageMagick's policy on the
 * legacy backend, so the new service refuses what legacy could never decode or make.
 */
export const MAX_SIDE_PIXELS = 16_000;

/** `w` and `h`: canonical decimals from 1 to this. */
export const MAX_BOX_SIDE = 4096;

/** `q`: canonical decimals in this range; DEFAULT_QUALITY when absent. */
export const QUALITY_RANGE = { min: 1, max: 100 } as const;
export const DEFAULT_QUALITY = 85;

/**
 * The variant mix of the benchmark and of the sample request list: three widths, a square
 * thumbnail, each as JPEG and WebP (the formats that cost most CPU to encode).
 */
export const DEFAULT_VARIANTS: readonly string[] = ['w=300', 'w=640', 'w=1280', 'w=200&h=200&fit=cover'].flatMap((box) =>
  ['jpeg', 'webp'].map((format) => `${box}&format=${format}`),
);
