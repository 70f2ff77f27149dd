/** The calibration's pure parts: synthetic defects and the table of distributions and hits. */
import { describe, expect, it } from 'vitest';
import { formatTable, originalsTargets, shift, swapRedBlue, tabulate, PAIR_KINDS, type PairKind } from '../src/compare/calibrate.ts';
import type { Signals } from '../src/compare/signals.ts';
import { DEFAULT_THRESHOLDS } from '../src/compare/thresholds.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const img = { width: 3, height: 2, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]) };

describe('defects', () => {
  it('swapRedBlue swaps the first and third channel and leaves the input alone', () => {
    expect([...swapRedBlue(img).data.slice(0, 6)]).toEqual([3, 2, 1, 6, 5, 4]);
    expect(img.data[0]).toBe(1);
  });
  it('shift moves content right/down and repeats the edge', () => {
    const s = shift(img, 1, 1);
    // Row 0 repeats the source's row 0 shifted: pixel (0,0) <- (0,0), (1,0) <- (0,0), (2,0) <- (1,0).
    expect([...s.data.slice(0, 9)]).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6]);
    expect([...s.data.slice(9, 18)]).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6]);
  });
});

describe('tabulate', () => {
  const good: Signals = { ssim: 0.99, blockMaxDiff: 3, deltaE: 0.2, blockiness: 1.01 };
  const sample = (over: Partial<Record<PairKind, Signals>>, target: string) =>
    ({ ...Object.fromEntries(PAIR_KINDS.map((k) => [k, good])), ...over, target }) as Record<PairKind, Signals> & { target: string };
  const t = tabulate(
    [sample({ channel_swap: { ...good, deltaE: 30 }, q20: { ...good, blockiness: 2 } }, '/a'), sample({ legitimate: { ...good, ssim: 0.5 } }, '/b')],
    DEFAULT_THRESHOLDS,
    [{ target: '/c', why: 'dimensions differ' }],
  );

  it('counts what each signal flags per kind', () => {
    expect(t.pairs).toBe(2);
    expect(t.kinds.channel_swap.flagged).toEqual({ ssim: 0, colour: 1, compression: 0, any: 1 });
    expect(t.kinds.q20.flagged).toEqual({ ssim: 0, colour: 0, compression: 1, any: 1 });
    expect(t.kinds.legitimate.ssim).toMatchObject({ count: 2, min: 0.5, max: 0.99 });
  });

  it('lists false alarms on pairs that should pass and defects that were missed', () => {
    expect(t.outliers.map((o) => `${o.flagged ? 'flagged' : 'missed'} ${o.kind} ${o.target}`)).toEqual([
      'flagged legitimate /b',
      'missed channel_swap /b',
      'missed shift_2px /a',
      'missed shift_2px /b',
      'missed q20 /b',
    ]);
    const text = formatTable(t);
    expect(text).toContain('| legitimate | 0.5 /');
    expect(text).toContain('skipped /c: dimensions differ');
  });
});

describe('originalsTargets', () => {
  it('every decodable original at each width and each variant; broken and oddly named files left out', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cal-'));
    for (const n of ['a.jpg', 'bad-truncated.jpg', 'b c.png', 'notes.txt', 'z.webp']) writeFileSync(path.join(dir, n), '');
    const targets = await originalsTargets(dir, [100]);
    expect(targets.filter((t) => t.includes('?w=100'))).toEqual(['/image/files/a.jpg?w=100', '/image/files/z.webp?w=100']);
    expect(targets).toHaveLength(2 * 6);
  });
});
