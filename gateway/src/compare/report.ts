/**
 * PURE aggregation of compared requests into the report (DIR/report.json). The shape is
 * documented in docs/parity.md ("report.json"); `Report` below is the source of truth and every
 * field has a comment. The builder streams: it keeps counters and latency samples, and at most
 * `maxCases` full mismatch records, so a replay of a million lines does not hold a million
 * records.
 */
import { CAUSES, classifyOriginal, type Cause, type OriginalInfo } from './causes.ts';
import { targetPath, type InputSummary } from './input.ts';
import { CATEGORIES, VERDICTS, type Category, type PairResult, type Verdict } from './result.ts';
import { histogram, LATENCY_EDGES_MS, ratio, summarise, type Percentiles } from './stats.ts';
import type { Thresholds } from './thresholds.ts';

/** Latency of one backend over all answered requests, ms (total time; `ttfb` for time to first byte). */
export interface BackendLatency extends Percentiles {
  ttfb: Percentiles;
}

/** One parameter combination (route, w, h, fit, format; absent parameters shown as '-'). */
export interface BreakdownRow {
  key: string;
  route: string;
  w: string;
  h: string;
  fit: string;
  format: string;
  total: number;
  matched: number;
  intended: number;
  mismatched: number;
  parity: number;
  categories: Partial<Record<Category, number>>;
  latency: { legacy: { p50: number; p95: number }; new: { p50: number; p95: number } };
}

/** Distribution of one signal over the pairs that had both images at equal dimensions. */
export interface SignalDistribution {
  count: number;
  min: number;
  p01: number;
  p05: number;
  p50: number;
  max: number;
}

/** One original (one path), all its compared variants together: one bad original is one row, not eight. */
export interface OriginalRow {
  /** The request path, e.g. /image/files/a/b.jpg. */
  path: string;
  total: number;
  matched: number;
  intended: number;
  mismatched: number;
  parity: number;
  /** Every compared variant is a mismatch the ignore file does not accept (a broken original, not noise). */
  allVariants: boolean;
  /** Mismatched variants by primary category. */
  categories: Partial<Record<Category, number>>;
  /** Standing findings by rule over the mismatched variants. */
  rules: Record<string, number>;
  /** Likely cause of the mismatches (see causes.ts); null when nothing mismatched. */
  cause: Cause | null;
  /** Why that cause: which property of the original and which findings. */
  why: string;
  /** The reasons of the intended differences (distinct, at most 5). */
  intendedReasons: string[];
  /** The worst mismatched variant. */
  worst?: { target: string; category: Category | null; signals?: PairResult['signals'] };
  /** The original's metadata, when the run knew it (ReportMeta.originals). */
  info?: OriginalInfo;
}

/** Originals clustered by likely cause. */
export interface CauseRow {
  cause: Cause;
  /** Originals with this likely cause. */
  originals: number;
  /** Their mismatched requests. */
  requests: number;
  /** Up to five of those originals, most mismatches first. */
  examples: string[];
}

export interface Report {
  version: 1;
  generatedAt: string;
  /** Where the results came from. */
  source: { from?: string; report?: string; legacy?: string; new?: string };
  thresholds: Thresholds;
  /** The gate: parity below this fails the run (exit 1). */
  minParity: number;
  /** Replay only: what the input held and what was left out (refused methods and routes, duplicates, sampling). */
  input?: InputSummary;
  /** Compared requests. */
  total: number;
  /** Requests whose answers agree on every rule. */
  matched: number;
  /** Requests whose every difference is accepted by the ignore file. */
  intended: number;
  /** Requests with at least one difference the ignore file does not accept. */
  mismatched: number;
  /** (matched + intended) / total; 1 when nothing was compared. */
  parity: number;
  /** Totals per verdict. */
  verdicts: Record<Verdict, number>;
  /** Mismatched requests by primary category (each request counted once). */
  categories: Record<Category, number>;
  /** Intended differences by primary category. */
  intendedCategories: Record<Category, number>;
  /** Every standing finding by category (a request with a pixel and a header difference counts in both). */
  findings: Record<Category, number>;
  /** Standing findings by rule (ssim, block_colour, cache_control, ...). */
  rules: Record<string, number>;
  /** Mismatched requests whose status (or error code) differs: any of these fails the gate. */
  statusMismatches: number;
  latency: {
    legacy: BackendLatency;
    new: BackendLatency;
    /** new / legacy per percentile of total time (< 1: the new service is faster). */
    ratio: { p50: number; p95: number; p99: number; max: number };
    /** Histogram of total time: counts per bucket; bucket i is (edges[i-1], edges[i]] ms, the last one above the last edge. */
    histogram: { edgesMs: number[]; legacy: number[]; new: number[] };
  };
  /** Per parameter combination, most mismatches first. */
  breakdown: BreakdownRow[];
  /** Per original (request path): mismatches first, then intended, then the rest; at most `maxCases` rows. */
  byOriginal: OriginalRow[];
  /** Originals tracked but not listed (beyond `maxCases` rows). */
  originalsOmitted: number;
  /** Requests to originals beyond the tracking cap (`maxOriginals` distinct paths): in the totals, in no row. */
  originalsUntracked: number;
  /** Mismatched originals clustered by likely cause, most requests first. */
  causes: CauseRow[];
  /** Distributions of the signals over compared image pairs (structure, colour, compression). */
  signals: { ssim: SignalDistribution; blockMaxDiff: SignalDistribution; deltaE: SignalDistribution; blockiness: SignalDistribution };
  /** The worst mismatches (status and errors first, then the largest pixel differences), with both signals. */
  worst: PairResult[];
  /** Mismatched requests, worst first, at most `maxCases`; `mismatchesOmitted` counts the rest. */
  mismatches: PairResult[];
  mismatchesOmitted: number;
  /** Intended differences with their reasons, at most `maxCases`. */
  intendedCases: PairResult[];
  intendedOmitted: number;
  /** Did the run pass the gate, and if not, why. */
  gate: { passed: boolean; reasons: string[] };
}

