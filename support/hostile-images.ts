/**
 * Hostile originals: decompression bombs, lies in headers, damaged and disguised files, and the
 * unusual-but-legal encodings (CMYK, 16-bit, palette, grey + alpha) that break naive pipelines.
 * They are generated on the spot (small and fast: the "huge" images are headers that claim huge
 * sizes, or solid colours a hand-written encoder makes for free), never stored in the repository.
 *
 * Each comes with what the contract says the hot endpoint must answer for it, so that tests of
 * both backends can run the same table.
 */
import { existsSync, mkdirSync, openSync, closeSync, ftruncateSync, writeSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { MAX_INPUT_BYTES } from '../common/contract.ts';

/** What a request must get: a status, and for errors the JSON `error` code, for images the output. */
export interface Expected {
  status: number;
  code?: string;
  /** For 200: the output's format and size (after the resize the case asks for). */
  format?: 'jpeg' | 'png' | 'webp' | 'gif';
  width?: number;
  height?: number;
}

export interface HostileOriginal {
  /** Object key, relative to the store's root (all under `hostile/`). */
  key: string;
  file: string;
  /** Why this file is hostile, for test names and the report. */
  what: string;
  /** GET /image/files/{key}?w=200 (a resize: the decoder runs). */
  resized: Expected;
  /** GET /image/files/{key} with no parameters (a plain download: nothing decodes). */
  download: Expected;
}

/** The width every hostile case is resized to. */
export const HOSTILE_WIDTH = 200;

// The oversize original is one byte over the contract's size limit (MAX_INPUT_BYTES, 50 MiB).

const ok = (format: Expected['format'], width: number, height: number): Expected => ({ status: 200, format, width, height });
const refused = (status: number, code: string): Expected => ({ status, code });
const unsupported = refused(415, 'unsupported_image');
const tooLarge = refused(413, 'image_too_large');
const downloadOk: Expected = { status: 200 };

/**
 * Writes every hostile original under `<dir>/hostile/` (skipping files already there, so a cache
 * dir can be reused) and lists them with what the hot endpoint must answer.
 * `canaryUrl` is put into the SVGs as an external reference: a test can listen there and check
 * that nothing ever fetches it.
 */
export async function writeHostileOriginals(dir: string, options: { canaryUrl?: string } = {}): Promise<HostileOriginal[]> {
  const base = path.join(dir, 'hostile');
  mkdirSync(base, { recursive: true });
  const out: HostileOriginal[] = [];
  const add = async (name: string, what: string, resized: Expected, download: Expected, build: (file: string) => Promise<Buffer | void>) => {
    const file = path.join(base, name);
    if (!existsSync(file)) {
      const bytes = await build(file);
      // Write to a temporary name and rename, so an interrupted run never leaves half a fixture.
      if (bytes) await writeAtomically(file, bytes);
    }
    out.push({ key: `hostile/${name}`, file, what, resized, download });
  };

  const photo = () => sharp({ create: { width: 300, height: 200, channels: 3, background: '#c0392b' } });
  const realJpeg = await photo().jpeg({ quality: 90 }).toBuffer();
  const realPng = await sharp({ create: { width: 300, height: 200, channels: 4, background: { r: 20, g: 120, b: 200, alpha: 0.7 } } })
    .png()
    .toBuffer();

  // --- damaged and disguised ------------------------------------------------------------------
  await add('corrupt-huffman.jpg', 'JPEG whose Huffman table is garbage (libjpeg: bogus table): undecodable', unsupported, downloadOk, async () =>
    corruptHuffmanTable(realJpeg),
  );
  await add('corrupt-idat.png', 'PNG with a valid header and non-zlib pixel data (correct CRCs)', unsupported, downloadOk, async () =>
    pngFile(300, 200, 8, 2, Buffer.from('this is not a zlib stream, just text pretending to be pixel data')),
  );
  // Corrupt entropy data is only a libjpeg *warning* (it pads with grey), but this garbage forms
  // markers whose segments run past the end of the file: the legacy backend's marker walk has always
  // refused it as incomplete, the contract lists corrupt originals as 415, and the new service runs
  // the same walk (image-service/src/jpeg-integrity.ts). Never a 500, never a half-grey image.
  await add('corrupt-scan.jpg', 'JPEG with garbage entropy-coded data whose bogus markers never reach EOI', unsupported, downloadOk, async () =>
    garbleScan(realJpeg),
  );
  await add('truncated.jpg', 'JPEG cut at 40% of its bytes', unsupported, downloadOk, async () => realJpeg.subarray(0, Math.floor(realJpeg.length * 0.4)));
  await add('truncated.png', 'PNG cut at 60% of its bytes', unsupported, downloadOk, async () => realPng.subarray(0, Math.floor(realPng.length * 0.6)));
  await add('empty.jpg', 'zero bytes', unsupported, downloadOk, async () => Buffer.alloc(0));
  await add('not-an-image.jpg', 'plain text with a .jpg name', unsupported, downloadOk, async () => Buffer.from('hello, I am not a picture\n'.repeat(20)));
  await add('html.png', 'an HTML page with a script, named .png', unsupported, downloadOk, async () =>
    Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n'),
  );
  await add('magic-only.png', 'the 8-byte PNG signature and nothing else', unsupported, downloadOk, async () => PNG_SIGNATURE);

  // --- bombs: headers that claim far more pixels than the limit --------------------------------
  await add('claims-65536x65536.png', 'PNG whose IHDR claims 65536x65536 (4.3 gigapixels), hand-made with correct CRCs', tooLarge, downloadOk, async () =>
    pngClaiming(65536, 65536),
  );
  await add('huge-20000x14000.jpg', 'a real 20000x14000 greyscale JPEG (280 megapixels) in ~1 MB', tooLarge, downloadOk, async () =>
    solidGreyJpeg(20000, 14000),
  );
  // Both backends size a GIF from its logical screen (ImageMagick paints the first frame on a canvas
  // of that size; image-service/src/gif-screen.ts has the measurements), so a screen over the limit
  // is refused from the header, whatever the frame inside it.
  const gifFrame = (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: '#000' } })
      .gif()
      .toBuffer();
  await add('claims-65535x65535.gif', 'GIF whose logical screen claims 65535x65535 around a 1x1 frame', tooLarge, downloadOk, async () =>
    gifClaiming(await gifFrame(1, 1), 65535, 65535),
  );
  await add(
    'gif-screen-3000x2000.gif',
    'GIF with a 1x1 frame on a 3000x2000 screen (libvips alone would size it 1x1)',
    ok('png', 200, 133),
    downloadOk,
    async () => gifClaiming(await gifFrame(1, 1), 3000, 2000),
  );
  await add(
    'gif-frame-past-screen.gif',
    'GIF whose 300x200 frame reaches past its 100x100 screen (cut at the screen)',
    ok('png', 100, 100),
    downloadOk,
    async () => gifClaiming(await gifFrame(300, 200), 100, 100),
  );
  await add('gif-screen-0x0.gif', 'GIF whose logical screen is 0x0 around a 1x1 frame', unsupported, downloadOk, async () =>
    gifClaiming(await gifFrame(1, 1), 0, 0),
  );
  // AVIF is not an accepted source format at all (neither backend's contract lists it), so it is
  // refused from its magic bytes as 415 before any decoder reads the size it claims.
  await add('claims-17000x17000.avif', "AVIF whose 'ispe' box claims 17000x17000", unsupported, downloadOk, async () =>
    avifClaiming(
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#2980b9' } })
        .avif()
        .toBuffer(),
      17000,
      17000,
    ),
  );
  await add(
    'over-50mb.jpg',
    'a JPEG signature followed by 50 MiB + 1 byte (a sparse file): refused on its stored size, even for a plain download',
    tooLarge,
    tooLarge,
    async (file) => writeSparse(file, Buffer.from([0xff, 0xd8, 0xff, 0xe0]), MAX_INPUT_BYTES + 1),
  );
  // Under 50 megapixels, but wider than ImageMagick's policy (16000 pixels a side): legacy has always
  // refused it from its header with a 413, and the new service gives the same answer.
  await add('wide-20000x100.png', 'a legal 2-megapixel PNG 20000 pixels wide (over the 16000-a-side limit)', tooLarge, downloadOk, async () =>
    solidGreyPng(20000, 100),
  );
  await add(
    'near-limit-7000x7000.png',
    'a legal 49-megapixel greyscale PNG (47 KB, 49 MB of pixels once inflated): decoded, in bounded memory',
    ok('png', 200, 200),
    downloadOk,
    async () => solidGreyPng(7000, 7000),
  );

  // --- unusual but legal -----------------------------------------------------------------------
  await add('animated-500-frames.gif', 'an animated GIF with 500 frames (only the first is decoded)', ok('png', 200, 150), downloadOk, async () =>
    manyFrameGif(500, 320, 240),
  );
  await add('cmyk-with-profile.jpg', 'CMYK JPEG with an embedded ICC profile', ok('jpeg', 200, 133), downloadOk, async () =>
    photo().toColourspace('cmyk').withIccProfile('cmyk').jpeg({ quality: 90 }).toBuffer(),
  );
  await add('cmyk-no-profile.jpg', 'CMYK JPEG without an ICC profile', ok('jpeg', 200, 133), downloadOk, async () =>
    photo().toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer(),
  );
  await add('rgb-16bit.png', '16 bits per sample RGB PNG', ok('png', 200, 160), downloadOk, async () => sixteenBitPng(250, 200));
  await add('palette.png', 'palette (indexed colour) PNG', ok('png', 200, 133), downloadOk, async () => photo().png({ palette: true }).toBuffer());
  await add('grey-alpha.png', 'greyscale + alpha PNG (2 channels)', ok('png', 200, 133), downloadOk, async () =>
    sharp({ create: { width: 300, height: 200, channels: 4, background: { r: 90, g: 90, b: 90, alpha: 0.5 } } })
      .toColourspace('b-w')
      .png()
      .toBuffer(),
  );

  // --- SVG: refused, it can carry scripts and make a renderer fetch URLs -----------------------
  const canary = options.canaryUrl ?? 'http://127.0.0.1:9/canary';
  await add('script.svg', 'SVG with a script and an external image reference', unsupported, downloadOk, async () =>
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="300" height="200"><script>alert(1)</script><image ` +
        `xlink:href="${canary}/svg-image.png" width="300" height="200"/></svg>`,
    ),
  );
  await add('prolog.svg.jpg', 'SVG with an XML prolog, an external entity and a .jpg name', unsupported, downloadOk, async () =>
    Buffer.from(
      `<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY ext SYSTEM "${canary}/entity">]>\n<svg xmlns="http://www.w3.org/2000/svg" width="300" ` +
        `height="200"><text>&ext;</text><rect width="300" height="200" fill="url(${canary}/fill#x)"/></svg>`,
    ),
  );
  return out;
}

// --- hand-made files ---------------------------------------------------------------------------

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk: length, type, data, CRC-32 of type + data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

function ihdr(width: number, height: number, bitDepth: number, colourType: number): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = bitDepth;
  d[9] = colourType;
  // compression 0, filter 0, interlace 0
  return pngChunk('IHDR', d);
}

function pngFile(width: number, height: number, bitDepth: number, colourType: number, idat: Buffer): Buffer {
  return Buffer.concat([PNG_SIGNATURE, ihdr(width, height, bitDepth, colourType), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A PNG whose header claims `width` x `height` RGB, with a few real (black) rows of data. */
export function pngClaiming(width: number, height: number): Buffer {
  const row = Buffer.alloc(1 + width * 3); // filter byte 0 + black pixels
  return pngFile(width, height, 8, 2, deflateSync(Buffer.concat([row, row, row, row])));
}

/** A complete, valid greyscale PNG of one grey level: a big picture in a tiny file. */
export function solidGreyPng(width: number, height: number): Buffer {
  const row = Buffer.alloc(1 + width, 0x80);
  row[0] = 0; // filter: none
  const rows = Buffer.alloc(row.length * height);
  for (let y = 0; y < height; y++) row.copy(rows, y * row.length);
  return pngFile(width, height, 8, 0, deflateSync(rows, { level: 9 }));
}

/**
 * A complete, valid baseline greyscale JPEG of one grey level, encoded by hand: one-symbol Huffman
 * tables make every 8x8 block two zero bits (DC difference 0, end of block), so a 280-megapixel
 * image is ~1 MB of zero bytes and costs nothing to make (sharp would need gigabytes to encode it).
 */
export function solidGreyJpeg(width: number, height: number): Buffer {
  const seg = (marker: number, body: Buffer) => {
    const h = Buffer.alloc(4);
    h[0] = 0xff;
    h[1] = marker;
    h.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([h, body]);
  };
  const dqt = Buffer.concat([Buffer.from([0x00]), Buffer.alloc(64, 1)]);
  const sof = Buffer.alloc(9);
  sof[0] = 8; // precision
  sof.writeUInt16BE(height, 1);
  sof.writeUInt16BE(width, 3);
  sof[5] = 1; // one component
  sof[6] = 1; // id
  sof[7] = 0x11; // 1x1 sampling
  sof[8] = 0; // quantisation table 0
  const oneSymbolTable = (classAndId: number, symbol: number) => {
    const counts = Buffer.alloc(16);
    counts[0] = 1; // one code of length 1: "0"
    return Buffer.concat([Buffer.from([classAndId]), counts, Buffer.from([symbol])]);
  };
  const dht = Buffer.concat([oneSymbolTable(0x00, 0x00), oneSymbolTable(0x10, 0x00)]); // DC: category 0; AC: EOB
  const sos = Buffer.from([1, 1, 0x00, 0, 63, 0]);
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const scan = Buffer.alloc(Math.ceil((blocks * 2) / 8)); // 2 bits per block, padding bits 0 (any value is legal)
  return Buffer.concat([Buffer.from([0xff, 0xd8]), seg(0xdb, dqt), seg(0xc0, sof), seg(0xc4, dht), seg(0xda, sos), scan, Buffer.from([0xff, 0xd9])]);
}

/** Rewrites the logical screen size of a GIF (bytes 6..9, little-endian). */
export function gifClaiming(gif: Buffer, width: number, height: number): Buffer {
  const b = Buffer.from(gif);
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  return b;
}

/** Rewrites every 'ispe' (image spatial extents) box of an AVIF/HEIF file. */
export function avifClaiming(avif: Buffer, width: number, height: number): Buffer {
  const b = Buffer.from(avif);
  let at = b.indexOf('ispe');
  if (at < 0) throw new Error("no 'ispe' box in the AVIF that sharp wrote");
  while (at >= 0) {
    // 'ispe' + version/flags (4) + width (4) + height (4)
    b.writeUInt32BE(width, at + 8);
    b.writeUInt32BE(height, at + 12);
    at = b.indexOf('ispe', at + 4);
  }
  return b;
}

/** A copy of `jpeg` whose first Huffman table has impossible code counts (libjpeg: bogus table). */
export function corruptHuffmanTable(jpeg: Buffer): Buffer {
  const b = Buffer.from(jpeg);
  const dht = b.indexOf(Buffer.from([0xff, 0xc4]));
  if (dht < 0) throw new Error('no DHT segment');
  // The 16 code-length counts right after the class/id byte: all 255 is an impossible table.
  b.fill(0xff, dht + 5, dht + 21);
  return b;
}

function garbleScan(jpeg: Buffer): Buffer {
  const b = Buffer.from(jpeg);
  const sos = b.indexOf(Buffer.from([0xff, 0xda]));
  if (sos < 0) throw new Error('no SOS segment');
  for (let i = sos + 20; i < b.length - 2; i++) b[i] = (i * 31) & 0xff;
  return b;
}

async function sixteenBitPng(width: number, height: number): Promise<Buffer> {
  // A Uint16Array input is read as 16 bits per sample.
  const raw = new Uint16Array(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 257 * 7) % 65536;
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

async function manyFrameGif(frames: number, width: number, height: number): Promise<Buffer> {
  const pngs: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    pngs.push(
      await sharp({ create: { width, height, channels: 3, background: { r: i % 256, g: (i * 7) % 256, b: (i * 13) % 256 } } })
        .png()
        .toBuffer(),
    );
  }
  return sharp(pngs, { join: { animated: true } })
    .gif({ delay: 20, loop: 0 })
    .toBuffer();
}

/** `head` followed by a hole up to `size` bytes: takes no disk space, but stat() says `size`. */
async function writeSparse(file: string, head: Buffer, size: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  await rename(tmp, file);
}

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}
