/**
 * Plan -> the front door's complete nginx.conf. PURE: the templates come in as strings
 * (templates.ts reads them from nginx/templates/), the output is a string.
 *
 * How a request flows through the rendered config (one route, "images"):
 *   location ^~ /image/files/   the route's path; maps pick the target from method, override
 *        |                      header and the sticky split; non-route methods stay on legacy
 *        |-- target new --> return 418 -> error_page 418 = @fd_images_new   (URI untouched)
 *        |                      @fd_images_new: proxy to the new service, short timeouts;
 *        |                      502/504 or connect error/timeout -> @fd_images_fallback;
 *        |                      its 503 (load shed on purpose) passes through
 *        |                      @fd_images_fallback: proxy to legacy, X-Image-Fallback: 1
 *        '-- target legacy --> proxy to legacy
 * Every public location first refuses a request target that is not in normal form (400) and a
 * write from outside writes_from (403); nginx's own errors are JSON (/_frontdoor/error/*).
 * fd_<route>_new lists the route's replicas (upstreamLines), balanced by least connections; a
 * connect error on one is retried on the next, a timeout is not (nextUpstreamLines). nginx's
 * passive health (max_fails / fail_timeout) skips a failing replica for fail_timeout_s, then
 * probes it with one request; when every replica is skipped, "no live upstreams" (502) -> fallback.
 * proxy_next_upstream cannot cross from one upstream block to another, which is why the
 * fallback is an error_page to a named location and not a second server in the upstream.
 */
import { createHash } from 'node:crypto';
import type { Backend, FrontDoorPlan, RoutePlan, SplitBucket } from '../cutover/plan.ts';
import { summarizePlan } from '../cutover/plan.ts';

/** The template texts, by file name in nginx/templates/. */
export interface Templates {
  main: string;
  routeHttp: string;
  routeLocation: string;
}

export interface RenderOptions {
  templates: Templates;
  /** Absolute run directory: the control socket lives there (the other paths are relative to the prefix). */
  runDir: string;
  /** Where the plan came from, for the header comment. */
  source: string;
  /** nginx worker processes. Default 1: the front door's work per request is small, and on a small machine a second worker only competes with the image service for cores. */
  workerProcesses?: number | 'auto';
  /**
   * `user` of the worker processes, or undefined for none. Default none: the workers run as the
   * invoking user, except under root, where nginx would switch them to `nobody`, who cannot
   * write proxy temp files into a run directory that sits in a 0700 directory (mkdtemp, /root).
   */
  user?: string | undefined;
}

export interface RenderedConfig {
  text: string;
  /** Identifies this configuration; the running workers report it on the control socket. */
  digest: string;
}

/** `{{name}}` -> values[name]; a placeholder without a value is a bug, not an empty string. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([a-z_]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template placeholder {{${key}}} has no value`);
    return value;
  });
}

const indent = (lines: string[], spaces: number) => lines.map((l) => (l ? ' '.repeat(spaces) + l : l)).join('\n');

/** The server-level proxy headers; repeated in any location that sets its own (nginx drops inherited ones then). */
function proxyHeaderLines(): string[] {
  return [
    'proxy_set_header Connection "";',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header X-Request-Id $fd_request_id;',
    // The override header is addressed to the front door; the backends never see it.
    'proxy_set_header X-Image-Backend "";',
  ];
}

/**
 * The front door's own error answers, as the contract's JSON. nginx produces these itself (a
 * malformed request, a body over client_max_body_size, ...); a backend's own 4xx passes through
 * untouched wherever proxy_intercept_errors is off. `code` is what nginx raises, `status` what
 * the client gets: 494 is nginx's internal "request header too large", sent as 431.
 */
export const FRONT_DOOR_ERRORS: readonly { code: number; status: number; error: string; message: string }[] = [
  {
    code: 400,
    status: 400,
    error: 'invalid_request',
    message:
      'expected a well-formed HTTP request with a request target in normal form: an absolute path of A-Z a-z 0-9 and -._~!&()*+,=:@ characters, no ' +
      'percent-encoding, no ; or backslash, no empty, . or .. segments',
  },
  { code: 403, status: 403, error: 'forbidden', message: 'expected GET or HEAD: other methods are accepted only from the addresses in writes_from' },
  { code: 404, status: 404, error: 'not_found', message: 'no route for this path' },
  { code: 405, status: 405, error: 'method_not_allowed', message: 'expected a method this path accepts' },
  { code: 408, status: 408, error: 'timeout', message: 'expected the request to arrive in time' },
  { code: 411, status: 411, error: 'invalid_request', message: 'expected a Content-Length or chunked body' },
  { code: 413, status: 413, error: 'request_too_large', message: 'expected a request body of at most 64 MB' },
  { code: 414, status: 414, error: 'invalid_request', message: 'expected a request target of at most 8 KB' },
  { code: 494, status: 431, error: 'invalid_request', message: 'expected request headers of at most 8 KB each' },
  { code: 500, status: 500, error: 'internal', message: 'the front door failed' },
  { code: 501, status: 501, error: 'invalid_request', message: 'expected a Transfer-Encoding of chunked' },
];

