import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.ts';
import { canonicalVariant, parseImageRequest, parseKey, queryPairs, type ImageRequest } from '../src/params.ts';

const parse = (query: string) => parseImageRequest(queryPairs(query));

describe('parseKey', () => {
  it.each([
    ['a.jpg', 'a.jpg'],
    ['dir/sub/photo-1_2.JPG', 'dir/sub/photo-1_2.JPG'],
    ['a%2Fb.png', 'a/b.png'],
    ['%61.jpg', 'a.jpg'],
    ['...', '...'],
    ['.hidden', '.hidden'],
    ['x'.repeat(512), 'x'.repeat(512)],
  ])('accepts %j as %j', (raw, key) => {
    expect(parseKey(raw)).toEqual({ ok: true, value: key });
  });

  it.each([
    ['', 'the key is empty'],
    ['x'.repeat(513), '513 characters'],
    ['/a.jpg', 'starts with /'],
    ['%2Fa.jpg', 'starts with /'],
    ['a//b.jpg', 'empty segment'],
    ['a/', 'empty segment'],
    ['./a.jpg', "'.' segment"],
    ['a/../b.jpg', "'..' segment"],
    ['%2e%2e/etc/passwd', "'..' segment"],
    ['a b.jpg', 'outside the allowed set'],
    ['a%20b.jpg', 'outside the allowed set'],
    ['a%00.jpg', 'outside the allowed set'],
    ['caf%C3%A9.jpg', 'outside the allowed set'],
    ['a\\b.jpg', 'outside the allowed set'],
    ['a%5Cb.jpg', 'outside the allowed set'],
    // One round of decoding only: %252e stays %2e, and '%' is not allowed.
    ['%252e%252e/a.jpg', 'outside the allowed set'],
    ['a%ZZ.jpg', 'malformed percent-encoding'],
    ['a%E0%A4%A.jpg', 'malformed percent-encoding'],
  ])('refuses %j (%s) with invalid_key and the expected form', (raw, why) => {
    const r = parseKey(raw);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(ImageError);
    expect(r.error.code).toBe('invalid_key');
    expect(r.error.status).toBe(400);
    expect(r.error.message).toContain(why);
    expect(r.error.message).toContain('expected 1 to 512 characters of A-Z a-z 0-9 . _ -');
  });

  it('property: any string gives a valid key or a 400 invalid_key, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 600 }), fc.stringMatching(/^[A-Za-z0-9._%/-]{0,40}$/)), (raw) => {
        const r = parseKey(raw);
        if (r.ok) {
          expect(r.value).toMatch(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/);
          expect(r.value.length).toBeLessThanOrEqual(512);
          expect(r.value.split('/')).not.toContain('..');
          expect(r.value.split('/')).not.toContain('.');
        } else {
          expect(r.error.code).toBe('invalid_key');
          expect(r.error.status).toBe(400);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: every valid key survives encodeURIComponent per segment', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (segments) => {
        const key = segments.join('/');
        expect(parseKey(segments.map(encodeURIComponent).join('/'))).toEqual({ ok: true, value: key });
      }),
    );
  });
});

