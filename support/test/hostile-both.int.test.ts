/**
 * One answer per request: the hostile originals (support/hostile-images.ts) and hostile request
 * targets sent to BOTH backends, the legacy PHP-FPM + Imagick one (behind its own nginx) and the
 * new image service, reading the very same storage directory. Every request must get the same
 * status and error code from both, and for a 200 the same output format and size, and that answer
 * must be the one the hostile table names. A failure lists every divergence at once, so the next
 * one is seen with both answers side by side.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, type RawResponse } from '../contract/client.ts';
import { HOSTILE_WIDTH, gifClaiming, writeHostileOriginals, type Expected, type HostileOriginal } from '../hostile-images.ts';
import { startLegacy, type RunningLegacy } from '../../stack/legacy.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';

let root: string;
let legacy: RunningLegacy;
let service: RunningService;
let hostile: HostileOriginal[];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'hostile-both-'));
  writeFileSync(
    path.join(root, 'ok.jpg'),
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#16a085' } })
      .jpeg()
      .toBuffer(),
  );
  hostile = await writeHostileOriginals(root);
  await sharp({ create: { width: 1, height: 4000, channels: 3, background: '#888' } })
    .png()
    .toFile(path.join(root, 'hostile/thin-1x4000.png'));
  const redFrame = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#ff0000' } })
    .gif()
    .toBuffer();
  writeFileSync(path.join(root, 'hostile/red-100-on-2500x300.gif'), gifClaiming(redFrame, 2500, 300));
  // Two PHP-FPM children and two resize slots: the same parallelism on both sides of a 2-core box.
  [legacy, service] = await Promise.all([
    startLegacy({ storageDir: root, children: 2 }),
    startImageService({ STORAGE_URL: pathToFileURL(root).href, CONCURRENCY: '2' }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([legacy?.stop(), service?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

/** What a response says, in the terms the contract compares: status, error code, output format and size. */
interface Answer {
  status: number;
  code?: string;
  format?: string;
  width?: number;
  height?: number;
}

async function answerOf(res: RawResponse, withImage: boolean): Promise<Answer> {
  if (res.status >= 400) {
    let code: string | undefined;
    try {
      code = (JSON.parse(res.body.toString()) as { error?: string }).error;
    } catch {
      code = '(not JSON)';
    }
    return { status: res.status, code };
  }
  if (res.status !== 200 || !withImage) return { status: res.status };
  try {
    const meta = await sharp(res.body).metadata();
    return { status: 200, format: meta.format, width: meta.width, height: meta.height };
  } catch {
    return { status: 200, format: '(undecodable)' };
  }
}

/** PURE: "413 image_too_large", "200 png 1x1": one line per answer for the divergence list. */
function describeAnswer(a: Answer): string {
  if (a.code !== undefined) return `${a.status} ${a.code}`;
  if (a.format !== undefined) return `${a.status} ${a.format} ${a.width}x${a.height}`;
  return String(a.status);
}

const fromExpected = (e: Expected): Answer => (e.status === 200 && e.format === undefined ? { status: 200 } : { ...e });

/** Sends one target to both backends (one after the other: two cores) and describes any difference. */
async function compare(
  what: string,
  target: string,
  expected: Answer | undefined,
  options: { method?: string; withImage?: boolean } = {},
): Promise<string | undefined> {
  const withImage = options.withImage ?? true;
  const [l, n] = [
    await answerOf(await rawRequest(legacy.url, target, { method: options.method }), withImage),
    await answerOf(await rawRequest(service.url, target, { method: options.method }), withImage),
  ];
  const want = expected ? describeAnswer(expected) : undefined;
  const [dl, dn] = [describeAnswer(l), describeAnswer(n)];
  if (dl === dn && (want === undefined || dl === want)) return undefined;
  return `${what}: legacy ${dl}, new ${dn}${want ? `, table ${want}` : ''}`;
}

describe('hostile originals: the same answer from both backends', () => {
  it('resized (?w=200): same status, code, format and size, and the table says so', async () => {
    const divergences: string[] = [];
    for (const h of hostile) {
      const d = await compare(h.key, `/image/files/${h.key}?w=${HOSTILE_WIDTH}`, fromExpected(h.resized));
      if (d) divergences.push(d);
    }
    expect(divergences).toEqual([]);
  });

  it('downloaded (no parameters): same status and code', async () => {
    const divergences: string[] = [];
    for (const h of hostile) {
      const d = await compare(`${h.key} download`, `/image/files/${h.key}`, fromExpected(h.download), { withImage: false });
      if (d) divergences.push(d);
    }
    expect(divergences).toEqual([]);
  });
});

