/**
 * createApp(deps): the Hono app of the image service. It never listens (main.ts does), so tests
 * drive it with app.request(). One place turns errors into responses.
 */
import { Hono, type Context } from 'hono';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { HOT_PREFIX } from '../../../common/contract.ts';
import { ImageError, errorBody, toImageError } from '../errors.ts';
import type { ServiceMetrics } from '../metrics.ts';
import { parseImageRequest, parseKey, queryPairs } from '../params.ts';
import { checkPolicy, type AccessPolicy } from '../policy.ts';
import type { ImageService } from '../service.ts';
import type { SourceStore } from '../storage/index.ts';

export interface AppDeps {
  service: ImageService;
  store: SourceStore;
  metrics: ServiceMetrics;
  logger: Logger;
  policy: AccessPolicy;
  /** Flips /readyz to 503 once shutdown has begun, so load balancers stop sending. */
  isShuttingDown?: () => boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type Env = { Bindings: { incoming?: { url?: string } }; Variables: { log: Logger; route: string } };

/**
 * The public app: the hot endpoint only; every other path is the JSON 404. /metrics, /readyz and
 * /healthz live on the admin listener (createAdminApp): the public port faces clients (through the
 * front door or not), and the metrics and the storage description are not theirs to read.
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = baseApp(deps);

  // The hot endpoint is matched on the raw request target, before routing: the WHATWG URL parser
  // would resolve '..' and '%2e%2e' segments away, and the contract wants those refused as invalid keys.
  app.use('*', async (c, next) => {
    const target = rawTarget(c);
    if (!target.startsWith(HOT_PREFIX)) return next();
    c.set('route', 'image');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      return errorResponse(c, new ImageError('method_not_allowed', `method not allowed: expected GET or HEAD on ${HOT_PREFIX}{key}`));
    }
    const q = target.indexOf('?');
    const rawKey = target.slice(HOT_PREFIX.length, q < 0 ? undefined : q);
    const rawQuery = q < 0 ? '' : target.slice(q + 1);

    const key = parseKey(rawKey);
    if (!key.ok) throw key.error;
    const pairs = queryPairs(rawQuery);
    const request = parseImageRequest(pairs);
    if (!request.ok) throw request.error;
    const denied = checkPolicy(deps.policy, key.value, request.value, pairs.find(([k]) => k === 's')?.[1]);
    if (denied) throw denied;

    const head = c.req.method === 'HEAD';
    const result = await deps.service.handle(key.value, request.value, {
      ifNoneMatch: c.req.header('if-none-match'),
      head,
      signal: deps.service.deadline(),
      log: c.get('log'),
    });
    if (result.body === null) return new Response(null, { status: result.status, headers: result.headers });
    const body = Buffer.isBuffer(result.body)
      ? new Uint8Array(result.body.buffer, result.body.byteOffset, result.body.length)
      : (Readable.toWeb(result.body) as ReadableStream);
    return new Response(body, { status: result.status, headers: result.headers });
  });

  return app;
}

/**
 * The admin app, for the admin listener (ADMIN_HOST:ADMIN_PORT, loopback by default): liveness,
 * readiness and Prometheus metrics. Nothing else, not even the hot endpoint.
 */
export function createAdminApp(deps: AppDeps): Hono<Env> {
  const app = baseApp(deps);

  app.get('/healthz', (c) => {
    c.set('route', 'healthz');
    // The pid lets a supervisor check that the process answering on its port is the one it
    // started (a race on a just-freed port is otherwise invisible).
    return c.json({ status: 'ok', pid: process.pid });
  });

  app.get('/readyz', async (c) => {
    c.set('route', 'readyz');
    if (deps.isShuttingDown?.()) return c.json({ status: 'shutting_down' }, 503);
    try {
      await deps.store.ping(AbortSignal.timeout(2000));
      return c.json({ status: 'ready', storage: deps.store.description });
    } catch (err) {
      const e = toImageError(err);
      c.get('log').warn({ err: e.cause ?? e }, 'storage not ready');
      return c.json({ status: 'not_ready', error: 'storage_unavailable', message: `storage unreachable: ${deps.store.description}` }, 503);
    }
  });

  app.get('/metrics', async (c) => {
    c.set('route', 'metrics');
    return c.body(await deps.metrics.registry.metrics(), 200, { 'Content-Type': deps.metrics.registry.contentType });
  });

  return app;
}

/** What both apps share: request ids, the request log line and metrics, and JSON errors. */
function baseApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    // A caller's id is kept for tracing through nginx, but only when it looks like an id: it is
    // echoed in a header and written to every log line.
    const given = c.req.header('x-request-id');
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    const log = deps.logger.child({ reqId: requestId });
    c.set('log', log);
    c.set('route', 'other');
    await next();
    c.header('X-Request-Id', requestId);
    c.header('X-Content-Type-Options', 'nosniff');
    // Once shutdown has begun, every answer closes its connection: an idle keep-alive socket would
    // otherwise hold the server open until it times out, and the client would retry into a closed port.
    if (deps.isShuttingDown?.()) c.header('Connection', 'close');
    const route = c.get('route');
    const status = String(c.res.status);
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.requests.inc({ route, method: c.req.method, status });
    deps.metrics.duration.observe({ route, status }, seconds);
    const line = { method: c.req.method, url: rawTarget(c), status: c.res.status, ms: Math.round(seconds * 1000) };
    // A 503 is load being shed: the designed answer, not a fault, so warn (see errorResponse).
    if (c.res.status >= 500 && c.res.status !== 503) log.error(line, 'request');
    else if (c.res.status >= 400) log.warn(line, 'request');
    else log.info(line, 'request');
  });

  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new ImageError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)));
  return app;
}

/** The request target as the client sent it (path + query), percent-encoding and dot segments intact. */
function rawTarget(c: Context<Env>): string {
  const raw = c.env?.incoming?.url;
  if (typeof raw === 'string') return raw;
  const url = new URL(c.req.url);
  return url.pathname + url.search;
}

function errorResponse(c: Context<Env>, err: unknown): Response {
  const e = toImageError(err);
  const log = c.get('log');
  // Shedding is the designed answer to overload, not a fault: its only log line is the request
  // line (status 503, at warn), with no stack trace, so that logging (about a quarter of what a
  // 503 costs, profiled) grows as little as possible with the load being shed.
  if (e.code === 'overloaded') return c.json(errorBody(e), e.status as 503, e.headers);
  if (e.status >= 500) log?.error({ err: e.cause ?? e, code: e.code }, e.message);
  else log?.warn({ code: e.code }, e.message);
  return c.json(errorBody(e), e.status as 400, e.headers);
}
