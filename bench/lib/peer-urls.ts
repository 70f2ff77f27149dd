/**
 * PURE: the four variants of the peer comparison (issue 16) and how each subject spells them.
 * The contract's query (legacy and the image service) is the reference; ipx and thumbor get the
 * nearest URL of their own that asks for the same pixels: the same box, the same fit, the same
 * format, quality 85, no enlargement for a width-only box.
 */
import { splitPath } from './workload.ts';

/** w=300 JPEG, w=640 WebP, w=1280 JPEG, a 200x200 cover crop as JPEG; all at q=85. */
export const PEER_VARIANTS: readonly string[] = [
  'w=300&format=jpeg&q=85',
  'w=640&format=webp&q=85',
  'w=1280&format=jpeg&q=85',
  'w=200&h=200&fit=cover&format=jpeg&q=85',
];

interface Variant {
  w: number;
  h: number | undefined;
  cover: boolean;
  format: 'jpeg' | 'webp' | 'png';
  q: number;
}

function parseVariant(query: string): Variant {
  const p = new URLSearchParams(query);
  const w = Number(p.get('w'));
  const h = p.get('h') === null ? undefined : Number(p.get('h'));
  const format = p.get('format');
  const cover = p.get('fit') === 'cover';
  if (!Number.isInteger(w) || w <= 0 || (format !== 'jpeg' && format !== 'webp' && format !== 'png') || (cover && h === undefined)) {
    throw new Error(`a peer variant needs w, format (jpeg|webp|png) and, with fit=cover, h; got '${query}'`);
  }
  return { w, h, cover, format, q: Number(p.get('q') ?? 85) };
}

/**
 * ipx: `/{modifiers}/{id}`. `w_N` resizes to a width without enlarging; `s_WxH` with `fit_cover`
 * is sharp's cover crop (centred by default); `f_` and `q_` set format and quality.
 */
export function ipxPath(contractPath: string): string {
  const { key, query } = splitPath(contractPath);
  const v = parseVariant(query);
  const box = v.cover ? `s_${v.w}x${v.h},fit_cover` : v.h === undefined ? `w_${v.w}` : `s_${v.w}x${v.h},fit_inside`;
  return `/${box},f_${v.format},q_${v.q}/${encodeURI(key)}`;
}

/**
 * thumbor: `/unsafe/[fit-in/]WxH/filters:.../{key}`. `fit-in/Nx0` fits a width without enlarging
 * (plain `Nx0` would upscale a smaller original); plain `WxH` crops to fill, centred: the cover crop.
 */
export function thumborPath(contractPath: string): string {
  const { key, query } = splitPath(contractPath);
  const v = parseVariant(query);
  const box = v.cover ? `${v.w}x${v.h}` : `fit-in/${v.w}x${v.h ?? 0}`;
  return `/unsafe/${box}/filters:format(${v.format}):quality(${v.q})/${encodeURI(key)}`;
}

/**
 * The size the contract asks for (docs/image-api.md, Geometry) from the oriented size of the
 * original: what every subject's answer is checked against, so none is measured doing less work.
 */
export function expectedSize(query: string, width: number, height: number): { width: number; height: number; format: string } {
  const v = parseVariant(query);
  if (v.cover) return { width: v.w, height: v.h!, format: v.format };
  const s = Math.min(v.w / width, (v.h ?? Infinity) / height, 1);
  const side = (box: number | undefined, size: number) => (box !== undefined && s === box / size ? box : Math.max(1, Math.floor(size * s + 0.5)));
  return { width: side(v.w, width), height: side(v.h, height), format: v.format };
}
