/**
 * The record of one compared request: what replay and the shadow sink both produce, what
 * results.jsonl holds one per line, and what the report aggregates. The zod schema reads the
 * JSONL back (`gateway compare --report`), so that a report can be rendered from a file written
 * by another process or another version.
 */
import { z } from 'zod';

/**
 * Mismatch categories, in precedence order: a request's primary category is the first one of its
 * findings in this list (what a viewer notices first: no answer, a wrong status, a wrong format,
 * a wrong size, wrong pixels, then headers).
 */
export const CATEGORIES = ['error', 'status', 'format', 'dimensions', 'dimensions_off_by_one', 'pixels', 'header'] as const;
export type Category = (typeof CATEGORIES)[number];

export const VERDICTS = ['match', 'mismatch', 'intended'] as const;
export type Verdict = (typeof VERDICTS)[number];

export const findingSchema = z.object({
  category: z.enum(CATEGORIES),
  /** Stable rule name, e.g. 'status', 'error_code', 'cache_control', 'ssim', 'block_colour'. */
  rule: z.string(),
  /** Human readable: what differs, with both values. */
  detail: z.string(),
});
/** One rule that did not hold. */
export type Finding = z.infer<typeof findingSchema>;

export const intendedFindingSchema = findingSchema.extend({ reason: z.string() });
/** A finding the ignore file accepts as an intended difference, with its reason. */
export type IntendedFinding = z.infer<typeof intendedFindingSchema>;

export const sideSchema = z.object({
  /** HTTP status, or null when the backend did not answer (see `error`). */
  status: z.number().int().nullable(),
  /** Why there is no answer: connection refused, timeout, reset. */
  error: z.string().optional(),
  /** `error` field of a JSON error body. */
  errorCode: z.string().optional(),
  contentType: z.string().optional(),
  cacheControl: z.string().optional(),
  etag: z.string().optional(),
  /** The Content-Length header, when sent. */
  contentLength: z.number().int().optional(),
  /** Body bytes received (0 for HEAD). */
  bytes: z.number().int(),
  /** Time to first byte (response headers), ms. */
  ttfbMs: z.number(),
  /** Time to the end of the body, ms. */
  totalMs: z.number(),
  /** Decoded image facts (after orientation), when the body is an image. */
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  format: z.string().optional(),
});
/** What one backend answered. */
export type SideRecord = z.infer<typeof sideSchema>;

/** The signals (see signals.ts); `blockiness` is absent in records written before it existed. */
export const signalsSchema = z.object({ ssim: z.number(), blockMaxDiff: z.number(), deltaE: z.number(), blockiness: z.number().default(1) });

export const pairResultSchema = z.object({
  v: z.literal(1),
  /** ISO time the comparison finished. */
  time: z.string(),
  /** Short stable id of method + target (file names of the images). */
  id: z.string(),
  method: z.enum(['GET', 'HEAD']),
  /** The raw request target (path and query) as recorded. */
  target: z.string(),
  route: z.string(),
  /** The known query parameters as sent (w, h, fit, q, format); missing ones are absent. */
  params: z.record(z.string(), z.string()),
  verdict: z.enum(VERDICTS),
  /** Primary category of a mismatch (or of an intended difference); null for a match. */
  category: z.enum(CATEGORIES).nullable(),
  findings: z.array(findingSchema),
  intended: z.array(intendedFindingSchema),
  /** Both image signals, when both sides decoded to the same dimensions. */
  signals: signalsSchema.optional(),
  legacy: sideSchema,
  new: sideSchema,
  /** Image files next to the JSONL file (relative paths), kept for mismatches. */
  images: z.object({ legacy: z.string().optional(), new: z.string().optional(), diff: z.string().optional() }).optional(),
});
/** One compared request (one line of results.jsonl). */
export type PairResult = z.infer<typeof pairResultSchema>;

/** The primary category of a list of findings (see CATEGORIES for the order), or null when empty. */
export function primaryCategory(findings: ReadonlyArray<{ category: Category }>): Category | null {
  let best: Category | null = null;
  for (const f of findings) {
    if (best === null || CATEGORIES.indexOf(f.category) < CATEGORIES.indexOf(best)) best = f.category;
  }
  return best;
}