describe('parseImageRequest', () => {
  const resize = (r: Partial<{ width: number; height: number; fit: 'inside' | 'cover'; quality: number; format: 'jpeg' | 'png' | 'webp' }>): ImageRequest => ({
    kind: 'resize',
    resize: { width: r.width, height: r.height, fit: r.fit ?? 'inside', quality: r.quality ?? 85, format: r.format },
  });

  it.each<[string, ImageRequest]>([
    ['', { kind: 'original' }],
    ['foo=bar&utm_source=x', { kind: 'original' }],
    ['w=300', resize({ width: 300 })],
    ['h=200', resize({ height: 200 })],
    ['w=1&h=4096', resize({ width: 1, height: 4096 })],
    ['w=200&h=200&fit=cover', resize({ width: 200, height: 200, fit: 'cover' })],
    ['w=200&fit=inside', resize({ width: 200 })],
    ['q=1', resize({ quality: 1 })],
    ['q=100&format=webp', resize({ quality: 100, format: 'webp' })],
    ['format=png', resize({ format: 'png' })],
    ['format=jpeg&w=10&unknown=1&w[]=2', resize({ width: 10, format: 'jpeg' })],
    ['fit=inside', resize({})],
  ])('%j', (query, expected) => {
    expect(parse(query)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['w=0', 'w', 'integer from 1 to 4096'],
    // Canonical decimals only: one spelling per number, so caches and ETags see one variant.
    ['w=0100', 'w', 'a canonical decimal integer'],
    ['w=0300', 'w', 'a canonical decimal integer'],
    ['w=%2B100', 'w', 'a canonical decimal integer'],
    ['w=1e2', 'w', 'a canonical decimal integer'],
    ['w=%20100', 'w', 'a canonical decimal integer'],
    ['w=+100', 'w', 'a canonical decimal integer'],
    ['h=00', 'h', 'a canonical decimal integer'],
    ['q=085', 'q', 'a canonical decimal integer from 1 to 100'],
    ['w=4097', 'w', 'integer from 1 to 4096'],
    ['w=-1', 'w', 'integer from 1 to 4096'],
    ['w=1.5', 'w', 'integer from 1 to 4096'],
    ['w=1e3', 'w', 'integer from 1 to 4096'],
    ['w=0x10', 'w', 'integer from 1 to 4096'],
    ['w=+5', 'w', 'integer from 1 to 4096'],
    ['w=%205', 'w', 'integer from 1 to 4096'],
    ['w=', 'w', 'integer from 1 to 4096'],
    ['w=99999999999999999999', 'w', 'integer from 1 to 4096'],
    ['h=abc', 'h', 'integer from 1 to 4096'],
    ['h=5000', 'h', 'integer from 1 to 4096'],
    ['q=0', 'q', 'integer from 1 to 100'],
    ['q=101', 'q', 'integer from 1 to 100'],
    ['fit=fill', 'fit', "'inside' or 'cover'"],
    ['fit=COVER&w=1&h=1', 'fit', "'inside' or 'cover'"],
    ['fit=cover&w=100', 'fit', 'expected both w and h (integers from 1 to 4096) with fit=cover, got cover without h'],
    ['fit=cover&h=100', 'fit', 'got cover without w'],
    ['fit=cover', 'fit', 'got cover without w and h'],
    ['format=gif', 'format', "'jpeg', 'png' or 'webp'"],
    ['format=jpg', 'format', "'jpeg', 'png' or 'webp'"],
    ['w=1&w=1', 'w', 'at most one value'],
    ['w=1&format=png&format=png', 'format', 'at most one value'],
    ['q=5&q=6', 'q', 'at most one value'],
  ])('%j: 400 invalid_parameter naming %s and %s', (query, name, expected) => {
    const r = parse(query);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('invalid_parameter');
    expect(r.error.status).toBe(400);
    expect(r.error.message).toContain(`invalid parameter ${name}:`);
    expect(r.error.message).toContain(expected);
  });

  it('property: a w/h/q value is accepted exactly when it is the canonical decimal of an integer in range', () => {
    const spelling = fc.oneof(
      fc.integer({ min: -5, max: 5000 }).map(String),
      fc.tuple(fc.constantFrom('0', '00', '+', '-', ' ', '\t'), fc.integer({ min: 0, max: 5000 })).map(([p, n]) => `${p}${n}`),
      fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.constantFrom(' ', '.0', 'e0', 'e1')).map(([n, s]) => `${n}${s}`),
      fc.stringMatching(/^[0-9+\-. e]{0,6}$/),
    );
    fc.assert(
      fc.property(fc.constantFrom('w', 'h', 'q'), spelling, (name, raw) => {
        const max = name === 'q' ? 100 : 4096;
        const canonical = /^[1-9][0-9]*$/.test(raw) && Number(raw) <= max;
        const r = parseImageRequest([[name, raw]]);
        expect(r.ok).toBe(canonical);
        if (r.ok && r.value.kind === 'resize') {
          const got = name === 'w' ? r.value.resize.width : name === 'h' ? r.value.resize.height : r.value.resize.quality;
          expect(String(got)).toBe(raw);
        } else if (!r.ok) {
          expect(r.error.message).toContain(`invalid parameter ${name}: expected a canonical decimal integer`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('property: any query string gives a typed request or a 400 invalid_parameter, never a throw', () => {
    const param = fc.constantFrom('w', 'h', 'fit', 'q', 'format', 's', 'x', 'w[]', '');
    const value = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.integer({ min: -10, max: 5000 }).map(String),
      fc.constantFrom('cover', 'inside', 'jpeg', 'png', 'webp', '%', '%zz', '1e2', ' 1'),
    );
    const structured = fc.array(fc.tuple(param, value), { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), structured), (query) => {
        const r = parse(query);
        if (r.ok) {
          if (r.value.kind === 'resize') {
            const { width, height, quality, fit, format } = r.value.resize;
            for (const side of [width, height]) if (side !== undefined) expect(Number.isInteger(side) && side >= 1 && side <= 4096).toBe(true);
            expect(Number.isInteger(quality) && quality >= 1 && quality <= 100).toBe(true);
            expect(['inside', 'cover']).toContain(fit);
            if (fit === 'cover') expect(width !== undefined && height !== undefined).toBe(true);
            expect([undefined, 'jpeg', 'png', 'webp']).toContain(format);
          }
        } else {
          expect(r.error.code).toBe('invalid_parameter');
          expect(r.error.status).toBe(400);
          expect(r.error.message).toMatch(/^invalid parameter (w|h|fit|q|format): expected /);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('canonicalVariant', () => {
  it('gives requests that mean the same thing the same variant', () => {
    const a = parse('w=300&q=85&fit=inside');
    const b = parse('fit=inside&w=300&utm=1');
    const c = parse('w=300&q=80');
    if (!a.ok || !b.ok || !c.ok) throw new Error('unexpected parse failure');
    expect(canonicalVariant(a.value)).toBe(canonicalVariant(b.value));
    expect(canonicalVariant(a.value)).not.toBe(canonicalVariant(c.value));
    expect(canonicalVariant({ kind: 'original' })).toBe('original');
  });
});
