/**
 * PURE parsing and planning of recorded traffic: each line is either a JSON object of the front
 * door's access log or a plain request path (auto-detected per line), and only GET/HEAD requests
 * of shadowable routes are kept. Everything else is refused and counted, never replayed:
 * replaying a DELETE deletes data, and a POST stores some.
 */
import { HOT_PREFIX } from '../../../common/contract.ts';
import { mulberry32 } from '../../../common/random.ts';

/** A route whose GET/HEAD requests may be replayed or shadowed (read-only, idempotent). */
export interface ShadowableRoute {
  name: string;
  /** Prefix of the raw request target. */
  prefix: string;
}

/** The hot endpoint (contract, section 1). `/image/files` without the slash is upload/delete and never matches. */
export const SHADOWABLE_ROUTES: readonly ShadowableRoute[] = [{ name: 'images', prefix: HOT_PREFIX }];

export const REPLAYABLE_METHODS = ['GET', 'HEAD'] as const;
export type ReplayMethod = (typeof REPLAYABLE_METHODS)[number];

/** One request to replay. */
export interface ReplayRequest {
  method: ReplayMethod;
  /** Raw request target: path and query exactly as recorded (percent-encoding and dot segments intact). */
  target: string;
  route: string;
  /** 1-based line number in the input, for messages. */
  line: number;
}

export type RefusalReason = 'method' | 'route' | 'unparseable';

export type LineOutcome =
  { kind: 'request'; request: ReplayRequest } | { kind: 'refused'; reason: RefusalReason; method?: string; detail: string; line: number } | { kind: 'skip' };

// A request target must be sendable verbatim: visible ASCII only (no spaces, no control bytes).
const TARGET = /^\/[\x21-\x7e]*$/;

/** The route a target belongs to, if it may be shadowed. */
export function shadowableRoute(target: string, routes: readonly ShadowableRoute[] = SHADOWABLE_ROUTES): ShadowableRoute | undefined {
  return routes.find((r) => target.startsWith(r.prefix) && target.length > r.prefix.length);
}

/** Decides one method + target: a replayable request or a counted refusal. */
export function classifyRequest(method: string, target: string, line: number, routes: readonly ShadowableRoute[] = SHADOWABLE_ROUTES): LineOutcome {
  const m = method.toUpperCase();
  if (!TARGET.test(target))
    return {
      kind: 'refused',
      reason: 'unparseable',
      method: m,
      detail: `line ${line}: request target ${JSON.stringify(target.slice(0, 80))} is not an origin-form path of visible ASCII`,
      line,
    };
  if (m !== 'GET' && m !== 'HEAD') {
    return {
      kind: 'refused',
      reason: 'method',
      method: m,
      detail: `line ${line}: ${m} ${target} refused: only GET and HEAD are replayed (other methods change data)`,
      line,
    };
  }
  const route = shadowableRoute(target, routes);
  if (!route)
    return {
      kind: 'refused',
      reason: 'route',
      method: m,
      detail: `line ${line}: ${m} ${target} refused: not on a shadowable route (${routes.map((r) => r.prefix).join(', ')})`,
      line,
    };
  return { kind: 'request', request: { method: m, target, route: route.name, line } };
}

/**
 * One input line. JSON lines (starting with `{`) are access-log records with `method` and `uri`
 * ($request_uri); anything else is a plain request: `/path?query`, `METHOD /path`, or a full
 * `http://host/path` URL (its origin dropped: requests go to the backends given on the command line).
 * Blank lines and `#` comments are skipped.
 */
export function parseLine(text: string, line: number, routes: readonly ShadowableRoute[] = SHADOWABLE_ROUTES): LineOutcome {
  const s = text.trim();
  if (s === '' || s.startsWith('#')) return { kind: 'skip' };
  if (s.startsWith('{')) {
    let record: unknown;
    try {
      record = JSON.parse(s);
    } catch {
      return { kind: 'refused', reason: 'unparseable', detail: `line ${line}: looks like JSON but does not parse`, line };
    }
    const r = record as Record<string, unknown>;
    const method = typeof r.method === 'string' ? r.method : typeof r.request_method === 'string' ? r.request_method : undefined;
    const uri = typeof r.uri === 'string' ? r.uri : typeof r.request_uri === 'string' ? r.request_uri : undefined;
    if (!method || !uri)
      return { kind: 'refused', reason: 'unparseable', detail: `line ${line}: JSON log record without string fields "method" and "uri"`, line };
    return classifyRequest(method, uri, line, routes);
  }
  const parts = s.split(/\s+/);
  let method = 'GET';
  let target = parts[0]!;
  if (parts.length === 2 && /^[A-Za-z]+$/.test(parts[0]!)) {
    method = parts[0]!;
    target = parts[1]!;
  } else if (parts.length !== 1) {
    return { kind: 'refused', reason: 'unparseable', detail: `line ${line}: expected a request path, 'METHOD /path', or a JSON log record`, line };
  }
  if (/^https?:\/\//i.test(target)) {
    const afterScheme = target.indexOf('//') + 2;
    const slash = target.indexOf('/', afterScheme);
    target = slash < 0 ? '/' : target.slice(slash);
  }
  return classifyRequest(method, target, line, routes);
}

