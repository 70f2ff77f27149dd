/**
 * The cutover file (nginx/cutover.yaml): schema, defaults and error messages. PURE.
 *
 * Every value that ends up inside the rendered nginx config is checked here against a strict
 * pattern, so no field can smuggle a `;`, `{` or quote into the config.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { gatesSchema, needsShadow, rolloutSchema } from '../rollout/core/spec.ts';

/** Methods a route may match. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type Method = (typeof METHODS)[number];
/** The only methods that may be mirrored or replayed: anything else changes data. */
export const REPLAYABLE_METHODS: readonly Method[] = ['GET', 'HEAD'];

/** Path prefixes the front door keeps for itself (the internal mirror locations live there). */
export const RESERVED_PREFIX = '/_frontdoor/';

/** Most replicas a route may list (IMAGE_SERVICE_REPLICAS has the same bound). */
export const MAX_REPLICAS = 16;

const ADDRESS_MESSAGE = 'expected host:port, such as 127.0.0.1:8082 or image-service:8082';
const PERCENT_MESSAGE = 'expected an integer from 0 to 100';

const port = (s: string) => {
  const n = Number(s.slice(s.lastIndexOf(':') + 1));
  return n >= 1 && n <= 65535;
};

const address = z
  .string({ error: ADDRESS_MESSAGE })
  .regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$/, { error: ADDRESS_MESSAGE, abort: true })
  .refine(port, { error: 'expected a port from 1 to 65535' });

const BACKENDS_MESSAGE = `${ADDRESS_MESSAGE}, or a list of them (one per replica), such as [127.0.0.1:8082, 127.0.0.1:8182]`;
/**
 * The replicas of a route's new service: one address or a non-empty list of distinct ones,
 * always a list once parsed. A single address keeps its own error path (routes[0].backend), a
 * listed one names its index (routes[0].backend[1]).
 */
const backendList = z.union([z.string(), z.array(z.unknown())], { error: BACKENDS_MESSAGE }).transform((v, ctx): string[] => {
  const list = typeof v === 'string' ? [v] : v;
  if (list.length === 0) ctx.issues.push({ code: 'custom', message: `expected at least one address: ${BACKENDS_MESSAGE}`, input: v });
  if (list.length > MAX_REPLICAS) ctx.issues.push({ code: 'custom', message: `expected at most ${MAX_REPLICAS} replicas`, input: v });
  list.forEach((a, i) => {
    const r = address.safeParse(a);
    if (!r.success) ctx.issues.push({ code: 'custom', message: r.error.issues[0]!.message, input: a, path: typeof v === 'string' ? [] : [i] });
  });
  const at = list.findIndex((a, i) => list.indexOf(a) !== i);
  if (at >= 0) ctx.issues.push({ code: 'custom', message: `expected each address once ('${String(list[at])}' is listed twice)`, input: v, path: [at] });
  return list as string[];
});

// `listen: 8080` arrives from YAML as a number; nginx reads a bare port as "every address".
const listen = z
  .union([z.string(), z.number()], { error: 'expected [host:]port, such as 127.0.0.1:8080' })
  .transform(String)
  .pipe(
    z
      .string()
      .regex(/^(?:(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):)?[0-9]{1,5}$/, { error: 'expected [host:]port, such as 127.0.0.1:8080', abort: true })
      .refine(port, { error: 'expected a port from 1 to 65535' }),
  );

const percent = z.int({ error: PERCENT_MESSAGE }).min(0, { error: PERCENT_MESSAGE }).max(100, { error: PERCENT_MESSAGE });

const bool = (name: string) => z.boolean({ error: `expected true or false (${name})` });

const CIDR_MESSAGE = 'expected an IPv4 or IPv6 address or CIDR block, such as 10.0.0.0/8, 127.0.0.1 or ::1';
/** One client address or CIDR block, as nginx `geo` reads it. zod's parsers keep `;`, `{` and quotes out. */
const cidr = z
  .string({ error: CIDR_MESSAGE })
  .refine((s) => z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()]).safeParse(s).success, { error: CIDR_MESSAGE });
const cidrList = (what: string) => z.array(cidr, { error: `expected a list of addresses or CIDR blocks (${what}), such as [127.0.0.0/8, ::1]` });

const method = z
  .string({ error: `expected one of ${METHODS.join(', ')}` })
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(METHODS, { error: `expected one of ${METHODS.join(', ')}` }));

