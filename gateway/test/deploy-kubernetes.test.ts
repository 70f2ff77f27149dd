/**
 * deploy/kubernetes: every manifest a kustomize build of the base or an overlay would apply
 * validates against the published schemas; the overlays' routes are a fresh render of
 * nginx/cutover.yaml; and the Deployment's figures agree with the service and the benchmark:
 * the CPU limit gives the concurrency the service derives from its cgroup, and the sizes follow
 * from bench/results.json.
 *
 * The build is done here, not by kustomize (a Go tool this project does not need otherwise): the
 * overlays are the base plus extra resources, no patches, so following `resources` lists is the
 * whole build. A kustomization using anything else fails the first test.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { projectRoot } from '../../common/paths.ts';
import { loadConfig } from '../../image-service/src/config.ts';
import { parseCgroupV1Quota, usableCpus } from '../../image-service/src/cpus.ts';
import { serviceDeadlineMs } from '../src/cutover/plan.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { K8S_TARGET_NAMES, renderK8s } from '../src/k8s/render.ts';
import { validateManifest } from './k8s-models.ts';

const deployDir = path.join(projectRoot, 'deploy/kubernetes');
const cutoverText = readFileSync(path.join(projectRoot, 'nginx/cutover.yaml'), 'utf8');

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; [k: string]: unknown };

/** What this build understands of a kustomization.yaml; anything else would need real kustomize. */
const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'resources', 'labels', 'images']);

/** The objects `kubectl apply -k dir` would send (before labels and image names are set), each with the file it came from. */
function build(dir: string): { file: string; object: K8sObject }[] {
  const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Record<string, unknown>;
  const extra = Object.keys(k).filter((key) => !KUSTOMIZATION_KEYS.has(key));
  if (extra.length > 0) throw new Error(`${dir}/kustomization.yaml uses ${extra.join(', ')}: expected only ${[...KUSTOMIZATION_KEYS].join(', ')}`);
  return ((k.resources ?? []) as string[]).flatMap((r) => {
    const at = path.join(dir, r);
    if (statSync(at).isDirectory()) return build(at);
    return parseAllDocuments(readFileSync(at, 'utf8'))
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null)
      .map((object) => ({ file: path.relative(deployDir, at), object }));
  });
}

const base = build(path.join(deployDir, 'base'));
const find = <T = K8sObject>(kind: string) => base.find((x) => x.object.kind === kind)!.object as unknown as T;

type Container = {
  ports: { name: string; containerPort: number }[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
};
type DeploymentShape = { spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containers: Container[] } } } };
const deployment = find<DeploymentShape>('Deployment');
const container = deployment.spec.template.spec.containers[0]!;
const configMap = find<{ data: Record<string, string> }>('ConfigMap').data;
const secret = find<{ stringData: Record<string, string> }>('Secret').stringData;

/** A CPU quantity ("2", "1500m", "0.5") -> millicores. */
function millicores(quantity: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m?)$/.exec(quantity);
  if (!m) throw new Error(`unexpected CPU quantity ${quantity}`);
  return m[2] ? Number(m[1]) : Math.round(Number(m[1]) * 1000);
}

