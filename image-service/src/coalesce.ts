/**
 * Single flight: identical requests in flight at once share one piece of work. When a CDN cache
 * expires, thousands of identical requests arrive together; without this each one would fetch
 * and resize the same original (which is what took the legacy server down).
 *
 * Deadlines: every caller keeps its own. A caller whose signal aborts stops waiting at once
 * (its promise rejects with the signal's reason) but does not cancel the work for the others:
 * the work's own signal aborts only when every caller has given up, so a late joiner with time
 * left is not failed by the first caller's deadline, and work nobody waits for any more (still
 * queued behind a slot, say) is abandoned.
 */
export class Coalescer<T> {
  readonly #inflight = new Map<string, Flight<T>>();

  /** Keys with work in flight. */
  get size(): number {
    return this.#inflight.size;
  }

  /**
   * Joins the flight for `key`, or starts `work` when there is none. `shared` tells which
   * happened. The result rejects with `signal.reason` when the caller's signal aborts first.
   */
  run(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): { result: Promise<T>; shared: boolean } {
    if (signal.aborted) return { result: Promise.reject(signal.reason as unknown), shared: false };
    let flight = this.#inflight.get(key);
    const shared = flight !== undefined;
    if (!flight) {
      const controller = new AbortController();
      const started = new Promise<T>((resolve) => resolve(work(controller.signal)));
      const f: Flight<T> = { promise: started, controller, waiters: 0 };
      f.promise = started.finally(() => {
        if (this.#inflight.get(key) === f) this.#inflight.delete(key);
      });
      // Every waiter handles the outcome; this only keeps a flight that all waiters left from
      // becoming an unhandled rejection (which would end the process).
      f.promise.catch(() => {});
      this.#inflight.set(key, f);
      flight = f;
    }
    const f = flight;
    f.waiters++;
    const result = new Promise<T>((resolve, reject) => {
      let done = false;
      const onAbort = () => {
        if (done) return;
        done = true;
        if (--f.waiters === 0) {
          // Nobody waits any more: let the work stop where it can, and let the next caller start afresh.
          if (this.#inflight.get(key) === f) this.#inflight.delete(key);
          f.controller.abort(signal.reason);
        }
        reject(signal.reason as unknown);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      f.promise.then(
        (value) => {
          if (done) return;
          done = true;
          f.waiters--;
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (err: unknown) => {
          if (done) return;
          done = true;
          f.waiters--;
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
    return { result, shared };
  }
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}
