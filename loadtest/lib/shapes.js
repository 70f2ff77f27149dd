/**
 * PURE: the load shapes the scripts share. Arrival-rate executors (open model) everywhere: the
 * offered load stays the same however slow the target gets, so a slow backend shows up as latency
 * and dropped iterations instead of quietly receiving less traffic (the closed-loop trap).
 */

/** Seconds an iteration may still run after its scenario's duration before k6 stops it. */
export const GRACEFUL_STOP_S = 10;

/**
 * VUs an arrival-rate scenario needs: rate x two seconds (a slow legacy resize), with a floor.
 * Pre-allocated, because k6 drops an iteration that finds no idle VU while it initialises another.
 * maxVUs caps the requests in flight, so an overloaded target cannot make k6 itself run away.
 * @param {number} rate requests per second @param {number} maxVUs
 */
export function vusFor(rate, maxVUs) {
  const pre = Math.min(maxVUs, Math.max(4, Math.ceil(rate * 2)));
  return { preAllocatedVUs: pre, maxVUs: Math.max(pre, maxVUs) };
}

/**
 * A constant-arrival-rate scenario.
 * @param {{ rate: number, seconds: number, startSeconds?: number, maxVUs: number, exec?: string, tags?: Record<string,string>, env?: Record<string,string> }} o
 */
export function constantRate(o) {
  return {
    executor: 'constant-arrival-rate',
    rate: o.rate,
    timeUnit: '1s',
    duration: `${o.seconds}s`,
    startTime: `${o.startSeconds ?? 0}s`,
    gracefulStop: `${GRACEFUL_STOP_S}s`,
    ...vusFor(o.rate, o.maxVUs),
    ...(o.exec ? { exec: o.exec } : {}),
    ...(o.tags ? { tags: o.tags } : {}),
    ...(o.env ? { env: o.env } : {}),
  };
}

/**
 * Start times that run scenarios one after the other, `gap` seconds apart (a pause that lets the
 * previous target's queue drain, so one target's backlog is not billed to the next).
 * @param {number[]} durations seconds, incl. the graceful stop a scenario may take @param {number} gap
 */
export function sequentialStarts(durations, gap) {
  const starts = [];
  let t = 0;
  for (const d of durations) {
    starts.push(t);
    t += d + gap;
  }
  return starts;
}

/**
 * A staircase of arrival rates: `steps` levels from `startRate`, `stepRate` apart, each held for
 * `stepSeconds` (the first second of each level is the ramp from the level below). Levels, not a
 * smooth ramp, so that every level has enough requests for a p99.
 * @param {{ startRate: number, stepRate: number, steps: number, stepSeconds: number }} o
 */
export function staircase(o) {
  const rates = [];
  for (let i = 0; i < o.steps; i++) rates.push(o.startRate + i * o.stepRate);
  const stages = [];
  rates.forEach((r, i) => {
    if (i === 0) {
      stages.push({ target: r, duration: `${o.stepSeconds}s` });
    } else {
      stages.push({ target: r, duration: '1s' });
      if (o.stepSeconds > 1) stages.push({ target: r, duration: `${o.stepSeconds - 1}s` });
    }
  });
  return { rates, stages, seconds: o.steps * o.stepSeconds };
}

/**
 * Which level of a staircase an iteration started in, from the time since its scenario started.
 * @param {number} elapsedMs @param {number} stepSeconds @param {number} steps
 */
export function stepAt(elapsedMs, stepSeconds, steps) {
  return Math.max(0, Math.min(steps - 1, Math.floor(elapsedMs / (stepSeconds * 1000))));
}

/**
 * Requests a level offers: its rate for the hold, the ramp from the level below for the first
 * second (a linear ramp offers the mean of its ends).
 * @param {number[]} rates @param {number} i @param {number} stepSeconds
 */
export function offeredInStep(rates, i, stepSeconds) {
  const r = rates[i];
  if (i === 0) return r * stepSeconds;
  return (rates[i - 1] + r) / 2 + r * (stepSeconds - 1);
}
