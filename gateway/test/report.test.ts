/** The report's shape (report.json) and the HTML it renders to, from hand-made results. */
import { describe, expect, it } from 'vitest';
import { escapeHtml, latencyHistogramSvg, renderHtml } from '../src/compare/html.ts';
import { buildReport, severity } from '../src/compare/report.ts';
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
    result({ verdict: 'mismatch', category: 'pixels', findings: [{ category: 'pixels', rule: 'delta_e', detail: 'x' }], signals: { ssim: 0.98, blockMaxDiff: 120, deltaE: 30, blockiness: 1 }, params: { w: '320', format: 'webp' } }),
    result({ verdict: 'mismatch', category: 'status', findings: [{ category: 'status', rule: 'status', detail: 'status legacy 200, new 500' }], signals: undefined }),
    result({ verdict: 'intended', category: 'header', intended: [{ category: 'header', rule: 'cache_control', detail: 'x', reason: 'TICKET-1' }] }),
    result({ verdict: 'mismatch', category: 'error', findings: [{ category: 'error', rule: 'no_answer', detail: 'new did not answer' }], signals: undefined, new: { status: null, error: 'ECONNREFUSED', bytes: 0, ttfbMs: 1, totalMs: 1 } }),
  ];
  const report = buildReport(results, meta);

  it('has the documented top-level fields', () => {
    expect(report).toMatchObject({ version: 1, total: 100, matched: 96, intended: 1, mismatched: 3, parity: 0.97, verdicts: { match: 96, mismatch: 3, intended: 1 }, statusMismatches: 1 });
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
      result({ verdict: 'mismatch', category: 'pixels', findings: [{ category: 'pixels', rule: 'ssim', detail: '' }], signals: { ssim: 0.5 + i / 100, blockMaxDiff: 0, deltaE: 0, blockiness: 1 } }),
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

describe('stats', () => {
  it.each([
    [[], 50, 0],
    [[5], 99, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 75, 3],
    [[1, 2, 3, 4], 100, 4],
  ])('percentile(%j, %d) = %d', (values, p, expected) => expect(percentile(values, p)).toBe(expected));

  it('summarise and histogram', () => {
    expect(summarise([3, 1, 2])).toEqual({ count: 3, p50: 2, p95: 3, p99: 3, max: 3, mean: 2 });
    expect(histogram([0.5, 1, 1.5, 20000], [1, 2])).toEqual([2, 1, 1]);
  });
});

describe('renderHtml', () => {
  const bad = result({ verdict: 'mismatch', category: 'pixels', target: '/image/files/<script>.jpg', findings: [{ category: 'pixels', rule: 'ssim', detail: '<b>' }], images: { legacy: 'images/x-legacy.jpg', new: 'images/x-new.jpg', diff: 'images/x-diff.png' } });
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