/** Where the front door's own error answers live (internal: a client asking for them gets the JSON 404 of /_frontdoor/). */
export const ERROR_PREFIX = '/_frontdoor/error/';

/** `error_page` lines for the front door's own errors; every location with its own error_page repeats them. */
export function frontDoorErrorPages(): string[] {
  return FRONT_DOOR_ERRORS.map((e) => `error_page ${e.code} = ${ERROR_PREFIX}${e.code};`);
}

/**
 * The public listener's rules, in every public location ("return" inside "if" is safe): a
 * request target not in normal form is refused, then a write from outside writes_from.
 */
export function listenerCheckLines(): string[] {
  return ['if ($fd_target_refused) {', '    return 400;', '}', 'if ($fd_write_refused) {', '    return 403;', '}'];
}

function frontDoorErrorLocations(): string {
  return FRONT_DOOR_ERRORS.map(
    (e) => `
        location = ${ERROR_PREFIX}${e.code} {
            internal;
            default_type application/json;
            return ${e.status} '${JSON.stringify({ error: e.error, message: e.message })}';
        }
`,
  ).join('');
}

/** Proxying to legacy: its own timeouts (a cold Imagick resize of a large original takes seconds), JSON errors when it is unreachable. */
function legacyProxyLines(): string[] {
  return [
    'proxy_connect_timeout 5s;',
    'proxy_send_timeout 60s;',
    'proxy_read_timeout 60s;',
    'error_page 502 = @fd_unreachable;',
    'error_page 504 = @fd_timeout;',
    ...frontDoorErrorPages(),
  ];
}

export function splitLines(buckets: SplitBucket[], values: Record<Backend, string> = { new: 'new', legacy: 'legacy' }): string[] {
  return buckets.map((b) => `${b.percent === undefined ? '*' : `${b.percent}%`} ${values[b.value] === '' ? '""' : values[b.value]};`);
}

/** The geo + map that honour the override header from the route's override_from clients only. */
function overrideHttp(route: RoutePlan): string {
  if (!route.overrideHeader) return '';
  return `
    # X-Image-Backend is honoured from these client addresses only (override_from).
    geo $fd_${route.name}_override_from {
${indent(
  route.overrideFrom.map((c) => `${c} 1;`),
  8,
)}
    }
    map "$fd_${route.name}_override_from:$fd_override" $fd_${route.name}_override {
        "1:new" new;
        "1:legacy" legacy;
        default "";
    }
`;
}

/** `map "$request_method:<override>:<split>"` entries that lead to the new service (the default is legacy). */
export function targetEntries(route: RoutePlan): string[] {
  const lines: string[] = [];
  for (const m of route.methods) {
    if (route.overrideHeader) {
      lines.push(`"${m}:new:new" new;`, `"${m}:new:legacy" new;`);
    }
    lines.push(`"${m}::new" new;`);
  }
  return lines;
}

function shadowHttp(route: RoutePlan): string {
  if (route.shadowSample <= 0) return '';
  const pick = route.shadowSample >= 100 ? ['* 1;'] : [`${route.shadowSample}% 1;`, '* "";'];
  return `
    # Shadow sample: ${route.shadowSample}% of the route's GETs, per request (not per variant).
    split_clients "\${request_id}" $fd_${route.name}_shadow_pick {
${indent(pick, 8)}
    }
    map "$request_method:$fd_${route.name}_shadow_pick" $fd_${route.name}_shadow {
        "GET:1" 1;
        default "";
    }
`;
}

