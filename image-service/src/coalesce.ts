/**
 * Single flight: identical requests in flight at once share one promise. When a CDN cache
 * expires, thousands of identical requests arrive together; without this each one would fetch
 * and resize the same original (which is what took the legacy server down).
 */
export class Coalescer<T> {
  readonly #inflight = new Map<string, Promise<T>>();

  get size(): number {
    return this.#inflight.size;
  }

  /** Runs `work` unless an identical flight is running; `shared` tells which happened. */
  run(key: string, work: () => Promise<T>): { result: Promise<T>; shared: boolean } {
    const existing = this.#inflight.get(key);
    if (existing) return { result: existing, shared: true };
    const result = work().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, result);
    return { result, shared: false };
  }
}
