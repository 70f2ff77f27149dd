/**
 * The `rollout:` block of a cutover route: steps, interval, evidence and gates. PURE.
 * cutover/schema.ts validates it with the rest of the file; the controller reads it from there.
 */
import { z } from 'zod';

const DURATION_MESSAGE = 'expected a duration such as 10m, 30s, 500ms or 1h';
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** '10m' -> 600000, '1.5s' -> 1500; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

/** 600000 -> '10m', 1500 -> '1.5s': for status and audit lines. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

// At least half a second: a decision reads the access log and maybe reloads nginx, and one that
// comes faster than a reload settles would judge traffic the previous share served.
const MIN_INTERVAL_MS = 500;

const duration = z
  .string({ error: DURATION_MESSAGE })
  .transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION_MESSAGE });
      return z.NEVER;
    }
    return ms;
  })
  .refine((ms) => ms >= MIN_INTERVAL_MS, { error: `expected at least ${MIN_INTERVAL_MS}ms` });

const STEP_MESSAGE = 'expected a list of shares from 1 to 100, strictly increasing, such as [1, 5, 25, 50, 100]';
const ratio = (what: string) =>
  z
    .number({ error: `expected a number from 0 to 1 (${what})` })
    .min(0, { error: `expected a number from 0 to 1 (${what})` })
    .max(1, { error: `expected a number from 0 to 1 (${what})` });

export const gatesSchema = z.strictObject({
  /** Least share (0..1) of the step's mirrored pairs that match (shadow sink results). */
  parity_min: ratio('parity_min').optional(),
  /** Most share of new's attempts that failed: 5xx other than 503, plus fallbacks (front door access log). */
  error_rate_max: ratio('error_rate_max').optional(),
  /** Most new p99 / legacy p99, over the same variants (the mirrored pairs: the sink timed both backends on each). */
  p99_ratio_max: z
    .number({ error: 'expected a positive number (p99_ratio_max), such as 1.0' })
    .positive({ error: 'expected a positive number (p99_ratio_max), such as 1.0' })
    .optional(),
  /** Most share of new's attempts answered 503 (shed). */
  shed_rate_max: ratio('shed_rate_max').optional(),
});

export const rolloutSchema = z.strictObject({
  /** Shares, in order; the rollout starts at the first and completes after the last one passes. */
  steps: z
    .array(z.int({ error: STEP_MESSAGE }).min(1, { error: STEP_MESSAGE }).max(100, { error: STEP_MESSAGE }), { error: STEP_MESSAGE })
    .min(1, { error: STEP_MESSAGE })
    .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!), { error: STEP_MESSAGE }),
  /** Time at each step before the next decision (and between decisions). */
  interval: duration,
  /** Evidence needed for a decision: new's requests, and mirrored pairs for the comparison gates. Default 100. */
  min_requests: z
    .int({ error: 'expected an integer from 1 to 1000000' })
    .min(1, { error: 'expected an integer from 1 to 1000000' })
    .max(1_000_000, { error: 'expected an integer from 1 to 1000000' })
    .default(100),
  /** Failed checks in a row before the rollback. Default 2. */
  failure_limit: z
    .int({ error: 'expected an integer from 1 to 100' })
    .min(1, { error: 'expected an integer from 1 to 100' })
    .max(100, { error: 'expected an integer from 1 to 100' })
    .default(2),
  /** Every gate is optional; a check with no gate passes on evidence alone. */
  gates: gatesSchema.default({}),
  /**
   * The shadow sink's results file (its --out), for parity_min and p99_ratio_max. Relative to the
   * cutover file's folder. Default: <repository>/var/shadow/results.jsonl (docs/parity.md's).
   */
  shadow_results: z.string({ error: 'expected a file path, such as ../var/shadow/results.jsonl' }).min(1, { error: 'expected a file path' }).optional(),
});

/** One route's rollout, validated, defaults filled in (interval in ms). */
export type RolloutSpec = z.output<typeof rolloutSchema>;
export type Gates = z.output<typeof gatesSchema>;

/** The gates that need mirrored pairs (the shadow sink). */
export function needsShadow(gates: Gates): boolean {
  return gates.parity_min !== undefined || gates.p99_ratio_max !== undefined;
}
