/**
 * The load driver every subject shares, whatever it calls (an HTTP request, or an in-process
 * resize): a closed loop of whole passes over the request list, and an open loop at a fixed rate.
 * No I/O of its own; `exec(i)` does the work for request number i.
 */

export interface Outcome {
  ok: boolean;
  /** Why it failed (status, error), for the report. */
  error?: string;
}

export type Exec = (index: number) => Promise<Outcome>;

export interface PhaseResult {
  /** Counted requests that succeeded. */
  ok: number;
  errors: number;
  /** A few distinct error texts. */
  errorSamples: string[];
  /** Wall time of the measured window, seconds. */
  elapsedS: number;
  /** Latency of each successful counted request, ms. */
  latenciesMs: number[];
  /** The request index of each entry of latenciesMs (which original and variant it was). */
  indices: number[];
  /** Requests (counted or filler) completed inside the window, for CPU per request. */
  completedInWindow: number;
  /** Open loop: requests not sent because maxInFlight were already waiting. */
  dropped: number;
}

const now = () => performance.now();

/**
 * Closed loop: `concurrency` workers send requests first..first+count-1, each as soon as its
 * previous one returns. Once they run out of counted requests they keep sending uncounted filler
 * requests (the next ones in the list) until the last counted one completes, so the subject is
 * saturated to the end of the window instead of idling through a tail of stragglers (which would
 * understate the slowest subject's throughput the most).
 */
export async function closedLoop(exec: Exec, o: { first: number; count: number; concurrency: number; onWindowClose?: () => void }): Promise<PhaseResult> {
  const r = emptyResult();
  if (o.count <= 0) {
    o.onWindowClose?.();
    return r;
  }
  let next = o.first;
  const end = o.first + o.count;
  let countedDone = 0;
  let windowOpen = true;
  const started = now();
  let finished = started;
  const worker = async () => {
    while (windowOpen) {
      const i = next++;
      const counted = i < end;
      const t0 = now();
      const out = await safe(exec, i);
      if (!windowOpen) return;
      r.completedInWindow++;
      if (!counted) continue;
      record(r, out, now() - t0, i);
      if (++countedDone === o.count) {
        finished = now();
        windowOpen = false;
        // Stragglers (filler requests) still finish after this, outside the window; whoever
        // measures CPU stops the clock here.
        o.onWindowClose?.();
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  r.elapsedS = (finished - started) / 1000;
  return r;
}

/**
 * Closed loop for a length of time instead of a count: `concurrency` workers send requests first,
 * first+1, ... each as soon as its previous one returns, until `seconds` have passed; the
 * requests still in flight then finish and are counted (the service benchmark's rounds and
 * warm-ups, and the raw-sharp rounds, which are sized in seconds).
 */
export async function closedLoopFor(exec: Exec, o: { first: number; seconds: number; concurrency: number }): Promise<PhaseResult> {
  const r = emptyResult();
  let next = o.first;
  const started = now();
  const deadline = started + o.seconds * 1000;
  const worker = async () => {
    while (now() < deadline) {
      const i = next++;
      const t0 = now();
      const out = await safe(exec, i);
      r.completedInWindow++;
      record(r, out, now() - t0, i);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  r.elapsedS = (now() - started) / 1000;
  return r;
}

/**
 * Open loop: request first+k is due at start + k/rate, whether or not earlier ones have returned
 * (the offered load of real clients). Latency counts from the due time, so the generator's own
 * lateness and any queueing are in it (no coordinated omission). When `maxInFlight` requests are
 * outstanding the due one is dropped and counted as an error.
 */
export async function openLoop(exec: Exec, o: { first: number; count: number; rate: number; maxInFlight: number }): Promise<PhaseResult> {
  const r = emptyResult();
  const inflight = new Set<Promise<void>>();
  const started = now();
  for (let k = 0; k < o.count; k++) {
    const due = started + (k * 1000) / o.rate;
    const wait = due - now();
    if (wait > 1) await new Promise((res) => setTimeout(res, wait));
    if (inflight.size >= o.maxInFlight) {
      r.dropped++;
      r.errors++;
      addSample(r, `dropped: ${o.maxInFlight} requests already in flight`);
      continue;
    }
    const p: Promise<void> = safe(exec, o.first + k).then((out) => {
      r.completedInWindow++;
      record(r, out, now() - due, o.first + k);
      inflight.delete(p);
    });
    inflight.add(p);
  }
  await Promise.all(inflight);
  r.elapsedS = (now() - started) / 1000;
  return r;
}

function emptyResult(): PhaseResult {
  return { ok: 0, errors: 0, errorSamples: [], elapsedS: 0, latenciesMs: [], indices: [], completedInWindow: 0, dropped: 0 };
}

function record(r: PhaseResult, out: Outcome, ms: number, index: number): void {
  if (out.ok) {
    r.ok++;
    r.latenciesMs.push(ms);
    r.indices.push(index);
  } else {
    r.errors++;
    addSample(r, out.error ?? 'failed');
  }
}

function addSample(r: PhaseResult, text: string): void {
  if (r.errorSamples.length < 5 && !r.errorSamples.includes(text)) r.errorSamples.push(text);
}

async function safe(exec: Exec, i: number): Promise<Outcome> {
  try {
    return await exec(i);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** At most `limit` calls of `fn` at once; the rest wait in order (the service's limiter, in miniature). */
export function limitConcurrency(limit: number, fn: Exec): Exec {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (i) => {
    if (active >= limit) await new Promise<void>((res) => waiting.push(res));
    active++;
    try {
      return await fn(i);
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
