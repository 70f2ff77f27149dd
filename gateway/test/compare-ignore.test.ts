/** The ignore file: parsing, matching, and that intended differences move apart rather than vanish. */
import { describe, expect, it } from 'vitest';
import { applyIgnore, entryMatches, globToRegExp, parseIgnoreFile, type IgnoreEntry } from '../src/compare/ignore.ts';
import type { Finding } from '../src/compare/result.ts';

const cc: Finding = { category: 'header', rule: 'cache_control', detail: 'Cache-Control legacy "x", new (none)' };
const px: Finding = { category: 'pixels', rule: 'delta_e', detail: 'colour' };
const subject = { route: 'images', path: '/image/files/cmyk/photo-1.jpg', params: { w: '640', format: 'webp' } };

describe('globToRegExp', () => {
  it.each([
    ['/image/files/*.jpg', '/image/files/a.jpg', true],
    ['/image/files/*.jpg', '/image/files/dir/a.jpg', false],
    ['/image/files/**', '/image/files/dir/a.jpg', true],
    ['/image/files/cmyk-?.jpg', '/image/files/cmyk-1.jpg', true],
    ['/image/files/a.jpg', '/image/files/aXjpg', false],
    ['6*', '640', true],
  ])('%s ~ %s -> %s', (glob, value, expected) => expect(globToRegExp(glob).test(value)).toBe(expected));
});

describe('entryMatches', () => {
  const entry = (e: Omit<Partial<IgnoreEntry>, 'params'> & { params?: Record<string, string> }): IgnoreEntry =>
    ({ category: 'header', reason: 'why', ...e }) as IgnoreEntry;
  it.each([
    ['path glob + category', entry({ path: '/image/files/cmyk/**' }), cc, true],
    ['category must match', entry({ path: '/image/files/cmyk/**' }), px, false],
    ['rule narrows', entry({ path: '/image/files/**', rule: 'etag_missing' }), cc, false],
    ['route', entry({ route: 'images' }), cc, true],
    ['other route', entry({ route: 'thumbs' }), cc, false],
    ['param glob', entry({ params: { w: '6*' } }), cc, true],
    ['param value differs', entry({ params: { format: 'png' } }), cc, false],
    ['"" means absent: present here', entry({ params: { fit: '' } }), cc, true],
    ['"" means absent: but w is present', entry({ params: { w: '' } }), cc, false],
  ])('%s', (_name, e, finding, expected) => expect(entryMatches(e, subject, finding)).toBe(expected));
});

describe('applyIgnore', () => {
  const entries = parseIgnoreFile(
    'ignore:\n  - path: /image/files/cmyk/**\n    category: header\n    reason: new sends the standard Cache-Control (TICKET-1)\n',
  );
  it('every finding accepted: intended, with the reason kept', () => {
    expect(applyIgnore([cc], subject, entries)).toEqual({
      verdict: 'intended',
      category: 'header',
      findings: [],
      intended: [{ ...cc, reason: 'new sends the standard Cache-Control (TICKET-1)' }],
    });
  });
  it('a finding left standing keeps the request a mismatch, and the accepted one is still reported', () => {
    const r = applyIgnore([cc, px], subject, entries);
    expect(r.verdict).toBe('mismatch');
    expect(r.category).toBe('pixels');
    expect(r.findings).toEqual([px]);
    expect(r.intended).toHaveLength(1);
  });
  it('no findings: match', () => expect(applyIgnore([], subject, entries).verdict).toBe('match'));
});

describe('parseIgnoreFile', () => {
  it('reads JSON as well as YAML, as a list or under "ignore"', () => {
    expect(parseIgnoreFile('[{"route": "images", "category": "pixels", "reason": "r"}]')).toEqual([{ route: 'images', category: 'pixels', reason: 'r' }]);
    expect(parseIgnoreFile('')).toEqual([]);
  });
  it.each([
    ['unknown category', 'ignore:\n  - path: /x\n    category: colour\n    reason: r\n', /category/],
    ['missing reason', 'ignore:\n  - path: /x\n    category: pixels\n', /reason/],
    ['matches everything', 'ignore:\n  - category: pixels\n    reason: r\n', /at least one of route, path or params/],
    ['unknown field', 'ignore:\n  - path: /x\n    category: pixels\n    reason: r\n    because: x\n', /because|unrecognized/i],
    ['not YAML', 'ignore: [unclosed', /not valid YAML/],
  ])('%s is refused with a message', (_name, text, message) => {
    expect(() => parseIgnoreFile(text, 'ignore.yaml')).toThrow(message);
  });
});