function mirrorLocation(route: RoutePlan): string {
  if (route.shadowSample <= 0) return '';
  return `
        # Mirror of route ${route.name} to the shadow sink. Tight timeouts: nginx finishes a
        # request (and reads the next one on a keep-alive connection) only after its mirror
        # subrequests finish, so a slow sink must not slow clients down.
        location = /_frontdoor/mirror/${route.name} {
            internal;
            error_page 404 = @fd_not_found;
            if ($fd_${route.name}_shadow = "") {
                return 204;
            }
            proxy_pass http://fd_shadow_sink$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
${indent(proxyHeaderLines(), 12)}
            # The front door says which target was mirrored; a client's own header must not.
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Shadow-Route ${route.name};
            proxy_connect_timeout 100ms;
            proxy_send_timeout 100ms;
            proxy_read_timeout 100ms;
        }
`;
}

function fallbackLocation(route: RoutePlan): string {
  if (!route.fallback) return '';
  return `
        # The safety net: the request is served by legacy instead, and marked as such.
        location @fd_${route.name}_fallback {
            set $fd_backend legacy;
            set $fd_fallback 1;
            set $fd_debug ${debugValue(route)};
            proxy_pass http://fd_legacy;
${indent(legacyProxyLines(), 12)}
        }
`;
}

const debugValue = (route: RoutePlan) => (route.debugHeaders ? '1' : '""');

function newErrorLines(route: RoutePlan): string[] {
  if (route.fallback) {
    // Intercept only what the error_page names: the new service's 4xx, 500 and 503 pass
    // through. Its 503 is deliberate load shedding (with Retry-After): replaying it on legacy
    // would amplify the overload onto the backend with the least headroom. (Intercepting makes
    // the front door's own JSON error pages unusable here: they would replace the service's
    // 400 and 413 answers.)
    return ['proxy_intercept_errors on;', `error_page 502 504 = @fd_${route.name}_fallback;`];
  }
  return ['error_page 502 = @fd_unreachable;', 'error_page 504 = @fd_timeout;', ...frontDoorErrorPages()];
}

/** Idle keep-alive connections per worker to each replica: what one service alone had (32), per replica. */
export const KEEPALIVE_PER_REPLICA = 32;

/**
 * The servers of fd_<route>_new, and how nginx picks one.
 * - One replica: nginx ignores max_fails and fail_timeout for an upstream with a single server,
 *   so a "down" placeholder (the same address, never used) makes two. Listing the replica twice
 *   would instead let nginx retry a timed-out request on the same hung server.
 * - Several: no placeholder (max_fails applies with two servers or more); least_conn, because a
 *   resize costs from 5 ms to 2 s: round robin would queue requests behind a replica's slow
 *   render while its siblings idle, and a hung replica, whose requests never finish, holds the
 *   most connections, so least_conn stops sending it new ones even before max_fails marks it.
 *   It must come before `keepalive` (nginx: the balancing method first).
 * The keep-alive pool (idle connections cached per worker, shared by the servers) grows with the
 * replicas, so each keeps the pool one service had.
 */
export function upstreamLines(route: Pick<RoutePlan, 'backends' | 'maxFails' | 'failTimeoutS'>): string[] {
  const health = `max_fails=${route.maxFails} fail_timeout=${route.failTimeoutS}s`;
  const servers = route.backends.map((b) => `server ${b} ${health};`);
  const keepalive = `keepalive ${KEEPALIVE_PER_REPLICA * route.backends.length};`;
  if (route.backends.length === 1) return [...servers, `server ${route.backends[0]} down;`, keepalive];
  return ['least_conn;', ...servers, keepalive];
}

/**
 * When a request to the new service moves on to another replica, and when to legacy instead.
 * - A connect error (refused: the replica is gone) or an error while sending the request or
 *   reading the answer's header (reset: killed mid-request) is retried on the next replica. It
 *   costs microseconds to a few ms, and a GET is safe to send again (a route with writes never
 *   has them retried: nginx retries non-idempotent methods only with `non_idempotent`).
 * - A timeout is not retried on a sibling: the client has already waited timeout_ms, another
 *   hung replica would double that, and a request slow enough to time out (an overloaded box)
 *   would put the same expensive work on the next replica. proxy_next_upstream_timeout enforces
 *   it: a request may move on only within half of timeout_ms (a read timeout always comes later);
 *   `timeout` stays in proxy_next_upstream so that it counts towards max_fails. The timed-out
 *   request gets the fallback (504 -> legacy), paid once.
 * - tries = the number of replicas: each is tried at most once; once every replica has failed
 *   the 502 goes to the fallback. One replica: one try, as before.
 */
