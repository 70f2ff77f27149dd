/**
 * Cutover file -> ingress-nginx Ingresses (networking.k8s.io/v1 with canary annotations). PURE.
 *
 * ingress-nginx splits with a second, "canary" Ingress for the same host and path: per cutover
 * route, one Ingress sends the path to legacy and its canary sends `canary-weight` percent to the
 * new service. One more Ingress sends everything else to legacy. The route's path is
 * `ImplementationSpecific` (ingress-nginx: a plain nginx prefix location), not `Prefix`: Prefix
 * ignores the trailing '/', so /image/files/ would also take the uploads and deletes at
 * /image/files, and an Ingress cannot match methods to keep them out.
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

const ANNOTATION = 'nginx.ingress.kubernetes.io/';
const CANARY_WEIGHT = `${ANNOTATION}canary-weight`;

const backend = (s: ServiceRef) => ({ service: { name: s.name, port: { number: s.port } } });

function ingress(name: string, labels: Record<string, string>, paths: unknown[], options: K8sRenderOptions, annotations?: Record<string, string>): Manifest {
  const http = { paths };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, labels, ...(annotations ? { annotations } : {}) },
    spec: {
      ingressClassName: options.ingressClass,
      rules: options.hosts.length > 0 ? options.hosts.map((host) => ({ host, http })) : [{ http }],
    },
  };
}

function canaryAnnotations(route: CutoverRoute): Record<string, string> {
  const annotations: Record<string, string> = {
    [`${ANNOTATION}canary`]: 'true',
    [CANARY_WEIGHT]: String(route.share),
    [`${ANNOTATION}canary-weight-total`]: '100',
  };
  if (route.override_header && overrideFromEveryone(route)) {
    // `X-Image-Backend: new` always reaches the canary; any other value (legacy too) falls back to the weight.
    annotations[`${ANNOTATION}canary-by-header`] = OVERRIDE_HEADER;
    annotations[`${ANNOTATION}canary-by-header-value`] = 'new';
  }
  return annotations;
}

export function renderIngressNginx(file: CutoverFile, options: K8sRenderOptions): K8sRender {
  const legacy = serviceRef(file.legacy, options.legacyService, 'legacy');
  const manifests: Manifest[] = [
    ingress(
      objectName(options, 'legacy'),
      { 'app.kubernetes.io/managed-by': 'image-gateway' },
      [{ path: '/', pathType: 'Prefix', backend: backend(legacy) }],
      options,
    ),
  ];
  const notes = commonNotes(file);
  file.routes.forEach((route, i) => {
    const fresh = newServiceOf(route, i, options);
    const path = (s: ServiceRef) => [{ path: route.path, pathType: 'ImplementationSpecific', backend: backend(s) }];
    manifests.push(ingress(objectName(options, route.name), routeLabels(route), path(legacy), options));
    manifests.push(ingress(objectName(options, route.name, 'canary'), routeLabels(route), path(fresh), options, canaryAnnotations(route)));
    notes.push(`route ${route.name}: methods ${route.methods.join(', ')} not rendered: an Ingress matches every method under ${route.path}`);
    if (route.override_header && overrideFromEveryone(route)) notes.push(`route ${route.name}: X-Image-Backend: legacy not rendered: only 'new' can be forced`);
    if (shadowPercent(file, route) > 0) {
      notes.push(`route ${route.name}: shadow_sample not rendered: ingress-nginx's mirror-target mirrors every request of an Ingress, with no percentage`);
    }
  });
  return { manifests, notes };
}

/** The share of each route: its canary Ingress's `canary-weight`. */
export function readIngressNginxShares(manifests: readonly Manifest[]): Map<string, number> {
  const shares = new Map<string, number>();
  for (const m of manifests) {
    const route = m.metadata.labels?.[ROUTE_LABEL];
    const weight = m.metadata.annotations?.[CANARY_WEIGHT];
    if (m.kind !== 'Ingress' || route === undefined || m.metadata.annotations?.[`${ANNOTATION}canary`] !== 'true') continue;
    if (weight === undefined || !/^[0-9]+$/.test(weight)) {
      throw new GatewayError(
        'manifest_unreadable',
        `Ingress ${m.metadata.name}: expected a ${CANARY_WEIGHT} annotation holding an integer, found ${String(weight)}`,
      );
    }
    shares.set(route, Number(weight));
  }
  return shares;
}
