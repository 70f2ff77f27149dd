/** Which files of a package become originals, and under which keys. */
import { describe, expect, it } from 'vitest';
import { candidateFiles, formatOf, SOURCES, spread, storageKey } from '../src/sources.ts';

const pillow = SOURCES.find((s) => s.id === 'pillow')!;

describe('candidateFiles', () => {
  it("takes Pillow's test images and leaves out the crashers and the broken ones", () => {
    const files = [
      'pillow-11.3.0/Tests/images/hopper.jpg',
      'pillow-11.3.0/Tests/images/hopper.webp',
      'pillow-11.3.0/Tests/images/crash-1152ec2d1a1a71395b6f2ce6721c38924d025bf3.tif',
      'pillow-11.3.0/Tests/images/oom-8ed3316a4109213ca96fb8a256a0bfefdece1461.icns',
      'pillow-11.3.0/Tests/images/truncated_jpeg.jpg',
      'pillow-11.3.0/Tests/images/broken_data_stream.png',
      'pillow-11.3.0/Tests/images/imagedraw/line.png',
      'pillow-11.3.0/src/PIL/Image.py',
    ];
    expect(candidateFiles(pillow, files)).toEqual(['pillow-11.3.0/Tests/images/hopper.jpg', 'pillow-11.3.0/Tests/images/hopper.webp']);
  });
});

describe('formatOf', () => {
  it.each([
    ['a.JPG', 'jpeg'],
    ['a.jpeg', 'jpeg'],
    ['a.png', 'png'],
    ['b/a.webp', 'webp'],
    ['a.gif', 'gif'],
    ['a.tif', undefined],
  ])('%s -> %s', (f, expected) => expect(formatOf(f)).toBe(expected));
});

describe('spread', () => {
  it('keeps the first, the last and evenly between', () => {
    expect(spread([0, 1, 2, 3, 4, 5, 6, 7, 8], 3)).toEqual([0, 4, 8]);
    expect(spread([0, 1, 2], 5)).toEqual([0, 1, 2]);
    expect(spread([0, 1, 2], 1)).toEqual([0]);
    expect(spread([0, 1, 2], 0)).toEqual([]);
  });
});

describe('storageKey', () => {
  it('a key the contract accepts: source/name, lower case, odd characters replaced, collisions numbered', () => {
    expect(storageKey('pillow', 'x/Tests/images/Hopper Copy(1).JPG', new Set())).toBe('pillow/hopper_copy_1_.jpg');
    expect(storageKey('pillow', 'x/..png', new Set())).toBe('pillow/_.png');
    expect(storageKey('im', 'a/logo.png', new Set(['im/logo.png']))).toBe('im/logo-2.png');
    expect(storageKey('im', 'a/logo.png', new Set(['im/logo.png', 'im/logo-2.png']))).toBe('im/logo-3.png');
    for (const k of ['pillow/hopper_copy_1_.jpg', 'pillow/_.png']) expect(k).toMatch(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/);
  });
});
