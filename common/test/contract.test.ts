/** The contract's definitions, once: key rules, limits and the default variants. */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_QUALITY,
  DEFAULT_VARIANTS,
  HOT_PREFIX,
  MAX_BOX_SIDE,
  MAX_INPUT_BYTES,
  MAX_INPUT_PIXELS,
  MAX_KEY_LENGTH,
  MAX_SIDE_PIXELS,
  QUALITY_RANGE,
  isValidKey,
  keyProblem,
} from '../contract.ts';

describe('keyProblem (decoded key -> why it breaks the rules, or undefined)', () => {
  it.each<[string, string | undefined]>([
    ['a.jpg', undefined],
    ['dir/sub/photo-1_v2.JPEG', undefined],
    ['x'.repeat(MAX_KEY_LENGTH), undefined],
    ['..a/b..', undefined],
    ['', 'the key is empty'],
    ['x'.repeat(MAX_KEY_LENGTH + 1), 'the key is 513 characters long'],
    ['/a.jpg', 'the key starts with /'],
    ['a//b.jpg', 'the key has an empty segment'],
    ['a/', 'the key has an empty segment'],
    ['a/../b.jpg', "the key has a '..' segment"],
    ['./a.jpg', "the key has a '.' segment"],
    ['a b.jpg', 'the key contains a character outside the allowed set'],
    ['a%2e.jpg', 'the key contains a character outside the allowed set'],
    ['é.jpg', 'the key contains a character outside the allowed set'],
    ['a\\b.jpg', 'the key contains a character outside the allowed set'],
  ])('%j -> %s', (key, want) => {
    expect(keyProblem(key)).toBe(want);
    expect(isValidKey(key)).toBe(want === undefined);
  });
});

describe('limits', () => {
  it.each<[string, number, number]>([
    ['MAX_INPUT_BYTES (50 MiB)', MAX_INPUT_BYTES, 52_428_800],
    ['MAX_INPUT_PIXELS (50 megapixels)', MAX_INPUT_PIXELS, 50_000_000],
    ['MAX_SIDE_PIXELS', MAX_SIDE_PIXELS, 16_000],
    ['MAX_BOX_SIDE (w and h)', MAX_BOX_SIDE, 4096],
    ['QUALITY_RANGE.min', QUALITY_RANGE.min, 1],
    ['QUALITY_RANGE.max', QUALITY_RANGE.max, 100],
    ['DEFAULT_QUALITY', DEFAULT_QUALITY, 85],
    ['MAX_KEY_LENGTH', MAX_KEY_LENGTH, 512],
  ])('%s = %d', (_name, value, want) => {
    expect(value).toBe(want);
  });

  it('the default quality is inside the quality range', () => {
    expect(DEFAULT_QUALITY).toBeGreaterThanOrEqual(QUALITY_RANGE.min);
    expect(DEFAULT_QUALITY).toBeLessThanOrEqual(QUALITY_RANGE.max);
  });
});

describe('HOT_PREFIX and DEFAULT_VARIANTS', () => {
  it('the hot prefix ends with a slash (upload/delete on /image/files never matches it)', () => {
    expect(HOT_PREFIX).toBe('/image/files/');
  });

  it('four boxes, each as JPEG and WebP', () => {
    expect(DEFAULT_VARIANTS).toEqual([
      'w=300&format=jpeg',
      'w=300&format=webp',
      'w=640&format=jpeg',
      'w=640&format=webp',
      'w=1280&format=jpeg',
      'w=1280&format=webp',
      'w=200&h=200&fit=cover&format=jpeg',
      'w=200&h=200&fit=cover&format=webp',
    ]);
  });
});
