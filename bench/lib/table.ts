/**
 * PURE: the figures of the service benchmark's and the tuning script's text tables, where a
 * missing figure prints as '-' (NaN) rather than stopping the report.
 */
import { median } from './stats.ts';

/** Median of the finite values; NaN when there are none (a round that measured nothing). */
export function medianOrNaN(values: readonly number[]): number {
  return median(values.filter((v) => Number.isFinite(v))) ?? Number.NaN;
}

/** A number for a table cell. */
export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