export interface ReportMeta {
  source: Report['source'];
  thresholds: Thresholds;
  minParity: number;
  input?: InputSummary;
  generatedAt?: string;
  /** Metadata of the originals by request path (/image/files/...), when the caller knows them (the parity corpus does). */
  originals?: Readonly<Record<string, OriginalInfo>>;
}

const zeroCategories = (): Record<Category, number> => Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;

/** Badness of a case for ordering: category first (errors, statuses...), then how far the pixels are off. */
export function severity(r: PairResult): number {
  const rank = r.category ? CATEGORIES.length - CATEGORIES.indexOf(r.category) : 0;
  const s = r.signals;
  const pixels = s ? 1 - s.ssim + s.blockMaxDiff / 255 + s.deltaE / 100 + (s.blockiness - 1) / 4 : 0;
  return rank * 10 + Math.min(9, pixels);
}

interface OriginalAcc {
  total: number;
  matched: number;
  intended: number;
  mismatched: number;
  categories: Partial<Record<Category, number>>;
  rules: Record<string, number>;
  swappedSides: number;
  reasons: Set<string>;
  worst?: PairResult;
}

interface ComboAcc {
  row: Omit<BreakdownRow, 'parity' | 'latency'>;
  legacyMs: number[];
  newMs: number[];
}

export class ReportBuilder {
  private readonly verdicts: Record<Verdict, number> = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  private readonly categories = zeroCategories();
  private readonly intendedCategories = zeroCategories();
  private readonly findingCounts = zeroCategories();
  private readonly rules: Record<string, number> = {};
  private statusMismatches = 0;
  private readonly legacyTotal: number[] = [];
  private readonly newTotal: number[] = [];
  private readonly legacyTtfb: number[] = [];
  private readonly newTtfb: number[] = [];
  private readonly combos = new Map<string, ComboAcc>();
  private readonly ssims: number[] = [];
  private readonly blocks: number[] = [];
  private readonly deltas: number[] = [];
  private readonly blockiness: number[] = [];
  private mismatchCases: PairResult[] = [];
  private mismatchesSeen = 0;
  private intendedCases: PairResult[] = [];
  private intendedSeen = 0;
  private readonly originals = new Map<string, OriginalAcc>();
  private originalsUntracked = 0;

  /**
   * @param maxCases full records kept per list (mismatches, intended), and rows by original, default 2000
   * @param worstCount default 20
   * @param maxOriginals distinct originals (paths) tracked for the table by original, default 50,000: a
   *   replay of a million distinct keys keeps counters for the first 50,000 and counts the rest
   */
  constructor(
    private readonly maxCases = 2000,
    private readonly worstCount = 20,
    private readonly maxOriginals = 50_000,
  ) {}

