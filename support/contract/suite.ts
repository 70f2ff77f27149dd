/**
 * Section 1 of the image API contract (../shared/specs/image-api.md) as one vitest suite that
 * every backend must pass: the legacy PHP-FPM + Imagick backend and the new sharp service run
 * the very same cases, against originals the suite writes into the backend's storage directory
 * (seed.ts), with requests that go out raw (client.ts).
 */
import { copyFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realFixturesDir } from '../fixtures.ts';
import { GEOMETRY, REAL_GEOMETRY } from './cases.ts';
import { rawRequest, type RawResponse } from './client.ts';
import { meanAbsDiff } from './images.ts';
import { seedOriginals } from './seed.ts';

export interface ContractTarget {
  /** Base URL of the backend, e.g. http://127.0.0.1:8081 */
  url: string;
  /** The directory the backend reads originals from (key = path below it). */
  storageDir: string;
  /** Called once the suite is done, if given. */
  stop?: () => Promise<void>;
}

/**
 * The contract suite. `setup` starts (or finds) the backend and names its storage directory;
 * the suite writes its originals there, and calls `stop` when done.
 */
export function imageApiContract(name: string, setup: () => Promise<ContractTarget>): void {
  describe(`image API contract (section 1): ${name}`, () => {
    let target: ContractTarget;
    let real: string[] = [];
    const get = (t: string, headers?: Record<string, string>) => rawRequest(target.url, t, { headers });
    const head = (t: string, headers?: Record<string, string>) => rawRequest(target.url, t, { method: 'HEAD', headers });
    const image = (key: string, query = '') => get(`/image/files/${key}${query ? `?${query}` : ''}`);

    beforeAll(async () => {
      target = await setup();
      real = await seedOriginals(target.storageDir);
    });
    afterAll(async () => {
      await target?.stop?.();
    });

    const expectError = (res: RawResponse, status: number, code: string, mentions: string[] = []) => {
      expect(res.status, res.body.toString().slice(0, 300)).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(res.body.toString()) as { error: unknown; message: unknown };
      expect(body.error).toBe(code);
      expect(typeof body.message).toBe('string');
      for (const m of mentions) expect(body.message as string).toContain(m);
    };

    describe('keys', () => {
      it.each([
        ['a plain key', 'gen-photo-777x555.png'],
        ['a nested key with every allowed character', 'nested/a-b_c.1/photo.png'],
        ['a key with its separators percent-encoded (one round of decoding)', 'nested%2Fa-b_c.1%2Fphoto.png'],
      ])('accepts %s', async (_, key) => {
        const res = await image(key, 'w=50');
        expect(res.status, res.body.toString().slice(0, 300)).toBe(200);
      });

      it.each([
        ['a .. segment', '../etc/passwd'],
        ['a .. segment in the middle', 'nested/../gen-photo-777x555.png'],
        ['a percent-encoded .. segment', '%2e%2e/%2e%2e/etc/passwd'],
        ['a . segment', './gen-photo-777x555.png'],
        ['a double-encoded .. (decoded once, % is not allowed)', '%252e%252e/x.jpg'],
        ['an empty segment', 'nested//photo.png'],
        ['a trailing slash', 'nested/'],
        ['a leading slash', '/gen-photo-777x555.png'],
        ['an empty key', ''],
        ['a space', 'a%20b.jpg'],
        ['a NUL byte', 'a%00.jpg'],
        ['a backslash', 'a%5Cb.jpg'],
        ['a colon', 'png:a.png'],
        ['a non-ASCII letter', '%C3%BC.jpg'],
        ['malformed percent-encoding', 'a%zz.jpg'],
        ['513 characters', `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(111)}`],
      ])('refuses %s with 400 invalid_key', async (_, key) => {
        expectError(await image(key), 400, 'invalid_key');
      });

      it('accepts 512 characters (and answers 404 for a key with no original)', async () => {
        const key = `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(110)}`;
        expect(key.length).toBe(512);
        expectError(await image(key, 'w=10'), 404, 'not_found');
      });

      // A segment over 255 bytes is a valid key (the contract limits the key, not its segments) that
      // no file-system store can hold (NAME_MAX): no such original, not a bad key.
      it.each([
        ['a 256-character segment', 'a'.repeat(256)],
        ['a 300-character segment in a 512-character key', `${'a'.repeat(300)}/${'b'.repeat(211)}`],
        ['a 256-character segment below a folder', `nested/${'c'.repeat(256)}.png`],
      ])('answers 404 not_found for %s, resized or not', async (_, key) => {
        expectError(await image(key, 'w=10'), 404, 'not_found');
        expectError(await image(key), 404, 'not_found');
      });

      it('answers 404 not_found for a key with no original, resized or not', async () => {
        expectError(await image('no-such-original.jpg', 'w=100'), 404, 'not_found');
        expectError(await image('no-such-original.jpg'), 404, 'not_found');
        expectError(await image('gen-photo-777x555.png/below-a-file.png', 'w=100'), 404, 'not_found');
        expectError(await image('nested', 'w=100'), 404, 'not_found');
      });
    });

    describe('parameters', () => {
      it.each([
        ['w=0', 'w', ['1', '4096']],
        ['w=4097', 'w', ['1', '4096']],
        ['w=-5', 'w', ['4096']],
        ['w=1.5', 'w', ['4096']],
        ['w=1e3', 'w', ['4096']],
        ['w=0x10', 'w', ['4096']],
        ['w=%2010', 'w', ['4096']],
        ['w=abc', 'w', ['4096']],
        ['w=', 'w', ['4096']],
        ['w=010', 'w', ['4096']],
        ['w=0100', 'w', ['4096']],
        ['h=07', 'h', ['4096']],
        ['w=10&q=085', 'q', ['100']],
        ['h=0', 'h', ['1', '4096']],
        ['h=99999999999', 'h', ['4096']],
        ['w=10&q=0', 'q', ['1', '100']],
        ['w=10&q=101', 'q', ['1', '100']],
        ['w=10&q=high', 'q', ['100']],
        ['w=10&fit=fill', 'fit', ['inside', 'cover']],
        ['w=10&format=gif', 'format', ['jpeg', 'png', 'webp']],
        ['w=10&format=jpg', 'format', ['jpeg']],
      ])('refuses %s with 400 invalid_parameter naming %s and the range', async (query, param, range) => {
        expectError(await image('gen-photo-777x555.png', query), 400, 'invalid_parameter', [param, ...range]);
      });

      it.each([
        ['w=10&w=20', 'w'],
        ['w=10&h=10&h=10', 'h'],
        ['format=png&format=png', 'format'],
        ['q=80&w=5&q=80', 'q'],
        ['fit=cover&fit=cover&w=1&h=1', 'fit'],
      ])('refuses the repeated parameter in %s', async (query, param) => {
        expectError(await image('gen-photo-777x555.png', query), 400, 'invalid_parameter', [param]);
      });

      it.each([['w=100&fit=cover'], ['h=100&fit=cover'], ['fit=cover']])('refuses %s: cover needs both w and h', async (query) => {
        expectError(await image('gen-photo-777x555.png', query), 400, 'invalid_parameter', ['fit']);
      });

      it('checks the parameters before it looks for the original', async () => {
        expectError(await image('no-such-original.jpg', 'w=0'), 400, 'invalid_parameter', ['w']);
      });

      it('ignores unknown parameters: same image, same ETag', async () => {
        const plain = await image('gen-photo-777x555.png', 'w=100');
        const noisy = await image('gen-photo-777x555.png', 'foo=bar&w=100&W=7&w%5B%5D=3&s=x');
        expect(noisy.status).toBe(200);
        expect(noisy.headers.etag).toBe(plain.headers.etag);
        expect(noisy.body.equals(plain.body)).toBe(true);
      });

      it('treats spelt-out defaults as the same variant (same ETag)', async () => {
        const short = await image('gen-photo-777x555.png', 'w=100');
        const long = await image('gen-photo-777x555.png', 'fit=inside&q=85&w=100');
        expect(long.headers.etag).toBe(short.headers.etag);
      });

      it('serves the original bytes when only unknown parameters are given', async () => {
        const res = await image('gen-photo-777x555.png', 'utm_source=x');
        expect(res.status).toBe(200);
        expect(res.body.equals(await readOriginal('gen-photo-777x555.png'))).toBe(true);
      });
    });

    describe('geometry', () => {
      it.each(GEOMETRY)('$key?$query -> $width x $height ($why)', async ({ key, query, width, height }) => {
        const res = await image(key, query);
        expect(res.status, res.body.toString().slice(0, 300)).toBe(200);
        const meta = await sharp(res.body).metadata();
        expect([meta.width, meta.height]).toEqual([width, height]);
      });

      it('gives the real photographs the contract sizes (when the fixtures folder is present)', async () => {
        const present = REAL_GEOMETRY.filter((g) => real.includes(g.file));
        if (present.length === 0) return expectNoFixture('photo-flower-1600x1203.jpg');
        for (const { file, query, width, height } of present) {
          const res = await image(`real/${file}`, query);
          expect(res.status, `${file}?${query}`).toBe(200);
          const meta = await sharp(res.body).metadata();
          expect([meta.width, meta.height], `${file}?${query}`).toEqual([width, height]);
        }
      });

      it('cover crops the centre: a red|blue 400x200 in a 100x100 box is half red, half blue', async () => {
        const res = await image('halves-400x200.png', 'w=100&h=100&fit=cover');
        const { data, info } = await sharp(res.body).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height]).toEqual([100, 100]);
        const px = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
        // Scaled to 200x100, cropped from x=50: red on the left half, blue on the right.
        expect(px(10, 50)).toEqual([255, 0, 0]);
        expect(px(40, 50)).toEqual([255, 0, 0]);
        expect(px(60, 50)).toEqual([0, 0, 255]);
        expect(px(90, 50)).toEqual([0, 0, 255]);
      });

      it('applies EXIF orientation 6 before resizing: the pixels are the stored ones turned 90 degrees clockwise', async () => {
        const res = await image('gen-exif-6.jpg', 'w=600&format=png');
        // The stored 450x600 pixels, decoded as they are (raw output ignores the orientation tag).
        const stored = await sharp(await readOriginal('gen-exif-6.jpg'))
          .raw()
          .toBuffer({ resolveWithObject: true });
        const turned = (angle: number) => sharp(stored.data, { raw: stored.info }).rotate(angle).png().toBuffer();
        expect(await meanAbsDiff(res.body, await turned(90))).toBeLessThan(3);
        // The other way round is far off, so the threshold above means something.
        expect(await meanAbsDiff(res.body, await turned(270))).toBeGreaterThan(20);
      });

      it('EXIF orientations 1-8 (real fixtures when present) all come out as the same 600x450 landscape', async () => {
        const orientations = real.filter((n) => n.startsWith('exif-landscape-'));
        const keys = orientations.length > 0 ? orientations.map((n) => `real/${n}`) : ['gen-exif-6.jpg'];
        const reference = keys.length > 1 ? (await image(keys[0]!, 'format=png')).body : undefined;
        for (const key of keys) {
          const res = await image(key, 'format=png');
          expect(res.status, key).toBe(200);
          const meta = await sharp(res.body).metadata();
          expect([meta.width, meta.height], key).toEqual([600, 450]);
          expect(meta.orientation, key).toBeUndefined();
          if (reference) expect(await meanAbsDiff(res.body, reference), key).toBeLessThan(10);
        }
      });
    });

    describe('pixels and formats', () => {
      it.each([['gen-cmyk.jpg'], ['real/cmyk-with-profile.jpg']])('converts CMYK (%s) to 3-channel sRGB', async (key) => {
        if (key.startsWith('real/') && !real.includes(path.basename(key))) return expectNoFixture(key);
        const res = await image(key, 'w=200');
        expect(res.status).toBe(200);
        const meta = await sharp(res.body).metadata();
        expect(meta.format).toBe('jpeg');
        expect(meta.space).toBe('srgb');
        expect(meta.channels).toBe(3);
        expect(meta.icc).toBeUndefined();
      });

      it('turns a greyscale original into 3-channel sRGB', async () => {
        const res = await image('grey-120x90.jpg', 'w=60');
        const meta = await sharp(res.body).metadata();
        expect([meta.format, meta.space, meta.channels]).toEqual(['jpeg', 'srgb', 3]);
      });

      it('flattens alpha onto white for JPEG', async () => {
        // gen-alpha-640x480.png is transparent from (160,120) to (480,360).
        const res = await image('gen-alpha-640x480.png', 'w=320&format=jpeg');
        expect(res.headers['content-type']).toBe('image/jpeg');
        const { data, info } = await sharp(res.body).raw().toBuffer({ resolveWithObject: true });
        expect(info.channels).toBe(3);
        const i = (120 * info.width + 160) * 3;
        for (const v of data.subarray(i, i + 3)) expect(v).toBeGreaterThanOrEqual(245);
      });

      it('keeps alpha in PNG and WebP output', async () => {
        for (const format of ['png', 'webp']) {
          const res = await image('gen-alpha-640x480.png', `w=320&format=${format}`);
          const { data, info } = await sharp(res.body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
          expect(info.width, format).toBe(320);
          expect(data[(120 * info.width + 160) * 4 + 3], format).toBeLessThan(10);
          expect(data[(5 * info.width + 5) * 4 + 3], format).toBe(255);
        }
      });

      it.each([['gen-exif-6.jpg'], ['real/cmyk-with-profile.jpg'], ['real/exif-landscape-3.jpg']])('strips every piece of metadata (%s)', async (key) => {
        if (key.startsWith('real/') && !real.includes(path.basename(key))) return expectNoFixture(key);
        for (const format of ['jpeg', 'png', 'webp']) {
          const res = await image(key, `w=120&format=${format}`);
          const meta = await sharp(res.body).metadata();
          expect(meta.format, format).toBe(format);
          expect(meta.exif, format).toBeUndefined();
          expect(meta.icc, format).toBeUndefined();
          expect(meta.xmp, format).toBeUndefined();
          expect(meta.iptc, format).toBeUndefined();
          expect(meta.orientation, format).toBeUndefined();
        }
      });

      it.each([
        ['gen-photo-2999x2001.jpg', 'w=64', 'image/jpeg', 'jpeg'],
        ['gen-photo-777x555.png', 'w=64', 'image/png', 'png'],
        ['gen-photo-1001x667.webp', 'w=64', 'image/webp', 'webp'],
        ['gen-anim.gif', 'w=64', 'image/png', 'png'],
        ['gen-photo-777x555.png', 'w=64&format=jpeg', 'image/jpeg', 'jpeg'],
        ['gen-photo-2999x2001.jpg', 'w=64&format=webp', 'image/webp', 'webp'],
        ['gen-photo-1001x667.webp', 'w=64&format=png', 'image/png', 'png'],
      ])('%s?%s is %s', async (key, query, contentType, format) => {
        const res = await image(key, query);
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe(contentType);
        expect((await sharp(res.body).metadata()).format).toBe(format);
      });

      it('turns a GIF into the PNG of its first frame, at the GIF size when no box is given', async () => {
        for (const key of ['gen-anim.gif', 'real/animated-rotating-squares.gif']) {
          if (key.startsWith('real/') && !real.includes(path.basename(key))) continue;
          const res = await image(key, 'format=png');
          const meta = await sharp(res.body).metadata();
          const source = await sharp(await readOriginal(key)).metadata();
          expect(meta.format, key).toBe('png');
          expect(meta.pages ?? 1, key).toBe(1);
          expect([meta.width, meta.height], key).toEqual([source.width, source.pageHeight ?? source.height]);
        }
      });

      it('takes the first frame of an animated GIF, not another one', async () => {
        const gif = await readOriginal('gen-anim.gif');
        const frame = (n: number) => sharp(gif, { page: n, pages: 1 }).png().toBuffer();
        const res = await image('gen-anim.gif', 'format=png');
        expect(await meanAbsDiff(res.body, await frame(0))).toBeLessThan(2);
        expect(await meanAbsDiff(res.body, await frame(1))).toBeGreaterThan(10);
      });

      it('honours q for JPEG and WebP: q=20 is much smaller than q=95', async () => {
        for (const format of ['jpeg', 'webp']) {
          const low = await image('gen-photo-2999x2001.jpg', `w=600&q=20&format=${format}`);
          const high = await image('gen-photo-2999x2001.jpg', `w=600&q=95&format=${format}`);
          expect(low.body.length * 2, format).toBeLessThan(high.body.length);
        }
      });

      it('looks like the original after a resize (not grey, not shifted)', async () => {
        const res = await image('gen-photo-1001x667.webp', 'w=1001&format=png');
        const original = await sharp(await readOriginal('gen-photo-1001x667.webp'))
          .png()
          .toBuffer();
        expect(await meanAbsDiff(res.body, original)).toBeLessThan(3);
      });
    });

    describe('responses', () => {
      it('sends Content-Type, a true Content-Length, Cache-Control, a strong ETag and the original Last-Modified', async () => {
        for (const query of ['w=123', '']) {
          const res = await image('gen-photo-2999x2001.jpg', query);
          expect(res.status).toBe(200);
          expect(res.headers['content-type']).toBe('image/jpeg');
          expect(Number(res.headers['content-length'])).toBe(res.body.length);
          expect(res.headers['cache-control']).toBe('public, max-age=31536000');
          expect(res.headers.etag).toMatch(/^"[^"]+"$/);
          const mtime = Math.floor(statSync(path.join(target.storageDir, 'gen-photo-2999x2001.jpg')).mtimeMs / 1000) * 1000;
          expect(new Date(res.headers['last-modified']!).getTime()).toBe(mtime);
        }
      });

      it('answers HEAD with the same headers and no body', async () => {
        for (const query of ['?w=77', '']) {
          const got = await get(`/image/files/gen-photo-777x555.png${query}`);
          const res = await head(`/image/files/gen-photo-777x555.png${query}`);
          expect(res.status).toBe(200);
          expect(res.body.length).toBe(0);
          for (const h of ['content-type', 'content-length', 'cache-control', 'etag', 'last-modified']) expect(res.headers[h], h).toBe(got.headers[h]);
        }
      });

      it('keeps the ETag stable across requests and different across variants', async () => {
        const a1 = await image('gen-photo-777x555.png', 'w=100');
        const a2 = await image('gen-photo-777x555.png', 'w=100');
        const b = await image('gen-photo-777x555.png', 'w=101');
        const c = await image('gen-photo-777x555.png', 'w=100&format=webp');
        const original = await image('gen-photo-777x555.png');
        expect(a2.headers.etag).toBe(a1.headers.etag);
        expect(new Set([a1.headers.etag, b.headers.etag, c.headers.etag, original.headers.etag]).size).toBe(4);
      });

      it('changes the ETag when the original is replaced', async () => {
        const file = path.join(target.storageDir, 'replaced.png');
        copyFileSync(path.join(target.storageDir, 'gen-photo-777x555.png'), file);
        const before = await image('replaced.png', 'w=100');
        writeFileSync(
          `${file}.tmp`,
          await sharp(await readOriginal('gen-photo-777x555.png'))
            .negate()
            .png()
            .toBuffer(),
        );
        renameSync(`${file}.tmp`, file);
        const after = await image('replaced.png', 'w=100');
        expect(after.status).toBe(200);
        expect(after.headers.etag).not.toBe(before.headers.etag);
      });

      it('answers If-None-Match with 304 and no body, for a match in any of its forms', async () => {
        for (const query of ['?w=90', '']) {
          const first = await get(`/image/files/gen-photo-777x555.png${query}`);
          const etag = first.headers.etag!;
          for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
            const res = await get(`/image/files/gen-photo-777x555.png${query}`, { 'If-None-Match': inm });
            expect(res.status, inm).toBe(304);
            expect(res.body.length, inm).toBe(0);
            expect(res.headers.etag, inm).toBe(etag);
          }
          const miss = await get(`/image/files/gen-photo-777x555.png${query}`, { 'If-None-Match': '"something-else"' });
          expect(miss.status).toBe(200);
        }
      });

      it.each([
        ['gen-photo-2999x2001.jpg', 'image/jpeg'],
        ['gen-photo-777x555.png', 'image/png'],
        ['gen-photo-1001x667.webp', 'image/webp'],
        ['gen-anim.gif', 'image/gif'],
        ['notes.txt', 'application/octet-stream'],
      ])('serves %s unchanged as a plain download, as %s', async (key, contentType) => {
        const res = await image(key);
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe(contentType);
        expect(res.body.equals(await readOriginal(key))).toBe(true);
      });
    });

    describe('bad originals', () => {
      it.each([
        ['a truncated JPEG', 'gen-truncated.jpg'],
        ['the real truncated JPEG fixture', 'real/bad-truncated.jpg'],
        ['a text file', 'notes.txt'],
        ['an SVG', 'drawing.svg'],
        ['a JPEG signature followed by junk', 'not-really.jpg'],
        ['a JPEG whose Huffman table cannot be built', 'bogus-huffman.jpg'],
      ])('refuses %s with 415 unsupported_image', async (_, key) => {
        if (key.startsWith('real/') && !real.includes(path.basename(key))) return expectNoFixture(key);
        expectError(await image(key, 'w=100'), 415, 'unsupported_image');
      });

      it('refuses an original whose header claims over 50 megapixels with 413, before decoding it', async () => {
        expectError(await image('header-60mp.png', 'w=100'), 413, 'image_too_large');
      });

      it('refuses a GIF whose logical screen is over 50 megapixels with 413, even around a 1x1 frame', async () => {
        expectError(await image('gif-screen-8000x7000.gif', 'w=100'), 413, 'image_too_large', ['8000x7000']);
      });

      it.each([
        ['gif-screen-3000x2000.gif', 'w=200', 200, 133, 'a 1x1 frame on a 3000x2000 screen'],
        ['gif-screen-400x300.gif', 'w=200', 200, 150, 'a 100x100 frame on a 400x300 screen'],
        ['gif-screen-100x100-frame-300x200.gif', 'format=png', 100, 100, 'a 300x200 frame cut to its 100x100 screen'],
      ])('sizes %s from its logical screen (%s -> %ix%i: %s)', async (key, query, width, height) => {
        const res = await image(key, query);
        expect(res.status, res.body.toString().slice(0, 300)).toBe(200);
        const meta = await sharp(res.body).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['png', width, height]);
      });

      it('refuses an original over 50 MiB with 413, resized or not', async () => {
        expectError(await image('huge-bytes.jpg', 'w=100'), 413, 'image_too_large');
        expectError(await image('huge-bytes.jpg'), 413, 'image_too_large');
      });
    });

    async function readOriginal(key: string): Promise<Buffer> {
      const { readFile } = await import('node:fs/promises');
      return readFile(path.join(target.storageDir, key));
    }

    /** Real-fixture cases only run with the fixtures folder; without it, say so (they are covered by generated ones). */
    function expectNoFixture(key: string): void {
      expect(realFixturesDir(), `${key} is missing although the fixtures folder exists`).toBeUndefined();
    }
  });
}
