/**
 * Test originals for colour parity, generated at test time (sharp, PHP Imagick via `php -r`, or
 * PNG chunks written by hand where no tool writes them): the colour encodings real originals
 * arrive in and that libvips and ImageMagick may treat differently.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { photoRaw } from '../../support/fixtures.ts';

export interface ColourOriginal {
  /** File name (and object key). */
  name: string;
  /** What it is, for test names. */
  what: string;
  file: string;
}

const W = 320;
const H = 240;

/** A PNG chunk: length, type, data, CRC over type + data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Inserts chunks right after IHDR (where gAMA, cHRM, sRGB and iCCP belong: before PLTE and IDAT). */
export function insertAfterIhdr(png: Buffer, chunks: Buffer[]): Buffer {
  const ihdrEnd = 8 + 4 + 4 + png.readUInt32BE(8) + 4;
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
}

/** Removes every APP14 (Adobe) segment of a JPEG's header. */
export function stripAdobeMarker(jpeg: Buffer): Buffer {
  return stripJpegSegments(jpeg, (marker) => marker === 0xee);
}

/** Removes every APP2 ICC_PROFILE segment of a JPEG's header: the same samples, no profile. */
export function stripIccProfile(jpeg: Buffer): Buffer {
  return stripJpegSegments(jpeg, (marker, body) => marker === 0xe2 && body.subarray(0, 11).toString('latin1') === 'ICC_PROFILE');
}

/** Removes the header segments `drop` picks (marker, segment body without its length). */
function stripJpegSegments(jpeg: Buffer, drop: (marker: number, body: Buffer) => boolean): Buffer {
  const parts: Buffer[] = [jpeg.subarray(0, 2)];
  let i = 2;
  while (i + 4 <= jpeg.length) {
    const marker = jpeg[i + 1]!;
    if (marker === 0xda) break;
    const end = i + 2 + jpeg.readUInt16BE(i + 2);
    if (!drop(marker, jpeg.subarray(i + 4, end))) parts.push(jpeg.subarray(i, end));
    i = end;
  }
  parts.push(jpeg.subarray(i));
  return Buffer.concat(parts);
}

const u32 = (...values: number[]) => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v, i * 4));
  return b;
};

/** An alpha channel: opaque, with a transparent centre W/2 x H/2 and a half-transparent band below it. */
function holeMask(): Buffer {
  const mask = Buffer.alloc(W * H, 255);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (x >= W / 4 && x < (3 * W) / 4 && y >= H / 4 && y < (3 * H) / 4) mask[y * W + x] = 0;
      else if (y >= (7 * H) / 8) mask[y * W + x] = 128;
    }
  }
  return mask;
}

/**
 * Writes every colour original into `dir`; with `realCmyk` (a real print photo: a CMYK JPEG with
 * a profile, from the fixtures folder, never copied into the repository) also that file as it
 * is and with its profile removed, the case real print-ready product photos are.
 */
