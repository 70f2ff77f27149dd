/** Parsing recorded traffic: log lines, plain paths, refused methods and routes, dedupe, seeded sampling. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { knownParams, parseLine, planReplay, sampleIndices } from '../src/compare/input.ts';

const log = (o: Record<string, unknown>) =>
  JSON.stringify({ time: '2026-01-01T00:00:00+00:00', status: 200, request_time: 0.01, route: 'images', backend: 'new', fallback: '', ...o });

describe('parseLine', () => {
  it.each([
    ['plain path', '/image/files/a.jpg?w=100', { kind: 'request', method: 'GET', target: '/image/files/a.jpg?w=100' }],
    ['plain path with surrounding spaces', '   /image/files/a.jpg  ', { kind: 'request', method: 'GET', target: '/image/files/a.jpg' }],
    ['METHOD path', 'HEAD /image/files/a.jpg', { kind: 'request', method: 'HEAD', target: '/image/files/a.jpg' }],
    ['lower-case method', 'get /image/files/a.jpg', { kind: 'request', method: 'GET', target: '/image/files/a.jpg' }],
    ['full URL: origin dropped', 'http://cdn.example:8080/image/files/b/c.png?w=5', { kind: 'request', method: 'GET', target: '/image/files/b/c.png?w=5' }],
    [
      'access log GET',
      log({ method: 'GET', uri: '/image/files/a.jpg?w=640&format=webp' }),
      { kind: 'request', method: 'GET', target: '/image/files/a.jpg?w=640&format=webp' },
    ],
    [
      'access log keeps the raw target',
      log({ method: 'GET', uri: '/image/files/%2e%2e/x.jpg' }),
      { kind: 'request', method: 'GET', target: '/image/files/%2e%2e/x.jpg' },
    ],
    ['access log DELETE: refused', log({ method: 'DELETE', uri: '/image/files' }), { kind: 'refused', reason: 'method', method: 'DELETE' }],
    ['access log POST: refused', log({ method: 'POST', uri: '/image/files' }), { kind: 'refused', reason: 'method', method: 'POST' }],
    ['plain DELETE: refused', 'DELETE /image/files/a.jpg', { kind: 'refused', reason: 'method', method: 'DELETE' }],
    ['PUT on the hot path: refused', 'PUT /image/files/a.jpg', { kind: 'refused', reason: 'method', method: 'PUT' }],
    ['health is not shadowable', log({ method: 'GET', uri: '/image/health' }), { kind: 'refused', reason: 'route' }],
    ['upload path without slash is not the hot route', 'GET /image/files', { kind: 'refused', reason: 'route' }],
    ['prefix alone is not a request for a key', '/image/files/', { kind: 'refused', reason: 'route' }],
    ['broken JSON', '{"method": "GET", ', { kind: 'refused', reason: 'unparseable' }],
    ['JSON without uri', log({ method: 'GET' }), { kind: 'refused', reason: 'unparseable' }],
    ['three words', 'GET /image/files/a.jpg HTTP/1.1', { kind: 'refused', reason: 'unparseable' }],
    ['control characters', '/image/files/a\u0001.jpg', { kind: 'refused', reason: 'unparseable' }],
    ['blank', '   ', { kind: 'skip' }],
    ['comment', '# recorded 2026-01-01', { kind: 'skip' }],
  ])('%s', (_name, line, expected) => {
    const o = parseLine(line, 7);
    if (expected.kind === 'request' && 'target' in expected) {
      expect(o).toEqual({ kind: 'request', request: { method: expected.method, target: expected.target, route: 'images', line: 7 } });
    } else {
      expect(o).toMatchObject(expected);
    }
  });

  it('a refusal says what was expected', () => {
    const o = parseLine('DELETE /image/files/a.jpg', 3);
    expect(o.kind === 'refused' && o.detail).toBe('line 3: DELETE /image/files/a.jpg refused: only GET and HEAD are replayed (other methods change data)');
  });
});

describe('planReplay', () => {
  const lines = [
    '/image/files/a.jpg',
    '/image/files/a.jpg',
    'HEAD /image/files/a.jpg',
    'DELETE /image/files/a.jpg',
    log({ method: 'POST', uri: '/image/files' }),
    '/image/health',
    'garbage line here',
    '',
    '/image/files/b.jpg',
  ];

  it('counts everything it leaves out', () => {
    const { requests, summary } = planReplay(lines);
    expect(requests.map((r) => `${r.method} ${r.target}`)).toEqual([
      'GET /image/files/a.jpg',
      'GET /image/files/a.jpg',
      'HEAD /image/files/a.jpg',
      'GET /image/files/b.jpg',
    ]);
    expect(summary).toMatchObject({
      lines: 9,
      accepted: 4,
      refused: { method: 2, route: 1, unparseable: 1 },
      refusedMethods: { DELETE: 1, POST: 1 },
      duplicates: 0,
      planned: 4,
    });
    expect(summary.refusedExamples).toHaveLength(4);
  });

  it('dedupes on method + target', () => {
    const { requests, summary } = planReplay(lines, { dedupe: true });
    expect(requests.map((r) => `${r.method} ${r.target}`)).toEqual(['GET /image/files/a.jpg', 'HEAD /image/files/a.jpg', 'GET /image/files/b.jpg']);
    expect(summary.duplicates).toBe(1);
  });

  it('samples N with a seed: reproducible, in input order, and a different seed picks differently', () => {
    const many = Array.from({ length: 200 }, (_, i) => `/image/files/k${i}.jpg`);
    const a = planReplay(many, { sample: 20, seed: 7 });
    const b = planReplay(many, { sample: 20, seed: 7 });
    const c = planReplay(many, { sample: 20, seed: 8 });
    expect(a.requests).toHaveLength(20);
    expect(a.summary.sampledOut).toBe(180);
    expect(a.requests).toEqual(b.requests);
    expect(a.requests).not.toEqual(c.requests);
    const lineNumbers = a.requests.map((r) => r.line);
    expect([...lineNumbers].sort((x, y) => x - y)).toEqual(lineNumbers);
  });
});

describe('sampleIndices', () => {
  it('returns k distinct indices in range, ascending', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 400 }), fc.integer(), (n, k, seed) => {
        const idx = sampleIndices(n, k, seed);
        expect(idx).toHaveLength(Math.min(n, k));
        expect(new Set(idx).size).toBe(idx.length);
        expect(idx.every((i, j) => i >= 0 && i < n && (j === 0 || idx[j - 1]! < i))).toBe(true);
      }),
    );
  });
});

describe('knownParams', () => {
  it.each([
    ['/image/files/a.jpg', {}],
    ['/image/files/a.jpg?w=1&h=2&fit=cover&q=5&format=webp&x=9', { w: '1', h: '2', fit: 'cover', q: '5', format: 'webp' }],
    ['/image/files/a.jpg?w=1&w=2', { w: '1' }],
  ])('%s', (target, expected) => expect(knownParams(target)).toEqual(expected));
});