  add(r: PairResult): void {
    this.verdicts[r.verdict]++;
    if (r.verdict === 'mismatch' && r.category) this.categories[r.category]++;
    if (r.verdict === 'intended' && r.category) this.intendedCategories[r.category]++;
    for (const f of r.findings) {
      this.findingCounts[f.category]++;
      this.rules[f.rule] = (this.rules[f.rule] ?? 0) + 1;
    }
    if (r.verdict === 'mismatch' && r.findings.some((f) => f.category === 'status')) this.statusMismatches++;
    if (r.legacy.status !== null) {
      this.legacyTotal.push(r.legacy.totalMs);
      this.legacyTtfb.push(r.legacy.ttfbMs);
    }
    if (r.new.status !== null) {
      this.newTotal.push(r.new.totalMs);
      this.newTtfb.push(r.new.ttfbMs);
    }
    if (r.signals) {
      this.ssims.push(r.signals.ssim);
      this.blocks.push(r.signals.blockMaxDiff);
      this.deltas.push(r.signals.deltaE);
      this.blockiness.push(r.signals.blockiness);
    }
    const p = r.params;
    const combo = { route: r.route, w: p.w ?? '-', h: p.h ?? '-', fit: p.fit ?? '-', format: p.format ?? '-' };
    const key = `${combo.route} w=${combo.w} h=${combo.h} fit=${combo.fit} format=${combo.format}`;
    let acc = this.combos.get(key);
    if (!acc) {
      acc = { row: { key, ...combo, total: 0, matched: 0, intended: 0, mismatched: 0, categories: {} }, legacyMs: [], newMs: [] };
      this.combos.set(key, acc);
    }
    acc.row.total++;
    if (r.verdict === 'match') acc.row.matched++;
    else if (r.verdict === 'intended') acc.row.intended++;
    else {
      acc.row.mismatched++;
      if (r.category) acc.row.categories[r.category] = (acc.row.categories[r.category] ?? 0) + 1;
    }
    if (r.legacy.status !== null) acc.legacyMs.push(r.legacy.totalMs);
    if (r.new.status !== null) acc.newMs.push(r.new.totalMs);

    this.addToOriginal(r);

    if (r.verdict === 'mismatch') {
      this.mismatchesSeen++;
      this.mismatchCases = keepWorst(this.mismatchCases, r, this.maxCases);
    } else if (r.verdict === 'intended') {
      this.intendedSeen++;
      if (this.intendedCases.length < this.maxCases) this.intendedCases.push(r);
    }
  }

  private addToOriginal(r: PairResult): void {
    const key = targetPath(r.target);
    let o = this.originals.get(key);
    if (!o) {
      if (this.originals.size >= this.maxOriginals) {
        this.originalsUntracked++;
        return;
      }
      o = { total: 0, matched: 0, intended: 0, mismatched: 0, categories: {}, rules: {}, swappedSides: 0, reasons: new Set() };
      this.originals.set(key, o);
    }
    o.total++;
    if (r.verdict === 'match') o.matched++;
    else if (r.verdict === 'intended') {
      o.intended++;
      for (const f of r.intended) if (o.reasons.size < 5) o.reasons.add(f.reason);
    } else {
      o.mismatched++;
      if (r.category) o.categories[r.category] = (o.categories[r.category] ?? 0) + 1;
      for (const f of r.findings) o.rules[f.rule] = (o.rules[f.rule] ?? 0) + 1;
      const l = r.legacy;
      const n = r.new;
      if (l.width && l.height && n.width && n.height && l.width !== l.height && l.width === n.height && l.height === n.width) o.swappedSides++;
      if (!o.worst || severity(r) > severity(o.worst)) o.worst = r;
    }
  }

  private originalRows(known: ReportMeta['originals'] = {}): { rows: OriginalRow[]; omitted: number; causes: CauseRow[] } {
    const rows = [...this.originals.entries()].map(([p, o]): OriginalRow => {
      const info = known[p];
      const classified = o.mismatched > 0 ? classifyOriginal({ categories: o.categories, rules: o.rules, swappedSides: o.swappedSides }, info) : null;
      return {
        path: p,
        total: o.total,
        matched: o.matched,
        intended: o.intended,
        mismatched: o.mismatched,
        parity: round((o.matched + o.intended) / o.total),
        allVariants: o.mismatched === o.total,
        categories: { ...o.categories },
        rules: { ...o.rules },
        cause: classified?.cause ?? null,
        why: classified?.why ?? '',
        intendedReasons: [...o.reasons],
        ...(o.worst ? { worst: { target: o.worst.target, category: o.worst.category, ...(o.worst.signals ? { signals: o.worst.signals } : {}) } } : {}),
        ...(info ? { info } : {}),
      };
    });
    rows.sort((a, b) => b.mismatched - a.mismatched || b.intended - a.intended || a.path.localeCompare(b.path));
    const causes = new Map<Cause, CauseRow>();
    for (const r of rows) {
      if (!r.cause) continue;
      const c = causes.get(r.cause) ?? { cause: r.cause, originals: 0, requests: 0, examples: [] };
      c.originals++;
      c.requests += r.mismatched;
      if (c.examples.length < 5) c.examples.push(r.path);
      causes.set(r.cause, c);
    }
    const causeRows = [...causes.values()].sort(
      (a, b) => b.requests - a.requests || b.originals - a.originals || CAUSES.indexOf(a.cause) - CAUSES.indexOf(b.cause),
    );
    return { rows: rows.slice(0, this.maxCases), omitted: Math.max(0, rows.length - this.maxCases), causes: causeRows };
  }

