/**
 * A Router for GitOps: setting a share edits the cutover file (comments kept, the one source of
 * truth) and writes the target's manifests, rendered from the edited file, into a directory that
 * Argo CD or Flux applies (a kustomize overlay under deploy/kubernetes/overlays, say). Reading a
 * share back reads the files written, not the cutover file: what the cluster will be told.
 *
 * The render is one file (ROUTES_FILE), written by rename, so a reader never sees half of it.
 * When the write fails the cutover file is put back (editCutoverFile), so the two never disagree.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gatewayProjectRoot } from '../config.ts';
import { setRouteShare } from '../cutover/edit.ts';
import { parseCutover } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import { ROUTES_FILE, type K8sRenderOptions } from '../k8s/common.ts';
import { K8S_TARGETS, parseManifests, renderK8s, type K8sTargetName } from '../k8s/render.ts';
import { editCutoverFile } from '../nginx/cutover-file.ts';
import { writeFileAtomic } from '../nginx/run-dir.ts';
import type { RouteWeights, Router } from './router.ts';

export interface ManifestsRouterOptions {
  target: K8sTargetName;
  /** Directory the manifests are written to (created when missing). */
  outDir: string;
  /** The cutover file the manifests are rendered from, and whose share is edited. */
  cutoverFile: string;
  render?: Partial<K8sRenderOptions>;
}

/** The cutover file as the rendered header names it: relative to the repository, so a render does not depend on the cwd. */
export function sourceName(cutoverFile: string): string {
  const rel = path.relative(gatewayProjectRoot, path.resolve(cutoverFile));
  return rel.startsWith('..') ? cutoverFile : rel;
}

/** Writes `files` into `dir`, each by rename. */
export function writeManifestFiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileAtomic(path.join(dir, name), text);
}

export class ManifestsRouter implements Router {
  readonly name: string;
  readonly #options: ManifestsRouterOptions;

  constructor(options: ManifestsRouterOptions) {
    this.#options = options;
    this.name = `manifests:${options.target}:${options.outDir}`;
  }

  async setShare(route: string, share: number): Promise<void> {
    const { target, outDir, cutoverFile, render } = this.#options;
    await editCutoverFile(
      cutoverFile,
      (text) => setRouteShare(text, route, share),
      async (text) => {
        const rendered = renderK8s(target, parseCutover(text, cutoverFile), render, sourceName(cutoverFile));
        try {
          writeManifestFiles(outDir, rendered.files);
        } catch (err) {
          throw new GatewayError('manifests_unwritable', `cannot write the ${target} manifests to ${outDir}: ${(err as Error).message}`, { cause: err });
        }
      },
    );
  }

  async readShare(route: string): Promise<RouteWeights | undefined> {
    const file = path.join(this.#options.outDir, ROUTES_FILE);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new GatewayError('manifest_unreadable', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    const share = K8S_TARGETS[this.#options.target].readShares(parseManifests(text, file)).get(route);
    return share === undefined ? undefined : { share, source: `${this.#options.target} manifests, ${file}` };
  }
}
