/**
 * The Kubernetes renders (gateway/src/k8s): every object validates against the published schemas,
 * and the weights, matches and mirror percentage in each render are the cutover file's, read out
 * of the objects here independently of the routers' own read-back.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { setRouteShare, setYamlValue } from '../src/cutover/edit.ts';
import { parseCutover, type CutoverFile } from '../src/cutover/schema.ts';
import { GatewayError } from '../src/errors.ts';
import { backendsOf, DEFAULT_K8S_OPTIONS, objectName, serviceRef, type Manifest } from '../src/k8s/common.ts';
import { K8S_TARGET_NAMES, K8S_TARGETS, parseManifests, renderK8s, type K8sTargetName } from '../src/k8s/render.ts';
import { validateManifest } from './k8s-models.ts';

const shippedText = readFileSync(path.join(projectRoot, 'nginx/cutover.yaml'), 'utf8');
const atShare = (share: number, text = shippedText) => parseCutover(setRouteShare(text, 'images', share));

/** The shipped file at share 10, plus a 5% shadow sample, the override open to everyone, and a second route with two replicas. */
const richText = [
  setYamlValue(
    setYamlValue(setYamlValue(setRouteShare(shippedText, 'images', 10), ['routes', 0, 'shadow_sample'], 5), ['routes', 0, 'override_header'], true),
    ['routes', 0, 'override_from'],
    ['0.0.0.0/0', '::/0'],
  ),
  '  - name: thumbs_v2',
  '    methods: [GET]',
  '    path: /thumbs/',
  '    backend: [thumbs.prod.svc.cluster.local:9000, thumbs:9000]',
  '    share: 37',
  '',
].join('\n');

/** What the front door does for a route, in the terms every target must reproduce. */
interface Seen {
  newWeight: number;
  legacyWeight: number;
  path: string;
  methods: string[];
  mirror: number;
  overrides: string[];
}

/** Per target: route name -> what its objects do, read straight from the objects. */
const readers: Record<K8sTargetName, (ms: Manifest[], file: CutoverFile) => Map<string, Seen>> = {
  'gateway-api': (ms) => {
    type Rule = {
      name: string;
      matches: { path: { value: string }; method: string; headers?: { value: string }[] }[];
      backendRefs: { name: string; weight: number }[];
      filters?: { requestMirror: { percent: number } }[];
    };
    const out = new Map<string, Seen>();
    for (const m of ms) {
      const route = m.metadata.labels?.['image-gateway/route'];
      if (!route) continue;
      const rules = m.spec.rules as Rule[];
      const split = rules.find((r) => r.name === 'split')!;
      out.set(route, {
        newWeight: split.backendRefs[0]!.weight,
        legacyWeight: split.backendRefs.find((b) => b.name === 'legacy')!.weight,
        path: split.matches[0]!.path.value,
        methods: split.matches.map((x) => x.method),
        mirror: split.filters?.[0]?.requestMirror.percent ?? 0,
        overrides: rules.flatMap((r) => r.matches.flatMap((x) => (x.headers ?? []).map((h) => `${h.value}->${r.backendRefs[0]!.name}`))),
      });
    }
    return out;
  },
  istio: (ms, file) => {
    type Http = {
      name: string;
      match?: { uri: { prefix: string }; method: { exact: string }; headers?: Record<string, { exact: string }> }[];
      route: { destination: { host: string }; weight?: number }[];
      mirrorPercentage?: { value: number };
    };
    const http = ms[0]!.spec.http as Http[];
    const out = new Map<string, Seen>();
    for (const route of file.routes) {
      const split = http.find((h) => h.name === route.name)!;
      out.set(route.name, {
        newWeight: split.route[0]!.weight!,
        legacyWeight: split.route.find((d) => d.destination.host === 'legacy')!.weight!,
        path: split.match![0]!.uri.prefix,
        methods: split.match!.map((x) => x.method.exact),
        mirror: split.mirrorPercentage?.value ?? 0,
        overrides: http
          .filter((h) => h.name.startsWith(`${route.name}-override-`))
          .flatMap((h) => h.match!.flatMap((x) => Object.values(x.headers ?? {}).map((v) => `${v.exact}->${h.route[0]!.destination.host}`))),
      });
    }
    // Everything else goes to legacy, and that route comes last (Istio takes the first match).
    expect(http.at(-1)).toEqual({ name: 'everything-else', route: [{ destination: { host: 'legacy', port: { number: 8081 } } }] });
    return out;
  },
  'ingress-nginx': (ms) => {
    type Annotated = Manifest & { spec: { rules: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }[] } };
    const out = new Map<string, Seen>();
    for (const m of ms as Annotated[]) {
      const a = m.metadata.annotations ?? {};
      const route = m.metadata.labels?.['image-gateway/route'];
      if (!route || a['nginx.ingress.kubernetes.io/canary'] !== 'true') continue;
      const weight = Number(a['nginx.ingress.kubernetes.io/canary-weight']);
      const main = ms.find((x) => x.metadata.labels?.['image-gateway/route'] === route && x !== m) as Annotated;
      expect(main.spec.rules[0]!.http.paths[0]!.backend.service.name).toBe('legacy');
      out.set(route, {
        newWeight: weight,
        legacyWeight: Number(a['nginx.ingress.kubernetes.io/canary-weight-total']) - weight,
        path: m.spec.rules[0]!.http.paths[0]!.path,
        // An Ingress cannot match methods: every method under the path (docs/kubernetes.md).
        methods: ['*'],
        mirror: 0,
        overrides: a['nginx.ingress.kubernetes.io/canary-by-header-value'] ? [`${a['nginx.ingress.kubernetes.io/canary-by-header-value']}->canary`] : [],
      });
    }
    return out;
  },
};

