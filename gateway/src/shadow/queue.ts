/**
 * A bounded work queue that never blocks its producer: the sink must answer nginx's mirror at
 * once, so when the queue is full the item is dropped and counted, not waited for. Workers pull
 * with `concurrency` at most in flight.
 */

export interface BoundedQueueOptions<T> {
  /** Items waiting at most (not counting the ones being worked on), default 64. */
  capacity: number;
  /** Items worked on at the same time, default 2. */
  concurrency: number;
  work: (item: T) => Promise<void>;
  /** Called when a worker throws (work should not; this keeps the queue alive if it does). */
  onError?: (err: unknown, item: T) => void;
}

export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private active = 0;
  private dropped = 0;
  private accepted = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: BoundedQueueOptions<T>) {}

  /** Takes the item if there is room (true), or drops and counts it (false). Never waits. */
  offer(item: T): boolean {
    if (this.items.length >= this.options.capacity) {
      this.dropped++;
      return false;
    }
    this.accepted++;
    this.items.push(item);
    this.pump();
    return true;
  }

  /** Waiting items. */
  get depth(): number {
    return this.items.length;
  }

  get inFlight(): number {
    return this.active;
  }

  counts(): { accepted: number; dropped: number; depth: number; inFlight: number } {
    return { accepted: this.accepted, dropped: this.dropped, depth: this.items.length, inFlight: this.active };
  }

  /** Resolves when nothing is waiting or in flight. */
  idle(): Promise<void> {
    if (this.items.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.items.length > 0) {
      const item = this.items.shift()!;
      this.active++;
      // Start on the next turn: the producer (an HTTP handler that has already answered) returns first.
      setImmediate(() => {
        this.options
          .work(item)
          .catch((err: unknown) => this.options.onError?.(err, item))
          .finally(() => {
            this.active--;
            this.pump();
            if (this.items.length === 0 && this.active === 0) {
              const waiters = this.idleWaiters;
              this.idleWaiters = [];
              for (const w of waiters) w();
            }
          });
      });
    }
  }
}