  build(meta: ReportMeta): Report {
    const total = this.verdicts.match + this.verdicts.mismatch + this.verdicts.intended;
    const parity = total === 0 ? 1 : (this.verdicts.match + this.verdicts.intended) / total;
    const legacy = { ...summarise(this.legacyTotal), ttfb: summarise(this.legacyTtfb) };
    const next = { ...summarise(this.newTotal), ttfb: summarise(this.newTtfb) };
    const breakdown = [...this.combos.values()]
      .map(({ row, legacyMs, newMs }): BreakdownRow => {
        const l = summarise(legacyMs);
        const n = summarise(newMs);
        return {
          ...row,
          parity: round((row.matched + row.intended) / row.total),
          latency: { legacy: { p50: l.p50, p95: l.p95 }, new: { p50: n.p50, p95: n.p95 } },
        };
      })
      .sort((a, b) => b.mismatched - a.mismatched || b.total - a.total || a.key.localeCompare(b.key));
    const reasons: string[] = [];
    if (parity < meta.minParity) reasons.push(`parity ${(parity * 100).toFixed(2)}% is below the minimum ${(meta.minParity * 100).toFixed(2)}%`);
    if (this.statusMismatches > 0) reasons.push(`${this.statusMismatches} request(s) got a different status or error code`);
    const sorted = [...this.mismatchCases].sort((a, b) => severity(b) - severity(a));
    const byOriginal = this.originalRows(meta.originals);
    return {
      version: 1,
      generatedAt: meta.generatedAt ?? new Date().toISOString(),
      source: meta.source,
      thresholds: meta.thresholds,
      minParity: meta.minParity,
      ...(meta.input ? { input: meta.input } : {}),
      total,
      matched: this.verdicts.match,
      intended: this.verdicts.intended,
      mismatched: this.verdicts.mismatch,
      parity: round(parity, 6),
      verdicts: { ...this.verdicts },
      categories: { ...this.categories },
      intendedCategories: { ...this.intendedCategories },
      findings: { ...this.findingCounts },
      rules: { ...this.rules },
      statusMismatches: this.statusMismatches,
      latency: {
        legacy,
        new: next,
        ratio: ratio(next, legacy),
        histogram: { edgesMs: [...LATENCY_EDGES_MS], legacy: histogram(this.legacyTotal), new: histogram(this.newTotal) },
      },
      breakdown,
      byOriginal: byOriginal.rows,
      originalsOmitted: byOriginal.omitted,
      originalsUntracked: this.originalsUntracked,
      causes: byOriginal.causes,
      signals: {
        ssim: distribution(this.ssims),
        blockMaxDiff: distribution(this.blocks),
        deltaE: distribution(this.deltas),
        blockiness: distribution(this.blockiness),
      },
      worst: sorted.slice(0, this.worstCount),
      mismatches: sorted,
      mismatchesOmitted: this.mismatchesSeen - sorted.length,
      intendedCases: this.intendedCases,
      intendedOmitted: this.intendedSeen - this.intendedCases.length,
      gate: { passed: reasons.length === 0, reasons },
    };
  }
}

/** Keeps at most `max` records, dropping the least severe when full. */
function keepWorst(list: PairResult[], r: PairResult, max: number): PairResult[] {
  if (list.length < max) {
    list.push(r);
    return list;
  }
  let least = 0;
  for (let i = 1; i < list.length; i++) if (severity(list[i]!) < severity(list[least]!)) least = i;
  if (severity(r) > severity(list[least]!)) list[least] = r;
  return list;
}

function distribution(values: number[]): SignalDistribution {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : 0);
  return { count: s.length, min: s[0] ?? 0, p01: at(1), p05: at(5), p50: at(50), max: s[s.length - 1] ?? 0 };
}

function round(v: number, digits = 4): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}

/** Aggregates a whole list at once (tests, and `--report` over a JSONL file). */
export function buildReport(results: Iterable<PairResult>, meta: ReportMeta, maxCases?: number): Report {
  const b = new ReportBuilder(maxCases);
  for (const r of results) b.add(r);
  return b.build(meta);
}
