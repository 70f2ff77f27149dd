/**
 * PURE: the benchmark's workload: every photograph at every variant of the mix (three widths and a
 * fit=cover square, each as JPEG and WebP), in the order `gateway requests` lists them, so the
 * benchmark and the k6 request list are the same traffic.
 */
import path from 'node:path';
import { DEFAULT_VARIANTS } from '../../common/contract.ts';
import { pathsForKeys } from '../../gateway/src/requests.ts';

export interface Workload {
  /** Storage keys of the originals (their file names). */
  keys: string[];
  variants: readonly string[];
  /** Request paths, variant by variant (consecutive requests hit different originals). */
  paths: string[];
  /** Expected Content-Type of each path. */
  contentTypes: Array<string | undefined>;
}

export function buildWorkload(photoFiles: readonly string[], variants: readonly string[] = DEFAULT_VARIANTS): Workload {
  const keys = photoFiles.map((f) => path.basename(f));
  const paths = pathsForKeys(keys, variants);
  return { keys, variants, paths, contentTypes: paths.map(contentTypeOfPath) };
}

/** The Content-Type the `format` parameter asks for; undefined when the path has none. */
export function contentTypeOfPath(p: string): string | undefined {
  const q = p.indexOf('?');
  if (q < 0) return undefined;
  const format = new URLSearchParams(p.slice(q + 1)).get('format');
  return format ? `image/${format}` : undefined;
}

/** The storage key and raw query of a request path. */
export function splitPath(p: string): { key: string; query: string } {
  const q = p.indexOf('?');
  const pathname = q < 0 ? p : p.slice(0, q);
  const prefix = '/image/files/';
  if (!pathname.startsWith(prefix)) throw new Error(`not a hot-path request: ${p}`);
  return { key: decodeURIComponent(pathname.slice(prefix.length)), query: q < 0 ? '' : p.slice(q + 1) };
}
