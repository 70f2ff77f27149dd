import { ImageError } from './errors.ts';

/**
 * A bounded number of jobs in flight and a bounded queue behind them. A job that cannot be
 * queued is refused at once with 503 + Retry-After (shedding early is what keeps the tail latency
 * of admitted requests flat); a queued job whose deadline passes leaves the queue with 504.
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
        throw new ImageError('overloaded', `overloaded: ${this.#active} resizes in flight and ${this.#queue.length} queued; retry later`, {
          headers: { 'Retry-After': String(this.retryAfterSeconds) },
        });
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
          reject(deadlineError(signal));
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
}

function deadlineError(signal: AbortSignal): ImageError {
  const reason: unknown = signal.reason;
  if (reason instanceof ImageError) return reason;
  return new ImageError('timeout', 'timeout: the request waited longer than its deadline', { cause: reason });
}
