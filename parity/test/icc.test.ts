/** The description tag of ICC profiles, v2 (`desc`) and v4 (`mluc`). */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { iccDescription } from '../src/icc.ts';

/** A minimal profile: a 128-byte header, one tag (`desc`) pointing at `data`. */
function profile(data: Buffer): Buffer {
  const head = Buffer.alloc(128 + 4 + 12);
  head.writeUInt32BE(1, 128);
  head.write('desc', 132, 'latin1');
  head.writeUInt32BE(head.length, 136);
  head.writeUInt32BE(data.length, 140);
  return Buffer.concat([head, data]);
}

describe('iccDescription', () => {
  it('reads a v2 textDescriptionType', () => {
    const text = 'Compatible with Adobe RGB (1998)';
    const data = Buffer.alloc(12 + text.length + 1);
    data.write('desc', 0, 'latin1');
    data.writeUInt32BE(text.length + 1, 8);
    data.write(text, 12, 'latin1');
    expect(iccDescription(profile(data))).toBe(text);
  });

  it('reads the first record of a v4 multiLocalizedUnicodeType', () => {
    const text = Buffer.from('Display P3', 'utf16le').swap16();
    const data = Buffer.alloc(28 + text.length);
    data.write('mluc', 0, 'latin1');
    data.writeUInt32BE(1, 8);
    data.writeUInt32BE(12, 12);
    data.write('enUS', 16, 'latin1');
    data.writeUInt32BE(text.length, 20);
    data.writeUInt32BE(28, 24);
    text.copy(data, 28);
    expect(iccDescription(profile(data))).toBe('Display P3');
  });

  it('undefined for bytes that are not a profile, or a truncated tag', () => {
    expect(iccDescription(Buffer.alloc(10))).toBeUndefined();
    expect(iccDescription(Buffer.alloc(200))).toBeUndefined();
    const data = Buffer.alloc(20);
    data.write('desc', 0, 'latin1');
    expect(iccDescription(profile(data).subarray(0, 150))).toBeUndefined();
  });

  it("reads libvips' own profiles", async () => {
    const make = async (p: string) =>
      (
        await sharp(
          await sharp({ create: { width: 2, height: 2, channels: 3, background: '#f00' } })
            .withIccProfile(p)
            .jpeg()
            .toBuffer(),
        ).metadata()
      ).icc!;
    expect(iccDescription(await make('srgb'))).toBe('sRGB');
    expect(iccDescription(await make('cmyk'))).toMatch(/\S/);
  });
});
