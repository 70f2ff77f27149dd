/**
 * PURE: does a JPEG reach its end-of-image marker? The same walk as the legacy backend's
 * legacy/src/JpegIntegrity.php, rule for rule, so both refuse the same originals with a 415.
 *
 * libjpeg treats a file that stops early, or a scan cut short by a marker where entropy-coded data
 * should go, as a *warning* and pads the missing rows with grey; libvips' failOn 'error' lets that
 * pass, while the legacy backend refuses it from this walk. Walking the markers (segments by their
 * lengths, entropy-coded data up to the next real marker, until EOI) tells the two apart without a
 * decode: a file that ends first, or whose segments do not chain up to EOI, is not complete.
 * Stricter checks (libvips' failOn 'warning') would also refuse photographs with harmless bytes
 * between segments, which legacy serves.
 */
export function isCompleteJpeg(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return false;
  let i = 2;
  while (i < n) {
    // Bytes between segments are tolerated, as libjpeg tolerates them (with a warning).
    i = bytes.indexOf(0xff, i);
    if (i < 0) return false;
    while (i < n && bytes[i] === 0xff) i++; // fill bytes
    if (i >= n) return false;
    const marker = bytes[i]!;
    i++;
    if (marker === 0xd9) return true; // EOI
    if (marker === 0x00 || marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (i + 2 > n) return false;
    const length = (bytes[i]! << 8) | bytes[i + 1]!;
    if (length < 2 || i + length > n) return false;
    i += length;
    if (marker === 0xda) {
      const end = endOfScan(bytes, i);
      if (end === undefined) return false;
      i = end;
    }
  }
  return false;
}

/** Offset of the first real marker after a scan's entropy-coded data, or undefined if the file ends first. */
function endOfScan(bytes: Uint8Array, from: number): number | undefined {
  const n = bytes.length;
  let i = from;
  for (;;) {
    const p = bytes.indexOf(0xff, i);
    if (p < 0) return undefined;
    let q = p + 1;
    while (q < n && bytes[q] === 0xff) q++;
    if (q >= n) return undefined;
    const next = bytes[q]!;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) {
      i = q + 1; // stuffed 0xFF or a restart marker: still inside the scan
      continue;
    }
    return p;
  }
}
