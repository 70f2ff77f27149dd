/**
 * Hostile input against the real image-service process, over real sockets: request targets sent
 * byte for byte (no URL parser in between), every hostile original resized and downloaded, a burst
 * of near-limit decodes, and then the process's peak resident memory (VmHWM) against a budget.
 * After every case the service must still answer /healthz. A canary HTTP server that the hostile
 * keys and SVGs point at must never be contacted: the service reads only from its store.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_WIDTH, writeHostileOriginals, type HostileOriginal } from '../../support/hostile-images.ts';
import { startProcess } from '../../stack/process.ts';
import { projectRoot } from '../../common/paths.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { parseImageRequest, queryPairs } from '../src/params.ts';
import { signRequest } from '../src/policy.ts';

/**
 * Peak RSS budget of the service across this whole suite. Measured ~150-200 MB (Node + tsx + libvips
 * with two resizes in flight on a 49-megapixel PNG); 300 MB leaves room for allocator noise but
 * would catch one decompression bomb being decoded (the 65536x65536 PNG alone is 12 GiB of RGB).
 */
const RSS_BUDGET_MB = 300;

let root: string;
let service: RunningService;
let canary: Server;
let canaryUrl: string;
const canaryHits: string[] = [];
let hostile: HostileOriginal[];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'hostile-int-'));
  canary = createServer((req, res) => {
    canaryHits.push(`${req.method} ${req.url}`);
    res.end('canary');
  });
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
  const address = canary.address();
  canaryUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  writeFileSync(
    path.join(root, 'ok.jpg'),
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#16a085' } })
      .jpeg()
      .toBuffer(),
  );
  hostile = await writeHostileOriginals(root, { canaryUrl });
  service = await startImageService({ STORAGE_URL: pathToFileURL(root).href, CONCURRENCY: '2', QUEUE_LIMIT: '32' });
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await new Promise((r) => canary?.close(r));
  if (root) rmSync(root, { recursive: true, force: true });
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request written byte for byte on a fresh socket; the response parsed by hand. */
function rawRequest(port: number, target: string | Buffer, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer to ${String(target).slice(0, 80)}`)));
    socket.on('connect', () => {
      socket.write(
        Buffer.concat([
          Buffer.from(`${method} `),
          Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
          Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
        ]),
      );
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP response to ${String(target).slice(0, 80)}: ${JSON.stringify(all.toString('latin1').slice(0, 200))}`));
      const [statusLine = '', ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body: Buffer = all.subarray(end + 4);
      if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const eol = data.indexOf('\r\n', at);
    const size = parseInt(data.subarray(at, eol).toString(), 16);
    if (!size) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function errorCode(res: RawResponse): string | undefined {
  if (res.status < 400 || !res.headers['content-type']?.startsWith('application/json')) return undefined;
  return (JSON.parse(res.body.toString()) as { error: string }).error;
}

/** No stack trace, no file path, no library name in any answer. */
function expectNoLeak(res: RawResponse): void {
  expect(res.body.toString('latin1')).not.toMatch(/\bat .*\.(ts|js):\d+|node_modules|\/work\/|\/tmp\/|VipsJpeg|vipspng|Error:/);
}

async function expectHealthy(): Promise<void> {
  const res = await rawRequest(service.adminPort, '/healthz');
  expect(res.status).toBe(200);
  expect(service.process.child.exitCode).toBeNull();
}

describe('hostile request targets over a real socket', () => {
  const cases: Array<[string, string | Buffer, number, string | undefined]> = [
    ['../ traversal', '/image/files/../../../etc/passwd', 400, 'invalid_key'],
    ['../ after a segment', '/image/files/a/../../etc/passwd', 400, 'invalid_key'],
    ['%2e%2e/ traversal', '/image/files/%2e%2e/%2e%2e/etc/passwd', 400, 'invalid_key'],
    ['mixed .%2e traversal', '/image/files/.%2e/.%2E/etc/passwd', 400, 'invalid_key'],
    ['encoded slashes', '/image/files/..%2F..%2Fetc%2Fpasswd', 400, 'invalid_key'],
    ['leading slash', '/image/files//etc/passwd', 400, 'invalid_key'],
    ['empty segment', '/image/files/a//ok.jpg', 400, 'invalid_key'],
    ['encoded NUL', '/image/files/ok.jpg%00.png', 400, 'invalid_key'],
    ['encoded CR LF', '/image/files/ok.jpg%0d%0aX-Injected:%201', 400, 'invalid_key'],
    ['10,000 characters', `/image/files/${'a'.repeat(10_000)}`, 400, 'invalid_key'],
    // Node's HTTP parser refuses these before the app sees them: a bare 400 (or 431) with no
    // body worth parsing, which is just as safe.
    ['raw non-ASCII bytes (UTF-8)', Buffer.from('/image/files/café.jpg', 'utf8'), 400, undefined],
    ['raw NUL byte', Buffer.from('/image/files/ok\u0000.jpg', 'latin1'), 400, undefined],
    ['raw control byte', Buffer.from('/image/files/ok\u0001.jpg', 'latin1'), 400, undefined],
    ['20,000 characters (over the header size limit)', `/image/files/${'a'.repeat(20_000)}`, 431, undefined],
    // Outside the hot prefix the URL parser's resolution is harmless: nothing but the hot
    // endpoint reads files, and it only sees targets that start with its prefix.
    ['traversal before the prefix', '/image/../image/files/ok.jpg', 404, 'not_found'],
    ['absolute-form target naming another host', 'http://evil.example/image/files/ok.jpg', 404, 'not_found'],
  ];

  it.each(cases)('%s: the expected refusal, and the service stays up', async (_what, target, status, code) => {
    const res = await rawRequest(service.port, target);
    expect(res.status).toBe(status);
    if (code) expect(errorCode(res)).toBe(code);
    if (status === 404 || status === 400) expect(res.body.toString()).not.toContain('canary');
    expectNoLeak(res);
    await expectHealthy();
  });

  it('an encoded slash is a separator after one decoding round, not a way out of the store', async () => {
    const res = await rawRequest(service.port, '/image/files/%2e%2e%2fok.jpg');
    expect([res.status, errorCode(res)]).toEqual([400, 'invalid_key']);
  });
});

describe('hostile originals against the real process', () => {
  it('answers every one as the contract says, resized and downloaded, staying up after each', async () => {
    const seen: string[] = [];
    for (const h of hostile) {
      const resized = await rawRequest(service.port, `/image/files/${h.key}?w=${HOSTILE_WIDTH}`);
      seen.push(`${h.key} resized ${resized.status} ${errorCode(resized) ?? ''}`.trim());
      expect(resized.status, h.what).toBe(h.resized.status);
      expect(errorCode(resized), h.what).toBe(h.resized.code);
      expect(resized.headers['x-content-type-options']).toBe('nosniff');
      if (resized.status === 200) {
        const meta = await sharp(resized.body).metadata();
        expect([meta.format, meta.width, meta.height], h.what).toEqual([h.resized.format, h.resized.width, h.resized.height]);
      }
      expectNoLeak(resized);
      const download = await rawRequest(service.port, `/image/files/${h.key}`, 'HEAD');
      expect(download.status, h.what).toBe(h.download.status);
      await expectHealthy();
    }
    expect(seen.length).toBe(hostile.length);
  });

  it('decodes a burst of 16 near-limit (49-megapixel) images with 2 slots, all answered', async () => {
    const near = hostile.find((h) => h.key.includes('near-limit'))!;
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => rawRequest(service.port, `/image/files/${near.key}?w=${100 + i}`)));
    expect(answers.map((a) => a.status)).toEqual(Array(16).fill(200));
    await expectHealthy();
  });

  it('never contacts a URL named in a key or inside an original (no SSRF)', async () => {
    const port = new URL(canaryUrl).port;
    const targets = [
      `/image/files/http:%2F%2F127.0.0.1:${port}%2Fx.jpg?w=10`,
      `/image/files/http%3A%2F%2F127.0.0.1%3A${port}%2Fx.jpg`,
      `/image/files/127.0.0.1:${port}/x.jpg`,
      `/image/files/127.0.0.1/x.jpg?w=10`,
      `http://127.0.0.1:${port}/image/files/ok.jpg`,
      `/image/files/hostile/script.svg?w=10&format=png`,
      `/image/files/hostile/prolog.svg.jpg?w=10`,
    ];
    for (const t of targets) {
      const res = await rawRequest(service.port, t);
      expect([400, 404, 415]).toContain(res.status);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(canaryHits).toEqual([]);
  });

  it(`kept its peak RSS (VmHWM) under ${RSS_BUDGET_MB} MB across the suite`, async () => {
    // Runs last in this file (vitest keeps declaration order).
    const peak = peakRssMb(service.process.pid);
    console.log(`image-service peak RSS (VmHWM) after the hostile suite: ${peak?.toFixed(0)} MB (budget ${RSS_BUDGET_MB} MB)`);
    expect(peak).toBeGreaterThan(30);
    expect(peak).toBeLessThan(RSS_BUDGET_MB);
  });
});

