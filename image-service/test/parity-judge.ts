/**
 * The judge of the parity tests against both real backends (colour-parity, upscale-parity): one
 * request rendered by legacy and by the image service, judged by the comparison harness's own
 * pure rules and calibrated thresholds, as `gateway compare` would judge it.
 */
import { expect } from 'vitest';
import { decodeNormalised, formatOfContentType } from '../../gateway/src/compare/image.ts';
import { compareImages, type DecodeOutcome } from '../../gateway/src/compare/rules.ts';
import { DEFAULT_THRESHOLDS } from '../../gateway/src/compare/thresholds.ts';

/** One backend's answer to `target`, decoded as the harness decodes it. */
export async function fetchImage(base: string, target: string): Promise<{ status: number; type: string | undefined; outcome: DecodeOutcome }> {
  const res = await fetch(base + target);
  const body = new Uint8Array(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? undefined;
  try {
    return { status: res.status, type, outcome: { ok: true, image: await decodeNormalised(body) } };
  } catch (err) {
    return { status: res.status, type, outcome: { ok: false, reason: err instanceof Error ? err.message : String(err) } };
  }
}

/** Renders `target` on both backends (both must answer 200) and returns the harness's result, printing its figures. */
export async function judgePair(legacyUrl: string, newUrl: string, target: string): Promise<ReturnType<typeof compareImages>> {
  const [l, n] = await Promise.all([fetchImage(legacyUrl, target), fetchImage(newUrl, target)]);
  expect([l.status, n.status], target).toEqual([200, 200]);
  const result = compareImages(l.outcome, n.outcome, { legacy: formatOfContentType(l.type), new: formatOfContentType(n.type) }, DEFAULT_THRESHOLDS);
  const s = result.signals;
  // The figures behind the verdict, for docs/parity.md.
  console.log(
    `${target}: ${s ? `ssim ${s.ssim.toFixed(4)} blockMax ${s.blockMaxDiff.toFixed(1)} deltaE ${s.deltaE.toFixed(2)} blockiness ${s.blockiness.toFixed(3)}` : 'no signals'}` +
      (result.findings.length ? ` | ${result.findings.map((f) => `${f.category}/${f.rule}`).join(', ')}` : ''),
  );
  return result;
}