/** What planning did with the input, for the report. */
export interface InputSummary {
  lines: number;
  /** Replayable requests found (before dedupe and sampling). */
  accepted: number;
  refused: Record<RefusalReason, number>;
  /** Lines refused for their method, per method (what a DELETE in the log turned into). */
  refusedMethods: Record<string, number>;
  /** The first few refusals, verbatim, to show what was left out and why. */
  refusedExamples: string[];
  /** Requests dropped as duplicates (with dedupe on). */
  duplicates: number;
  /** Requests left out by sampling. */
  sampledOut: number;
  /** Requests that will be replayed. */
  planned: number;
}

export interface PlanOptions {
  /** Drop repeats of the same method + target, default false. */
  dedupe?: boolean;
  /** Keep at most this many requests, chosen at random with `seed`; default: all. */
  sample?: number;
  /** Seed for sampling and for the replay order coin flips, default 1. */
  seed?: number;
  routes?: readonly ShadowableRoute[];
}

/** Lines -> the requests to replay (in input order), with counts of everything left out. */
export function planReplay(lines: Iterable<string>, options: PlanOptions = {}): { requests: ReplayRequest[]; summary: InputSummary } {
  const summary: InputSummary = {
    lines: 0,
    accepted: 0,
    refused: { method: 0, route: 0, unparseable: 0 },
    refusedMethods: {},
    refusedExamples: [],
    duplicates: 0,
    sampledOut: 0,
    planned: 0,
  };
  let requests: ReplayRequest[] = [];
  const seen = new Set<string>();
  let n = 0;
  for (const text of lines) {
    n++;
    summary.lines = n;
    const o = parseLine(text, n, options.routes);
    if (o.kind === 'skip') continue;
    if (o.kind === 'refused') {
      summary.refused[o.reason]++;
      if (o.reason === 'method' && o.method) summary.refusedMethods[o.method] = (summary.refusedMethods[o.method] ?? 0) + 1;
      if (summary.refusedExamples.length < 10) summary.refusedExamples.push(o.detail);
      continue;
    }
    summary.accepted++;
    if (options.dedupe) {
      const key = `${o.request.method} ${o.request.target}`;
      if (seen.has(key)) {
        summary.duplicates++;
        continue;
      }
      seen.add(key);
    }
    requests.push(o.request);
  }
  if (options.sample !== undefined && options.sample < requests.length) {
    const picked = sampleIndices(requests.length, options.sample, options.seed ?? 1);
    summary.sampledOut = requests.length - picked.length;
    requests = picked.map((i) => requests[i]!);
  }
  summary.planned = requests.length;
  return { requests, summary };
}

/** `k` distinct indices of `0..n-1`, chosen uniformly with a seeded PRNG, returned in ascending order. */
export function sampleIndices(n: number, k: number, seed: number): number[] {
  const rnd = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  // Partial Fisher-Yates: the first k slots are a uniform sample.
  for (let i = 0; i < Math.min(k, n); i++) {
    const j = i + Math.floor(rnd() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, Math.min(k, n)).sort((a, b) => a - b);
}

/** The known query parameters of a target (w, h, fit, q, format), as sent; for the per-combination breakdown. */
export function knownParams(target: string): Record<string, string> {
  const q = target.indexOf('?');
  if (q < 0) return {};
  const out: Record<string, string> = {};
  try {
    for (const [k, v] of new URLSearchParams(target.slice(q + 1))) {
      if (['w', 'h', 'fit', 'q', 'format'].includes(k) && !(k in out)) out[k] = v;
    }
  } catch {
    /* an undecodable query has no known parameters */
  }
  return out;
}

/** The path part of a target (no query). */
export function targetPath(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}
