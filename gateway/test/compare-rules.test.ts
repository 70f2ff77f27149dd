/** Table-driven tests of the status and header parity rules (rules.ts, compareResponses). */
import { describe, expect, it } from 'vitest';
import { compareResponses, normaliseCacheControl, normaliseContentType, type ResponseFacts } from '../src/compare/rules.ts';
import { primaryCategory } from '../src/compare/result.ts';

const image = (over: Partial<ResponseFacts> = {}, headers: Record<string, string | undefined> = {}): ResponseFacts => ({
  status: 200,
  bodyLength: 1000,
  headers: { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=31536000', etag: '"abc"', 'content-length': '1000', ...headers },
  ...over,
});
const error = (status: number, code: string, headers: Record<string, string> = {}): ResponseFacts => ({
  status,
  bodyLength: 60,
  errorCode: code,
  headers: { 'content-type': 'application/json', 'content-length': '60', ...headers },
});

describe('compareResponses', () => {
  it.each<[string, 'GET' | 'HEAD', ResponseFacts, ResponseFacts, string[]]>([
    ['identical images', 'GET', image(), image(), []],
    ['different ETag values are fine', 'GET', image(), image({}, { etag: '"xyz"' }), []],
    ['Cache-Control directive order does not matter', 'GET', image(), image({}, { 'cache-control': 'max-age=31536000,  PUBLIC' }), []],
    ['new drops Cache-Control', 'GET', image(), image({}, { 'cache-control': undefined }), ['header:cache_control']],
    ['new changes max-age', 'GET', image(), image({}, { 'cache-control': 'public, max-age=60' }), ['header:cache_control']],
    ['legacy has no ETag', 'GET', image({}, { etag: undefined }), image(), ['header:etag_missing']],
    ['Content-Length lies on new', 'GET', image(), image({ bodyLength: 999 }), ['header:content_length']],
    ['Content-Length missing on a 200', 'GET', image(), image({}, { 'content-length': undefined }), ['header:content_length_missing']],
    ['HEAD: no body to check Content-Length against', 'HEAD', image({ bodyLength: 0 }), image({ bodyLength: 0 }), []],
    ['image types differ: format', 'GET', image(), image({}, { 'content-type': 'image/webp' }), ['format:content_type']],
    [
      'JSON charset differs: header',
      'GET',
      error(404, 'not_found'),
      error(404, 'not_found', { 'content-type': 'application/json; charset=utf-8' }),
      ['header:content_type'],
    ],
    ['same error, same code', 'GET', error(404, 'not_found'), error(404, 'not_found'), []],
    ['same status, different error code', 'GET', error(400, 'invalid_key'), error(400, 'invalid_parameter'), ['status:error_code']],
    ['status differs: one finding, nothing else compared', 'GET', image(), error(500, 'internal'), ['status:status']],
    ['new did not answer', 'GET', image(), { status: null, error: 'ECONNREFUSED', headers: {}, bodyLength: 0 }, ['error:no_answer']],
    [
      'both did not answer',
      'GET',
      { status: null, error: 'timeout', headers: {}, bodyLength: 0 },
      { status: null, error: 'ECONNRESET', headers: {}, bodyLength: 0 },
      ['error:no_answer'],
    ],
  ])('%s', (_name, method, legacy, next, expected) => {
    const findings = compareResponses(method, legacy, next);
    expect(findings.map((f) => `${f.category}:${f.rule}`)).toEqual(expected);
  });

  it('details name both values', () => {
    const [f] = compareResponses('GET', image(), image({}, { 'cache-control': undefined }));
    expect(f!.detail).toBe('Cache-Control legacy "public, max-age=31536000", new (none)');
    const [s] = compareResponses('GET', error(404, 'not_found'), error(500, 'internal'));
    expect(s!.detail).toBe('status legacy 404 (not_found), new 500 (internal)');
  });
});

describe('normalisers', () => {
  it.each([
    ['public, max-age=31536000', 'max-age=31536000, public'],
    ['max-age = 60 ,public', 'max-age=60, public'],
    [undefined, '(none)'],
  ])('Cache-Control %j -> %j', (input, out) => expect(normaliseCacheControl(input)).toBe(out));

  it.each([
    ['image/JPEG', 'image/jpeg'],
    ['application/json;charset="UTF-8"', 'application/json; charset=utf-8'],
    [undefined, '(none)'],
  ])('Content-Type %j -> %j', (input, out) => expect(normaliseContentType(input)).toBe(out));
});

describe('primaryCategory', () => {
  it.each([
    [[], null],
    [[{ category: 'header' as const }, { category: 'pixels' as const }], 'pixels'],
    [[{ category: 'dimensions_off_by_one' as const }, { category: 'dimensions' as const }], 'dimensions'],
    [[{ category: 'header' as const }, { category: 'error' as const }], 'error'],
  ])('%j -> %s', (findings, expected) => expect(primaryCategory(findings)).toBe(expected));
});
