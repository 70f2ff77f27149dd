/**
 * Reusable buffers for originals read from a stream (S3) before libvips decodes them. A fresh
 * multi-megabyte buffer per resize reports that much new external memory to V8, which answers
 * with a full garbage collection every few requests (measured on the benchmark's workload read
 * through a stream: 18 full GCs per 96 resizes without the pool, 1 with it; ~2 ms of main-thread
 * CPU per request). A handful of buffers handed from one resize to the next keeps that flat.
 *
 * A buffer is lent to one resize at a time: acquire(), read into it, decode from a subarray of
 * exactly the bytes read, release() once the pipeline has settled (libvips holds no reference
 * after that). Contents are never cleared: only the bytes of the current original are ever read.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #maxFree: number;
  readonly #maxBufferBytes: number;

  /**
   * @param maxFree buffers kept between resizes (default: resizes in flight + 1)
   * @param maxBufferBytes larger buffers are not kept, so one huge original does not pin its size
   *   in memory for good (default 16 MiB)
   */
  constructor(options: { maxFree: number; maxBufferBytes?: number }) {
    this.#maxFree = options.maxFree;
    this.#maxBufferBytes = options.maxBufferBytes ?? 16 * 1024 * 1024;
  }

  /** Buffers waiting to be lent. */
  get free(): number {
    return this.#free.length;
  }

  /** The smallest free buffer of at least `size` bytes, or a new one (rounded up to 256 KiB). */
  acquire(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const length = this.#free[i]!.length;
      if (length >= size && (best < 0 || length < this.#free[best]!.length)) best = i;
    }
    if (best >= 0) return this.#free.splice(best, 1)[0]!;
    const rounded = Math.max(1, Math.ceil(size / GRAIN)) * GRAIN;
    // allocUnsafeSlow: never a slice of Node's shared small-buffer pool, so the whole buffer is ours.
    return Buffer.allocUnsafeSlow(rounded);
  }

  /** Gives a buffer back (the one acquire() returned, not a subarray of it). */
  release(buffer: Buffer): void {
    if (buffer.length > this.#maxBufferBytes || this.#free.includes(buffer)) return;
    this.#free.push(buffer);
    if (this.#free.length > this.#maxFree) {
      // Keep the largest ones: they fit every original the small ones fit.
      this.#free.sort((a, b) => b.length - a.length);
      this.#free.length = this.#maxFree;
    }
  }
}

const GRAIN = 256 * 1024;
