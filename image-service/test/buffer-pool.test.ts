import { describe, expect, it } from 'vitest';
import { BufferPool } from '../src/buffer-pool.ts';

describe('BufferPool', () => {
  it('lends a new buffer rounded up to 256 KiB, then the same one again once it is back', () => {
    const pool = new BufferPool({ maxFree: 2 });
    const a = pool.acquire(1_000_000);
    expect(a.length).toBe(4 * 256 * 1024);
    expect(pool.free).toBe(0);
    pool.release(a);
    expect(pool.free).toBe(1);
    const b = pool.acquire(900_000);
    expect(b).toBe(a);
    expect(pool.free).toBe(0);
  });

  it('never lends one buffer twice at once', () => {
    const pool = new BufferPool({ maxFree: 4 });
    const a = pool.acquire(100);
    pool.release(a);
    pool.release(a); // a double release is ignored
    const x = pool.acquire(100);
    const y = pool.acquire(100);
    expect(x).not.toBe(y);
  });

  it('picks the smallest free buffer that fits, and allocates when none does', () => {
    const pool = new BufferPool({ maxFree: 4 });
    const small = pool.acquire(256 * 1024);
    const big = pool.acquire(8 * 1024 * 1024);
    pool.release(big);
    pool.release(small);
    expect(pool.acquire(1000)).toBe(small);
    expect(pool.acquire(1000)).toBe(big);
    const fresh = pool.acquire(1000);
    expect(fresh).not.toBe(small);
    expect(fresh).not.toBe(big);
  });

  it('keeps at most maxFree buffers, the largest ones, and never one over maxBufferBytes', () => {
    const pool = new BufferPool({ maxFree: 2, maxBufferBytes: 4 * 1024 * 1024 });
    const sizes = [256 * 1024, 1024 * 1024, 2 * 1024 * 1024];
    const lent = sizes.map((s) => pool.acquire(s));
    for (const b of lent) pool.release(b);
    expect(pool.free).toBe(2);
    expect(pool.acquire(1)).toBe(lent[1]); // the 256 KiB one was dropped
    const huge = pool.acquire(8 * 1024 * 1024);
    pool.release(huge);
    expect(pool.free).toBe(1);
  });
});
