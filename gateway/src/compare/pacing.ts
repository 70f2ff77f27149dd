/**
 * Rate and concurrency caps for replay. The token bucket is a pure state step (the clock is
 * passed in) so that its arithmetic is tested without timers; `createRateLimiter` is the thin
 * timer around it.
 */

/** Token bucket state: `tokens` available at time `at` (ms). */
export interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Takes one token at `now` from a bucket refilled at `rate` per second up to `burst`. Returns
 * the new state and how long to wait first (0 when a token was there).
 */
export function takeToken(bucket: Bucket, now: number, rate: number, burst: number): { bucket: Bucket; waitMs: number } {
  const refilled = Math.min(burst, bucket.tokens + ((now - bucket.at) * rate) / 1000);
  if (refilled >= 1) return { bucket: { tokens: refilled - 1, at: now }, waitMs: 0 };
  const waitMs = ((1 - refilled) * 1000) / rate;
  // The token taken in the future: the bucket is empty at now + waitMs.
  return { bucket: { tokens: 0, at: now + waitMs }, waitMs };
}

/** `await limiter()` before each request: at most `rate` per second, bursts of at most `burst` (default 1). */
export function createRateLimiter(rate: number | undefined, burst = 1, now: () => number = () => performance.now()): () => Promise<void> {
  if (rate === undefined) return async () => {};
  let bucket: Bucket = { tokens: burst, at: now() };
  return async () => {
    const r = takeToken(bucket, now(), rate, burst);
    bucket = r.bucket;
    if (r.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, r.waitMs));
  };
}

/**
 * Runs `work` over `items` with at most `concurrency` in flight, in order of start. `before`
 * runs before each start (the rate limiter). Resolves when everything has finished; an error in
 * `work` is the caller's to catch (replay's work never throws).
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
  before: () => Promise<void> = async () => {},
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await before();
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}
