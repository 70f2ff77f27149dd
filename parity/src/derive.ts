/**
 * The long tail, derived from real originals: what traffic holds and a package rarely does.
 * EXIF orientations 2-8, CMYK with and without a profile, grey and grey+alpha, 16-bit PNG, wide
 * gamut profiles (Display P3, Adobe RGB), progressive and interlaced files, odd and prime sizes,
 * alpha in every format. sharp makes most of them; CMYK without a profile is made the way such
 * files are usually made, by ImageMagick (php Imagick, as installed for the legacy backend).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

export interface DerivedImage {
  /** File name under derived/ (the storage key is derived/<name>). */
  name: string;
  /** What was done, for the manifest. */
  transform: string;
  /** Which base it was made from: 'photo' or 'alpha'. */
  base: 'photo' | 'alpha';
  bytes: Buffer;
}

export interface DeriveInputs {
  /** An opaque sRGB photograph (JPEG), any size: it is scaled to about 600 px first. */
  photo: Buffer;
  /** An image with a real alpha channel (PNG). */
  alpha: Buffer;
  /** ICC profiles from a package: an Adobe RGB (1998) compatible one. */
  adobeRgbIcc: string;
}

/** Converts to CMYK with ImageMagick and strips every profile: a CMYK JPEG without an ICC profile. */
async function imagickCmykWithoutProfile(jpeg: Buffer): Promise<Buffer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parity-cmyk-'));
  try {
    const input = path.join(dir, 'in.jpg');
    const output = path.join(dir, 'out.jpg');
    writeFileSync(input, jpeg);
    const code =
      '$i = new Imagick($argv[1]); $i->transformImageColorspace(Imagick::COLORSPACE_CMYK); $i->stripImage(); $i->setImageFormat("jpeg"); $i->setImageCompressionQuality(90); $i->writeImage($argv[2]);';
    await run('php', ['-r', code, '--', input, output], { timeout: 60_000 });
    return readFileSync(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function deriveImages(inputs: DeriveInputs): Promise<DerivedImage[]> {
  const photo = await sharp(inputs.photo).rotate().resize(600, 600, { fit: 'inside' }).toColourspace('srgb').jpeg({ quality: 92 }).toBuffer();
  const alpha = await sharp(inputs.alpha).resize(400, 400, { fit: 'inside' }).ensureAlpha().png().toBuffer();
  const p = () => sharp(photo);
  const a = () => sharp(alpha);
  const out: DerivedImage[] = [];
  const add = async (name: string, base: 'photo' | 'alpha', transform: string, make: () => Promise<Buffer>) =>
    out.push({ name, base, transform, bytes: await make() });

  for (const o of [2, 3, 4, 5, 6, 7, 8]) {
    // The tag only: the pixels stay as stored, so a backend that ignores it shows them wrong.
    await add(`exif-${o}.jpg`, 'photo', `EXIF orientation ${o} set on the stored pixels (sharp embeds its sRGB profile with it)`, () =>
      p().jpeg({ quality: 90 }).withMetadata({ orientation: o }).toBuffer(),
    );
  }
  await add('cmyk-profile.jpg', 'photo', 'CMYK JPEG with an embedded CMYK ICC profile (sharp/libvips)', () =>
    p().withIccProfile('cmyk').jpeg({ quality: 90 }).toBuffer(),
  );
  await add('cmyk-noprofile.jpg', 'photo', 'CMYK JPEG without an ICC profile (ImageMagick transformImageColorspace + strip)', () =>
    imagickCmykWithoutProfile(photo),
  );
  await add('grey.jpg', 'photo', 'greyscale JPEG (1 channel)', () => p().toColourspace('b-w').jpeg({ quality: 90 }).toBuffer());
  await add('grey.png', 'photo', 'greyscale PNG (1 channel)', () => p().toColourspace('b-w').png().toBuffer());
  await add('grey-alpha.png', 'alpha', 'greyscale + alpha PNG (2 channels)', () => a().toColourspace('b-w').png().toBuffer());
  await add('rgb16.png', 'photo', '16-bit RGB PNG', () => p().toColourspace('rgb16').png().toBuffer());
  await add('grey16.png', 'photo', '16-bit greyscale PNG', () => p().toColourspace('grey16').png().toBuffer());
  await add('rgba16.png', 'alpha', '16-bit RGBA PNG', () => a().toColourspace('rgb16').png().toBuffer());
  await add('display-p3.jpg', 'photo', 'converted to Display P3, profile embedded', () => p().withIccProfile('p3').jpeg({ quality: 90 }).toBuffer());
  await add('display-p3.png', 'alpha', 'converted to Display P3, profile embedded, with alpha', () => a().withIccProfile('p3').png().toBuffer());
  await add('adobe-rgb.jpg', 'photo', 'converted to Adobe RGB (1998) (icc-profiles-free), profile embedded', () =>
    p().withIccProfile(inputs.adobeRgbIcc).jpeg({ quality: 90 }).toBuffer(),
  );
  await add('progressive.jpg', 'photo', 'progressive JPEG', () => p().jpeg({ quality: 85, progressive: true }).toBuffer());
  await add('interlaced.png', 'photo', 'Adam7-interlaced PNG', () => p().png({ progressive: true }).toBuffer());
  await add('1x317.png', 'photo', '1x317 (one column)', () => p().resize(1, 317, { fit: 'fill' }).png().toBuffer());
  await add('317x1.jpg', 'photo', '317x1 (one row)', () => p().resize(317, 1, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  await add('251x241.jpg', 'photo', '251x241 (primes)', () => p().resize(251, 241, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  await add('997x13.webp', 'photo', '997x13 WebP (primes, a strip)', () => p().resize(997, 13, { fit: 'fill' }).webp({ quality: 90 }).toBuffer());
  await add('13x997.gif', 'photo', '13x997 GIF (primes, a column)', () => p().resize(13, 997, { fit: 'fill' }).gif().toBuffer());
  await add('alpha-lossy.webp', 'alpha', 'lossy WebP with alpha', () => a().webp({ quality: 85 }).toBuffer());
  await add('alpha-lossless.webp', 'alpha', 'lossless WebP with alpha', () => a().webp({ lossless: true }).toBuffer());
  await add('alpha.gif', 'alpha', 'GIF with transparency (palette)', () => a().gif().toBuffer());
  await add('palette-alpha.png', 'alpha', '8-bit palette PNG with tRNS', () => a().png({ palette: true, colours: 64 }).toBuffer());
  return out;
}