describe('GIF frames on a larger logical screen: the same pixels from both backends', () => {
  it('the frame in the top-left corner of a transparent screen-sized canvas', async () => {
    // 2500 wide: past the 2048 at which libvips (libnsgif) stops trusting the screen.
    const pixels = async (url: string) => {
      const res = await rawRequest(url, '/image/files/hostile/red-100-on-2500x300.gif?w=500');
      expect(res.status, res.body.toString().slice(0, 200)).toBe(200);
      return sharp(res.body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    };
    const [l, n] = [await pixels(legacy.url), await pixels(service.url)];
    expect([n.info.width, n.info.height]).toEqual([l.info.width, l.info.height]);
    expect([n.info.width, n.info.height]).toEqual([500, 60]);
    const at = (img: typeof l, x: number, y: number) => [...img.data.subarray((y * img.info.width + x) * 4, (y * img.info.width + x) * 4 + 4)];
    for (const img of [l, n]) {
      expect(at(img, 5, 5)).toEqual([255, 0, 0, 255]); // inside the 20x20 frame
      expect(at(img, 300, 30)[3]).toBe(0); // the rest of the screen: transparent
    }
  });
});

describe('hostile request targets: the same answer from both backends', () => {
  // Keys and parameters a client can send; raw non-ASCII bytes are left out (node:http refuses to
  // send them, and both servers' HTTP parsers refuse them before any backend code runs).
  const segment256 = 'a'.repeat(256);
  const targets: Array<[string, string, Answer]> = [
    ['dot-dot traversal', '/image/files/../etc/passwd', { status: 400, code: 'invalid_key' }],
    ['encoded dot-dot', '/image/files/%2e%2e/%2e%2e/etc/passwd', { status: 400, code: 'invalid_key' }],
    ['mixed .%2e', '/image/files/.%2e/ok.jpg', { status: 400, code: 'invalid_key' }],
    ['encoded slashes around dot-dot', '/image/files/..%2F..%2Fetc%2Fpasswd', { status: 400, code: 'invalid_key' }],
    ['double-encoded dot-dot', '/image/files/%252e%252e/ok.jpg', { status: 400, code: 'invalid_key' }],
    ['backslash', '/image/files/..%5c..%5cwin.ini', { status: 400, code: 'invalid_key' }],
    ['leading slash', '/image/files//etc/passwd', { status: 400, code: 'invalid_key' }],
    ['encoded leading slash', '/image/files/%2Fetc%2Fpasswd', { status: 400, code: 'invalid_key' }],
    ['empty key', '/image/files/', { status: 400, code: 'invalid_key' }],
    ['empty key with a query', '/image/files/?w=100', { status: 400, code: 'invalid_key' }],
    ['empty segment', '/image/files/a//ok.jpg', { status: 400, code: 'invalid_key' }],
    ['trailing slash', '/image/files/a/', { status: 400, code: 'invalid_key' }],
    ['encoded NUL', '/image/files/ok.jpg%00.png', { status: 400, code: 'invalid_key' }],
    ['encoded CR LF', '/image/files/ok%0d%0aSet-Cookie:%20x=1', { status: 400, code: 'invalid_key' }],
    ['DEL', '/image/files/ok%7f.jpg', { status: 400, code: 'invalid_key' }],
    ['invalid UTF-8', '/image/files/%ff.jpg', { status: 400, code: 'invalid_key' }],
    ['malformed escape', '/image/files/%zz.jpg', { status: 400, code: 'invalid_key' }],
    ['truncated escape', '/image/files/ok.jpg%2', { status: 400, code: 'invalid_key' }],
    ['encoded non-ASCII', '/image/files/caf%C3%A9.jpg', { status: 400, code: 'invalid_key' }],
    ['an encoded surrogate pair (2 UTF-16 units)', `/image/files/${'a'.repeat(510)}%F0%9F%98%80`, { status: 400, code: 'invalid_key' }],
    ['a URL as the key', '/image/files/http:%2F%2Fevil.example%2Fx.jpg', { status: 400, code: 'invalid_key' }],
    ['a query-like key', '/image/files/ok.jpg%3Fw=1', { status: 400, code: 'invalid_key' }],
    ['513 characters', `/image/files/${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(111)}`, { status: 400, code: 'invalid_key' }],
    ['1,000 characters', `/image/files/${'a'.repeat(1_000)}`, { status: 400, code: 'invalid_key' }],
    // A valid key (the contract allows 512 characters and says nothing about segments) that no
    // file-system store can hold: no such original.
    ['a 256-character segment', `/image/files/${segment256}`, { status: 404, code: 'not_found' }],
    ['a 256-character segment, resized', `/image/files/${segment256}?w=10`, { status: 404, code: 'not_found' }],
    ['a 256-character segment below a folder', `/image/files/hostile/${segment256}.jpg?w=10`, { status: 404, code: 'not_found' }],
    ['a 300-character segment, 512 in all', `/image/files/${'a'.repeat(300)}/${'b'.repeat(211)}`, { status: 404, code: 'not_found' }],
    ['a 255-character segment (NAME_MAX)', `/image/files/${'a'.repeat(255)}`, { status: 404, code: 'not_found' }],
    ['a dot file', '/image/files/.hidden', { status: 404, code: 'not_found' }],
    ['a folder', '/image/files/hostile?w=10', { status: 404, code: 'not_found' }],
    ['below a file', '/image/files/ok.jpg/x.jpg?w=10', { status: 404, code: 'not_found' }],
    ['an encoded slash separates', '/image/files/hostile%2Fpalette.png?w=10', { status: 200, format: 'png', width: 10, height: 7 }],
    ['w=010 (not canonical)', '/image/files/ok.jpg?w=010', { status: 400, code: 'invalid_parameter' }],
    ['q=085 (not canonical)', '/image/files/ok.jpg?q=085', { status: 400, code: 'invalid_parameter' }],
    ['w=+10', '/image/files/ok.jpg?w=%2B10', { status: 400, code: 'invalid_parameter' }],
    ['w=10 with a space', '/image/files/ok.jpg?w=10+', { status: 400, code: 'invalid_parameter' }],
    ['w given twice', '/image/files/ok.jpg?w=10&w=10', { status: 400, code: 'invalid_parameter' }],
    ['w and an array-like w[]', '/image/files/ok.jpg?w=10&w[]=20', { status: 200, format: 'jpeg', width: 10, height: 7 }],
    ['an encoded parameter name', '/image/files/ok.jpg?%77=10', { status: 200, format: 'jpeg', width: 10, height: 7 }],
    ['cover without h', '/image/files/ok.jpg?w=10&fit=cover', { status: 400, code: 'invalid_parameter' }],
    ['a bad key before a bad parameter', '/image/files/../x.jpg?w=0', { status: 400, code: 'invalid_key' }],
    ['a bad parameter before a missing original', '/image/files/nothing.jpg?w=0', { status: 400, code: 'invalid_parameter' }],
    // cover would scale the 1x4000 original to 4096x16384000 before cropping: past the 16000 a side
    // ImageMagick can make, so a parameter problem on both (legacy used to fail with a 500).
    ['cover of a thin original far past the box', '/image/files/hostile/thin-1x4000.png?w=4096&h=4096&fit=cover', { status: 400, code: 'invalid_parameter' }],
    ['cover of a thin original just past 16000', '/image/files/hostile/thin-1x4000.png?w=5&h=20&fit=cover', { status: 400, code: 'invalid_parameter' }],
    ['cover of a thin original at 16000', '/image/files/hostile/thin-1x4000.png?w=4&h=20&fit=cover', { status: 200, format: 'png', width: 4, height: 20 }],
  ];

  it('a request line over 8 KiB: refused by both before any key rule, as a 4xx (never a 5xx)', async () => {
    // nginx (legacy's own, and the front door in front of both) answers 414 past its 8 KiB request
    // line buffer; Node parses up to 16 KiB and the service answers 400 invalid_key. Clients only
    // ever reach a backend through the front door, so they see nginx's 414 whichever backend serves.
    const target = `/image/files/${'a'.repeat(10_000)}`;
    const [l, n] = [await rawRequest(legacy.url, target), await rawRequest(service.url, target)];
    expect([l.status, n.status]).toEqual([414, 400]);
  });

  it('every target: same status and code (and for a 200, the same format and size) as the table', async () => {
    const divergences: string[] = [];
    for (const [what, target, want] of targets) {
      const d = await compare(what, target, want);
      if (d) divergences.push(d);
    }
    expect(divergences).toEqual([]);
  });
});