export function nextUpstreamLines(route: Pick<RoutePlan, 'backends' | 'timeoutMs'>): string[] {
  const lines = ['proxy_next_upstream error timeout;', `proxy_next_upstream_tries ${route.backends.length};`];
  if (route.backends.length > 1) lines.push(`proxy_next_upstream_timeout ${Math.max(1, Math.floor(route.timeoutMs / 2))}ms;`);
  return lines;
}

function renderRoute(route: RoutePlan, templates: Templates): { http: string; location: string } {
  const mirror = route.shadowSample > 0 ? indent([`mirror /_frontdoor/mirror/${route.name};`, 'mirror_request_body off;'], 12) : '';
  const http = fillTemplate(templates.routeHttp, {
    name: route.name,
    methods_list: route.methods.join(','),
    path: route.path,
    share: String(route.share),
    backend: route.backends.join(', '),
    upstream_servers: indent(upstreamLines(route), 8),
    sticky: route.sticky,
    split_buckets: indent(splitLines(route.split), 8),
    route_methods: indent(
      route.methods.map((m) => `${m} ${route.name};`),
      8,
    ),
    override_var: route.overrideHeader ? `$fd_${route.name}_override` : '',
    override_http: overrideHttp(route),
    max_fails: String(route.maxFails),
    fail_timeout_s: String(route.failTimeoutS),
    target_entries: indent(targetEntries(route), 8),
    shadow_http: shadowHttp(route),
  });
  const location = fillTemplate(templates.routeLocation, {
    name: route.name,
    path: route.path,
    path_without_slash: route.path.replace(/\/+$/, ''),
    mirror,
    legacy_proxy: indent(legacyProxyLines(), 12),
    timeout_ms: String(route.timeoutMs),
    debug: debugValue(route),
    listener_checks: indent(listenerCheckLines(), 12),
    new_errors: indent(newErrorLines(route), 12),
    next_upstream: indent(nextUpstreamLines(route), 12),
    fallback_location: fallbackLocation(route),
    mirror_location: mirrorLocation(route),
  });
  return { http, location };
}

/** A digest of everything that shapes the config, so a reload can be verified by asking the workers. */
export function planDigest(plan: FrontDoorPlan, options: Pick<RenderOptions, 'templates' | 'runDir' | 'workerProcesses' | 'user'>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(plan));
  h.update('\0');
  h.update(
    JSON.stringify([
      options.templates.main,
      options.templates.routeHttp,
      options.templates.routeLocation,
      options.runDir,
      options.workerProcesses ?? 1,
      options.user ?? '',
    ]),
  );
  return h.digest('hex').slice(0, 16);
}

export function renderNginxConfig(plan: FrontDoorPlan, options: RenderOptions): RenderedConfig {
  const digest = planDigest(plan, options);
  const routes = plan.routes.map((r) => renderRoute(r, options.templates));
  const anyMirror = plan.routes.some((r) => r.shadowSample > 0);
  const shadowUpstream =
    anyMirror && plan.shadowSink
      ? `
    upstream fd_shadow_sink {
        server ${plan.shadowSink} max_fails=0;
        keepalive 8;
    }
`
      : '';
  const notFound = anyMirror
    ? `
        location @fd_not_found {
            set $fd_backend legacy;
            default_type application/json;
            return 404 '{"error":"not_found","message":"no route for this path"}';
        }
`
    : '';
  const text = fillTemplate(options.templates.main, {
    source: options.source.replace(/\n/g, ' '),
    digest,
    plan_json: JSON.stringify(summarizePlan(plan)),
    worker_processes: String(options.workerProcesses ?? 1),
    user_directive: options.user ? `user ${options.user};` : '# user: the invoking user (not root)',
    legacy: plan.legacy,
    shadow_upstream: shadowUpstream,
    route_http: routes.map((r) => r.http).join(''),
    listen: plan.listen,
    proxy_headers: indent(proxyHeaderLines(), 8),
    legacy_proxy: indent(legacyProxyLines(), 12),
    route_locations: routes.map((r) => r.location).join('') + notFound,
    writes_from: indent(
      plan.writesFrom.map((c) => `${c} 1;`),
      8,
    ),
    error_pages: indent(frontDoorErrorPages(), 8),
    listener_checks: indent(listenerCheckLines(), 12),
    error_locations: frontDoorErrorLocations(),
    control_socket: controlSocketPath(options.runDir),
  });
  return { text, digest };
}

/** The unix socket on which the running workers report their configuration. */
export function controlSocketPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, '')}/control.sock`;
}