/** A memory quantity ("512Mi", "1Gi") -> MiB. */
function mebibytes(quantity: string): number {
  const m = /^([0-9]+)(Mi|Gi)$/.exec(quantity);
  if (!m) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

/**
 * The concurrency the service derives inside a container with this CPU limit: the kubelet writes
 * the limit as a CFS quota over a 100 ms period (cgroup v2 cpu.max "<quota> 100000"), and the
 * service reads it through its own /proc/self/cgroup and mountinfo, on a node with 64 cores.
 */
function derivedConcurrency(cpuLimit: string): number {
  const files: Record<string, string> = {
    '/proc/self/cgroup': '0::/\n',
    '/proc/self/mountinfo': '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n',
    '/sys/fs/cgroup/cpu.max': `${millicores(cpuLimit) * 100} 100000\n`,
  };
  const read = (f: string) => {
    if (!(f in files)) throw Object.assign(new Error(`ENOENT ${f}`), { code: 'ENOENT' });
    return files[f]!;
  };
  return loadConfig({ ...configMap, ...secret }, { storageUrl: 'file:///unused', cpus: usableCpus(read, 64) }).concurrency;
}

describe('deploy/kubernetes validates against the published schemas', () => {
  it.each(['base', ...K8S_TARGET_NAMES.map((t) => `overlays/${t}`)])('%s: every object kustomize would apply', (dir) => {
    const objects = build(path.join(deployDir, dir));
    expect(objects.length).toBeGreaterThanOrEqual(6);
    for (const { file, object } of objects) expect(() => validateManifest(object), `${file}: ${object.kind} ${object.metadata.name}`).not.toThrow();
    const ids = objects.map(({ object }) => `${object.kind}/${object.metadata.name}`);
    expect(new Set(ids).size, 'one object per kind and name').toBe(ids.length);
  });

  it('the base has what the service needs: Deployment, Service, HPA, PDB, ConfigMap and Secret', () => {
    expect(base.map((x) => x.object.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Secret', 'Service']);
  });

  it('a wrong field is caught (the validation can fail)', () => {
    const broken = structuredClone(find('Deployment')) as unknown as DeploymentShape;
    broken.spec.template.spec.containers[0]!.resources.limits.cpu = 'two cores';
    expect(() => validateManifest(broken as unknown as K8sObject)).toThrow(/cpu/);
  });
});

describe.each(K8S_TARGET_NAMES)('overlays/%s', (target) => {
  it('routes.yaml is a fresh render of nginx/cutover.yaml (re-render after editing the cutover file)', () => {
    const fresh = renderK8s(target, parseCutover(cutoverText, 'nginx/cutover.yaml'), {}, 'nginx/cutover.yaml').files['routes.yaml'];
    const shipped = readFileSync(path.join(deployDir, 'overlays', target, 'routes.yaml'), 'utf8');
    expect(shipped, `run: npx gateway render --target ${target} --out deploy/kubernetes/overlays/${target}`).toBe(fresh);
  });
});

describe('the Deployment agrees with the service', () => {
  it('the CPU limit gives, through the cgroup, the concurrency the manifest documents', () => {
    const documented = Number(deployment.spec.template.metadata.annotations['image-service/concurrency']);
    expect(derivedConcurrency(container.resources.limits.cpu!)).toBe(documented);
    expect(configMap.CONCURRENCY, 'derived from the quota, never set beside it').toBeUndefined();
  });

  it('a fractional CPU limit would waste quota: the service floors it (why the limit is whole)', () => {
    expect(derivedConcurrency('1500m')).toBe(1);
    expect(parseCgroupV1Quota('150000', '100000')).toBe(1);
    expect(millicores(container.resources.limits.cpu!) % 1000).toBe(0);
  });

  it('requests equal limits (Guaranteed QoS: no throttling below what the service sized itself for)', () => {
    expect(container.resources.requests).toEqual(container.resources.limits);
  });

  it('the ConfigMap and Secret are settings the service accepts, and its deadline sits under the route’s timeout', () => {
    const config = loadConfig({ ...configMap, ...secret }, { storageUrl: 'file:///unused', cpus: 2 });
    expect(config.storage.url.href).toBe('s3://originals');
    const route = parseCutover(cutoverText).routes.find((r) => r.name === 'images')!;
    expect(config.requestTimeoutMs).toBe(serviceDeadlineMs(route.timeout_ms));
    expect(Object.keys(secret).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    for (const v of Object.values(secret)) expect(v, 'placeholders, clearly').toMatch(/^REPLACE-ME/);
  });

  it('probes hit /readyz and /healthz on the admin port, which is ADMIN_PORT; the Service exposes only PORT', () => {
    const port = (name: string) => container.ports.find((p) => p.name === name)!.containerPort;
    expect([container.readinessProbe.httpGet, container.livenessProbe.httpGet]).toEqual([
      { path: '/readyz', port: 'admin' },
      { path: '/healthz', port: 'admin' },
    ]);
    expect(port('admin')).toBe(Number(configMap.ADMIN_PORT));
    expect(port('http')).toBe(Number(configMap.PORT));
    const service = find<{ spec: { ports: { port: number; targetPort: string }[] } }>('Service');
    expect(service.spec.ports).toEqual([expect.objectContaining({ port: Number(configMap.PORT), targetPort: 'http' })]);
  });
});

describe('the sizes follow from the benchmark run the Deployment cites (its image-gateway/sized-from annotation)', () => {
  const sized = JSON.parse((deployment as unknown as K8sObject).metadata.annotations!['image-gateway/sized-from']!) as {
    run: string;
    usable_cpus: number;
    rps: number;
    cpu_s_per_req: number;
    peak_rss_mb: number;
  };

  it('CPU: the limit is the usable cores the service was measured on (so it runs the measured concurrency)', () => {
    expect(millicores(container.resources.limits.cpu!)).toBe(sized.usable_cpus * 1000);
    // The measured saturation fits in it: rps x CPU s/req cores busy.
    expect(sized.rps * sized.cpu_s_per_req).toBeLessThanOrEqual(sized.usable_cpus);
  });

  it('memory: the limit is twice the peak RSS, rounded up to 64 MiB', () => {
    expect(mebibytes(container.resources.limits.memory!)).toBe(Math.ceil((2 * sized.peak_rss_mb) / 64) * 64);
  });

  it('memory: the latest benchmark (bench/results.json, row `new`) still leaves 1.5x headroom under the limit', () => {
    const results = JSON.parse(readFileSync(path.join(projectRoot, 'bench/results.json'), 'utf8')) as { subjects: { name: string; peak_rss_mb: number }[] };
    const latest = results.subjects.find((s) => s.name === 'new')!;
    expect(1.5 * latest.peak_rss_mb).toBeLessThanOrEqual(mebibytes(container.resources.limits.memory!));
  });

  it('HPA: its CPU target per pod stays under the measured saturation', () => {
    const hpa = find<{ spec: { minReplicas: number; metrics: { resource: { target: { averageUtilization: number } } }[] } }>('HorizontalPodAutoscaler');
    const target = hpa.spec.metrics[0]!.resource.target.averageUtilization;
    // Cores a pod keeps busy at the target, against the cores the service kept busy at saturation
    // (req/s x CPU s/req): the HPA adds pods well before one saturates.
    const coresAtTarget = ((target / 100) * millicores(container.resources.requests.cpu!)) / 1000;
    expect(coresAtTarget).toBeLessThan(0.8 * sized.rps * sized.cpu_s_per_req);
    // Two pods at least, so the PDB's one disruption leaves one serving.
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });
});

it('the shipped overlays exist for every target', () => {
  for (const t of K8S_TARGET_NAMES) expect(existsSync(path.join(deployDir, 'overlays', t, 'routes.yaml')), t).toBe(true);
});
