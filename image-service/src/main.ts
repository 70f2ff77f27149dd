/**
 * Composition root: reads config, builds adapters, listens, handles signals. The only module of
 * the image service that reads process.env or starts anything.
 */
import { serve } from '@hono/node-server';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import sharp from 'sharp';
import { projectRoot } from '../../common/paths.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { usableCpus } from './cpus.ts';
import { createAdminApp, createApp } from './http/app.ts';
import { Limiter } from './limiter.ts';
import { createMetrics } from './metrics.ts';
import { ImageService } from './service.ts';
import { ResultCache } from './cache/index.ts';
import { createSourceStore } from './storage/index.ts';

let config: Config;
try {
  config = loadConfig(process.env, {
    storageUrl: pathToFileURL(path.join(projectRoot, 'var/originals')).href,
    cpus: usableCpus(),
  });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`image-service: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const logger = pino({ level: config.logLevel, base: { service: 'image-service' } });

// libvips threads per image (SHARP_CONCURRENCY, default 1): parallelism comes from `concurrency`
// images in flight, which is cheaper in memory and steadier in latency than several threads
// fighting over one image (measured: see image-service/README.md, "Tuning").
sharp.concurrency(config.sharpConcurrency);
// libvips' operation cache only helps when the same pipeline repeats on the same input object,
// which never happens here; it would just hold memory.
sharp.cache(false);

const store = await createSourceStore(config.storage);
// One original read ahead of the slots (none without a queue): when a slot frees up, the next
// original is already in memory, so the core does not idle on storage (issue 16), and the one after
// it has a whole render's time to be read. One, not one per slot: each holds an original in memory
// (peak RSS at saturation measured 229 MB without read-ahead, 245 MB with one per slot).
const limiter = new Limiter({
  concurrency: config.concurrency,
  queueLimit: config.queueLimit,
  retryAfterSeconds: config.retryAfterSeconds,
  lookahead: Math.min(1, config.queueLimit),
});
let resultCache: ResultCache | undefined;
const metrics = createMetrics({ defaultMetrics: true, limiter, resultCacheBytes: config.resultCache && (() => resultCache?.bytes ?? { memory: 0, disk: 0 }) });
if (config.resultCache) {
  try {
    resultCache = await ResultCache.create({ memoryBytes: config.resultCache.memoryBytes, disk: config.resultCache.disk, metrics: metrics.resultCache });
  } catch (err) {
    process.stderr.write(`image-service: RESULT_CACHE_DIR: cannot use ${config.resultCache.disk?.dir}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
const service = new ImageService({
  store,
  limiter,
  metrics,
  cache: resultCache,
  options: {
    maxInputBytes: config.maxInputBytes,
    maxInputPixels: config.maxInputPixels,
    fastShrinkOnLoad: config.fastShrinkOnLoad,
    requestTimeoutMs: config.requestTimeoutMs,
    renderTimeoutMs: config.renderTimeoutMs,
    storageTimeoutMs: config.storageTimeoutMs,
  },
});
let shuttingDown = false;
const appDeps = {
  service,
  store,
  metrics,
  logger,
  policy: { signingSecret: config.signingSecret, allowedSizes: config.allowedSizes },
  isShuttingDown: () => shuttingDown,
};
const app = createApp(appDeps);

/** libuv's worker pool, read by libuv itself at the first async operation (default 4). */
const uvThreads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
  logger.info(
    {
      address: `http://${config.host}:${info.port}`,
      storage: store.description,
      concurrency: config.concurrency,
      queueLimit: config.queueLimit,
      resultCache: config.resultCache ? { memoryMb: config.resultCache.memoryBytes / 1048576, disk: config.resultCache.disk?.dir } : 'off',
      sharpConcurrency: sharp.concurrency(),
      uvThreadpool: uvThreads,
      mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? '(glibc default)',
      mallocMmapThreshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? '(glibc default: dynamic)',
    },
    'image-service listening',
  );
});
// sharp runs each pipeline on a libuv worker: fewer workers than resize slots (plus one for file
// reads) would silently cap the concurrency below CONCURRENCY.
if (uvThreads < config.concurrency + 1) {
  logger.warn({ uvThreads, concurrency: config.concurrency }, `UV_THREADPOOL_SIZE should be at least CONCURRENCY + 1 (${config.concurrency + 1})`);
}
// Keep-alive from nginx: idle upstream connections must outlive nginx's own keepalive_timeout,
// or nginx races a closing socket and sees a reset.
(server as import('node:http').Server).keepAliveTimeout = 75_000;

server.on('error', (err) => {
  logger.fatal({ err }, 'image-service could not listen');
  process.exit(1);
});

// /metrics, /readyz and /healthz on their own listener (loopback by default): the public port
// serves the hot endpoint only. It stays up during shutdown, so /readyz can say 503 until the end.
const admin = serve({ fetch: createAdminApp(appDeps).fetch, port: config.adminPort, hostname: config.adminHost }, (info) => {
  logger.info({ address: `http://${config.adminHost}:${info.port}` }, 'image-service admin listening (/metrics, /readyz, /healthz)');
});
admin.on('error', (err) => {
  logger.fatal({ err }, 'image-service admin listener could not listen');
  process.exit(1);
});

function shutdown(signal: string): void {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: no new connections, finishing in-flight requests');
  const http = server as import('node:http').Server;
  const timer = setTimeout(() => {
    logger.warn('shutdown timeout reached; closing remaining connections');
    http.closeAllConnections();
    process.exit(1);
  }, config.shutdownTimeoutMs);
  timer.unref();
  // Idle keep-alive sockets would hold close() open until they time out (75 s). Answers given
  // from now on carry Connection: close (see createApp); the sweep catches connections whose answer
  // was already under way when the signal came and that are idle now.
  const sweep = setInterval(() => http.closeIdleConnections(), 100);
  sweep.unref();
  // close() stops accepting at once (new connections are refused) and calls back when the last
  // connection has closed.
  server.close(() => {
    clearInterval(sweep);
    logger.info('all connections closed; exiting');
    process.exit(0);
  });
  http.closeIdleConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
