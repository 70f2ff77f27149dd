/**
 * What the Kubernetes renders share: options with their defaults, backend address -> Service,
 * route name -> object name, and the notes that say what a target cannot express. PURE.
 *
 * The renders read the cutover file itself, not the nginx plan: addresses in the file are what
 * the front door dials (127.0.0.1:8082), and on a cluster they become Services by rule, below.
 */
import { GatewayError } from '../errors.ts';
import type { CutoverFile, CutoverRoute } from '../cutover/schema.ts';

/** The header the front door honours for a per-request override (nginx/render.ts uses the same name). */
export const OVERRIDE_HEADER = 'X-Image-Backend';
/** Label on every rendered object: which cutover route it carries (read back by the routers). */
export const ROUTE_LABEL = 'image-gateway/route';
/** The file a render writes into its output directory. One file, so one rename makes it atomic. */
export const ROUTES_FILE = 'routes.yaml';

/** Where the rendered routes attach, and the Service names used for addresses that are not names. */
export interface K8sRenderOptions {
  /** Prefix of every object name. Default 'image-gateway'. */
  namePrefix: string;
  /** Gateway API: the Gateway the HTTPRoutes attach to; Istio: the gateway the VirtualService binds. Default 'image-gateway'. */
  gateway: string;
  /** Hostnames the routes answer for. Default none (every host the Gateway/ingress listens for; Istio: '*'). */
  hosts: string[];
  /** ingress-nginx: the IngressClass. Default 'nginx'. */
  ingressClass: string;
  /** Service for a new-service address that is an IP (127.0.0.1:8082 in the shipped file). Default 'image-service'. */
  newService: string;
  /** Service for a legacy address that is an IP. Default 'legacy'. */
  legacyService: string;
  /** Service for a shadow-sink address that is an IP. Default 'shadow-sink'. */
  shadowService: string;
}

export const DEFAULT_K8S_OPTIONS: K8sRenderOptions = {
  namePrefix: 'image-gateway',
  gateway: 'image-gateway',
  hosts: [],
  ingressClass: 'nginx',
  newService: 'image-service',
  legacyService: 'legacy',
  shadowService: 'shadow-sink',
};

/** A Service and port, as every target's backend reference needs them. */
export interface ServiceRef {
  name: string;
  port: number;
}

/** A rendered object: enough shape for the routers to find what they wrote. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** One target's render: the objects, and what it could not express of the file (also written as comments). */
export interface K8sRender {
  manifests: Manifest[];
  notes: string[];
}

/** A route's new-service addresses, whether the schema gives one string or a list of replicas. */
export function backendsOf(route: { backend: string | readonly string[] }): string[] {
  return typeof route.backend === 'string' ? [route.backend] : [...route.backend];
}

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * host:port -> Service. A name maps to its first DNS label (image-service.prod.svc:8082 ->
 * image-service, same namespace as the routes); an IP address has no Service name, so it maps to
 * `ipName`: the file is written for one box, and on the cluster that box's part is that Service.
 */
export function serviceRef(address: string, ipName: string, field: string): ServiceRef {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  const port = Number(address.slice(at + 1));
  const isIp = host.startsWith('[') || /^[0-9.]+$/.test(host);
  const name = isIp ? ipName : host.split('.')[0]!.toLowerCase();
  if (!DNS_LABEL.test(name)) {
    throw new GatewayError(
      'invalid_k8s_name',
      `${field}: '${address}' cannot name a Kubernetes Service: expected a host whose first label is a DNS label (a-z, 0-9, -)`,
      {
        exitCode: 2,
      },
    );
  }
  return { name, port };
}

/**
 * The one Service a route's replicas map to. nginx balances over the listed addresses; on a
 * cluster the Service balances over its pods, so several addresses must be one Service.
 */
export function newServiceOf(route: CutoverRoute, index: number, options: K8sRenderOptions): ServiceRef {
  const refs = backendsOf(route).map((a, i) => serviceRef(a, options.newService, `routes[${index}].backend[${i}]`));
  const distinct = [...new Set(refs.map((r) => `${r.name}:${r.port}`))];
  if (distinct.length > 1) {
    throw new GatewayError(
      'invalid_k8s_backend',
      `routes[${index}].backend: the replicas map to several Services (${distinct.join(', ')}): expected one Service and port per route on Kubernetes, ` +
        'where the Service balances over its pods',
      { exitCode: 2 },
    );
  }
  return refs[0]!;
}

/** Route name -> object name: cutover names allow '_', Kubernetes names do not. */
export function objectName(options: K8sRenderOptions, ...parts: string[]): string {
  const name = [options.namePrefix, ...parts].join('-').replace(/_/g, '-');
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw new GatewayError(
      'invalid_k8s_name',
      `'${name}' is not a Kubernetes object name: expected at most 63 of a-z, 0-9, '-', not ending in '-' (rename the route)`,
      {
        exitCode: 2,
      },
    );
  }
  return name;
}

export function routeLabels(route: CutoverRoute): Record<string, string> {
  // Label values may hold '_': the route's own name, so the routers read shares back by it.
  return { 'app.kubernetes.io/managed-by': 'image-gateway', [ROUTE_LABEL]: route.name };
}

/** True when the override header may be honoured from anyone: no target can match a client address. */
export function overrideFromEveryone(route: CutoverRoute): boolean {
  return route.override_from.includes('0.0.0.0/0') && route.override_from.includes('::/0');
}

/** The mirror percentage the file asks for: none without a sink (the schema refuses the other case). */
export function shadowPercent(file: CutoverFile, route: CutoverRoute): number {
  return file.shadow_sink ? route.shadow_sample : 0;
}

/**
 * What no target renders, for every route that asks for it: the engines split per request, pick
 * no second backend when the first fails, and match no client address. Said once here so the
 * three targets word it the same way; each target adds its own.
 */
export function commonNotes(file: CutoverFile): string[] {
  const notes: string[] = [];
  for (const route of file.routes) {
    const r = `route ${route.name}`;
    if (route.share > 0 && route.share < 100) {
      notes.push(`${r}: sticky ${route.sticky} not rendered: weights split per request, so one variant may be served by either backend`);
    }
    if (route.fallback) notes.push(`${r}: fallback not rendered: no per-request retry on legacy after a connect error, timeout, 502 or 504 of the new service`);
    if (route.max_fails > 0) notes.push(`${r}: max_fails/fail_timeout_s not rendered: readiness probes take failing pods out of the Service instead`);
    notes.push(`${r}: timeout_ms ${route.timeout_ms} not rendered: a rule's timeout would cut legacy too; the service's REQUEST_TIMEOUT_MS bounds it`);
    if (route.override_header && !overrideFromEveryone(route)) {
      notes.push(`${r}: override_header not rendered: it is honoured only from override_from, and the routes cannot match a client address`);
    }
    if (route.debug_headers) notes.push(`${r}: debug_headers not rendered`);
  }
  if (!(file.writes_from.includes('0.0.0.0/0') && file.writes_from.includes('::/0'))) {
    notes.push('writes_from not rendered: the routes cannot match a client address; restrict writes with a network policy or legacy itself');
  }
  return notes;
}
