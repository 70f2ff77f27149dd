/**
 * What an original is (format, colour space, profile, bit depth, orientation), read with sharp,
 * and whether it decodes at all: the corpus keeps pictures both backends are meant to read.
 */
import sharp from 'sharp';
import { MAX_INPUT_PIXELS } from '../../common/contract.ts';
import type { OriginalInfo } from '../../gateway/src/compare/causes.ts';
import { iccDescription } from './icc.ts';

// The contract's pixel limit (MAX_INPUT_PIXELS); the corpus stays far below it to keep the run short.

/** Metadata of an image file's bytes, or undefined when sharp cannot decode it. */
export async function probeImage(bytes: Buffer): Promise<OriginalInfo | undefined> {
  try {
    const m = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    if (!m.format || !m.width || !m.height) return undefined;
    // metadata() reads headers only; a tiny decode proves the pixels are there.
    await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).resize(8, 8, { fit: 'inside' }).raw().toBuffer();
    const description = m.icc ? iccDescription(m.icc) : undefined;
    return {
      format: m.format,
      width: m.width,
      height: m.pageHeight && m.pages && m.pages > 1 ? m.pageHeight : m.height,
      space: m.space ?? 'unknown',
      channels: m.channels ?? 0,
      hasAlpha: m.hasAlpha ?? false,
      bitDepth: m.depth === 'ushort' || m.depth === 'short' ? 16 : m.depth === 'float' || m.depth === 'uint' ? 32 : 8,
      icc: Boolean(m.icc),
      ...(description ? { iccDescription: description } : {}),
      orientation: m.orientation ?? 1,
      ...(m.isProgressive ? { progressive: true } : {}),
      ...(m.pages && m.pages > 1 ? { pages: m.pages } : {}),
    };
  } catch {
    return undefined;
  }
}
