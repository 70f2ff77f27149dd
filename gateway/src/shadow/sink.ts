/**
 * The live shadow sink: nginx mirrors a share of hot-path GETs here. nginx's `mirror` keeps the
 * client's keep-alive connection waiting until the mirror subrequest ends (measured: a 500 ms
 * mirror target made every main request take 500 ms), so the sink answers 204 AT ONCE, before
 * any work, and compares afterwards: a bounded queue takes what it can and drops (and counts)
 * the rest. Each comparison fetches both backends directly, exactly as replay does (pair.ts),
 * appends one JSON line to the results file, and updates the Prometheus metrics on /metrics.
 *
 * What is compared is the request target nginx mirrored (it proxies the mirror with the original
 * `$request_uri` as the path) and nothing else: a header such as X-Original-URI can come from the
 * client, and trusting it would let any client choose what the sink fetches from both backends
 * (targets nginx never routes there) and skew the parity figures. The results file is bounded
 * (results-file.ts): rotated at `resultsMaxBytes`, the oldest lines dropped.
 */
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createArtifactWriter } from '../compare/artifacts.ts';
import type { IgnoreEntry } from '../compare/ignore.ts';
import { classifyRequest, type ReplayRequest } from '../compare/input.ts';
import { comparePair } from '../compare/pair.ts';
import { mulberry32 } from '../../../common/random.ts';
import { createSender } from '../compare/send.ts';
import type { Thresholds } from '../compare/thresholds.ts';
import { createShadowMetrics, type ShadowMetrics } from './metrics.ts';
import { BoundedQueue } from './queue.ts';
import { DEFAULT_RESULTS_MAX_BYTES, openResultsFile, type ResultsFile } from './results-file.ts';

export interface ShadowSinkOptions {
  legacyUrl: string;
  newUrl: string;
  /** Results file (JSONL), appended to. */
  outFile: string;
  /**
   * Size of the results file at which it is rotated to `<outFile>.1` (the previous `.1` dropped),
   * default 64 MiB: at most about twice this on disk.
   */
  resultsMaxBytes?: number;
  /** Where mismatch images go; default `<outFile without .jsonl>-images` beside it. */
  imagesDir?: string;
  /** Mismatches that get image files, default 200. */
  maxImages?: number;
  /** Waiting comparisons at most; more are dropped and counted. Default 64. */
  queue?: number;
  /** Comparisons in flight, default 2 (each is two backend requests and a decode). */
  concurrency?: number;
  /** Per backend request, default 10000 ms. */
  timeoutMs?: number;
  thresholds: Thresholds;
  ignore?: readonly IgnoreEntry[];
  /** Default metrics (process CPU, memory, event loop lag) on /metrics too; default true. */
  defaultMetrics?: boolean;
  /** Unexpected errors in the background work (never the request path). */
  onError?: (err: unknown) => void;
}

export interface ShadowSink {
  server: http.Server;
  metrics: ShadowMetrics;
  queue: BoundedQueue<ReplayRequest>;
  listen(host: string, port: number): Promise<{ host: string; port: number; url: string }>;
  /** Resolves when the queue is empty and nothing is in flight. */
  idle(): Promise<void>;
  /** Stops listening, lets queued work finish (up to `graceMs`), closes the results file. */
  close(graceMs?: number): Promise<void>;
}

export function createShadowSink(o: ShadowSinkOptions): ShadowSink {
  const sender = createSender({ timeoutMs: o.timeoutMs ?? 10_000, maxSockets: Math.max(2, o.concurrency ?? 2) });
  const outFile = path.resolve(o.outFile);
  const outDir = path.dirname(outFile);
  const imagesDir = o.imagesDir ?? path.join(outDir, `${path.basename(outFile).replace(/\.jsonl$/, '')}-images`);
  const artifacts = createArtifactWriter({ dir: imagesDir, relativeTo: outDir, max: o.maxImages ?? 200 });
  mkdirSync(outDir, { recursive: true });
  const jsonl: ResultsFile = openResultsFile(outFile, { maxBytes: o.resultsMaxBytes ?? DEFAULT_RESULTS_MAX_BYTES });
  const ctx = {
    sender,
    legacyUrl: o.legacyUrl,
    newUrl: o.newUrl,
    thresholds: o.thresholds,
    ignore: o.ignore ?? [],
    order: 'random' as const,
    random: mulberry32(Date.now() & 0x7fffffff),
  };

  // Forward reference: the metrics read the queue's depth, the queue's work records into the metrics.
  // eslint-disable-next-line prefer-const -- assigned once, after the queue that it reads exists
  let metrics!: ShadowMetrics;
  const queue = new BoundedQueue<ReplayRequest>({
    capacity: o.queue ?? 64,
    concurrency: o.concurrency ?? 2,
    work: async (request) => {
      const { result, evidence } = await comparePair(request, ctx);
      const images = await artifacts.save(result, evidence);
      const record = images ? { ...result, images } : result;
      jsonl.write(record);
      metrics.record(record);
    },
    onError: (err) => o.onError?.(err),
  });
  metrics = createShadowMetrics({ queueDepth: () => queue.depth, inFlight: () => queue.inFlight, defaultMetrics: o.defaultMetrics ?? true });

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (url === '/metrics' && method === 'GET') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    if (url === '/healthz' && method === 'GET') {
      const body = JSON.stringify({ status: 'ok', ...queue.counts() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      // Refused before anything else: a mirrored DELETE or POST must never be replayed.
      metrics.refused.inc({ reason: 'method' });
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      res.end();
      return;
    }
    // Answer first, work later: nginx holds the client's connection until this response ends.
    res.writeHead(204);
    res.end();
    // The mirrored target only; never a client-supplied header (see the top of this file).
    const outcome = classifyRequest(method, url, 0);
    if (outcome.kind !== 'request') {
      metrics.refused.inc({ reason: outcome.kind === 'refused' && outcome.reason === 'route' ? 'route' : 'target' });
      return;
    }
    if (!queue.offer(outcome.request)) metrics.dropped.inc({ reason: 'queue_full' });
  });
  // Longer than nginx's upstream keepalive_timeout, so nginx never reuses a socket being closed.
  server.keepAliveTimeout = 75_000;

  return {
    server,
    metrics,
    queue,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const a = server.address() as AddressInfo;
          resolve({ host: a.address, port: a.port, url: `http://${a.address}:${a.port}` });
        });
      }),
    idle: () => queue.idle(),
    async close(graceMs = 10_000) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await Promise.race([queue.idle(), new Promise((r) => setTimeout(r, graceMs).unref())]);
      sender.close();
      jsonl.close();
    },
  };
}
