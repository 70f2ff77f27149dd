/** The report's shape (report.json) and the HTML it renders to, from hand-made results. */
import { describe, expect, it } from 'vitest';
import { escapeHtml, latencyHistogramSvg, renderHtml } from '../src/compare/html.ts';
import { renderOriginalsText } from '../src/compare/text.ts';
import { buildReport, ReportBuilder, severity } from '../src/compare/report.ts';
import { pairResultSchema, type PairResult } from '../src/compare/result.ts';
import { histogram, percentile, summarise } from '../src/compare/stats.ts';
import { DEFAULT_THRESHOLDS } from '../src/compare/thresholds.ts';

let n = 0;
function result(over: Partial<PairResult> & { legacyMs?: number; newMs?: number } = {}): PairResult {
  const { legacyMs = 100, newMs = 20, ...rest } = over;
  n++;
  const side = (ms: number) => ({ status: 200, contentType: 'image/jpeg', bytes: 1000, ttfbMs: ms / 2, totalMs: ms, width: 640, height: 480, format: 'jpeg' });
  return {
    v: 1,
    time: '2026-01-01T00:00:00.000Z',
    id: `id${n}`,
    method: 'GET',
    target: `/image/files/a${n}.jpg?w=640`,
    route: 'images',
    params: { w: '640' },
    verdict: 'match',
    category: null,
    findings: [],
    intended: [],
    signals: { ssim: 0.99, blockMaxDiff: 2, deltaE: 0.2, blockiness: 1.01 },
    legacy: side(legacyMs),
    new: side(newMs),
    ...rest,
  };
}

const meta = { source: { legacy: 'http://l', new: 'http://n' }, thresholds: DEFAULT_THRESHOLDS, minParity: 0.99, generatedAt: '2026-01-01T00:00:00.000Z' };

