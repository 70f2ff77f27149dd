import { ImageError } from './errors.ts';

/**
 * A bounded number of jobs in flight and a bounded queue behind them. A job that cannot be
 * queued is refused at once with 503 + Retry-After (shedding early is what keeps the tail latency
 * of admitted requests flat). A queued job whose deadline passes leaves the queue shed as well
 * (503 overloaded + Retry-After): it never started, and the front door replays a 504 on legacy but
 * passes a 503 through, so a 504 here would pour the overload onto legacy.
 */
export class Limiter {
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly retryAfterSeconds: number;
  #active = 0;
  readonly #queue: Array<{ start: () => void; abort: (err: ImageError) => void }> = [];

  constructor(options: { concurrency: number; queueLimit: number; retryAfterSeconds?: number }) {
    this.concurrency = options.concurrency;
    this.queueLimit = options.queueLimit;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length;
  }

  async run<T>(signal: AbortSignal, job: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw deadlineError(signal);
    if (this.#active < this.concurrency) {
      this.#active++;
    } else {
      if (this.#queue.length >= this.queueLimit) {
        throw this.shed(`overloaded: ${this.#active} resizes in flight and ${this.#queue.length} queued; retry later`);
      }
      await new Promise<void>((resolve, reject) => {
        const entry = {
          start: () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          abort: reject,
        };
        const onAbort = () => {
          const i = this.#queue.indexOf(entry);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(this.shed('overloaded: the request waited in the queue past its deadline without starting; retry later', signal.reason));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#queue.push(entry);
      });
    }
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next queued job, so `active` never dips and lets a newcomer jump the queue.
      const next = this.#queue.shift();
      if (next) next.start();
      else this.#active--;
    }
  }

  /**
   * A slot held until `release()` is called (for work that outlives a promise, such as a body
   * streamed to a client). Waits in the queue like `run`, and is shed the same way.
   */
  async acquire(signal: AbortSignal): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const running = this.run(signal, () => {
      started();
      return held;
    });
    await Promise.race([ready, running]);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
    };
  }

  /** The 503 of a job that never ran: refused at the door or dropped from the queue. */
  shed(message: string, cause?: unknown): ImageError {
    return new ImageError('overloaded', message, { cause, headers: { 'Retry-After': String(this.retryAfterSeconds) } });
  }
}

function deadlineError(signal: AbortSignal): ImageError {
  const reason: unknown = signal.reason;
  if (reason instanceof ImageError) return reason;
  return new ImageError('timeout', 'timeout: the request waited longer than its deadline', { cause: reason });
}
