/**
 * PURE: the image service's REQUEST_TIMEOUT_MS under the stack. One source: the cutover file's
 * route timeout, through serviceDeadlineMs. A longer deadline set by hand would let the service
 * work on requests the front door has already given up on (and fallen back to legacy for):
 * twice the work, and the new service's answer thrown away. So it is refused at start.
 */
import { serviceDeadlineMs } from '../gateway/src/cutover/plan.ts';

export type DeadlineResult = { ok: true; ms: number | undefined } | { ok: false; error: string };

/**
 * @param routes the cutover file's routes, all served by the one image service
 * @param userValue REQUEST_TIMEOUT_MS as the user set it (undefined or '' for unset)
 */
export function serviceDeadline(routes: ReadonlyArray<{ name: string; timeout_ms: number }>, userValue: string | undefined): DeadlineResult {
  const set = userValue !== undefined && userValue !== '';
  const tightest = routes.reduce<{ name: string; timeout_ms: number; deadline: number } | undefined>((best, r) => {
    const deadline = serviceDeadlineMs(r.timeout_ms);
    return best === undefined || deadline < best.deadline ? { ...r, deadline } : best;
  }, undefined);
  const n = Number(userValue);
  if (set && (!/^[0-9]+$/.test(userValue) || n < 1)) {
    return {
      ok: false,
      error: `REQUEST_TIMEOUT_MS: expected a whole number of milliseconds from 1${tightest ? ` to ${tightest.deadline}` : ' upward'}, got '${userValue}'`,
    };
  }
  if (!tightest) return { ok: true, ms: set ? n : undefined };
  if (!set) return { ok: true, ms: tightest.deadline };
  if (n > tightest.deadline) {
    return {
      ok: false,
      error:
        `REQUEST_TIMEOUT_MS=${userValue} is longer than the front door waits for the image service (route ${tightest.name}: timeout_ms ` +
        `${tightest.timeout_ms}); expected at most ${tightest.deadline}, or unset it to get ${tightest.deadline}`,
    };
  }
  return { ok: true, ms: n };
}
