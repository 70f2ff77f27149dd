import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../src/cache/lru.ts';

describe('ByteLru', () => {
  it('evicts the least recently used entries until the byte budget holds, and reports each eviction', () => {
    const evicted: string[] = [];
    const lru = new ByteLru<string>(100, (k) => evicted.push(k));
    lru.set('a', 'A', 40);
    lru.set('b', 'B', 40);
    expect(lru.get('a')).toBe('A'); // a is now the most recently used
    lru.set('c', 'C', 40); // 120 > 100: b (least recent) goes
    expect(evicted).toEqual(['b']);
    expect([lru.has('a'), lru.has('b'), lru.has('c')]).toEqual([true, false, true]);
    expect([lru.bytes, lru.size]).toEqual([80, 2]);
    lru.set('d', 'D', 90); // needs both others gone
    expect(evicted).toEqual(['b', 'a', 'c']);
    expect([lru.bytes, lru.size]).toEqual([90, 1]);
  });

  it('refuses an entry larger than the whole budget instead of emptying the cache for it', () => {
    const evicted: string[] = [];
    const lru = new ByteLru<string>(100, (k) => evicted.push(k));
    lru.set('a', 'A', 60);
    expect(lru.set('huge', 'H', 101)).toBe(false);
    expect([lru.has('a'), lru.has('huge'), lru.bytes]).toEqual([true, false, 60]);
    expect(evicted).toEqual([]);
  });

  it('replacing an entry counts its new size once; delete() gives its bytes back without an eviction', () => {
    const evicted: string[] = [];
    const lru = new ByteLru<string>(100, (k) => evicted.push(k));
    lru.set('a', 'A1', 30);
    lru.set('a', 'A2', 50);
    expect([lru.get('a'), lru.bytes, lru.size]).toEqual(['A2', 50, 1]);
    expect(lru.delete('a')).toBe('A2');
    expect(lru.delete('a')).toBeUndefined();
    expect([lru.bytes, lru.size, evicted]).toEqual([0, 0, []]);
  });

  it('get() of a missing key is undefined and changes nothing', () => {
    const lru = new ByteLru<number>(10);
    lru.set('x', 1, 5);
    expect(lru.get('y')).toBeUndefined();
    expect([lru.bytes, lru.size]).toEqual([5, 1]);
  });
});
