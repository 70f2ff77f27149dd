/**
 * `gateway compare calibrate`: measures what the thresholds must separate, on this machine, with
 * the real backends. For each request (every original at several widths, or a list of paths):
 *
 * - noise floor: the legacy output against itself re-encoded (same format, q85): codec noise;
 * - legitimate: legacy (ImageMagick) against new (sharp): two honest resamplers;
 * - defects, applied to the new output and compared with legacy, as the harness would see a
 *   broken candidate: red/blue swapped, content shifted 2 px, re-encoded as JPEG q20.
 *
 * It prints each signal's distribution per pair type and how the current thresholds fare (false
 * alarms on the first two, catches on the defects). docs/parity.md records a run of it.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from './files.ts';
import { decodeNormalised, type DecodedImage } from './image.ts';
import { planReplay } from './input.ts';
import type { CalibrateArgs } from './options.ts';
import { runPool } from './pacing.ts';
import { judgeSignals } from './rules.ts';
import { createSender } from './send.ts';
import { computeSignals, type RgbImage, type Signals } from './signals.ts';
import { DEFAULT_THRESHOLDS, type Thresholds } from './thresholds.ts';

export const PAIR_KINDS = ['reencoded', 'legitimate', 'channel_swap', 'shift_2px', 'q20'] as const;
export type PairKind = (typeof PAIR_KINDS)[number];

/** PURE: red and blue swapped. */
export function swapRedBlue(img: RgbImage): RgbImage {
  const data = new Uint8Array(img.data);
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i]!;
    data[i] = data[i + 2]!;
    data[i + 2] = r;
  }
  return { width: img.width, height: img.height, data };
}

/** PURE: content moved `dx` right and `dy` down; the uncovered edge repeats the nearest pixel. */
export function shift(img: RgbImage, dx: number, dy: number): RgbImage {
  const { width, height } = img;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(height - 1, Math.max(0, y - dy));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(width - 1, Math.max(0, x - dx));
      const s = (sy * width + sx) * 3;
      const d = (y * width + x) * 3;
      data[d] = img.data[s]!;
      data[d + 1] = img.data[s + 1]!;
      data[d + 2] = img.data[s + 2]!;
    }
  }
  return { width, height, data };
}

async function reencode(img: RgbImage, format: string, quality: number): Promise<DecodedImage> {
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } });
  const out = format === 'png' ? s.png() : format === 'webp' ? s.webp({ quality }) : s.jpeg({ quality });
  return decodeNormalised(await out.toBuffer());
}

/** The signals of every pair kind for one legacy/new pair of equal size. */
export async function calibrationSignals(
  legacy: DecodedImage,
  next: DecodedImage,
  thresholds: Thresholds = DEFAULT_THRESHOLDS,
): Promise<Record<PairKind, Signals>> {
  const o = thresholds.ssim;
  return {
    reencoded: computeSignals(legacy, await reencode(legacy, legacy.format, 85), o),
    legitimate: computeSignals(legacy, next, o),
    channel_swap: computeSignals(legacy, swapRedBlue(next), o),
    shift_2px: computeSignals(legacy, shift(next, 2, 2), o),
    q20: computeSignals(legacy, await reencode(next, 'jpeg', 20), o),
  };
}

export interface Distribution {
  count: number;
  min: number;
  p05: number;
  p50: number;
  p95: number;
  max: number;
}

export interface CalibrationTable {
  thresholds: Thresholds;
  pairs: number;
  /** Requests that could not be calibrated (not both 200 images, or different sizes), with why. */
  skipped: Array<{ target: string; why: string }>;
  kinds: Record<
    PairKind,
    {
      ssim: Distribution;
      blockMaxDiff: Distribution;
      deltaE: Distribution;
      blockiness: Distribution;
      flagged: { ssim: number; colour: number; compression: number; any: number };
    }
  >;
  /** Pairs the thresholds flag although they should pass (noise floor, legitimate), and defects they miss. */
  outliers: Array<{ kind: PairKind; target: string; signals: Signals; flagged: boolean }>;
}

function dist(values: number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : 0);
  const r = (v: number) => Math.round(v * 10000) / 10000;
  return { count: s.length, min: r(s[0] ?? 0), p05: r(at(5)), p50: r(at(50)), p95: r(at(95)), max: r(s[s.length - 1] ?? 0) };
}

/** PURE: distributions and threshold hits from the per-pair signals. */
export function tabulate(
  samples: Array<Record<PairKind, Signals> & { target?: string }>,
  thresholds: Thresholds,
  skipped: CalibrationTable['skipped'] = [],
): CalibrationTable {
  const kinds = {} as CalibrationTable['kinds'];
  const outliers: CalibrationTable['outliers'] = [];
  for (const k of PAIR_KINDS) {
    const shouldPass = k === 'reencoded' || k === 'legitimate';
    for (const s of samples) {
      const flagged = judgeSignals(s[k], thresholds).length > 0;
      if (flagged === shouldPass) outliers.push({ kind: k, target: s.target ?? '?', signals: s[k], flagged });
    }
    const sig = samples.map((s) => s[k]);
    const flagged = { ssim: 0, colour: 0, compression: 0, any: 0 };
    for (const s of sig) {
      const f = judgeSignals(s, thresholds);
      if (f.some((x) => x.rule === 'ssim')) flagged.ssim++;
      if (f.some((x) => x.rule === 'block_colour' || x.rule === 'delta_e')) flagged.colour++;
      if (f.some((x) => x.rule === 'blockiness')) flagged.compression++;
      if (f.length) flagged.any++;
    }
    kinds[k] = {
      ssim: dist(sig.map((s) => s.ssim)),
      blockMaxDiff: dist(sig.map((s) => s.blockMaxDiff)),
      deltaE: dist(sig.map((s) => s.deltaE)),
      blockiness: dist(sig.map((s) => s.blockiness)),
      flagged,
    };
  }
  return { thresholds, pairs: samples.length, skipped, kinds, outliers };
}

