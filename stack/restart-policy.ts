/**
 * PURE: when `npm start` restarts a part that exited or hung, and when it gives up. The process
 * handling (stack/supervisor.ts) only asks these functions and does what they say.
 */

/** How a supervised part is restarted. */
export interface RestartPolicy {
  /** Delay before the first restart of a run of crashes. Default 500 ms. */
  initialDelayMs: number;
  /** The delay doubles with each restart in a row, up to this. Default 10 000 ms. */
  maxDelayMs: number;
  /**
   * A part that stayed up this long before it exited counts as a fresh failure: its backoff
   * starts over. Default 30 000 ms (a crash once an hour should not wait 10 s to come back).
   */
  stableAfterMs: number;
  /**
   * Give up (and stop the stack, exit non-zero) after this many restarts in a row that never
   * became healthy: a part that cannot start (port taken, config broken) will not start by
   * being retried forever, and a stack that looks up but is not would hide it. Default 5.
   */
  maxFailedRestarts: number;
}

export const defaultRestartPolicy: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 10_000, stableAfterMs: 30_000, maxFailedRestarts: 5 };

/** What the supervisor remembers of one part between restarts. */
export interface PartRecord {
  /** Restarts since the part last ran stably (drives the backoff). */
  restarts: number;
  /** Restarts in a row that did not become healthy (drives giving up). */
  failedRestarts: number;
}

export const freshRecord: PartRecord = { restarts: 0, failedRestarts: 0 };

export type RestartNow = { action: 'restart'; delayMs: number; record: PartRecord };
export type RestartDecision = RestartNow | { action: 'give-up'; reason: string; record: PartRecord };

/** initialDelayMs doubled `restartsInRow` times, capped at maxDelayMs. */
export function backoffDelayMs(policy: RestartPolicy, restartsInRow: number): number {
  // Capping the exponent keeps 2 ** n finite however long a crash loop runs.
  const doubled = policy.initialDelayMs * 2 ** Math.min(restartsInRow, 30);
  return Math.min(policy.maxDelayMs, doubled);
}

/** A part that had come up healthy exited (or was killed for hanging) after `upMs`. */
export function afterExit(policy: RestartPolicy, record: PartRecord, upMs: number): RestartNow {
  const restarts = upMs >= policy.stableAfterMs ? 0 : record.restarts;
  return { action: 'restart', delayMs: backoffDelayMs(policy, restarts), record: { restarts: restarts + 1, failedRestarts: record.failedRestarts } };
}

/** A restart attempt failed: the part did not become healthy. */
export function afterFailedStart(policy: RestartPolicy, record: PartRecord): RestartDecision {
  const failedRestarts = record.failedRestarts + 1;
  if (failedRestarts >= policy.maxFailedRestarts) {
    return { action: 'give-up', reason: `${failedRestarts} restarts in a row did not become healthy`, record: { restarts: record.restarts, failedRestarts } };
  }
  return { action: 'restart', delayMs: backoffDelayMs(policy, record.restarts), record: { restarts: record.restarts + 1, failedRestarts } };
}

/**
 * A restart became healthy. The backoff is kept until the part has run stably: a part that comes
 * up and crashes a second later is a crash loop, and must not be restarted at full speed.
 */
export function afterHealthy(record: PartRecord): PartRecord {
  return { restarts: record.restarts, failedRestarts: 0 };
}

/** How a process ended, for the log line. */
export function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code !== null) return `exit code ${exit.code}`;
  return 'exited';
}

/** Liveness probing of a part that can hang while its process stays alive. */
export interface LivenessPolicy {
  /** Time between probes. Default 1000 ms. */
  intervalMs: number;
  /** A probe without an answer within this long is a miss. Default 800 ms (below the interval, so probes never pile up). */
  timeoutMs: number;
  /** Misses in a row after which the part is SIGKILLed and restarted. Default 3 (one slow answer under load is not a hang). */
  missesToKill: number;
}

export const defaultLiveness: LivenessPolicy = { intervalMs: 1000, timeoutMs: 800, missesToKill: 3 };

/** One probe's result -> the misses in a row, and whether to kill the part now. */
export function afterProbe(policy: LivenessPolicy, misses: number, answered: boolean): { misses: number; kill: boolean } {
  if (answered) return { misses: 0, kill: false };
  const next = misses + 1;
  return { misses: next, kill: next >= policy.missesToKill };
}
