/**
 * Cutover file -> one Istio VirtualService (networking.istio.io/v1). PURE.
 *
 * Istio takes the first http route that matches, in order, so one VirtualService holds them all:
 * per cutover route its override routes (header match), then the route itself (path and each
 * method; weighted destinations, the new service first; `mirror` + `mirrorPercentage` for the
 * shadow sample), and last the catch-all to legacy, as the front door does.
 */
import type { CutoverFile, CutoverRoute } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import {
  commonNotes,
  newServiceOf,
  objectName,
  OVERRIDE_HEADER,
  overrideFromEveryone,
  serviceRef,
  shadowPercent,
  type K8sRender,
  type K8sRenderOptions,
  type Manifest,
  type ServiceRef,
} from './common.ts';

/** Annotation listing the cutover routes, so the read-back knows which http routes are the splits. */
export const ISTIO_ROUTES_ANNOTATION = 'image-gateway/routes';

const destination = (s: ServiceRef) => ({ host: s.name, port: { number: s.port } });

function matches(route: CutoverRoute, headerValue?: string) {
  return route.methods.map((method) => ({
    uri: { prefix: route.path },
    method: { exact: method },
    // Istio matches header names in lower case.
    ...(headerValue ? { headers: { [OVERRIDE_HEADER.toLowerCase()]: { exact: headerValue } } } : {}),
  }));
}

export function renderIstio(file: CutoverFile, options: K8sRenderOptions): K8sRender {
  const legacy = serviceRef(file.legacy, options.legacyService, 'legacy');
  const sink = file.shadow_sink ? serviceRef(file.shadow_sink, options.shadowService, 'shadow_sink') : undefined;
  const http: unknown[] = [];
  file.routes.forEach((route, i) => {
    const fresh = newServiceOf(route, i, options);
    if (route.override_header && overrideFromEveryone(route)) {
      http.push({ name: `${route.name}-override-new`, match: matches(route, 'new'), route: [{ destination: destination(fresh) }] });
      http.push({ name: `${route.name}-override-legacy`, match: matches(route, 'legacy'), route: [{ destination: destination(legacy) }] });
    }
    const mirror = shadowPercent(file, route);
    http.push({
      name: route.name,
      match: matches(route),
      route: [
        { destination: destination(fresh), weight: route.share },
        { destination: destination(legacy), weight: 100 - route.share },
      ],
      ...(mirror > 0 && sink ? { mirror: destination(sink), mirrorPercentage: { value: mirror } } : {}),
    });
  });
  http.push({ name: 'everything-else', route: [{ destination: destination(legacy) }] });
  const manifest: Manifest = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name: objectName(options),
      labels: { 'app.kubernetes.io/managed-by': 'image-gateway' },
      annotations: { [ISTIO_ROUTES_ANNOTATION]: file.routes.map((r) => r.name).join(',') },
    },
    spec: {
      hosts: options.hosts.length > 0 ? [...options.hosts] : ['*'],
      gateways: [options.gateway],
      http,
    },
  };
  return { manifests: [manifest], notes: commonNotes(file) };
}

interface HttpShape {
  name?: string;
  route?: { weight?: number }[];
}

/** The share of each route the annotation lists: the first destination's weight over the total. */
export function readIstioShares(manifests: readonly Manifest[]): Map<string, number> {
  const shares = new Map<string, number>();
  for (const m of manifests) {
    if (m.kind !== 'VirtualService') continue;
    const names = (m.metadata.annotations?.[ISTIO_ROUTES_ANNOTATION] ?? '').split(',').filter(Boolean);
    for (const name of names) {
      const http = ((m.spec.http ?? []) as HttpShape[]).find((h) => h.name === name);
      const weights = (http?.route ?? []).map((d) => d.weight ?? 0);
      const total = weights.reduce((a, b) => a + b, 0);
      if (total === 0)
        throw new GatewayError('manifest_unreadable', `VirtualService ${m.metadata.name}: expected an http route named '${name}' with weighted destinations`);
      shares.set(name, Math.round((100 * weights[0]!) / total));
    }
  }
  return shares;
}
