/**
 * A small keep-alive HTTP load generator for fault scenarios (the chaos scenarios beside it): bounded by time
 * and count, loopback only, and exact about what happened to every request it sent, which is what
 * a fault test needs (k6 summarises; here each request is classified).
 *
 * Classification of one request:
 * - answered: a complete HTTP response (any status);
 * - refused: the connection could not be opened (ECONNREFUSED): the client knows at once that
 *   nothing was processed;
 * - lost: the request went out and no complete answer came back (reset, hang-up mid-response,
 *   or no answer within `timeoutMs`).
 *
 * Like browsers and curl, a request that fails on a *reused* keep-alive connection before a
 * single byte of answer arrived is retried once on a fresh one (RFC 9112 section 9.3.1: the
 * server may close an idle connection at any moment, and GET/HEAD are safe to repeat). Such
 * retries are counted, never hidden.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

export interface LoadOptions {
  /** Absolute URL of the i-th request. */
  target: (i: number) => string;
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /**
   * Closed loop (default): this many connections, each sending its next request as soon as the
   * previous one is answered. With `rate`, the most requests in flight at once.
   */
  connections: number;
  /** Open loop: start this many requests per second, whatever the answers. */
  rate?: number;
  durationMs: number;
  maxRequests?: number;
  /** No complete answer after this long: lost. Default 30 000 ms. */
  timeoutMs?: number;
  /** Stops sending new requests (in-flight ones still finish). */
  stop?: AbortSignal;
  /** Closed loop: pause after a refused connection. Default 20 ms. */
  refusedBackoffMs?: number;
  /** Keep response bodies in the results (default false: only status and headers). */
  keepBodies?: boolean;
  /** Sees every finished request (e.g. to check headers, or to time a fault). */
  onResult?: (result: RequestResult) => void;
}

export interface RequestResult {
  i: number;
  url: string;
  /** HTTP status; 0 when there was no answer. */
  status: number;
  outcome: 'answered' | 'refused' | 'lost';
  /** Network error code for refused/lost requests. */
  error?: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
  /** Time from the request's scheduled start to its end (includes client-side waiting in open loop). */
  ms: number;
  startedAt: number;
  endedAt: number;
  retried: boolean;
}

export interface LoadReport {
  sent: number;
  answered: number;
  refused: number;
  lost: number;
  retried: number;
  byStatus: Record<string, number>;
  errors: Record<string, number>;
  elapsedMs: number;
  results: RequestResult[];
}

/** Runs the load and returns every request's fate. Never throws for a failed request. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: 'fifo' });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY;
  const results: RequestResult[] = [];
  const started = performance.now();
  const deadline = started + options.durationMs;
  let next = 0;
  const more = () => next < maxRequests && performance.now() < deadline && !options.stop?.aborted;
  const record = (r: RequestResult) => {
    results.push(r);
    options.onResult?.(r);
  };
  const one = async (i: number, scheduledAt: number) => {
    const url = options.target(i);
    let r = await send(agent, url, options, timeoutMs);
    let retried = false;
    if (r.retryable) {
      retried = true;
      r = await send(undefined, url, options, timeoutMs);
    }
    const endedAt = performance.now();
    record({
      i,
      url,
      status: r.status,
      outcome: r.outcome,
      error: r.error,
      headers: r.headers,
      body: r.body,
      ms: endedAt - scheduledAt,
      startedAt: scheduledAt,
      endedAt,
      retried,
    });
  };

  if (options.rate === undefined) {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (more()) {
          const i = next++;
          await one(i, performance.now());
          // A refused connection is known at once; like a real client, pause before the next try
          // instead of spinning (it would only inflate the count).
          if (results.at(-1)?.outcome === 'refused') await sleep(options.refusedBackoffMs ?? 20);
        }
      }),
    );
  } else {
    const interval = 1000 / options.rate;
    const inFlight = new Set<Promise<void>>();
    while (more()) {
      const i = next++;
      const due = started + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      if (!more()) {
        next--;
        break;
      }
      const p = one(i, Math.min(due, performance.now())).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  }
  agent.destroy();

  const byStatus: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const r of results) {
    if (r.outcome === 'answered') byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    else errors[r.error ?? r.outcome] = (errors[r.error ?? r.outcome] ?? 0) + 1;
  }
  return {
    sent: results.length,
    answered: results.filter((r) => r.outcome === 'answered').length,
    refused: results.filter((r) => r.outcome === 'refused').length,
    lost: results.filter((r) => r.outcome === 'lost').length,
    retried: results.filter((r) => r.retried).length,
    byStatus,
    errors,
    elapsedMs: performance.now() - started,
    results,
  };
}

interface Sent {
  status: number;
  outcome: RequestResult['outcome'];
  error?: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
  /** Failed on a reused connection before any answer: safe and customary to retry once. */
  retryable: boolean;
}

/**
 * Responses each socket has carried. `request.reusedSocket` misses a kept-alive socket that the
 * agent hands straight to a queued request, so "reused" is judged by this count instead.
 */
const served = new WeakMap<Socket, number>();

function send(agent: Agent | undefined, url: string, options: LoadOptions, timeoutMs: number): Promise<Sent> {
  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    let socket: Socket | undefined;
    const done = (s: Sent) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(s);
    };
    const req = request(url, { agent: agent ?? false, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (options.keepBodies) chunks.push(c);
      });
      res.on('end', () => {
        if (socket) served.set(socket, (served.get(socket) ?? 0) + 1);
        done({
          status: res.statusCode ?? 0,
          outcome: 'answered',
          headers: res.headers,
          body: options.keepBodies ? Buffer.concat(chunks) : undefined,
          retryable: false,
        });
      });
      res.on('error', (err) => done({ status: 0, outcome: 'lost', error: codeOf(err), headers: res.headers, retryable: false }));
      res.on('aborted', () => done({ status: 0, outcome: 'lost', error: 'aborted mid-response', headers: res.headers, retryable: false }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 0, outcome: 'lost', error: 'client timeout', headers: {}, retryable: false });
    }, timeoutMs);
    req.on('socket', (s) => (socket = s));
    req.on('error', (err) => {
      const code = codeOf(err);
      if (code === 'ECONNREFUSED') return done({ status: 0, outcome: 'refused', error: code, headers: {}, retryable: false });
      const reused = req.reusedSocket || (socket !== undefined && (served.get(socket) ?? 0) > 0);
      done({ status: 0, outcome: 'lost', error: code, headers: {}, retryable: !answered && reused && agent !== undefined });
    });
    req.end();
  });
}

function codeOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
