import { describe, expect, it } from 'vitest';
import { computeEtag, ifNoneMatchMatches } from '../src/conditional.ts';

describe('computeEtag', () => {
  it('is strong, stable for the same inputs and different when either input changes', () => {
    const e = computeEtag('v1', 'w=300');
    expect(e).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(computeEtag('v1', 'w=300')).toBe(e);
    expect(computeEtag('v2', 'w=300')).not.toBe(e);
    expect(computeEtag('v1', 'w=301')).not.toBe(e);
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    expect(computeEtag('ab', 'c')).not.toBe(computeEtag('a', 'bc'));
  });
});

describe('ifNoneMatchMatches', () => {
  const etag = '"abc"';
  it.each<[string | undefined, boolean]>([
    [undefined, false],
    ['', false],
    ['"abc"', true],
    ['W/"abc"', true],
    [' "x" , "abc" ', true],
    ['"x", W/"abc"', true],
    ['*', true],
    ['"abcd"', false],
    ['abc', false],
    ['"ab"', false],
  ])('%j -> %s', (header, match) => {
    expect(ifNoneMatchMatches(header, etag)).toBe(match);
  });
});
