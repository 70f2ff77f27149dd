/**
 * PURE: a least-recently-used map bounded by bytes, not entries: rendered variants range from 5 KB
 * thumbnails to 500 KB large sizes, so a count would bound nothing. Map keeps insertion order, and
 * a use re-inserts, so the first key is always the least recently used.
 */
export class ByteLru<V> {
  readonly budget: number;
  #bytes = 0;
  readonly #entries = new Map<string, { value: V; bytes: number }>();
  readonly #onEvict: (key: string, value: V) => void;

  /**
   * @param budget bytes held at most (entries, with their `bytes` as given to set())
   * @param onEvict called for every entry pushed out by the budget (not for delete())
   */
  constructor(budget: number, onEvict: (key: string, value: V) => void = () => {}) {
    this.budget = budget;
    this.#onEvict = onEvict;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, now the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.value;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * Adds or replaces an entry, then evicts the least recently used until the budget holds. An
   * entry larger than the whole budget is not kept (false): it would evict everything else for
   * one variant.
   */
  set(key: string, value: V, bytes: number): boolean {
    this.delete(key);
    if (bytes > this.budget) return false;
    this.#entries.set(key, { value, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.budget) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
      this.#onEvict(k, e.value);
    }
    return true;
  }

  delete(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
    return e.value;
  }
}