describe('buildReport', () => {
  const results: PairResult[] = [
    ...Array.from({ length: 96 }, (_, i) => result({ legacyMs: 100 + i, newMs: 10 + i / 10 })),
    result({
      verdict: 'mismatch',
      category: 'pixels',
      findings: [{ category: 'pixels', rule: 'delta_e', detail: 'x' }],
      signals: { ssim: 0.98, blockMaxDiff: 120, deltaE: 30, blockiness: 1 },
      params: { w: '320', format: 'webp' },
    }),
    result({
      verdict: 'mismatch',
      category: 'status',
      findings: [{ category: 'status', rule: 'status', detail: 'status legacy 200, new 500' }],
      signals: undefined,
    }),
    result({ verdict: 'intended', category: 'header', intended: [{ category: 'header', rule: 'cache_control', detail: 'x', reason: 'TICKET-1' }] }),
    result({
      verdict: 'mismatch',
      category: 'error',
      findings: [{ category: 'error', rule: 'no_answer', detail: 'new did not answer' }],
      signals: undefined,
      new: { status: null, error: 'ECONNREFUSED', bytes: 0, ttfbMs: 1, totalMs: 1 },
    }),
  ];
  const report = buildReport(results, meta);

  it('has the documented top-level fields', () => {
    expect(report).toMatchObject({
      version: 1,
      total: 100,
      matched: 96,
      intended: 1,
      mismatched: 3,
      parity: 0.97,
      verdicts: { match: 96, mismatch: 3, intended: 1 },
      statusMismatches: 1,
    });
    expect(report.categories).toEqual({ error: 1, status: 1, format: 0, dimensions: 0, dimensions_off_by_one: 0, pixels: 1, header: 0 });
    expect(report.intendedCategories.header).toBe(1);
    expect(report.rules).toEqual({ delta_e: 1, status: 1, no_answer: 1 });
    for (const side of ['legacy', 'new'] as const) {
      expect(Object.keys(report.latency[side])).toEqual(expect.arrayContaining(['p50', 'p95', 'p99', 'max', 'ttfb']));
    }
  });

  it('latency per backend excludes requests that got no answer, and the ratio is new/legacy', () => {
    expect(report.latency.legacy.count).toBe(100);
    expect(report.latency.new.count).toBe(99);
    expect(report.latency.legacy.max).toBe(195);
    expect(report.latency.ratio.p50).toBeCloseTo(report.latency.new.p50 / report.latency.legacy.p50, 2);
    expect(report.latency.histogram.legacy.reduce((a, b) => a + b, 0)).toBe(100);
  });

  it('gates on parity and on any status mismatch, saying why', () => {
    expect(report.gate.passed).toBe(false);
    expect(report.gate.reasons).toEqual(['parity 97.00% is below the minimum 99.00%', '1 request(s) got a different status or error code']);
    const clean = buildReport(results.slice(0, 96), meta);
    expect(clean.gate).toEqual({ passed: true, reasons: [] });
    expect(clean.parity).toBe(1);
    expect(buildReport([], meta).parity).toBe(1);
  });

  it('breaks down by parameter combination, mismatches first', () => {
    expect(report.breakdown.map((b) => [b.key, b.total, b.mismatched])).toEqual([
      ['images w=640 h=- fit=- format=-', 99, 2],
      ['images w=320 h=- fit=- format=webp', 1, 1],
    ]);
    expect(report.breakdown[1]).toMatchObject({ parity: 0, categories: { pixels: 1 } });
    expect(report.breakdown[0]!.categories).toEqual({ status: 1, error: 1 });
  });

  it('orders the worst cases: errors, statuses, then pixels; intended cases apart with their reason', () => {
    expect(report.worst.map((w) => w.category)).toEqual(['error', 'status', 'pixels']);
    expect(report.worst[2]!.signals).toEqual({ ssim: 0.98, blockMaxDiff: 120, deltaE: 30, blockiness: 1 });
    expect(report.intendedCases).toHaveLength(1);
    expect(report.intendedCases[0]!.intended[0]!.reason).toBe('TICKET-1');
  });

  it('keeps at most maxCases mismatch records, the most severe, and counts the rest', () => {
    const many = Array.from({ length: 10 }, (_, i) =>
      result({
        verdict: 'mismatch',
        category: 'pixels',
        findings: [{ category: 'pixels', rule: 'ssim', detail: '' }],
        signals: { ssim: 0.5 + i / 100, blockMaxDiff: 0, deltaE: 0, blockiness: 1 },
      }),
    );
    const r = buildReport(many, meta, 3);
    expect(r.mismatches).toHaveLength(3);
    expect(r.mismatchesOmitted).toBe(7);
    expect(r.mismatches.map((m) => m.signals!.ssim)).toEqual([0.5, 0.51, 0.52]);
    expect(severity(many[0]!)).toBeGreaterThan(severity(many[9]!));
  });

  it('records written to JSONL parse back with the schema', () => {
    for (const r of results) expect(pairResultSchema.parse(JSON.parse(JSON.stringify(r)))).toEqual(r);
  });
});

