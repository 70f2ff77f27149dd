/**
 * The front door's JSON access log -> traffic per route and backend, for `gateway status`. PURE.
 */
import { percentile as nearestRank } from '../../../common/stats.ts';

/** The fields of one access-log line that the status needs. */
export interface AccessEntry {
  /** Seconds since the epoch, millisecond resolution ($msec); from `time` when msec is missing. */
  at: number;
  method: string;
  uri: string;
  status: number;
  /** $request_time in seconds: what the client waited. */
  requestTime: number;
  route: string;
  backend: string;
  fallback: boolean;
}

export function parseAccessLine(line: string): AccessEntry | undefined {
  if (!line.startsWith('{')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const at = typeof o.msec === 'number' ? o.msec : typeof o.time === 'string' ? Date.parse(o.time) / 1000 : NaN;
  const status = Number(o.status);
  const requestTime = Number(o.request_time);
  if (!Number.isFinite(at) || !Number.isFinite(status) || !Number.isFinite(requestTime)) return undefined;
  return {
    at,
    method: String(o.method ?? ''),
    uri: String(o.uri ?? ''),
    status,
    requestTime,
    route: String(o.route ?? ''),
    backend: String(o.backend ?? ''),
    fallback: o.fallback === '1' || o.fallback === 1,
  };
}

/** Traffic of one backend within one route. */
export interface BackendTraffic {
  requests: number;
  /** Responses with status >= 500: what clients saw as server errors. */
  errors: number;
  errorRate: number;
  /** Requests that the new service failed and legacy served (counted on legacy). */
  fallbacks: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
}

export interface RouteTraffic {
  /** Route name; '' for requests no route matched (all legacy by construction). */
  route: string;
  requests: number;
  backends: Record<string, BackendTraffic>;
}

/** The project's nearest-rank percentile (common/stats.ts) of an ascending list, p in 0..100; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  return nearestRank(sorted, p / 100);
}

/** Entries at or after `since` (epoch seconds), grouped by route then backend. */
export function summarizeTraffic(entries: Iterable<AccessEntry>, since: number): RouteTraffic[] {
  const groups = new Map<string, Map<string, { times: number[]; errors: number; fallbacks: number }>>();
  for (const e of entries) {
    if (e.at < since) continue;
    let byBackend = groups.get(e.route);
    if (!byBackend) groups.set(e.route, (byBackend = new Map()));
    const backend = e.backend || 'legacy';
    let g = byBackend.get(backend);
    if (!g) byBackend.set(backend, (g = { times: [], errors: 0, fallbacks: 0 }));
    g.times.push(e.requestTime * 1000);
    if (e.status >= 500) g.errors++;
    if (e.fallback) g.fallbacks++;
  }
  const out: RouteTraffic[] = [];
  for (const [route, byBackend] of groups) {
    const backends: Record<string, BackendTraffic> = {};
    let requests = 0;
    for (const [backend, g] of [...byBackend].sort(([a], [b]) => (a === b ? 0 : a === 'new' ? -1 : b === 'new' ? 1 : a.localeCompare(b)))) {
      const sorted = g.times.sort((a, b) => a - b);
      requests += sorted.length;
      backends[backend] = {
        requests: sorted.length,
        errors: g.errors,
        errorRate: g.errors / sorted.length,
        fallbacks: g.fallbacks,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
      };
    }
    out.push({ route, requests, backends });
  }
  return out.sort((a, b) => (a.route === '' ? 1 : b.route === '' ? -1 : a.route.localeCompare(b.route)));
}

/** One row of `gateway status` per route. */
export interface RouteStatus {
  name: string;
  fileShare: number | undefined;
  /** The share the nginx workers run; undefined when nginx is not running or cannot tell. */
  runningShare: number | undefined;
  traffic: RouteTraffic | undefined;
}

const ms = (v: number | undefined) => (v === undefined ? '-' : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const pct = (v: number) => `${(v * 100).toFixed(v > 0 && v < 0.001 ? 2 : 1)}%`;

/** The status table as text. */
export function formatStatus(rows: readonly RouteStatus[], context: { minutes: number; running: string }): string {
  const header = ['route', 'file', 'running', 'backend', 'requests', 'errors', 'error rate', 'fallbacks', 'p50 ms', 'p99 ms'];
  const table: string[][] = [header];
  for (const row of rows) {
    const share = (v: number | undefined) => (v === undefined ? '-' : `${v}%`);
    const backends = row.traffic ? Object.entries(row.traffic.backends) : [];
    if (backends.length === 0) {
      table.push([row.name || '(other)', share(row.fileShare), share(row.runningShare), '-', '0', '-', '-', '-', '-', '-']);
      continue;
    }
    backends.forEach(([backend, t], i) => {
      table.push([
        i === 0 ? row.name || '(other)' : '',
        i === 0 ? share(row.fileShare) : '',
        i === 0 ? share(row.runningShare) : '',
        backend,
        String(t.requests),
        String(t.errors),
        pct(t.errorRate),
        String(t.fallbacks),
        ms(t.p50Ms),
        ms(t.p99Ms),
      ]);
    });
  }
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const lines = table.map((r) =>
    r
      .map((cell, c) => (c >= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
  return `${context.running}\ntraffic from the access log, last ${context.minutes} min:\n\n${lines.join('\n')}\n`;
}

/** One backend `gateway status` probes: legacy, or the new service of one or more routes. */
export interface BackendTarget {
  name: string;
  /** host:port */
  address: string;
  /** A cheap path every version answers: legacy's health page; the route's own prefix for the new service (a 400 at once). */
  path: string;
}

/**
 * The backends to probe: legacy, then every replica of every route's new service (one target per
 * address: a replica that is down must show, whatever its siblings do). The addresses nginx runs
 * with (`running`, when it answers) win over the file's: under npm start on other ports they are
 * the ones traffic goes to. `file` carries the addresses after the run dir's and the environment's
 * overrides. A front door rendered before replicas existed reports `backend` as one string.
 */
export function backendTargets(
  file: { legacy: string; routes: ReadonlyArray<{ name: string; path: string; backends: readonly string[] }> } | undefined,
  running: { legacy: string; routes: Record<string, { backend: string | readonly string[] }> } | undefined,
): BackendTarget[] {
  const legacy = running?.legacy ?? file?.legacy;
  const targets: BackendTarget[] = legacy ? [{ name: 'legacy', address: legacy, path: '/image/health' }] : [];
  const routeNames = [...new Set([...(file?.routes.map((r) => r.name) ?? []), ...Object.keys(running?.routes ?? {})])];
  const byAddress = new Map<string, { names: string[]; path: string }>();
  for (const name of routeNames) {
    const fromFile = file?.routes.find((r) => r.name === name);
    const runningBackend = running?.routes[name]?.backend;
    const addresses = runningBackend === undefined ? (fromFile?.backends ?? []) : typeof runningBackend === 'string' ? [runningBackend] : runningBackend;
    addresses.forEach((address, i) => {
      const label = addresses.length > 1 ? `${name} (new ${i + 1}/${addresses.length})` : `${name} (new)`;
      const seen = byAddress.get(address);
      if (seen) seen.names.push(label);
      else byAddress.set(address, { names: [label], path: fromFile?.path ?? '/' });
    });
  }
  for (const [address, { names, path }] of byAddress) targets.push({ name: names.join(', ').replace(/ \(new\), /g, ', '), address, path });
  return targets;
}

/** What one probe saw: any HTTP answer means the process is up and serving. */
export type BackendProbe = { state: 'up'; ms: number; status: number } | { state: 'down'; reason: string } | { state: 'timeout'; timeoutMs: number };

export function describeProbe(probe: BackendProbe): string {
  switch (probe.state) {
    case 'up':
      // Up, since it answered; a 5xx is still worth a word (legacy's nginx answers 502 while PHP-FPM is down).
      return `up (${Math.round(probe.ms)} ms)${probe.status >= 500 ? `, but it answered ${probe.status}` : ''}`;
    case 'down':
      return `down (${probe.reason})`;
    case 'timeout':
      return `not answering within ${probe.timeoutMs / 1000} s`;
  }
}

/** The backends block of `gateway status`. */
export function formatBackends(rows: ReadonlyArray<{ name: string; address: string; probe: BackendProbe }>): string {
  const nameWidth = Math.max(0, ...rows.map((r) => r.name.length));
  const addressWidth = Math.max(0, ...rows.map((r) => r.address.length));
  return ['backends:', ...rows.map((r) => `  ${r.name.padEnd(nameWidth)}  ${r.address.padEnd(addressWidth)}  ${describeProbe(r.probe)}`), ''].join('\n');
}
