import { describe, expect, it } from 'vitest';
import { orientedSize, planResize, type ResizePlan } from '../src/geometry.ts';

/**
 * The contract's formula written out again, as plainly as the contract states it (section 1,
 * "Geometry"), independently of src/geometry.ts. Doubles in the same order as ImageMagick's C:
 * s = w / W0, then floor(W0 * s + 0.5).
 */
function contractFormula(W0: number, H0: number, w: number | undefined, h: number | undefined, fit: 'inside' | 'cover') {
  const ratioW = w === undefined ? Number.POSITIVE_INFINITY : w / W0;
  const ratioH = h === undefined ? Number.POSITIVE_INFINITY : h / H0;
  if (fit === 'inside') {
    const s = Math.min(ratioW, ratioH, 1);
    let outW: number;
    if (w !== undefined && s === w / W0) outW = w;
    else outW = Math.max(1, Math.floor(W0 * s + 0.5));
    let outH: number;
    if (h !== undefined && s === h / H0) outH = h;
    else outH = Math.max(1, Math.floor(H0 * s + 0.5));
    return { resize: { width: outW, height: outH }, crop: undefined };
  }
  const s = Math.max(ratioW, ratioH);
  const scaledW = Math.max(w!, Math.floor(W0 * s + 0.5));
  const scaledH = Math.max(h!, Math.floor(H0 * s + 0.5));
  return {
    resize: { width: scaledW, height: scaledH },
    crop: { left: Math.floor((scaledW - w!) / 2), top: Math.floor((scaledH - h!) / 2), width: w!, height: h! },
  };
}

const SOURCES: Array<[number, number]> = [
  [2999, 2001],
  [2001, 2999],
  [1001, 667],
  [667, 1001],
  [777, 555],
  [555, 777],
  [3840, 2160],
  [1600, 1203],
  [300, 300],
  [96, 130],
  [1, 1],
  [4000, 1],
  [1, 4000],
];
const BOXES: Array<[number, number]> = [
  [300, 300],
  [333, 250],
  [101, 77],
  [97, 131],
  [1, 1],
  [4096, 4096],
];
type Mode = 'w only' | 'h only' | 'w and h' | 'cover';
const MODES: Mode[] = ['w only', 'h only', 'w and h', 'cover'];

function boxFor(mode: Mode, [bw, bh]: [number, number]) {
  if (mode === 'w only') return { width: bw, height: undefined, fit: 'inside' as const };
  if (mode === 'h only') return { width: undefined, height: bh, fit: 'inside' as const };
  if (mode === 'w and h') return { width: bw, height: bh, fit: 'inside' as const };
  return { width: bw, height: bh, fit: 'cover' as const };
}

const table = SOURCES.flatMap(([W0, H0]) => BOXES.flatMap((b) => MODES.map((mode) => ({ W0, H0, mode, box: boxFor(mode, b) }))));

describe('planResize against the contract formula', () => {
  it.each(table)('$W0 x $H0, $mode $box.width x $box.height', ({ W0, H0, box }) => {
    const plan = planResize({ width: W0, height: H0 }, box);
    expect(plan).toEqual(contractFormula(W0, H0, box.width, box.height, box.fit));
  });

  it.each(table.filter((r) => r.mode !== 'cover'))('inside never enlarges, stays in the box, keeps the aspect: $W0 x $H0, $mode', ({ W0, H0, box }) => {
    const { resize, crop } = planResize({ width: W0, height: H0 }, box);
    expect(crop).toBeUndefined();
    expect(resize.width).toBeGreaterThanOrEqual(1);
    expect(resize.height).toBeGreaterThanOrEqual(1);
    expect(resize.width).toBeLessThanOrEqual(Math.min(W0, box.width ?? Infinity));
    expect(resize.height).toBeLessThanOrEqual(Math.min(H0, box.height ?? Infinity));
    // Rounding moves a side by at most half a pixel from the exact aspect (more only where the 1 px minimum lifts it).
    if (resize.width > 1 && resize.height > 1) {
      const s = Math.min((box.width ?? Infinity) / W0, (box.height ?? Infinity) / H0, 1);
      expect(Math.abs(resize.width - W0 * s)).toBeLessThanOrEqual(0.5 + 1e-9);
      expect(Math.abs(resize.height - H0 * s)).toBeLessThanOrEqual(0.5 + 1e-9);
    }
  });

  it.each(table.filter((r) => r.mode === 'cover'))('cover fills the box and crops its centre: $W0 x $H0 into $box.width x $box.height', ({ W0, H0, box }) => {
    const { resize, crop } = planResize({ width: W0, height: H0 }, box);
    expect(crop).toBeDefined();
    expect(crop!.width).toBe(box.width);
    expect(crop!.height).toBe(box.height);
    expect(crop!.left + crop!.width).toBeLessThanOrEqual(resize.width);
    expect(crop!.top + crop!.height).toBeLessThanOrEqual(resize.height);
    // One axis fits exactly; the other is cropped evenly (the odd pixel goes to the right/bottom).
    expect(crop!.left === 0 || crop!.top === 0).toBe(true);
    expect(resize.width - crop!.width - 2 * crop!.left).toBeGreaterThanOrEqual(0);
    expect(resize.width - crop!.width - 2 * crop!.left).toBeLessThanOrEqual(1);
    expect(resize.height - crop!.height - 2 * crop!.top).toBeLessThanOrEqual(1);
  });
});

