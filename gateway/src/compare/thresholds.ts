/**
 * The pixel thresholds. These are calibrated, not guessed: `gateway compare calibrate` measures
 * the noise floor (legacy output re-encoded; legitimate ImageMagick-vs-sharp pairs) and synthetic
 * defects (channel swap, 2 px shift, q20 re-encode) on this machine, and docs/parity.md records
 * the measured distributions and how each default sits between them.
 */
import type { SsimOptions } from './signals.ts';

export interface Thresholds {
  /** Structure: a pair whose luma SSIM is below this is a `pixels` mismatch. */
  ssimMin: number;
  /** Colour: a pair whose largest 16x16 block-mean channel difference is above this is a `pixels` mismatch. */
  blockMaxDiff: number;
  /** Colour: a pair whose mean block deltaE (CIE76) is above this is a `pixels` mismatch. */
  deltaEMax: number;
  /** Compression: a pair where one side's 8x8 block grid is this many times stronger than the other's is a `pixels` mismatch. */
  blockinessMax: number;
  /** How SSIM is computed (windows, downsampling). */
  ssim: SsimOptions;
}

/** Defaults; see docs/parity.md, "Calibration", for the measurements behind each number. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  ssimMin: 0.92,
  blockMaxDiff: 32,
  deltaEMax: 2,
  blockinessMax: 1.3,
  ssim: { windowSize: 11, downsample: 'original', maxSize: 256 },
};