/** What the file asks of each route, in the same terms, with each target's documented limits applied. */
function expected(target: K8sTargetName, file: CutoverFile): Map<string, Seen> {
  return new Map(
    file.routes.map((r) => {
      const open = r.override_header && r.override_from.includes('0.0.0.0/0') && r.override_from.includes('::/0');
      const newSvc = r.name === 'images' ? 'image-service' : 'thumbs';
      const overrides = !open
        ? []
        : target === 'ingress-nginx'
          ? ['new->canary']
          : r.methods.flatMap(() => [`new->${newSvc}`]).concat(r.methods.map(() => 'legacy->legacy'));
      return [
        r.name,
        {
          newWeight: r.share,
          legacyWeight: 100 - r.share,
          path: r.path,
          methods: target === 'ingress-nginx' ? ['*'] : [...r.methods],
          mirror: target === 'ingress-nginx' ? 0 : r.shadow_sample,
          overrides,
        },
      ];
    }),
  );
}

describe.each(K8S_TARGET_NAMES)('gateway render --target %s', (target) => {
  it.each([
    ['the shipped file at share 10', atShare(10)],
    ['a file with a mirror, an open override and a second route', parseCutover(richText)],
  ])('%s: every object validates against the published schema', (_name, file) => {
    const { manifests } = renderK8s(target, file);
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests) expect(() => validateManifest(m), `${m.kind} ${m.metadata.name}`).not.toThrow();
    // And the YAML text says the same as the objects.
    const text = renderK8s(target, file).files['routes.yaml']!;
    expect(parseManifests(text, 'routes.yaml')).toEqual(manifests);
  });

  it.each([
    ['the shipped file at share 10', atShare(10)],
    ['a file with a mirror, an open override and a second route', parseCutover(richText)],
  ])('%s: weights, matches and mirror percentage are the file’s', (_name, file) => {
    expect(readers[target](renderK8s(target, file).manifests, file)).toEqual(expected(target, file));
  });

  it.each([0, 1, 10, 50, 99, 100])('share %i is read back from the objects by the router’s reader', (share) => {
    const shares = K8S_TARGETS[target].readShares(renderK8s(target, atShare(share)).manifests);
    expect(shares).toEqual(new Map([['images', share]]));
  });

  it('says, as comments on top of the file, what it could not render', () => {
    const { files, notes } = renderK8s(target, atShare(10));
    expect(notes).toEqual(expect.arrayContaining([expect.stringMatching(/sticky request_uri not rendered/), expect.stringMatching(/fallback not rendered/)]));
    for (const n of notes) expect(files['routes.yaml']).toContain(`#   - ${n}`);
  });

  it('leaves the override header out while it is honoured from override_from only, and says so', () => {
    const file = parseCutover(setYamlValue(setRouteShare(shippedText, 'images', 10), ['routes', 0, 'override_header'], true));
    const { manifests, notes } = renderK8s(target, file);
    expect(JSON.stringify(manifests)).not.toMatch(/x-image-backend/i);
    expect(notes).toContainEqual(expect.stringMatching(/override_header not rendered/));
  });

  it('a schema violation in a rendered object is caught (the validation can fail)', () => {
    const [first] = renderK8s(target, atShare(10)).manifests.slice(-1);
    const broken = structuredClone(first!) as Manifest & { spec: Record<string, unknown> };
    if (target === 'gateway-api') (broken.spec.rules as { backendRefs: { weight: number }[] }[])[0]!.backendRefs[0]!.weight = -10;
    if (target === 'istio') (broken.spec.http as { route: { weight: unknown }[] }[])[0]!.route[0]!.weight = '10%';
    if (target === 'ingress-nginx') (broken.spec.rules as { http: { paths: { pathType: string }[] } }[])[0]!.http.paths[0]!.pathType = 'Glob';
    expect(() => validateManifest(broken)).toThrow();
  });
});

describe('addresses -> Services', () => {
  it.each([
    ['127.0.0.1:8082', 'image-service', { name: 'image-service', port: 8082 }],
    ['[::1]:8082', 'image-service', { name: 'image-service', port: 8082 }],
    ['image-service:8082', 'x', { name: 'image-service', port: 8082 }],
    ['Thumbs.prod.svc.cluster.local:9000', 'x', { name: 'thumbs', port: 9000 }],
  ])('%s -> %j', (address, ipName, ref) => {
    expect(serviceRef(address, ipName, 'backend')).toEqual(ref);
  });

  it('refuses a host whose first label is no DNS label, naming the field', () => {
    expect(() => serviceRef('-bad.example:80', 'x', 'routes[0].backend[0]')).toThrow(
      /routes\[0\]\.backend\[0\]: '-bad\.example:80' cannot name a Kubernetes Service/,
    );
  });

  it('backendsOf takes the schema’s string or list', () => {
    expect(backendsOf({ backend: 'a:1' })).toEqual(['a:1']);
    expect(backendsOf({ backend: ['a:1', 'b:2'] })).toEqual(['a:1', 'b:2']);
  });

  it('refuses replicas that map to different Services: on a cluster a Service balances over its pods', () => {
    const text = shippedText.replace('backend: 127.0.0.1:8082', 'backend: [image-a:8082, image-b:8082]');
    expect(() => renderK8s('istio', parseCutover(text))).toThrow(/routes\[0\]\.backend: the replicas map to several Services \(image-a:8082, image-b:8082\)/);
  });

  it('route names with _ become object names with -, and a name Kubernetes cannot take is refused', () => {
    expect(objectName(DEFAULT_K8S_OPTIONS, 'thumbs_v2', 'canary')).toBe('image-gateway-thumbs-v2-canary');
    expect(() => objectName(DEFAULT_K8S_OPTIONS, 'images_')).toThrow(GatewayError);
  });
});