describe('planResize: hand-checked rows', () => {
  const inside = (width: number | undefined, height: number | undefined) => ({ width, height, fit: 'inside' as const });
  const cover = (width: number, height: number) => ({ width, height, fit: 'cover' as const });
  const rows: Array<[string, [number, number], ReturnType<typeof inside> | ReturnType<typeof cover>, ResizePlan]> = [
    // 2001 * (300 / 2999) = 200.167
    ['2999x2001 w=300', [2999, 2001], inside(300, undefined), { resize: { width: 300, height: 200 }, crop: undefined }],
    // 2999 * (300 / 2001) = 449.625 -> 450
    ['2999x2001 h=300', [2999, 2001], inside(undefined, 300), { resize: { width: 450, height: 300 }, crop: undefined }],
    ['2999x2001 into 300x300', [2999, 2001], inside(300, 300), { resize: { width: 300, height: 200 }, crop: undefined }],
    // width wins (333/2999 < 250/2001): 2001 * 0.111037 = 222.19
    ['2999x2001 into 333x250', [2999, 2001], inside(333, 250), { resize: { width: 333, height: 222 }, crop: undefined }],
    // 2001 * (97 / 2999) = 64.72 -> 65
    ['2999x2001 into 97x131', [2999, 2001], inside(97, 131), { resize: { width: 97, height: 65 }, crop: undefined }],
    ['2999x2001 into 101x77', [2999, 2001], inside(101, 77), { resize: { width: 101, height: 67 }, crop: undefined }],
    // 667 * (300 / 1001) = 199.90 -> 200
    ['1001x667 w=300', [1001, 667], inside(300, undefined), { resize: { width: 300, height: 200 }, crop: undefined }],
    // 1001 * (77 / 667) = 115.56 -> 116
    ['1001x667 h=77', [1001, 667], inside(undefined, 77), { resize: { width: 116, height: 77 }, crop: undefined }],
    // 333/777 = 3/7; 555 * 3/7 = 237.86 -> 238
    ['777x555 into 333x250', [777, 555], inside(333, 250), { resize: { width: 333, height: 238 }, crop: undefined }],
    ['777x555 into 97x131', [777, 555], inside(97, 131), { resize: { width: 97, height: 69 }, crop: undefined }],
    // Never enlarges.
    ['777x555 w=1000', [777, 555], inside(1000, undefined), { resize: { width: 777, height: 555 }, crop: undefined }],
    ['777x555 into 4096x4096', [777, 555], inside(4096, 4096), { resize: { width: 777, height: 555 }, crop: undefined }],
    // Half a pixel rounds up: 101 * 0.5 = 50.5 -> 51.
    ['200x101 w=100', [200, 101], inside(100, undefined), { resize: { width: 100, height: 51 }, crop: undefined }],
    // At least 1 px: 1 * 0.025 = 0.025 -> 1.
    ['4000x1 w=100', [4000, 1], inside(100, undefined), { resize: { width: 100, height: 1 }, crop: undefined }],
    ['1x4000 h=100', [1, 4000], inside(undefined, 100), { resize: { width: 1, height: 100 }, crop: undefined }],
    // cover: height wins (300/2001 > 300/2999); 2999 * 0.149925 = 449.63 -> 450; crop (450-300)/2 = 75.
    ['2999x2001 cover 300x300', [2999, 2001], cover(300, 300), { resize: { width: 450, height: 300 }, crop: { left: 75, top: 0, width: 300, height: 300 } }],
    // 2999 * (250 / 2001) = 374.69 -> 375; crop floor(42 / 2) = 21.
    ['2999x2001 cover 333x250', [2999, 2001], cover(333, 250), { resize: { width: 375, height: 250 }, crop: { left: 21, top: 0, width: 333, height: 250 } }],
    // 1001 * (77 / 667) = 115.56 -> 116; crop floor(15 / 2) = 7.
    ['1001x667 cover 101x77', [1001, 667], cover(101, 77), { resize: { width: 116, height: 77 }, crop: { left: 7, top: 0, width: 101, height: 77 } }],
    // 777 * (131 / 555) = 183.40 -> 183; crop floor(86 / 2) = 43.
    ['777x555 cover 97x131', [777, 555], cover(97, 131), { resize: { width: 183, height: 131 }, crop: { left: 43, top: 0, width: 97, height: 131 } }],
    // cover may enlarge: 777 * (1000 / 555) = 1400.
    [
      '777x555 cover 1000x1000',
      [777, 555],
      cover(1000, 1000),
      { resize: { width: 1400, height: 1000 }, crop: { left: 200, top: 0, width: 1000, height: 1000 } },
    ],
    // Tall source: width wins; 2999 * (300 / 2001) = 449.63 -> 450; crop floor(150 / 2) = 75 from the top.
    ['2001x2999 cover 300x300', [2001, 2999], cover(300, 300), { resize: { width: 300, height: 450 }, crop: { left: 0, top: 75, width: 300, height: 300 } }],
  ];

  it.each(rows)('%s', (_name, [width, height], box, expected) => {
    expect(planResize({ width, height }, box)).toEqual(expected);
  });

  it('refuses cover without both sides (params.ts never asks for it)', () => {
    expect(() => planResize({ width: 10, height: 10 }, { width: 5, height: undefined, fit: 'cover' })).toThrow(RangeError);
  });
});

describe('orientedSize', () => {
  it.each([
    [undefined, 600, 450],
    [1, 600, 450],
    [2, 600, 450],
    [3, 600, 450],
    [4, 600, 450],
    [5, 450, 600],
    [6, 450, 600],
    [7, 450, 600],
    [8, 450, 600],
  ])('orientation %s of a stored 600x450 is %ix%i', (orientation, width, height) => {
    expect(orientedSize({ width: 600, height: 450 }, orientation)).toEqual({ width, height });
  });
});
