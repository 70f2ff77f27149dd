/** The request list, the slice, the manifest text and the exit decision. */
import { describe, expect, it } from 'vitest';
import { buildReport } from '../../gateway/src/compare/report.ts';
import type { PairResult } from '../../gateway/src/compare/result.ts';
import { DEFAULT_THRESHOLDS } from '../../gateway/src/compare/thresholds.ts';
import type { Corpus, CorpusEntry } from '../src/corpus.ts';
import { sourcesMarkdown, sourcesText } from '../src/manifest.ts';
import { requestLines, sliceCorpus, VARIANTS } from '../src/requests.ts';
import { parityVerdict } from '../src/run.ts';

const info = { width: 10, height: 10, space: 'srgb', channels: 3, hasAlpha: false, bitDepth: 8, icc: false, orientation: 1 };
const pkg = (key: string, format: CorpusEntry['format']): CorpusEntry => ({
  key,
  format,
  origin: { kind: 'package', source: 'p', registry: 'debian', package: 'pkg', version: '1.0', licence: 'Zlib', path: `usr/share/${key}` },
  info: { ...info, format },
});
const entries: CorpusEntry[] = [
  pkg('p/a.jpg', 'jpeg'),
  pkg('p/b.jpg', 'jpeg'),
  pkg('p/c.jpg', 'jpeg'),
  pkg('p/a.png', 'png'),
  pkg('p/a.gif', 'gif'),
  {
    key: 'derived/exif-6.jpg',
    format: 'jpeg',
    origin: { kind: 'derived', from: 'p/a.jpg', transform: 'EXIF orientation 6', licence: 'Zlib' },
    info: { ...info, format: 'jpeg', orientation: 6 },
  },
];

describe('requestLines', () => {
  it('every variant of every original, as request paths', () => {
    const lines = requestLines(entries.slice(0, 2));
    expect(lines).toHaveLength(2 * VARIANTS.length);
    expect(lines[0]).toBe('/image/files/p/a.jpg?w=320');
    expect(lines).toContain('/image/files/p/b.jpg?w=240&format=webp');
  });
});

describe('sliceCorpus', () => {
  it('n package originals per format (spread), then the named derived ones', () => {
    expect(sliceCorpus(entries, 2, ['exif-6.jpg']).map((e) => e.key)).toEqual(['p/a.jpg', 'p/b.jpg', 'p/a.png', 'p/a.gif', 'derived/exif-6.jpg']);
    expect(() => sliceCorpus(entries, 1, ['nope.png'])).toThrow('the corpus has no derived/nope.png');
  });
});

describe('the manifest', () => {
  const corpus: Corpus = {
    version: 1,
    dir: '/x',
    entries,
    sources: [{ id: 'p', registry: 'debian', package: 'pkg', version: '1.0', licence: 'Zlib', counts: { jpeg: 3, png: 1, gif: 1 }, candidates: 9 }],
  };
  it('prints package, version, licence and counts per format', () => {
    expect(sourcesText(corpus)).toBe(
      'corpus: 6 originals (jpeg 4, png 1, webp 0, gif 1): 5 from packages, 1 derived\n  pkg 1.0 (debian, Zlib): jpeg 3, png 1, webp 0, gif 1\n',
    );
  });
  it('SOURCES.md lists every original with its origin, licence and metadata', () => {
    const md = sourcesMarkdown(corpus);
    expect(md).toContain('| pkg | debian | 1.0 | Zlib | jpeg 3, png 1, webp 0, gif 1 |');
    expect(md).toContain('| `derived/exif-6.jpg` | derived from `p/a.jpg`: EXIF orientation 6 | Zlib | jpeg 10x10 srgb 8-bit, no ICC, orientation 6 |');
  });
});

describe('parityVerdict', () => {
  const meta = { source: {}, thresholds: DEFAULT_THRESHOLDS, minParity: 0.995 };
  const r = (target: string, verdict: PairResult['verdict']): PairResult => ({
    v: 1,
    time: '',
    id: target,
    method: 'GET',
    target,
    route: 'images',
    params: {},
    verdict,
    category: verdict === 'match' ? null : 'pixels',
    findings: verdict === 'mismatch' ? [{ category: 'pixels', rule: 'delta_e', detail: '' }] : [],
    intended: verdict === 'intended' ? [{ category: 'pixels', rule: 'delta_e', detail: '', reason: 'intended_x' }] : [],
    legacy: { status: 200, bytes: 1, ttfbMs: 1, totalMs: 1 },
    new: { status: 200, bytes: 1, ttfbMs: 1, totalMs: 1 },
  });
  const fine = Array.from({ length: 400 }, (_, i) => r(`/image/files/ok${i}.jpg?w=1`, 'match'));

  it('passes at or above the minimum with no original off on every variant', () => {
    expect(parityVerdict(buildReport([...fine, r('/image/files/x.jpg?w=1', 'mismatch'), r('/image/files/x.jpg?w=2', 'match')], meta), 0.995)).toEqual({
      code: 0,
      reasons: [],
    });
  });
  it('fails below the minimum', () => {
    expect(
      parityVerdict(buildReport([...fine.slice(0, 100), r('/image/files/x.jpg?w=1', 'mismatch'), r('/image/files/x.jpg?w=2', 'match')], meta), 0.995).reasons,
    ).toEqual(['parity 99.02% is below 99.5%']);
  });
  it('fails when one original mismatches on every variant, even at high parity; intended ones do not count', () => {
    const v = parityVerdict(buildReport([...fine, r('/image/files/x.jpg?w=1', 'mismatch'), r('/image/files/x.jpg?w=2', 'mismatch')], meta), 0.99);
    expect(v.code).toBe(1);
    expect(v.reasons).toEqual(['1 original(s) mismatch on every variant without a declared intended category: /image/files/x.jpg']);
    expect(parityVerdict(buildReport([...fine, r('/image/files/x.jpg?w=1', 'intended'), r('/image/files/x.jpg?w=2', 'intended')], meta), 0.99).code).toBe(0);
  });
});
