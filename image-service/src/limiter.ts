import { ImageError } from './errors.ts';

/**
 * What a job needs before it computes (its original read from storage and checked), done while the
 * job still waits for a slot: see Limiter `lookahead`. `dispose` gives back what `prepare` made when
 * the job never runs (its caller gave up, or the queue was shed).
 */
export interface Preparation<P> {
  prepare(): Promise<P>;
  dispose(prepared: P): void;
  /** Called when the job takes its slot (before its preparation is awaited, when that is still running). */
  slotTaken?(): void;
}

interface Entry {
  state: 'queued' | 'started' | 'gone';
  start: () => void;
  abort: (err: unknown) => void;
  prepare: Preparation<unknown> | undefined;
  /** Set once its preparation has begun (it is among the first `lookahead` of the queue). */
  prepared?: Promise<unknown>;
}

/**
 * A bounded number of jobs in flight and a bounded queue behind them. A job that cannot be
 * queued is refused at once with 503 + Retry-After (shedding early is what keeps the tail latency
 * of admitted requests flat). A queued job whose deadline passes leaves the queue shed as well
 * (503 overloaded + Retry-After): it never started, and the front door replays a 504 on legacy but
 * passes a 503 through, so a 504 here would pour the overload onto legacy.
 *
 * Lookahead: the first `lookahead` queued jobs run their `prepare` (storage reads) while they wait,
 * so that a freed slot starts computing at once instead of waiting on I/O (issue 16: with reads
 * inside the slots, two slots kept ~1.7 of 2 cores busy). What is prepared ahead is bounded by
 * `lookahead` jobs, so memory stays bounded by `concurrency + lookahead` originals.
 */
export class Limiter {
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly retryAfterSeconds: number;
  /** Queued jobs, from the head, whose preparation runs while they wait. Default 0 (none). */
  readonly lookahead: number;
  #active = 0;
  readonly #queue: Entry[] = [];

  constructor(options: { concurrency: number; queueLimit: number; retryAfterSeconds?: number; lookahead?: number }) {
    this.concurrency = options.concurrency;
    this.queueLimit = options.queueLimit;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
    this.lookahead = options.lookahead ?? 0;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `job` in a slot. With `prep`, the job gets what `prep.prepare()` made: prepared while it
   * waited in the queue when it was among the first `lookahead`, else in its slot. A preparation
   * that fails while queued fails the job at once (a missing original is not load) and frees its place.
   */
  async run<T, P = undefined>(signal: AbortSignal, job: (prepared: P) => Promise<T>, prep?: Preparation<P>): Promise<T> {
    if (signal.aborted) throw deadlineError(signal);
    let entry: Entry | undefined;
    if (this.#active < this.concurrency) {
      this.#active++;
    } else {
      if (this.#queue.length >= this.queueLimit) {
        throw this.shed(`overloaded: ${this.#active} resizes in flight and ${this.#queue.length} queued; retry later`);
      }
      await new Promise<void>((resolve, reject) => {
        const e: Entry = {
          state: 'queued',
          start: () => {
            e.state = 'started';
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          abort: (err) => {
            signal.removeEventListener('abort', onAbort);
            reject(err);
          },
          prepare: prep as Preparation<unknown> | undefined,
        };
        entry = e;
        const onAbort = () => {
          if (!this.#remove(e)) return;
          reject(this.shed('overloaded: the request waited in the queue past its deadline without starting; retry later', signal.reason));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#queue.push(e);
        this.#prepareAhead();
      });
    }
    try {
      prep?.slotTaken?.();
      const prepared = (entry?.prepared ?? prep?.prepare()) as Promise<P> | undefined;
      return await job((await prepared) as P);
    } finally {
      // Hand the slot straight to the next queued job, so `active` never dips and lets a newcomer jump the queue.
      const next = this.#queue.shift();
      if (next) {
        this.#prepareAhead();
        next.start();
      } else this.#active--;
    }
  }

  /** Starts the preparation of the queued jobs within `lookahead` of the head that have none yet. */
  #prepareAhead(): void {
    const n = Math.min(this.lookahead, this.#queue.length);
    for (let i = 0; i < n; i++) {
      const e = this.#queue[i]!;
      if (e.prepared || !e.prepare) continue;
      const prep = e.prepare;
      const prepared = prep.prepare();
      e.prepared = prepared;
      prepared.then(
        () => {},
        (err: unknown) => {
          if (this.#remove(e)) e.abort(err);
        },
      );
    }
  }

  /**
   * Takes a queued entry out (false when it already left), gives back what it prepared (it will
   * never run), and lets the next one prepare.
   */
  #remove(e: Entry): boolean {
    const i = this.#queue.indexOf(e);
    if (e.state !== 'queued' || i < 0) return false;
    this.#queue.splice(i, 1);
    e.state = 'gone';
    const prep = e.prepare;
    if (prep && e.prepared)
      e.prepared.then(
        (value) => prep.dispose(value),
        () => {},
      );
    this.#prepareAhead();
    return true;
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
