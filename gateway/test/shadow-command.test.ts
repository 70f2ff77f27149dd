/** `gateway shadow` flags that bound what the sink keeps. */
import { describe, expect, it } from 'vitest';
import { parseShadowArgs } from '../src/shadow/command.ts';
import { DEFAULT_RESULTS_MAX_BYTES, needsRotation } from '../src/shadow/results-file.ts';

const base = ['--legacy', 'http://127.0.0.1:8081', '--new', 'http://127.0.0.1:8082', '--out', 'r.jsonl'];

describe('--results-max-mb', () => {
  it('takes a size in MiB; absent, the sink uses its 64 MiB default', () => {
    const r = parseShadowArgs([...base, '--results-max-mb', '5']);
    expect(r.ok && r.value !== 'help' && r.value['results-max-mb']).toBe(5);
    const d = parseShadowArgs(base);
    expect(d.ok && d.value !== 'help' && d.value['results-max-mb']).toBeUndefined();
    expect(DEFAULT_RESULTS_MAX_BYTES).toBe(64 * 1024 * 1024);
  });
  it.each([['0'], ['-1'], ['1.5'], ['lots']])('refuses %s with what was expected', (v) => {
    const r = parseShadowArgs([...base, `--results-max-mb=${v}`]);
    expect(r.ok ? '' : r.errors.join('\n')).toContain('--results-max-mb: expected an integer from 1 to 1048576');
  });
});

describe('needsRotation', () => {
  it.each([
    [0, 10, 5, false, 'an empty file takes even an over-long line'],
    [90, 10, 100, false, 'exactly at the cap'],
    [91, 10, 100, true, 'one byte over'],
    [1, 200, 100, true, 'an over-long line starts a fresh file'],
  ])('size %i + line %i, cap %i -> %s (%s)', (size, line, cap, expected) => {
    expect(needsRotation(size, line, cap)).toBe(expected);
  });
});