describe('access policy wired from the environment', () => {
  const secret = 'int-test-secret-0123456789';
  let strict: RunningService;
  beforeAll(async () => {
    strict = await startImageService({ STORAGE_URL: pathToFileURL(root).href, SIGNING_SECRET: secret, ALLOWED_SIZES: '100x, 50x50' });
  });
  afterAll(async () => {
    await strict?.stop();
  });
  const sign = (key: string, query: string) => {
    const parsed = parseImageRequest(queryPairs(query));
    if (!parsed.ok) throw parsed.error;
    return `/image/files/${key}?${query}&s=${signRequest(secret, key, parsed.value)}`;
  };

  it('SIGNING_SECRET: unsigned 403, tampered 403, signed 200', async () => {
    expect(errorCode(await rawRequest(strict.port, '/image/files/ok.jpg?w=100'))).toBe('invalid_signature');
    expect(errorCode(await rawRequest(strict.port, sign('ok.jpg', 'w=100').replace('w=100', 'w=50&h=50')))).toBe('invalid_signature');
    expect((await rawRequest(strict.port, sign('ok.jpg', 'w=100'))).status).toBe(200);
  });

  it('ALLOWED_SIZES: a signed but unlisted box is still refused', async () => {
    const res = await rawRequest(strict.port, sign('ok.jpg', 'w=101'));
    expect([res.status, errorCode(res)]).toEqual([400, 'invalid_parameter']);
    expect((await rawRequest(strict.port, sign('ok.jpg', 'w=50&h=50'))).status).toBe(200);
  });

  it('refuses to start with a short SIGNING_SECRET or a malformed ALLOWED_SIZES, naming both', async () => {
    const proc = startProcess('image-service', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'image-service/src/main.ts')], {
      cwd: projectRoot,
      env: { ...process.env, PORT: '0', STORAGE_URL: pathToFileURL(root).href, SIGNING_SECRET: 'short', ALLOWED_SIZES: '100,abc' },
    });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toMatch(/SIGNING_SECRET: expected at least 16 characters/);
    expect(proc.output()).toMatch(/ALLOWED_SIZES: expected a comma-separated list/);
  });
});
