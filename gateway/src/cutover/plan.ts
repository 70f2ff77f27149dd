/**
 * Cutover file -> plan: what the front door must do, in the terms nginx needs. PURE.
 *
 * The one subtle rule lives here: the split_clients buckets. nginx maps the 32-bit MurmurHash2
 * of the sticky key onto the buckets in the order they are written. Writing 'new' first makes
 * it the interval [0, share%) of the hash range, so raising the share only widens that interval:
 * a variant that reached the new service keeps reaching it, and lowering the share moves variants
 * back only in reverse. Writing 'legacy' first would reshuffle variants on every change.
 */
import type { AddressOverrides } from '../config.ts';
import type { CutoverFile, CutoverRoute, Method } from './schema.ts';

export type Backend = 'new' | 'legacy';

/** One split_clients bucket: `percent` of the hash range (undefined = `*`, the rest). */
export interface SplitBucket {
  percent: number | undefined;
  value: Backend;
}

/** What the front door does for one route. */
export interface RoutePlan {
  name: string;
  methods: Method[];
  path: string;
  /** The new service's replicas, host:port each, in file order (at least one). */
  backends: string[];
  share: number;
  sticky: string;
  fallback: boolean;
  overrideHeader: boolean;
  /** Client addresses/CIDR blocks whose override header is honoured. */
  overrideFrom: string[];
  /** X-Image-Backend / X-Image-Fallback response headers on this route's responses. */
  debugHeaders: boolean;
  /** Passive health of the new service: failures (connect error, timeout) before it is skipped; 0 = never. */
  maxFails: number;
  /** Window for maxFails, and how long the new service is skipped before one probe request (seconds). */
  failTimeoutS: number;
  /** Effective mirror percentage: 0 unless the file also names a shadow sink. */
  shadowSample: number;
  timeoutMs: number;
  /** split_clients buckets, 'new' first (see the module comment). */
  split: SplitBucket[];
}

/** What the front door does: addresses plus one RoutePlan per route, in file order. */
export interface FrontDoorPlan {
  listen: string;
  legacy: string;
  shadowSink: string | undefined;
  /** Client addresses/CIDR blocks allowed to send methods other than GET and HEAD. */
  writesFrom: string[];
  routes: RoutePlan[];
}

/** The part of a plan the running nginx reports back (gateway status, apply's verification). */
export interface PlanSummary {
  listen: string;
  legacy: string;
  /** `backend`: the replicas (a front door rendered before replicas existed reports one string). */
  routes: Record<string, { share: number; backend: string[]; fallback: boolean; override_header: boolean; shadow_sample: number }>;
}

export function splitBuckets(share: number): SplitBucket[] {
  if (share <= 0) return [{ percent: undefined, value: 'legacy' }];
  if (share >= 100) return [{ percent: undefined, value: 'new' }];
  return [
    { percent: share, value: 'new' },
    { percent: undefined, value: 'legacy' },
  ];
}

/**
 * One address or a list -> a list. Address overrides recorded in a run dir before replicas
 * existed (addresses.json) hold one string; the control socket of such a front door reports one.
 */
export function backendList(value: string | readonly string[]): string[] {
  return typeof value === 'string' ? [value] : [...value];
}

export function planRoute(route: CutoverRoute, shadowSink: string | undefined, backendOverride?: string | readonly string[]): RoutePlan {
  return {
    name: route.name,
    methods: [...route.methods],
    path: route.path,
    backends: backendList(backendOverride ?? route.backend),
    share: route.share,
    sticky: route.sticky,
    fallback: route.fallback,
    overrideHeader: route.override_header,
    overrideFrom: [...route.override_from],
    debugHeaders: route.debug_headers,
    maxFails: route.max_fails,
    failTimeoutS: route.fail_timeout_s,
    shadowSample: shadowSink ? route.shadow_sample : 0,
    timeoutMs: route.timeout_ms,
    split: splitBuckets(route.share),
  };
}

/** Cutover file (+ deployment address overrides) -> plan. */
export function planCutover(file: CutoverFile, overrides: AddressOverrides = {}): FrontDoorPlan {
  const shadowSink = overrides.shadow_sink ?? file.shadow_sink;
  return {
    listen: overrides.listen ?? file.listen,
    legacy: overrides.legacy ?? file.legacy,
    shadowSink,
    writesFrom: [...file.writes_from],
    routes: file.routes.map((r) => planRoute(r, shadowSink, overrides.backend)),
  };
}

export function summarizePlan(plan: FrontDoorPlan): PlanSummary {
  return {
    listen: plan.listen,
    legacy: plan.legacy,
    routes: Object.fromEntries(
      plan.routes.map((r) => [
        r.name,
        { share: r.share, backend: r.backends, fallback: r.fallback, override_header: r.overrideHeader, shadow_sample: r.shadowSample },
      ]),
    ),
  };
}

/** The URL a client of the front door uses, from its listen address. */
export function listenUrl(listen: string): string {
  const m = /^(.*):([0-9]+)$/.exec(listen);
  if (!m) return `http://127.0.0.1:${listen}`;
  const host = m[1] === '0.0.0.0' || m[1] === '*' ? '127.0.0.1' : m[1] === '[::]' ? '[::1]' : m[1]!;
  return `http://${host}:${m[2]}`;
}

/**
 * The image service's own request deadline for a route whose front door waits `timeoutMs` on it.
 * It sits below the front door's timeout so that the service gives up (and answers) before nginx
 * does: otherwise a slow request is worked on by both backends, the new one for nothing. The
 * margin (a fifth, at least 100 ms) covers the answer's way back through nginx on a busy machine.
 * The one place the two figures are tied: the stack, compose.yaml and the service's default use it.
 */
export function serviceDeadlineMs(timeoutMs: number): number {
  return Math.max(50, timeoutMs - Math.max(100, Math.round(timeoutMs / 5)));
}
