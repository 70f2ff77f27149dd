import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isCompleteJpeg } from '../src/jpeg-integrity.ts';

const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#2c3e50' } })
  .jpeg({ quality: 90 })
  .toBuffer();
const progressive = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#8e44ad' } })
  .jpeg({ progressive: true })
  .toBuffer();
const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

describe('isCompleteJpeg (the legacy backend walk, rule for rule)', () => {
  it.each<[string, Buffer, boolean]>([
    ['a whole baseline JPEG', jpeg, true],
    ['a whole progressive JPEG (several scans)', progressive, true],
    ['bytes between segments (libjpeg warns, decodes)', Buffer.concat([jpeg.subarray(0, 2), hex('00 00 00'), jpeg.subarray(2)]), true],
    ['fill bytes before a marker', Buffer.concat([jpeg.subarray(0, sos), hex('ff ff'), jpeg.subarray(sos)]), true],
    ['trailing bytes after EOI', Buffer.concat([jpeg, hex('00 11 22')]), true],
    ['stuffed 0xFF00 and a restart marker inside the scan', Buffer.concat([hex('ffd8 ffda 0002'), hex('12 ff00 34 ffd0 56'), hex('ffd9')]), true],
    ['cut before EOI', jpeg.subarray(0, jpeg.length - 2), false],
    ['cut in the middle of the scan', jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), false],
    ['cut inside a segment length', jpeg.subarray(0, 5), false],
    ['a segment whose length runs past the end', Buffer.concat([hex('ffd8 ffe0 7fff 00')]), false],
    ['a segment length under 2', hex('ffd8 ffe0 0001 ffd9'), false],
    ['no SOI', jpeg.subarray(2), false],
    ['empty', Buffer.alloc(0), false],
    // A marker-like 0xFF 0x1E in the entropy data ends the scan; read as a segment, its "length"
    // runs past the end of the file: legacy refuses this file, so must the new service.
    ['garbage in the scan that forms a bogus marker', Buffer.concat([hex('ffd8 ffda 0002'), hex('12 ff1e 7fff 00 00'), hex('ffd9')]), false],
  ])('%s: %s', (_what, bytes, complete) => {
    expect(isCompleteJpeg(bytes)).toBe(complete);
  });
});
