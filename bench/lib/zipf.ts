/**
 * PURE: the request sequences of the result-cache measurement, from the project's one seeded random
 * (common/random.ts), so every run replays the same traffic.
 *
 *   zipfSequence     a CDN-origin replay: `requests` draws over `variants` distinct variants whose
 *                    popularity follows Zipf's law (rank r drawn with probability ~ 1 / r^s)
 *   stampedeSequence a CDN expiry: every variant of a small set asked for many times within a moment
 */
import { mulberry32 } from '../../common/random.ts';

/** `count` distinct request paths over the originals: each original at widths 160, 168, ... as JPEG and WebP (offset 4 gives a disjoint set). */
export function variantPaths(keys: readonly string[], count: number, offset = 0): string[] {
  if (keys.length === 0) throw new Error('variantPaths: no originals');
  const formats = ['jpeg', 'webp'];
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const key = keys[i % keys.length]!;
    const format = formats[Math.floor(i / keys.length) % formats.length]!;
    const w = 160 + offset + 8 * Math.floor(i / (keys.length * formats.length));
    if (w > 4096) throw new Error(`variantPaths: ${count} variants do not fit widths up to 4096 over ${keys.length} originals`);
    out.push(`/image/files/${encodeURIComponent(key)}?w=${w}&format=${format}`);
  }
  return out;
}

/** The cumulative Zipf distribution over ranks 1..n with exponent s. */
export function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 1; r <= n; r++) {
    sum += 1 / r ** s;
    cdf[r - 1] = sum;
  }
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return cdf;
}

/**
 * `requests` variant indices in [0, variants), Zipf-distributed with exponent `s`. Ranks are
 * mapped to variants through a seeded shuffle, so the popular ones are not all the first (smallest) widths.
 */
export function zipfSequence(requests: number, variants: number, s: number, seed: number): number[] {
  const rnd = mulberry32(seed);
  const cdf = zipfCdf(variants, s);
  const byRank = Array.from({ length: variants }, (_, i) => i);
  for (let i = variants - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [byRank[i], byRank[j]] = [byRank[j]!, byRank[i]!];
  }
  const out: number[] = new Array<number>(requests);
  for (let k = 0; k < requests; k++) {
    const u = rnd();
    let lo = 0;
    let hi = variants - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[k] = byRank[lo]!;
  }
  return out;
}

/** The best hit ratio any cache could reach on a sequence: every first request of a variant misses. */
export function idealHitRatio(sequence: readonly number[]): number {
  return sequence.length === 0 ? 0 : 1 - new Set(sequence).size / sequence.length;
}

/** `requests` indices over `variants`, round-robin: each variant's requests spread over the whole burst. */
export function stampedeSequence(requests: number, variants: number): number[] {
  return Array.from({ length: requests }, (_, k) => k % variants);
}