/** PURE: the table as text (what the command prints, and what docs/parity.md quotes). */
export function formatTable(t: CalibrationTable): string {
  const lines = [
    `calibration over ${t.pairs} legacy/new pairs (${t.skipped.length} requests skipped)`,
    `thresholds: SSIM >= ${t.thresholds.ssimMin}, block max diff <= ${t.thresholds.blockMaxDiff}, mean deltaE <= ${t.thresholds.deltaEMax}, blockiness <= ${t.thresholds.blockinessMax}`,
    '',
    '| pair | luma SSIM min / p05 / p50 / max | block max diff min / p50 / p95 / max | mean ΔE min / p50 / p95 / max | blockiness min / p50 / p95 / ' +
      'max | flagged by SSIM / colour / compression / any |',
    '|---|---|---|---|---|---|',
  ];
  for (const k of PAIR_KINDS) {
    const r = t.kinds[k];
    lines.push(
      `| ${k} | ${r.ssim.min} / ${r.ssim.p05} / ${r.ssim.p50} / ${r.ssim.max} | ${r.blockMaxDiff.min} / ${r.blockMaxDiff.p50} / ` +
        `${r.blockMaxDiff.p95} / ${r.blockMaxDiff.max} | ${r.deltaE.min} / ${r.deltaE.p50} / ${r.deltaE.p95} / ${r.deltaE.max} | ` +
        `${r.blockiness.min} / ${r.blockiness.p50} / ${r.blockiness.p95} / ${r.blockiness.max} | ${r.flagged.ssim} / ${r.flagged.colour} / ` +
        `${r.flagged.compression} / ${r.flagged.any} of ${r.ssim.count} |`,
    );
  }
  for (const o of t.outliers.slice(0, 60)) {
    lines.push(
      `${o.flagged ? 'flagged' : 'missed '} ${o.kind.padEnd(12)} ${o.target}: SSIM ${o.signals.ssim}, block max diff ${o.signals.blockMaxDiff}, ` +
        `deltaE ${o.signals.deltaE}, blockiness ${o.signals.blockiness}`,
    );
  }
  for (const s of t.skipped.slice(0, 20)) lines.push(`skipped ${s.target}: ${s.why}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Besides plain widths: crops (cover), enlargement (cover past the original's size), format
 * conversions and another quality, because each exercises a different code path of both
 * resamplers and encoders, and the thresholds must hold for all of them.
 */
export const CALIBRATION_VARIANTS = [
  'w=300&h=300&fit=cover',
  'w=200&h=150&fit=cover&format=webp',
  'w=1600&h=1200&fit=cover',
  'w=500&format=png',
  'h=240&q=60',
] as const;

/** Request targets for every image in `dir`: each width (fit inside), then CALIBRATION_VARIANTS. */
export async function originalsTargets(dir: string, widths: readonly number[]): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => /\.(jpe?g|png|webp|gif)$/i.test(n) && !/^(bad|gen-truncated)/.test(n) && /^[A-Za-z0-9._-]+$/.test(n)).sort();
  return names.flatMap((n) => [...widths.map((w) => `w=${w}`), ...CALIBRATION_VARIANTS].map((q) => `/image/files/${n}?${q}`));
}

export async function runCalibration(a: CalibrateArgs, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  let targets: string[];
  if (a.originals) targets = await originalsTargets(a.originals, a.sizes);
  else {
    const text = await readFile(a.from!, 'utf8');
    targets = planReplay(text.split('\n'), { dedupe: true })
      .requests.filter((r) => r.method === 'GET')
      .map((r) => r.target);
  }
  if (targets.length === 0) {
    io.stderr.write('gateway compare calibrate: no requests to calibrate with (expected images in --originals, or GET paths in --from)\n');
    return 2;
  }
  io.stderr.write(`calibrate: ${targets.length} requests against ${a.legacy} and ${a.new}\n`);
  const sender = createSender({ timeoutMs: a.timeoutMs, maxSockets: a.concurrency });
  const samples: Array<Record<PairKind, Signals> & { target: string }> = [];
  const skipped: CalibrationTable['skipped'] = [];
  try {
    await runPool(targets, a.concurrency, async (target) => {
      const [l, n] = [await sender.send(a.legacy, 'GET', target), await sender.send(a.new, 'GET', target)];
      if (!l.ok || !n.ok || l.status !== 200 || n.status !== 200) {
        skipped.push({ target, why: `status legacy ${l.ok ? l.status : l.error}, new ${n.ok ? n.status : n.error}` });
        return;
      }
      let dl: DecodedImage, dn: DecodedImage;
      try {
        [dl, dn] = await Promise.all([decodeNormalised(l.body), decodeNormalised(n.body)]);
      } catch (err) {
        skipped.push({ target, why: `undecodable: ${(err as Error).message}` });
        return;
      }
      if (dl.width !== dn.width || dl.height !== dn.height) {
        skipped.push({ target, why: `dimensions differ: legacy ${dl.width}x${dl.height}, new ${dn.width}x${dn.height}` });
        return;
      }
      samples.push({ ...(await calibrationSignals(dl, dn)), target });
    });
  } finally {
    sender.close();
  }
  const table = tabulate(samples, DEFAULT_THRESHOLDS, skipped);
  io.stdout.write(formatTable(table));
  if (a.out) await writeFileAtomic(path.resolve(a.out), `${JSON.stringify({ ...table, samples }, null, 2)}\n`);
  return 0;
}
