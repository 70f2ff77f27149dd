/**
 * PURE: the request list over the corpus, and the small slice the integration test runs. Every
 * original gets the same variants, so one original's rows in the report are comparable: two
 * widths (a thumbnail and a card), a cover crop, and two format changes (to WebP; to JPEG, which
 * flattens alpha on white).
 */
import type { CorpusEntry } from './corpus.ts';
import { FORMATS } from './sources.ts';

export const VARIANTS = ['?w=320', '?w=120', '?w=200&h=200&fit=cover', '?w=240&format=webp', '?w=160&format=jpeg'] as const;

/** One request line per original and variant (the input format of `gateway compare --from`). */
export function requestLines(entries: readonly CorpusEntry[], variants: readonly string[] = VARIANTS): string[] {
  return entries.flatMap((e) => variants.map((v) => `/image/files/${e.key}${v}`));
}

/**
 * A small, fixed slice: `perFormat` package originals of each format (spread over the list), plus
 * the derived originals named in `derived` (by file name).
 */
export function sliceCorpus(entries: readonly CorpusEntry[], perFormat: number, derived: readonly string[] = []): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const f of FORMATS) {
    const of = entries.filter((e) => e.origin.kind === 'package' && e.format === f);
    const step = of.length / Math.max(1, perFormat);
    for (let i = 0; i < Math.min(perFormat, of.length); i++) out.push(of[Math.floor(i * step)]!);
  }
  for (const name of derived) {
    const e = entries.find((x) => x.key === `derived/${name}`);
    if (!e) throw new Error(`the corpus has no derived/${name}`);
    out.push(e);
  }
  return out;
}
