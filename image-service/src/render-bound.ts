/**
 * PURE: whether a render needs libvips' own timeout (sharp's `.timeout()`) to hold the render bound
 * (RENDER_TIMEOUT_MS). That timeout turns on libvips' progress reporting for the whole pipeline,
 * which costs CPU on every render (issue 15: +5-7% measured on the benchmark photos); a render
 * that cannot come near the bound does not need it. The service still answers any render that
 * finished past the bound with the same 504 (service.ts), so the bound means the same either way:
 * the timeout only stops a long render early, and only long renders need stopping.
 *
 * The estimate is a worst case, from CPU times measured on this project's reference machine
 * (sharp 0.35, one libvips thread; /tmp script in the issue 15 notes): decoding costs at most
 * ~46 ms per megapixel of original (a 16-bit noise PNG; a baseline photo JPEG ~15, a progressive
 * one ~31) and encoding at most ~80 ms per megapixel of output (PNG of noise; lossless-WebP input
 * to WebP ~83 per in+out megapixel). The constants below add a quarter or more on top of those.
 */

/** Worst CPU milliseconds per megapixel of original (decode, colour, resample). */
export const WORST_MS_PER_INPUT_MEGAPIXEL = 60;
/** Worst CPU milliseconds per megapixel of the resized image (resample, encode). */
export const WORST_MS_PER_OUTPUT_MEGAPIXEL = 120;

/** The most a render of this size could cost, in CPU milliseconds. */
export function worstRenderMs(inputPixels: number, outputPixels: number): number {
  return (inputPixels * WORST_MS_PER_INPUT_MEGAPIXEL + outputPixels * WORST_MS_PER_OUTPUT_MEGAPIXEL) / 1e6;
}

/**
 * True when a render of `inputPixels` into `outputPixels` could run past `renderTimeoutMs`, so
 * libvips must be able to stop it. Example: with the default bound (1600 ms) a 12-megapixel photo
 * to 1280 px wide needs no timeout (~870 ms worst), a 45-megapixel original does.
 */
export function needsLibvipsTimeout(inputPixels: number, outputPixels: number, renderTimeoutMs: number): boolean {
  return worstRenderMs(inputPixels, outputPixels) > renderTimeoutMs;
}