const routeSchema = z.strictObject({
  /** Route name: used in `gateway set <route>`, the access log and nginx variable names. */
  name: z
    .string({ error: 'expected a route name' })
    .regex(/^[a-z][a-z0-9_]{0,31}$/, { error: 'expected a route name: 1 to 32 lowercase letters, digits or _, starting with a letter' }),
  /** Methods the route matches. Default [GET, HEAD]. */
  methods: z
    .array(method, { error: `expected a list of methods, such as [GET, HEAD]` })
    .min(1, { error: 'expected at least one method' })
    .refine((ms) => new Set(ms).size === ms.length, { error: 'expected each method once' })
    .default(['GET', 'HEAD']),
  /** Path prefix the route matches (nginx `location ^~`), starting and ending with '/'. */
  path: z
    .string({ error: 'expected a path prefix such as /image/files/' })
    .regex(/^\/(?:[A-Za-z0-9._~\-/]*\/)?$/, { error: "expected a path prefix that starts and ends with '/', made of A-Z a-z 0-9 . _ ~ - /", abort: true })
    .refine((p) => p !== '/', { error: "expected a narrower prefix than '/': everything outside the routes already goes to legacy" })
    .refine((p) => !p.startsWith(RESERVED_PREFIX), { error: `expected a prefix outside ${RESERVED_PREFIX} (reserved for the front door)` })
    .refine((p) => !p.split('/').some((seg) => seg === '.' || seg === '..'), { error: "expected no '.' or '..' segments" }),
  /**
   * The new service: one address (host:port) or a list of replicas. Always a list once parsed.
   * nginx balances the replicas (least connections), retries the next one on a connect error and
   * falls back to legacy when none is left (render.ts says why a timeout is not retried).
   */
  backend: backendList,
  /** Percent of variants (0..100) sent to the new service. Default 0. */
  share: percent.default(0),
  /** nginx variable whose value is hashed to pick the backend (split_clients). Default request_uri. */
  sticky: z
    .string({ error: 'expected an nginx variable name such as request_uri' })
    .transform((s) => s.replace(/^\$/, ''))
    .pipe(z.string().regex(/^[a-z_][a-z0-9_]{0,63}$/, { error: 'expected an nginx variable name such as request_uri, uri or cookie_uid' }))
    .default('request_uri'),
  /**
   * On connect error, timeout, 502 or 504 from the new service, serve from legacy. Default true.
   * A 503 passes through: the service sheds load on purpose, and replaying it on legacy would
   * move the overload onto the backend that has the least headroom. GET/HEAD routes only.
   */
  fallback: bool('fallback').default(true),
  /** Honour the request header `X-Image-Backend: legacy|new` (from `override_from` clients only). Default false. */
  override_header: bool('override_header').default(false),
  /** Client addresses whose override header is honoured. Default loopback only: a client elsewhere must not steer. */
  override_from: cidrList('override_from').default(['127.0.0.0/8', '::1']),
  /** Send X-Image-Backend / X-Image-Fallback response headers. Default false: clients do not see inside. */
  debug_headers: bool('debug_headers').default(false),
  /**
   * Passive health: after `max_fails` connect errors or timeouts of the new service within
   * `fail_timeout_s`, the route serves from legacy for `fail_timeout_s`, then probes with one
   * request. Default 3; 0 turns it off.
   */
  max_fails: z
    .int({ error: 'expected an integer from 0 to 100 (0: never stop sending to the new service)' })
    .min(0, { error: 'expected an integer from 0 to 100 (0: never stop sending to the new service)' })
    .max(100, { error: 'expected an integer from 0 to 100 (0: never stop sending to the new service)' })
    .default(3),
  /**
   * Seconds (nginx's fail_timeout has second resolution). Default 30: while the new service is
   * down, one probe per window pays timeout_ms before its fallback; at 30 s that is well under
   * 1% of requests at any load worth a route, so the p99 stays legacy's.
   */
  fail_timeout_s: z
    .int({ error: 'expected an integer number of seconds from 1 to 3600' })
    .min(1, { error: 'expected an integer number of seconds from 1 to 3600' })
    .max(3600, { error: 'expected an integer number of seconds from 1 to 3600' })
    .default(30),
  /** Percent (0..100) of the route's GETs mirrored to `shadow_sink`. Default 0. GET/HEAD routes only. */
  shadow_sample: percent.default(0),
  /**
   * How long nginx waits on the new service (send and read) before the fallback. Default 2000 ms:
   * a hung service must be detected (max_fails timeouts) well within 3 s, so that the requests
   * after that go to legacy at once. The new service's p99 is ~350 ms; its slowest legitimate
   * render (~2 s) may exceed its own deadline (serviceDeadlineMs) and be served by legacy, which
   * costs that one request, not every request while the service hangs.
   */
  timeout_ms: z
    .int({ error: 'expected an integer number of milliseconds from 100 to 600000' })
    .min(100, { error: 'expected an integer number of milliseconds from 100 to 600000' })
    .max(600_000, { error: 'expected an integer number of milliseconds from 100 to 600000' })
    .default(2000),
  /** An evidence-gated rollout of the share (gateway rollout run <route>; docs/rollout.md). Optional. */
  rollout: rolloutSchema.optional(),
});