export async function generateColourOriginals(dir: string, realCmyk?: string): Promise<ColourOriginal[]> {
  const out: ColourOriginal[] = [];
  const add = async (name: string, what: string, make: () => Promise<Buffer> | Buffer) => {
    const file = path.join(dir, name);
    writeFileSync(file, await make());
    out.push({ name, what, file });
  };
  const photo = () => photoRaw(W, H, 11);
  const rgbPng = async () => (await photo()).png().toBuffer();

  // libjpeg writes an Adobe APP14 marker (transform 0) with every CMYK JPEG; Photoshop's are inverted.
  const cmyk = await (await photo()).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
  await add('cmyk-no-profile.jpg', 'CMYK JPEG without ICC profile (Adobe APP14, inverted)', () => cmyk);
  await add('cmyk-no-adobe.jpg', 'CMYK JPEG without ICC profile and without an APP14 marker', () => stripAdobeMarker(cmyk));
  // YCCK (APP14 transform 2): ImageMagick writes it when asked; sharp cannot.
  const ycck = path.join(dir, 'ycck.jpg');
  execFileSync('php', [
    '-r',
    '$im = new Imagick(); $im->readImage("jpeg:" . $argv[1]); $im->setOption("jpeg:colorspace", "5"); $im->setImageFormat("jpeg"); ' +
      '$im->setImageCompressionQuality(90); file_put_contents($argv[2], $im->getImageBlob());',
    path.join(dir, 'cmyk-no-profile.jpg'),
    ycck,
  ]);
  out.push({ name: 'ycck.jpg', what: 'YCCK JPEG without ICC profile (APP14 transform 2)', file: ycck });
  await add('cmyk-profile.jpg', 'CMYK JPEG with an embedded ICC profile', async () =>
    (await photo()).toColourspace('cmyk').withIccProfile('cmyk').jpeg({ quality: 90 }).toBuffer(),
  );

  await add('grey.jpg', 'greyscale JPEG', async () => (await photo()).toColourspace('b-w').jpeg({ quality: 90 }).toBuffer());
  await add('grey-alpha.png', 'grey + alpha PNG', async () =>
    (await photo())
      .toColourspace('b-w')
      .joinChannel(holeMask(), { raw: { width: W, height: H, channels: 1 } })
      .png()
      .toBuffer(),
  );
  await add('rgb16.png', '16-bit RGB PNG', async () => (await photo()).toColourspace('rgb16').png().toBuffer());
  await add('palette-trns.png', 'palette PNG with tRNS transparency', async () =>
    (await photo()).ensureAlpha(0.6).png({ palette: true, colours: 64, dither: 0 }).toBuffer(),
  );
  // gAMA 1.0 (100000) with Rec.709 primaries: a decoder that honoured it would brighten mid-tones a lot.
  await add('gama-chrm.png', 'PNG with gAMA (1.0) and cHRM chunks', async () =>
    insertAfterIhdr(await rgbPng(), [pngChunk('gAMA', u32(100000)), pngChunk('cHRM', u32(31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))]),
  );
  await add('gama1-rgb16.png', '16-bit PNG with gAMA 1.0', async () =>
    insertAfterIhdr(await (await photo()).toColourspace('rgb16').png().toBuffer(), [pngChunk('gAMA', u32(100000))]),
  );
  await add('gama1-grey-alpha.png', 'grey + alpha PNG with gAMA 1.0', async () =>
    insertAfterIhdr(
      await (
        await photo()
      )
        .toColourspace('b-w')
        .joinChannel(holeMask(), { raw: { width: W, height: H, channels: 1 } })
        .png()
        .toBuffer(),
      [pngChunk('gAMA', u32(100000))],
    ),
  );
  await add('gama-045.png', 'PNG with only a gAMA 0.45455 chunk', async () => insertAfterIhdr(await rgbPng(), [pngChunk('gAMA', u32(45455))]));
  await add('srgb-chunk.png', 'PNG with an sRGB chunk (perceptual) and gAMA', async () =>
    insertAfterIhdr(await rgbPng(), [pngChunk('sRGB', Buffer.from([0])), pngChunk('gAMA', u32(45455))]),
  );
  await add('iccp-p3.png', 'PNG with an iCCP chunk (Display P3)', async () => (await photo()).withIccProfile('p3').png().toBuffer());
  await add('webp-plain.webp', 'WebP without ICC', async () => (await photo()).webp({ quality: 90 }).toBuffer());
  await add('webp-p3.webp', 'WebP with an ICC profile (Display P3)', async () => (await photo()).withIccProfile('p3').webp({ quality: 90 }).toBuffer());

  if (realCmyk) {
    const real = readFileSync(realCmyk);
    await add('real-cmyk-profile.jpg', 'real CMYK photo with its ICC profile', () => real);
    await add('real-cmyk-no-profile.jpg', 'real CMYK photo, ICC profile removed', () => stripIccProfile(real));
  }

  // Stored 240x320 with orientation 6: a 320x240 landscape once oriented.
  const portrait = async () => photoRaw(H, W, 12);
  await add('exif-6.jpg', 'JPEG with EXIF orientation 6', async () => (await portrait()).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer());
  await add('exif-6.png', 'PNG with an eXIf chunk, orientation 6', async () => (await portrait()).png().withMetadata({ orientation: 6 }).toBuffer());
  await add('exif-6.webp', 'WebP with an EXIF chunk, orientation 6', async () =>
    (await portrait()).webp({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer(),
  );
  await add('exif-3.png', 'PNG with an eXIf chunk, orientation 3', async () => (await photo()).png().withMetadata({ orientation: 3 }).toBuffer());
  await add('exif-3.webp', 'WebP with an EXIF chunk, orientation 3', async () =>
    (await photo()).webp({ quality: 90 }).withMetadata({ orientation: 3 }).toBuffer(),
  );
  return out;
}
