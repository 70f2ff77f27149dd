/**
 * PURE: the description tag of an ICC profile ("sRGB IEC61966-2.1", "Display P3", "U.S. Web
 * Coated (SWOP) v2"), which says more about an original's colours than "has a profile". ICC v2
 * profiles store it as a `desc` (textDescriptionType, ASCII) tag, v4 as `mluc` (UTF-16BE).
 */

/** The profile's description, or undefined when the bytes hold no readable `desc` tag. */
export function iccDescription(icc: Uint8Array): string | undefined {
  if (icc.length < 132) return undefined;
  const view = new DataView(icc.buffer, icc.byteOffset, icc.byteLength);
  const count = view.getUint32(128);
  for (let i = 0; i < count && 132 + i * 12 + 12 <= icc.length; i++) {
    const at = 132 + i * 12;
    if (ascii(icc, at, 4) !== 'desc') continue;
    const offset = view.getUint32(at + 4);
    const size = view.getUint32(at + 8);
    if (offset + Math.min(size, 12) > icc.length || size < 12) return undefined;
    const type = ascii(icc, offset, 4);
    if (type === 'desc') {
      const n = view.getUint32(offset + 8);
      return clean(ascii(icc, offset + 12, Math.min(n, icc.length - offset - 12)));
    }
    if (type === 'mluc') {
      const records = view.getUint32(offset + 8);
      if (records < 1 || offset + 28 > icc.length) return undefined;
      // The first record: usually en-US, and the one every reader shows.
      const length = view.getUint32(offset + 20);
      const start = offset + view.getUint32(offset + 24);
      if (start + length > icc.length) return undefined;
      let s = '';
      for (let j = 0; j + 1 < length; j += 2) s += String.fromCharCode(view.getUint16(start + j));
      return clean(s);
    }
    return undefined;
  }
  return undefined;
}

function ascii(b: Uint8Array, at: number, n: number): string {
  let s = '';
  for (let i = 0; i < n && at + i < b.length; i++) s += String.fromCharCode(b[at + i]!);
  return s;
}

function clean(s: string): string | undefined {
  const t = s.replace(/\0[\s\S]*$/, '').trim();
  return t.length > 0 ? t : undefined;
}