export const cutoverSchema = z
  .strictObject({
    /** Where the front door listens, [host:]port. Default 127.0.0.1:8080. */
    listen: listen.default('127.0.0.1:8080'),
    /** The legacy backend (its own nginx), host:port. Default 127.0.0.1:8081. */
    legacy: address.default('127.0.0.1:8081'),
    /** Where mirrored requests go (the `gateway shadow` sink), host:port. Optional. */
    shadow_sink: address.optional(),
    /**
     * Clients allowed to send anything but GET and HEAD through the front door (uploads, deletes);
     * others get 403. Default everyone, as legacy itself allows.
     */
    writes_from: cidrList('writes_from').default(['0.0.0.0/0', '::/0']),
    /** The routes; anything they do not match goes to legacy. Default none. */
    routes: z.array(routeSchema, { error: 'expected a list of routes' }).default([]),
  })
  .superRefine((file, ctx) => {
    const names = new Map<string, number>();
    const paths = new Map<string, number>();
    file.routes.forEach((route, i) => {
      const nameAt = names.get(route.name);
      if (nameAt !== undefined)
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `expected a unique name ('${route.name}' is also routes[${nameAt}].name)` });
      else names.set(route.name, i);
      const pathAt = paths.get(route.path);
      if (pathAt !== undefined)
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'path'], message: `expected a unique path ('${route.path}' is also routes[${pathAt}].path)` });
      else {
        // Nested prefixes would fight over the slash-less path (nginx redirects it to the inner one).
        for (const [other, at] of paths) {
          if (route.path.startsWith(other) || other.startsWith(route.path)) {
            ctx.addIssue({ code: 'custom', path: ['routes', i, 'path'], message: `expected a path that does not overlap routes[${at}].path ('${other}')` });
          }
        }
        paths.set(route.path, i);
      }
      if (route.fallback) {
        const writes = route.methods.filter((m) => !REPLAYABLE_METHODS.includes(m) && m !== 'OPTIONS');
        if (writes.length > 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'fallback'],
            message:
              `expected false: a route that matches ${writes.join(', ')} must not fall back (the fallback replays a request on legacy that ` +
              `the new service may already have applied, and a replayed write changes data); the default is true, so say fallback: false`,
          });
        }
      }
      if (route.rollout && needsShadow(route.rollout.gates) && route.shadow_sample === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'rollout', 'gates'],
          message: 'expected shadow_sample > 0 with parity_min or p99_ratio_max: those gates judge the mirrored pairs, and none are mirrored',
        });
      }
      if (route.shadow_sample > 0) {
        const unsafe = route.methods.filter((m) => !REPLAYABLE_METHODS.includes(m));
        if (unsafe.length > 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'shadow_sample'],
            message: `expected 0: shadowing is refused for a route that matches ${unsafe.join(', ')} (only GET and HEAD routes may be shadowed; mirroring a write changes data)`,
          });
        } else if (!file.shadow_sink) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'shadow_sample'],
            message: 'expected 0 unless shadow_sink is set: there is nowhere to mirror to',
          });
        }
      }
    });
  });

/** The cutover file after validation, defaults filled in. */
export type CutoverFile = z.output<typeof cutoverSchema>;
/** One route after validation, defaults filled in. */
export type CutoverRoute = z.output<typeof routeSchema>;
/** A route as written in the file (optional fields may be missing). */
export type CutoverRouteInput = z.input<typeof routeSchema>;

/** `['routes', 0, 'share']` -> `routes[0].share` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(file)';
}

function formatIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const where = formatPath(issue.path);
    const last = issue.path[issue.path.length - 1];
    const shape =
      issue.path.length === 0 ? cutoverSchema.shape : last === 'rollout' ? rolloutSchema.shape : last === 'gates' ? gatesSchema.shape : routeSchema.shape;
    const known = Object.keys(shape);
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}; expected only ${known.join(', ')}`;
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** Validates an already-parsed document. Returns every problem at once, each naming the field. */
export function validateCutover(data: unknown): { ok: true; value: CutoverFile } | { ok: false; problems: string[] } {
  // An empty YAML file parses to null: treat it as an empty mapping, so the defaults apply.
  const parsed = cutoverSchema.safeParse(data ?? {});
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, problems: parsed.error.issues.map(formatIssue) };
}

/** YAML text -> CutoverFile, or a GatewayError('invalid_cutover') listing every problem. */
export function parseCutover(text: string, source = 'cutover file'): CutoverFile {
  let data: unknown;
  try {
    data = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const detail = err instanceof YAMLParseError ? err.message : String(err);
    throw new GatewayError('invalid_cutover', `${source} is not valid YAML: ${detail}`, { cause: err, exitCode: 2 });
  }
  const result = validateCutover(data);
  if (!result.ok) {
    throw new GatewayError('invalid_cutover', `${source} is invalid:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`, { exitCode: 2 });
  }
  return result.value;
}

/** True when every method of the route is GET or HEAD: it may be mirrored and replayed. */
export function isShadowable(route: Pick<CutoverRoute, 'methods'>): boolean {
  return route.methods.every((m) => REPLAYABLE_METHODS.includes(m));
}

/** Throws GatewayError('not_replayable') unless the route matches only GET and HEAD. */
export function assertReplayable(route: Pick<CutoverRoute, 'name' | 'methods'>): void {
  if (!isShadowable(route)) {
    const unsafe = route.methods.filter((m) => !REPLAYABLE_METHODS.includes(m));
    throw new GatewayError(
      'not_replayable',
      `route '${route.name}' matches ${unsafe.join(', ')}: only GET and HEAD routes may be shadowed or replayed (a replayed write changes data)`,
      { exitCode: 2 },
    );
  }
}