describe('by original and by likely cause', () => {
  const px = (rule: string) => ({ category: 'pixels' as const, rule, detail: rule });
  const sig = { ssim: 0.9, blockMaxDiff: 90, deltaE: 20, blockiness: 1 };
  const at = (key: string, q: string, over: Partial<PairResult> = {}) => result({ target: `/image/files/${key}${q}`, ...over });
  const results: PairResult[] = [
    at('ok.jpg', '?w=320'),
    at('ok.jpg', '?w=100'),
    // CMYK without a profile: every variant off in colour.
    ...['?w=320', '?w=100', '?w=200&h=200&fit=cover'].map((q) =>
      at('cmyk.jpg', q, { verdict: 'mismatch', category: 'pixels', findings: [px('delta_e'), px('block_colour')], signals: sig }),
    ),
    // Alpha PNG: one variant of two.
    at('alpha.png', '?w=320', { verdict: 'mismatch', category: 'pixels', findings: [px('delta_e')], signals: sig }),
    at('alpha.png', '?w=100'),
    // A rotation one side missed: sides swapped.
    at('rot.jpg', '?w=100', {
      verdict: 'mismatch',
      category: 'dimensions',
      findings: [{ category: 'dimensions', rule: 'dimensions', detail: 'x' }],
      signals: undefined,
      legacy: { status: 200, bytes: 1, ttfbMs: 1, totalMs: 1, width: 100, height: 75 },
      new: { status: 200, bytes: 1, ttfbMs: 1, totalMs: 1, width: 75, height: 100 },
    }),
    // Declared intended: reported apart, never a mismatch.
    ...['?w=320', '?w=100'].map((q) =>
      at('legacy-wrong.jpg', q, { verdict: 'intended', category: 'pixels', intended: [{ ...px('delta_e'), reason: 'intended_legacy_bug' }] }),
    ),
  ];
  const originals = {
    '/image/files/cmyk.jpg': {
      format: 'jpeg',
      width: 800,
      height: 600,
      space: 'cmyk',
      channels: 4,
      hasAlpha: false,
      bitDepth: 8,
      icc: false,
      orientation: 1,
      source: 'pkg 1.0',
    },
    '/image/files/alpha.png': { format: 'png', width: 64, height: 64, space: 'srgb', channels: 4, hasAlpha: true, bitDepth: 8, icc: false, orientation: 1 },
  };
  const report = buildReport(results, { ...meta, originals });
  const row = (p: string) => report.byOriginal.find((r) => r.path === `/image/files/${p}`)!;

  it('one row per original, worst first, with its metadata', () => {
    expect(report.byOriginal.map((r) => [r.path, r.total, r.mismatched, r.intended])).toEqual([
      ['/image/files/cmyk.jpg', 3, 3, 0],
      ['/image/files/alpha.png', 2, 1, 0],
      ['/image/files/rot.jpg', 1, 1, 0],
      ['/image/files/legacy-wrong.jpg', 2, 0, 2],
      ['/image/files/ok.jpg', 2, 0, 0],
    ]);
    expect(row('cmyk.jpg').info).toMatchObject({ space: 'cmyk', source: 'pkg 1.0' });
    expect(row('cmyk.jpg').categories).toEqual({ pixels: 3 });
    expect(row('cmyk.jpg').rules).toEqual({ delta_e: 3, block_colour: 3 });
    expect(row('ok.jpg').info).toBeUndefined();
  });

  it('flags an original that mismatches on every variant, but not one whose differences are intended', () => {
    expect(report.byOriginal.filter((r) => r.allVariants).map((r) => r.path)).toEqual(['/image/files/cmyk.jpg', '/image/files/rot.jpg']);
    expect(row('legacy-wrong.jpg')).toMatchObject({ allVariants: false, cause: null, intendedReasons: ['intended_legacy_bug'] });
  });

  it('names a likely cause per original and clusters originals by cause', () => {
    expect([row('cmyk.jpg').cause, row('alpha.png').cause, row('rot.jpg').cause, row('ok.jpg').cause]).toEqual(['colour_space', 'alpha', 'orientation', null]);
    expect(row('cmyk.jpg').why).toContain('CMYK without an ICC profile');
    expect(report.causes).toEqual([
      { cause: 'colour_space', originals: 1, requests: 3, examples: ['/image/files/cmyk.jpg'] },
      // Ties in requests: in the order of CAUSES (what a viewer checks first).
      { cause: 'orientation', originals: 1, requests: 1, examples: ['/image/files/rot.jpg'] },
      { cause: 'alpha', originals: 1, requests: 1, examples: ['/image/files/alpha.png'] },
    ]);
  });

  it('tracks a bounded number of originals and counts the requests beyond them', () => {
    const b = new ReportBuilder(2000, 20, 3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) b.add(at(`${k}.jpg`, '?w=1'));
    b.add(at('a.jpg', '?w=2'));
    const r = b.build(meta);
    expect(r.byOriginal.map((x) => [x.path, x.total])).toEqual([
      ['/image/files/a.jpg', 2],
      ['/image/files/b.jpg', 1],
      ['/image/files/c.jpg', 1],
    ]);
    expect(r.originalsUntracked).toBe(2);
    expect(report.originalsUntracked).toBe(0);
  });

  it('keeps the worst variant of each mismatched original', () => {
    expect(row('cmyk.jpg').worst).toMatchObject({ target: '/image/files/cmyk.jpg?w=320', category: 'pixels', signals: sig });
  });

  it('renders both tables as text: causes, then one line per mismatched original with its metadata, intended apart', () => {
    const text = renderOriginalsText(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('by likely cause (originals / mismatched requests):');
    expect(lines[1]).toMatch(/^ {2}colour_space +1 +3 +\/image\/files\/cmyk\.jpg$/);
    expect(text).toMatch(/\/image\/files\/cmyk\.jpg +3\/3 ALL +colour_space +jpeg 800x600 cmyk 8-bit, no ICC/);
    expect(text).toMatch(/\/image\/files\/alpha\.png +1\/2 +alpha +png 64x64 srgb\+alpha 8-bit, no ICC/);
    expect(text).not.toMatch(/ok\.jpg/);
    expect(text).toMatch(/intended only:\n {2}\/image\/files\/legacy-wrong\.jpg +2\/2 +intended_legacy_bug/);
  });

  it('renders both tables in the HTML, the metadata beside each original, intended ones apart', () => {
    const html = renderHtml(report);
    expect(html).toContain('<h2 id="by-original">');
    expect(html).toContain('<h2 id="by-cause">');
    expect(html).toMatch(/<tr[^>]*data-cause="colour_space"[^>]*><td><code>\/image\/files\/cmyk\.jpg<\/code>.*jpeg 800x600 cmyk 8-bit, no ICC/);
    expect(html).toMatch(/id="intended-originals"[\s\S]*legacy-wrong\.jpg[\s\S]*intended_legacy_bug/);
  });
});

describe('stats', () => {
  const oneTo100 = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each<[number[], number, number | undefined]>([
    [[], 50, undefined],
    [[5], 99, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 75, 3],
    [[1, 2, 3, 4], 100, 4],
    // 7/100*100 is 7.000000000000001 in binary floating point: still the 7th value, not the 8th.
    [oneTo100, 7, 7],
    [oneTo100, 99, 99],
  ])('percentile(%j, %d) = %s', (values, p, expected) => expect(percentile(values, p)).toBe(expected));

  it('summarise gives zeros for an empty sample', () => {
    expect(summarise([])).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });

  it('summarise and histogram', () => {
    expect(summarise([3, 1, 2])).toEqual({ count: 3, p50: 2, p95: 3, p99: 3, max: 3, mean: 2 });
    expect(histogram([0.5, 1, 1.5, 20000], [1, 2])).toEqual([2, 1, 1]);
  });
});

describe('renderHtml', () => {
  const bad = result({
    verdict: 'mismatch',
    category: 'pixels',
    target: '/image/files/<script>.jpg',
    findings: [{ category: 'pixels', rule: 'ssim', detail: '<b>' }],
    images: { legacy: 'images/x-legacy.jpg', new: 'images/x-new.jpg', diff: 'images/x-diff.png' },
  });
  const html = renderHtml(buildReport([result(), bad], meta));

  it('is self-contained: no network URLs for assets', () => {
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(https?:)?\/\//);
    expect(html).toContain('<style>');
  });
  it('shows the summary, both histograms and the mismatch with three images', () => {
    expect(html).toContain('id="parity">50.00%');
    expect(html).toContain('<svg class="hist"');
    expect(html).toContain('src="images/x-legacy.jpg"');
    expect(html).toContain('src="images/x-new.jpg"');
    expect(html).toContain('src="images/x-diff.png"');
  });
  it('escapes what came from traffic', () => {
    expect(html).not.toContain('<script>.jpg');
    expect(html).toContain('&lt;script&gt;.jpg');
    expect(escapeHtml(`"'&<>`)).toBe('&quot;&#39;&amp;&lt;&gt;');
  });
  it('histogram bars scale to the tallest bucket', () => {
    const svg = latencyHistogramSvg({ edgesMs: [1, 2], legacy: [0, 4, 0], new: [2, 0, 0] });
    expect(svg.match(/<rect class="legacy" x="[^"]+" y="([^"]+)"/g)).toHaveLength(4);
    expect(svg).toContain('<title>legacy ≤2 ms: 4</title>');
  });
});
