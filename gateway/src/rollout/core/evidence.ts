/**
 * A step's evidence -> each gate's value. PURE: the access-log entries and the sink's compared
 * pairs come in already read (../gather.ts), windowed to [from, to).
 *
 * Where each figure comes from, and why:
 * - error rate and shed rate: the front door's access log, the requests the route sent to new.
 *   A fallback is logged on legacy with fallback "1": it counts as one of new's attempts, failed
 *   (clients did not see it, but the new service did fail it). A 503 is new shedding load on
 *   purpose: the shed gate counts it, the error gate does not.
 * - parity and the p99 ratio: the shadow sink's pairs. The sink asked both backends for the same
 *   variant, so "new p99 / legacy p99 over the same variants" is only measurable there: under
 *   the split, each variant is served by one backend only, and at share 100 legacy serves none.
 */
import { percentile } from '../../../../common/stats.ts';
import type { Gates } from './spec.ts';

/** The fields of an access-log entry the evidence needs (cutover/traffic.ts AccessEntry has them). */
export interface AccessFacts {
  /** Epoch seconds. */
  at: number;
  route: string;
  backend: string;
  status: number;
  fallback: boolean;
}

/** The fields of a compared pair the evidence needs (compare/result.ts PairResult has them). */
export interface PairFacts {
  /** ISO time the comparison finished. */
  time: string;
  route: string;
  verdict: 'match' | 'mismatch' | 'intended';
  legacy: { status: number | null; totalMs: number };
  new: { status: number | null; totalMs: number };
}

export interface Evidence {
  /** Epoch ms, inclusive / exclusive. */
  from: number;
  to: number;
  /** Requests the route sent to new: served by new, plus those new failed and legacy served. */
  newRequests: number;
  /** The route's requests legacy served by the split (fallbacks not counted). */
  legacyRequests: number;
  /** new's 5xx other than 503. */
  newErrors: number;
  fallbacks: number;
  /** new's 503s. */
  shed: number;
  /** Mirrored pairs the sink compared. */
  pairs: number;
  /** Pairs that did not match (intended differences count as matches). */
  mismatches: number;
  /** p99 of each backend's total time over the pairs both answered, ms. */
  newP99Ms: number | undefined;
  legacyP99Ms: number | undefined;
}

/** Sums the window [from, to) (epoch ms) of one route. */
export function collectEvidence(route: string, access: Iterable<AccessFacts>, pairs: Iterable<PairFacts>, from: number, to: number): Evidence {
  const e: Evidence = {
    from,
    to,
    newRequests: 0,
    legacyRequests: 0,
    newErrors: 0,
    fallbacks: 0,
    shed: 0,
    pairs: 0,
    mismatches: 0,
    newP99Ms: undefined,
    legacyP99Ms: undefined,
  };
  for (const a of access) {
    const ms = a.at * 1000;
    if (a.route !== route || ms < from || ms >= to) continue;
    if (a.backend === 'new') {
      e.newRequests++;
      if (a.status === 503) e.shed++;
      else if (a.status >= 500) e.newErrors++;
    } else if (a.fallback) {
      e.newRequests++;
      e.fallbacks++;
    } else e.legacyRequests++;
  }
  const newTimes: number[] = [];
  const legacyTimes: number[] = [];
  for (const p of pairs) {
    const ms = Date.parse(p.time);
    if (p.route !== route || !(ms >= from && ms < to)) continue;
    e.pairs++;
    if (p.verdict === 'mismatch') e.mismatches++;
    if (p.new.status !== null && p.legacy.status !== null) {
      newTimes.push(p.new.totalMs);
      legacyTimes.push(p.legacy.totalMs);
    }
  }
  const byValue = (a: number, b: number) => a - b;
  e.newP99Ms = percentile(newTimes.sort(byValue), 0.99);
  e.legacyP99Ms = percentile(legacyTimes.sort(byValue), 0.99);
  return e;
}

export type GateName = 'parity' | 'error_rate' | 'p99_ratio' | 'shed_rate';

export interface GateResult {
  gate: GateName;
  /** The measured value; null when it cannot be measured (see `note`). */
  value: number | null;
  threshold: number;
  /** 'min': value must be >= threshold; 'max': value must be <= threshold. */
  bound: 'min' | 'max';
  ok: boolean;
  note?: string;
}

/** Each configured gate's value against its threshold. Call only with enough evidence (see missingEvidence). */
export function judgeGates(gates: Gates, e: Evidence): GateResult[] {
  const out: GateResult[] = [];
  const attempts = e.newRequests;
  if (gates.parity_min !== undefined) {
    const value = e.pairs === 0 ? null : (e.pairs - e.mismatches) / e.pairs;
    out.push({ gate: 'parity', value, threshold: gates.parity_min, bound: 'min', ok: value !== null && value >= gates.parity_min });
  }
  if (gates.error_rate_max !== undefined) {
    const value = attempts === 0 ? null : (e.newErrors + e.fallbacks) / attempts;
    out.push({ gate: 'error_rate', value, threshold: gates.error_rate_max, bound: 'max', ok: value !== null && value <= gates.error_rate_max });
  }
  if (gates.p99_ratio_max !== undefined) {
    const ok = e.newP99Ms !== undefined && e.legacyP99Ms !== undefined && e.legacyP99Ms > 0;
    // No pair that both answered: new failed every one of them, which the parity gate reports; the ratio fails too.
    const value = ok ? e.newP99Ms! / e.legacyP99Ms! : null;
    out.push({
      gate: 'p99_ratio',
      value,
      threshold: gates.p99_ratio_max,
      bound: 'max',
      ok: value !== null && value <= gates.p99_ratio_max,
      ...(value === null ? { note: 'no pair that both backends answered' } : {}),
    });
  }
  if (gates.shed_rate_max !== undefined) {
    const value = attempts === 0 ? null : e.shed / attempts;
    out.push({ gate: 'shed_rate', value, threshold: gates.shed_rate_max, bound: 'max', ok: value !== null && value <= gates.shed_rate_max });
  }
  return out;
}

/**
 * Why the evidence is too little for a decision, or undefined when it is enough: new's requests,
 * and the mirrored pairs when a gate judges them, each at least `minRequests`. A step at which
 * new served nothing cannot pass on the comparison gates alone.
 */
export function missingEvidence(e: Evidence, minRequests: number, shadow: boolean): string | undefined {
  const short: string[] = [];
  if (e.newRequests < minRequests) short.push(`${e.newRequests} of ${minRequests} requests on new`);
  if (shadow && e.pairs < minRequests) short.push(`${e.pairs} of ${minRequests} mirrored pairs`);
  if (short.length === 0) return undefined;
  return `too little traffic to judge: ${short.join(', ')}`;
}
