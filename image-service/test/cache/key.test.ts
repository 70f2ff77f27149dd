import { describe, expect, it } from 'vitest';
import { diskName, originalOf, resultKey } from '../../src/cache/key.ts';

describe('result cache keys', () => {
  it('differ whenever the original, its version or the variant differs', () => {
    const keys = [
      resultKey('a/b.jpg', 'v1', 'w=300'),
      resultKey('a/b.jpg', 'v2', 'w=300'),
      resultKey('a/b.jpg', 'v1', 'w=301'),
      resultKey('a/c.jpg', 'v1', 'w=300'),
      // A version that looks like a join of two parts still gives its own key.
      resultKey('a/b.jpg', 'v1\0w=300', ''),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(resultKey('a/b.jpg', 'v1', 'w=300')).toBe(keys[0]);
  });

  it('give back their original, and a fixed-length hex file name', () => {
    const k = resultKey('dir/photo.jpg', '9f-1a-3c', 'w=640&format=webp');
    expect(originalOf(k)).toBe('dir/photo.jpg');
    expect(diskName(k)).toMatch(/^[0-9a-f]{64}\.res$/);
    expect(diskName(k)).not.toBe(diskName(resultKey('dir/photo.jpg', '9f-1a-3d', 'w=640&format=webp')));
  });
});
