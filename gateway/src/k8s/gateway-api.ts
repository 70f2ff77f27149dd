/**
 * Cutover file -> Gateway API HTTPRoutes (gateway.networking.k8s.io/v1). PURE.
 *
 * One HTTPRoute per cutover route, plus one that sends everything else to legacy, as the front
 * door does. A route's rule `split` matches its path and each method and splits by weight (the
 * new service first, so its weight is the share); the shadow sample is a RequestMirror filter
 * with `percent`. Gateway API ranks rules by path length, then method, then header count, across
 * HTTPRoutes: the override rules (header match) beat `split`, and `split` beats the catch-all.
 */
import type { CutoverFile, CutoverRoute } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import {
  commonNotes,
  newServiceOf,
  objectName,
  OVERRIDE_HEADER,
  overrideFromEveryone,
  ROUTE_LABEL,
  routeLabels,
  serviceRef,
  shadowPercent,
  type K8sRender,
  type K8sRenderOptions,
  type Manifest,
  type ServiceRef,
} from './common.ts';

const API_VERSION = 'gateway.networking.k8s.io/v1';

const backendRef = (s: ServiceRef, weight: number) => ({ name: s.name, port: s.port, weight });

function matches(route: CutoverRoute, headerValue?: string) {
  return route.methods.map((method) => ({
    path: { type: 'PathPrefix', value: route.path },
    method,
    ...(headerValue ? { headers: [{ type: 'Exact', name: OVERRIDE_HEADER, value: headerValue }] } : {}),
  }));
}

function httpRoute(name: string, labels: Record<string, string>, rules: unknown[], options: K8sRenderOptions): Manifest {
  return {
    apiVersion: API_VERSION,
    kind: 'HTTPRoute',
    metadata: { name, labels },
    spec: {
      parentRefs: [{ name: options.gateway }],
      ...(options.hosts.length > 0 ? { hostnames: [...options.hosts] } : {}),
      rules,
    },
  };
}

export function renderGatewayApi(file: CutoverFile, options: K8sRenderOptions): K8sRender {
  const legacy = serviceRef(file.legacy, options.legacyService, 'legacy');
  const sink = file.shadow_sink ? serviceRef(file.shadow_sink, options.shadowService, 'shadow_sink') : undefined;
  const manifests: Manifest[] = [
    httpRoute(
      objectName(options, 'legacy'),
      { 'app.kubernetes.io/managed-by': 'image-gateway' },
      [{ name: 'everything-else', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [backendRef(legacy, 1)] }],
      options,
    ),
  ];
  file.routes.forEach((route, i) => {
    const fresh = newServiceOf(route, i, options);
    const rules: unknown[] = [];
    if (route.override_header && overrideFromEveryone(route)) {
      rules.push({ name: 'override-new', matches: matches(route, 'new'), backendRefs: [backendRef(fresh, 1)] });
      rules.push({ name: 'override-legacy', matches: matches(route, 'legacy'), backendRefs: [backendRef(legacy, 1)] });
    }
    const mirror = shadowPercent(file, route);
    rules.push({
      name: 'split',
      matches: matches(route),
      ...(mirror > 0 && sink
        ? { filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: sink.name, port: sink.port }, percent: mirror } }] }
        : {}),
      backendRefs: [backendRef(fresh, route.share), backendRef(legacy, 100 - route.share)],
    });
    manifests.push(httpRoute(objectName(options, route.name), routeLabels(route), rules, options));
  });
  const notes = [
    ...commonNotes(file),
    ...file.routes.map(
      (r) => `route ${r.name}: PathPrefix ${r.path} also matches ${r.path.slice(0, -1)} (Gateway API ignores a trailing '/'); its GETs split too`,
    ),
  ];
  return { manifests, notes };
}

interface RuleShape {
  name?: string;
  backendRefs?: { weight?: number }[];
}

/** The share each route's `split` rule runs: the new service's weight (first ref) over the total. */
export function readGatewayApiShares(manifests: readonly Manifest[]): Map<string, number> {
  const shares = new Map<string, number>();
  for (const m of manifests) {
    const route = m.metadata.labels?.[ROUTE_LABEL];
    if (m.kind !== 'HTTPRoute' || route === undefined) continue;
    const split = ((m.spec.rules ?? []) as RuleShape[]).find((r) => r.name === 'split');
    // Gateway API's default weight is 1.
    const weights = (split?.backendRefs ?? []).map((b) => b.weight ?? 1);
    const total = weights.reduce((a, b) => a + b, 0);
    if (weights.length === 0) throw new GatewayError('manifest_unreadable', `HTTPRoute ${m.metadata.name}: expected a rule named 'split' with backendRefs`);
    shares.set(route, total === 0 ? 0 : Math.round((100 * weights[0]!) / total));
  }
  return shares;
}
