/**
 * The Kubernetes targets of `gateway render --target`: one table of renderers and readers, the
 * YAML text of a render, and that text parsed back. PURE.
 *
 * The text is deterministic (no timestamps): the shipped overlays under deploy/kubernetes are
 * compared with a fresh render in the tests, and a GitOps diff shows only what changed.
 */
import { parseAllDocuments, stringify } from 'yaml';
import type { CutoverFile } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import { DEFAULT_K8S_OPTIONS, ROUTES_FILE, type K8sRender, type K8sRenderOptions, type Manifest } from './common.ts';
import { readGatewayApiShares, renderGatewayApi } from './gateway-api.ts';
import { readIngressNginxShares, renderIngressNginx } from './ingress-nginx.ts';
import { readIstioShares, renderIstio } from './istio.ts';

export interface K8sTarget {
  render(file: CutoverFile, options: K8sRenderOptions): K8sRender;
  /** Route name -> share, from the objects this target renders. */
  readShares(manifests: readonly Manifest[]): Map<string, number>;
}

export const K8S_TARGETS = {
  'gateway-api': { render: renderGatewayApi, readShares: readGatewayApiShares },
  istio: { render: renderIstio, readShares: readIstioShares },
  'ingress-nginx': { render: renderIngressNginx, readShares: readIngressNginxShares },
} as const satisfies Record<string, K8sTarget>;

export type K8sTargetName = keyof typeof K8S_TARGETS;
export const K8S_TARGET_NAMES = Object.keys(K8S_TARGETS) as K8sTargetName[];

export function isK8sTarget(name: string): name is K8sTargetName {
  return Object.hasOwn(K8S_TARGETS, name);
}

/** The files a render writes into its output directory (one: see ROUTES_FILE). */
export interface RenderedManifests {
  files: Record<string, string>;
  manifests: Manifest[];
  notes: string[];
}

/** Cutover file -> the target's manifests as YAML, with what it cannot express as comments on top. */
export function renderK8s(target: K8sTargetName, file: CutoverFile, options: Partial<K8sRenderOptions> = {}, source = 'nginx/cutover.yaml'): RenderedManifests {
  const { manifests, notes } = K8S_TARGETS[target].render(file, { ...DEFAULT_K8S_OPTIONS, ...options });
  const header = [
    `# Rendered by \`gateway render --target ${target}\` from ${source}: edit that file, not this one.`,
    ...(notes.length > 0 ? ['# Not expressible on this target (see docs/kubernetes.md):', ...notes.map((n) => `#   - ${n}`)] : []),
  ];
  const docs = manifests.map((m) => stringify(m, { lineWidth: 0 }));
  return { files: { [ROUTES_FILE]: `${header.join('\n')}\n${docs.map((d) => `---\n${d}`).join('')}` }, manifests, notes };
}

/** YAML text (one or more documents) -> the objects in it, or a GatewayError naming the file. */
export function parseManifests(text: string, source: string): Manifest[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  const manifests: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new GatewayError('manifest_unreadable', `${source} is not valid YAML: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Partial<Manifest> | null;
    if (value === null) continue;
    if (typeof value !== 'object' || typeof value.kind !== 'string' || typeof value.metadata?.name !== 'string') {
      throw new GatewayError('manifest_unreadable', `${source}: expected Kubernetes objects (kind, metadata.name) in every document`);
    }
    manifests.push({ spec: {}, ...value } as Manifest);
  }
  return manifests;
}
