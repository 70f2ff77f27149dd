/**
 * Hostile input against the hot endpoint, in process (app.request()): keys, parameters, hostile
 * originals, the access policy (signed URLs, size allowlist) and the headers every response must
 * carry. The same cases over a real socket, with the process's memory measured, are in
 * hostile.int.test.ts.
 *
 * The raw request target is handed to the app the way @hono/node-server does it (`env.incoming.url`),
 * because the WHATWG URL parser behind app.request('/path') would resolve '..' and '%2e%2e' first.
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_WIDTH, writeHostileOriginals, type Expected, type HostileOriginal } from '../../support/hostile-images.ts';
import { createAdminApp, createApp } from '../src/http/app.ts';
import { Limiter } from '../src/limiter.ts';
import { createMetrics } from '../src/metrics.ts';
import { parseImageRequest, queryPairs } from '../src/params.ts';
import { signRequest, type AccessPolicy } from '../src/policy.ts';
import { ImageService } from '../src/service.ts';
import { FsSourceStore, type SourceStore } from '../src/storage/index.ts';

const OFF: AccessPolicy = { signingSecret: undefined, allowedSizes: undefined };
const SECRET = 'test-secret-0123456789abcdef';

let root: string;
let hostile: HostileOriginal[];
let okJpeg: Buffer;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'hostile-unit-'));
  okJpeg = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#3498db' } })
    .jpeg()
    .toBuffer();
  writeFileSync(path.join(root, 'ok.jpg'), okJpeg);
  mkdirSync(path.join(root, 'a'));
  writeFileSync(path.join(root, 'a/b.jpg'), okJpeg);
  hostile = await writeHostileOriginals(root);
}, 60_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

type BuildOptions = { policy?: AccessPolicy; store?: SourceStore; concurrency?: number; queueLimit?: number; logger?: Logger };

function buildApp(options: BuildOptions = {}) {
  return createApp(buildDeps(options));
}

/** The admin listener's app (/healthz, /readyz, /metrics) over the same kind of service. */
function buildAdmin(options: BuildOptions = {}) {
  return createAdminApp(buildDeps(options));
}

function buildDeps(options: BuildOptions) {
  const store = options.store ?? new FsSourceStore(root);
  const limiter = new Limiter({ concurrency: options.concurrency ?? 2, queueLimit: options.queueLimit ?? 32, retryAfterSeconds: 1 });
  const metrics = createMetrics({ limiter });
  const service = new ImageService({
    store,
    limiter,
    metrics,
    options: {
      maxInputBytes: 50 * 1024 * 1024,
      maxInputPixels: 50_000_000,
      fastShrinkOnLoad: true,
      requestTimeoutMs: 30_000,
      renderTimeoutMs: 30_000,
      storageTimeoutMs: 10_000,
    },
  });
  return { service, store, metrics, logger: options.logger ?? pino({ level: 'silent' }), policy: options.policy ?? OFF };
}

type App = ReturnType<typeof buildApp>;

/** Sends `target` as the raw request target, exactly as a client put it on the wire. */
function raw(app: App, target: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(app.request('http://localhost/image/files/placeholder', init, { incoming: { url: target } }));
}

/** Status, error code and the checks every error must pass: JSON, two fields, no stack trace. */
async function outcome(res: Response): Promise<{ status: number; code?: string; message?: string; body: Buffer }> {
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status < 400) return { status: res.status, body };
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const text = body.toString('utf8');
  expect(text).not.toMatch(/\bat .*\.(ts|js):\d+|node_modules|\/work\/|Error:/);
  const json = JSON.parse(text) as { error: string; message: string };
  expect(Object.keys(json).sort()).toEqual(['error', 'message']);
  expect(json.message.length).toBeGreaterThan(10);
  return { status: res.status, code: json.error, message: json.message, body };
}

async function expectImage(body: Buffer, want: Expected): Promise<void> {
  const meta = await sharp(body).metadata();
  expect(meta.format).toBe(want.format);
  expect([meta.width, meta.height]).toEqual([want.width, want.height]);
  // Output is always 8-bit sRGB, whatever came in (CMYK, 16-bit, palette, grey).
  expect(meta.space).toBe('srgb');
  expect(meta.depth).toBe('uchar');
  expect(meta.exif).toBeUndefined();
  expect(meta.icc).toBeUndefined();
}

describe('hostile keys', () => {
  const invalidKey: Array<[string, string]> = [
    ['dot-dot traversal', '/image/files/../etc/passwd'],
    ['traversal after a segment', '/image/files/a/../../etc/passwd'],
    ['encoded dot-dot', '/image/files/%2e%2e/etc/passwd'],
    ['upper-case encoded dot-dot', '/image/files/%2E%2E/%2E%2E/etc/passwd'],
    ['dot-dot and encoded slashes', '/image/files/..%2fetc%2fpasswd'],
    ['fully encoded traversal', '/image/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd'],
    ['double-encoded dot-dot (decoded once: % is refused)', '/image/files/%252e%252e/etc/passwd'],
    ['dot segment', '/image/files/./ok.jpg'],
    ['backslash traversal', '/image/files/..%5c..%5cwindows%5cwin.ini'],
    ['encoded leading slash', '/image/files/%2Fetc%2Fpasswd'],
    ['leading slash', '/image/files//etc/passwd'],
    ['empty key', '/image/files/'],
    ['empty key with a query', '/image/files/?w=100'],
    ['empty middle segment', '/image/files/a//b.jpg'],
    ['empty last segment', '/image/files/a/'],
    ['NUL', '/image/files/ok.jpg%00'],
    ['NUL before an extension', '/image/files/ok.jpg%00.png'],
    ['CR LF header injection', '/image/files/ok%0d%0aSet-Cookie:%20x=1'],
    ['tab', '/image/files/ok%09.jpg'],
    ['DEL', '/image/files/ok%7f.jpg'],
    ['invalid UTF-8', '/image/files/%ff.jpg'],
    ['malformed escape', '/image/files/%zz.jpg'],
    ['truncated escape', '/image/files/ok.jpg%2'],
    ['non-ASCII (encoded)', '/image/files/caf%C3%A9.jpg'],
    ['non-ASCII (raw, as a latin1 string)', '/image/files/caf\u00c3\u00a9.jpg'],
    ['right-to-left override', '/image/files/%E2%80%AEgpj.exe'],
    ['full-width dots', '/image/files/%EF%BC%8E%EF%BC%8E/etc/passwd'],
    ['10,000 characters', `/image/files/${'a'.repeat(10_000)}`],
    ['513 characters', `/image/files/${'a'.repeat(513)}`],
    ['an http URL as the key', '/image/files/http:%2F%2Fevil.example%2Fx.jpg'],
    ['an encoded http URL as the key', '/image/files/http%3A%2F%2F127.0.0.1%3A9%2Fx.jpg'],
    ['a file URL as the key', '/image/files/file:%2F%2F%2Fetc%2Fpasswd'],
    ['a query-like key', '/image/files/ok.jpg%3Fw=1'],
    ['space', '/image/files/o%20k.jpg'],
  ];
  it.each(invalidKey)('%s: 400 invalid_key', async (_what, target) => {
    const app = buildApp();
    const res = await outcome(await raw(app, target));
    expect([res.status, res.code]).toEqual([400, 'invalid_key']);
    expect(res.message).toMatch(/expected 1 to 512 characters/);
  });

  const accepted: Array<[string, string, number]> = [
    // 512 characters in segments a file system can hold (one 512-byte name would exceed NAME_MAX).
    [
      '512 characters, the longest legal key (no such original)',
      `/image/files/${`${'a'.repeat(127)}/`.repeat(4)}`.slice(0, '/image/files/'.length + 511) + 'b',
      404,
    ],
    ['a dot file (legal characters; just a key)', '/image/files/.hidden', 404],
    ['a host name as a key is just a key in the store', '/image/files/evil.example/x.jpg', 404],
    ['an encoded slash is a separator after one round of decoding', '/image/files/a%2Fb.jpg', 200],
    ['plain nested key', '/image/files/a/b.jpg', 200],
  ];
  it.each(accepted)('%s: %i', async (_what, target, status) => {
    const res = await outcome(await raw(buildApp(), target));
    expect(res.status).toBe(status);
    if (status === 200) expect(res.body.equals(okJpeg)).toBe(true);
    else expect(res.code).toBe('not_found');
  });

  it('answers a key it refuses with no Set-Cookie or other injected header', async () => {
    const res = await raw(buildApp(), '/image/files/ok%0d%0aSet-Cookie:%20x=1');
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('hostile parameters', () => {
  const invalid: Array<[string, string, string]> = [
    ['negative width', 'w=-1', 'w'],
    ['zero width', 'w=0', 'w'],
    ['zero height', 'h=0', 'h'],
    ['width over 4096', 'w=4097', 'w'],
    ['1e9', 'w=1e9', 'w'],
    ['exponent', 'w=1e3', 'w'],
    ['eleven digits', 'w=99999999999', 'w'],
    ['float', 'w=10.5', 'w'],
    ['float with zero fraction', 'h=100.0', 'h'],
    ['hex', 'w=0x10', 'w'],
    ['empty width', 'w=', 'w'],
    ['name only', 'w', 'w'],
    ['leading space', 'w=%20100', 'w'],
    ['plus sign (a space once decoded)', 'w=+100', 'w'],
    ['trailing garbage', 'w=100px', 'w'],
    ['Arabic-Indic digits', 'w=%D9%A1%D9%A0%D9%A0', 'w'],
    ['repeated', 'w=100&w=200', 'w'],
    ['repeated with the same value', 'h=10&h=10', 'h'],
    ['quality 0', 'q=0', 'q'],
    ['quality 101', 'q=101', 'q'],
    ['negative quality', 'q=-5', 'q'],
    ['cover without h', 'fit=cover&w=100', 'fit'],
    ['cover without w', 'fit=cover&h=100', 'fit'],
    ['upper-case fit', 'fit=COVER&w=1&h=1', 'fit'],
    ['unknown fit', 'fit=fill&w=10', 'fit'],
    ['empty fit', 'fit=', 'fit'],
    ['gif output', 'format=gif', 'format'],
    ['avif output', 'format=avif', 'format'],
    ['svg output', 'format=svg', 'format'],
    ['upper-case format', 'format=JPEG', 'format'],
    ['jpg spelling', 'format=jpg', 'format'],
    ['empty format', 'format=', 'format'],
    ['malformed escape in a value', 'w=%zz', 'w'],
    ['NUL in a value', 'w=1%00', 'w'],
  ];
  it.each(invalid)('%s (%s): 400 invalid_parameter naming %s', async (_what, query, name) => {
    const res = await outcome(await raw(buildApp(), `/image/files/ok.jpg?${query}`));
    expect([res.status, res.code]).toEqual([400, 'invalid_parameter']);
    expect(res.message).toContain(`invalid parameter ${name}`);
    expect(res.message).toMatch(/expected|needs/);
  });

  // Unknown parameters are ignored (contract, section 1). `w[]` is not `w`: a PHP-style array is an
  // unknown name, so the request is a plain download. Refusing it would break clients that add
  // cache-busting or tracking parameters of their own.
  const plainDownload: Array<[string, string]> = [
    ['array syntax w[]=1', 'w[]=1'],
    ['encoded array syntax', 'w%5B%5D=1&h%5B0%5D=2'],
    ['upper-case W', 'W=100'],
    ['unknown parameters', 'foo=bar&utm_source=x'],
    ['a 10,000-character unknown parameter', `x=${'y'.repeat(10_000)}`],
    ['a thousand unknown parameters', Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')],
    ['s with signing off', 's=whatever'],
  ];
  it.each(plainDownload)('%s: ignored, the original bytes', async (_what, query) => {
    const res = await outcome(await raw(buildApp(), `/image/files/ok.jpg?${query}`));
    expect(res.status).toBe(200);
    expect(res.body.equals(okJpeg)).toBe(true);
  });

  it('w=4096 on a 300x200 original never enlarges', async () => {
    const res = await outcome(await raw(buildApp(), '/image/files/ok.jpg?w=4096'));
    expect(res.status).toBe(200);
    expect(await sharp(res.body).metadata()).toMatchObject({ width: 300, height: 200 });
  });

  it('q alone re-encodes at the original size', async () => {
    const res = await outcome(await raw(buildApp(), '/image/files/ok.jpg?q=10'));
    expect(res.status).toBe(200);
    expect(res.body.equals(okJpeg)).toBe(false);
    expect(await sharp(res.body).metadata()).toMatchObject({ width: 300, height: 200, format: 'jpeg' });
  });

  it('a bad key is reported before a bad parameter', async () => {
    const res = await outcome(await raw(buildApp(), '/image/files/../x?w=-1'));
    expect(res.code).toBe('invalid_key');
  });
});

describe('hostile originals', () => {
  // Looked up lazily: the table is built in beforeAll.
  const names = [
    'corrupt-huffman.jpg',
    'corrupt-idat.png',
    'corrupt-scan.jpg',
    'truncated.jpg',
    'truncated.png',
    'empty.jpg',
    'not-an-image.jpg',
    'html.png',
    'magic-only.png',
    'claims-65536x65536.png',
    'huge-20000x14000.jpg',
    'claims-65535x65535.gif',
    'gif-screen-3000x2000.gif',
    'gif-frame-past-screen.gif',
    'gif-screen-0x0.gif',
    'claims-17000x17000.avif',
    'over-50mb.jpg',
    'wide-20000x100.png',
    'near-limit-7000x7000.png',
    'animated-500-frames.gif',
    'cmyk-with-profile.jpg',
    'cmyk-no-profile.jpg',
    'rgb-16bit.png',
    'palette.png',
    'grey-alpha.png',
    'script.svg',
    'prolog.svg.jpg',
  ];
  const find = (name: string) => {
    const h = hostile.find((x) => x.key === `hostile/${name}`);
    if (!h) throw new Error(`no hostile original ${name}`);
    return h;
  };

  it('the table covers every generated original', () => {
    expect(hostile.map((h) => h.key.slice('hostile/'.length)).sort()).toEqual([...names].sort());
  });

  it.each(names)('%s resized: the contract answer', async (name) => {
    const h = find(name);
    const app = buildApp();
    for (const method of ['GET', 'HEAD']) {
      const res = await raw(app, `/image/files/${h.key}?w=${HOSTILE_WIDTH}`, { method });
      if (method === 'HEAD') {
        expect(res.status).toBe(h.resized.status);
        expect((await res.arrayBuffer()).byteLength).toBe(0);
        continue;
      }
      const got = await outcome(res);
      expect({ status: got.status, code: got.code }).toEqual({ status: h.resized.status, code: h.resized.code });
      if (got.status === 200) await expectImage(got.body, h.resized);
    }
  });

  it.each(names)('%s downloaded: the original bytes, or refused on size', async (name) => {
    const h = find(name);
    const got = await outcome(await raw(buildApp(), `/image/files/${h.key}`));
    expect({ status: got.status, code: got.code }).toEqual({ status: h.download.status, code: h.download.code });
    if (got.status === 200) expect(got.body.equals(readFileSync(h.file))).toBe(true);
  });

  it('a disguised SVG or HTML original is never labelled as something a browser renders', async () => {
    const app = buildApp();
    for (const name of ['script.svg', 'prolog.svg.jpg', 'html.png']) {
      const res = await raw(app, `/image/files/${find(name).key}`);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      await res.arrayBuffer();
    }
  });
});

describe('signed URLs (SIGNING_SECRET)', () => {
  const signed = (key: string, query: string) => {
    const parsed = parseImageRequest(queryPairs(query));
    if (!parsed.ok) throw parsed.error;
    const s = signRequest(SECRET, key, parsed.value);
    return `/image/files/${key}?${query}${query ? '&' : ''}s=${encodeURIComponent(s)}`;
  };
  const policy: AccessPolicy = { signingSecret: SECRET, allowedSizes: undefined };

  it('serves a correctly signed variant and a correctly signed download', async () => {
    const app = buildApp({ policy });
    expect((await outcome(await raw(app, signed('ok.jpg', 'w=100')))).status).toBe(200);
    const download = await outcome(await raw(app, signed('ok.jpg', '')));
    expect(download.status).toBe(200);
    expect(download.body.equals(okJpeg)).toBe(true);
  });

  it('signs the meaning, not the spelling: reordered parameters and spelt-out defaults keep the signature valid', async () => {
    const app = buildApp({ policy });
    const s = new URL(`http://x${signed('ok.jpg', 'w=100&h=50')}`).searchParams.get('s')!;
    for (const q of ['h=50&w=100', 'w=100&h=50&q=85&fit=inside', 'utm=1&h=50&w=100']) {
      expect((await outcome(await raw(app, `/image/files/ok.jpg?${q}&s=${encodeURIComponent(s)}`))).status).toBe(200);
    }
  });

  const refused: Array<[string, () => string]> = [
    ['no signature', () => '/image/files/ok.jpg?w=100'],
    ['no signature on a download', () => '/image/files/ok.jpg'],
    ['empty signature', () => '/image/files/ok.jpg?w=100&s='],
    ['tampered size', () => signed('ok.jpg', 'w=100').replace('w=100', 'w=101')],
    ['tampered format', () => `${signed('ok.jpg', 'w=100')}&format=png`],
    ['signature of another key', () => signed('ok.jpg', 'w=100').replace('ok.jpg', 'a/b.jpg')],
    ['one character changed', () => signed('ok.jpg', 'w=100').replace(/s=(.)/, (_m, c: string) => `s=${c === 'A' ? 'B' : 'A'}`)],
    ['a download signature used for a variant', () => `${signed('ok.jpg', '')}&w=100`],
    [
      'signed with another secret',
      () =>
        '/image/files/ok.jpg?w=100&s=' +
        signRequest('another-secret-0123456789', 'ok.jpg', {
          kind: 'resize',
          resize: { width: 100, height: undefined, fit: 'inside', quality: 85, format: undefined },
        }),
    ],
    ['unsigned request for a missing key (existence is not revealed)', () => '/image/files/missing.jpg?w=100'],
  ];
  it.each(refused)('%s: 403 invalid_signature', async (_what, target) => {
    const res = await outcome(await raw(buildApp({ policy }), target()));
    expect([res.status, res.code]).toEqual([403, 'invalid_signature']);
    expect(res.message).toMatch(/signature/);
  });

  it('still validates the key first (a bad key is a 400, whatever the signature)', async () => {
    const res = await outcome(await raw(buildApp({ policy }), '/image/files/%2e%2e/x?w=1'));
    expect(res.code).toBe('invalid_key');
  });

  it('the documented example (docs/security.md) signs to the documented value', () => {
    const parsed = parseImageRequest(queryPairs('w=640&format=webp'));
    if (!parsed.ok) throw parsed.error;
    expect(signRequest('example-secret-0123456789', 'photos/cat.jpg', parsed.value)).toBe('4Cw6isbw7ppEzfH09l4wx7Ea_CH9dd4LmCCHpvYo6H4');
  });

  it('is off by default: unsigned URLs are served', async () => {
    expect((await outcome(await raw(buildApp(), '/image/files/ok.jpg?w=100'))).status).toBe(200);
  });
});

describe('size allowlist (ALLOWED_SIZES)', () => {
  const policy: AccessPolicy = { signingSecret: undefined, allowedSizes: ['300x', '200x200', 'x120'] };
  it.each([
    ['w=300', 200],
    ['w=200&h=200&fit=cover', 200],
    ['h=120&format=webp', 200],
    ['', 200],
    ['w=301', 400],
    ['h=300', 400],
    ['w=200', 400],
    ['w=300&h=1', 400],
    ['q=50', 400],
  ] as Array<[string, number]>)('%s: %i', async (query, status) => {
    const res = await outcome(await raw(buildApp({ policy }), `/image/files/ok.jpg${query ? `?${query}` : ''}`));
    expect(res.status).toBe(status);
    if (status === 400) {
      expect(res.code).toBe('invalid_parameter');
      expect(res.message).toContain('300x, 200x200, x120');
    }
  });
});

describe('X-Content-Type-Options: nosniff on every response', () => {
  /** A store whose reads wait for a gate: holds a resize slot so the next one is shed. */
  function gatedStore(): { store: SourceStore; release: () => void } {
    const inner = new FsSourceStore(root);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    return {
      release,
      store: { description: 'gated', ping: (s) => inner.ping(s), open: async (key, signal) => (await gate, inner.open(key, signal)) },
    };
  }

  it('on images, downloads, HEAD, 304, every error status and the service routes', async () => {
    const app = buildApp();
    const etag = (await raw(app, '/image/files/ok.jpg?w=50')).headers.get('etag')!;
    const responses: Array<[string, Response]> = [
      ['200 resize', await raw(app, '/image/files/ok.jpg?w=50')],
      ['200 download', await raw(app, '/image/files/ok.jpg')],
      ['HEAD', await raw(app, '/image/files/ok.jpg?w=50', { method: 'HEAD' })],
      ['304', await raw(app, '/image/files/ok.jpg?w=50', { headers: { 'if-none-match': etag } })],
      ['400 key', await raw(app, '/image/files/%2e%2e/x')],
      ['400 parameter', await raw(app, '/image/files/ok.jpg?w=0')],
      ['403', await raw(buildApp({ policy: { signingSecret: SECRET, allowedSizes: undefined } }), '/image/files/ok.jpg')],
      ['404', await raw(app, '/image/files/missing.jpg')],
      ['405', await raw(app, '/image/files/ok.jpg', { method: 'POST' })],
      ['413', await raw(app, '/image/files/hostile/over-50mb.jpg')],
      ['415', await raw(app, '/image/files/hostile/script.svg?w=10')],
      ['healthz', await buildAdmin().request('/healthz')],
      ['readyz', await buildAdmin().request('/readyz')],
      ['readyz 503', await buildAdmin({ store: new FsSourceStore(path.join(root, 'no-such-dir')) }).request('/readyz')],
      ['metrics', await buildAdmin().request('/metrics')],
      ['unknown route', await app.request('/etc/passwd')],
    ];
    const { store, release } = gatedStore();
    const shedding = buildApp({ store, concurrency: 1, queueLimit: 0 });
    const holding = raw(shedding, '/image/files/ok.jpg?w=10');
    const shed = await raw(shedding, '/image/files/ok.jpg?w=11');
    release();
    responses.push(['503', shed], ['200 after the gate', await holding]);

    const statuses = responses.map(([what, res]) => `${what}:${res.status}`);
    expect(statuses).toEqual([
      '200 resize:200',
      '200 download:200',
      'HEAD:200',
      '304:304',
      '400 key:400',
      '400 parameter:400',
      '403:403',
      '404:404',
      '405:405',
      '413:413',
      '415:415',
      'healthz:200',
      'readyz:200',
      'readyz 503:503',
      'metrics:200',
      'unknown route:404',
      '503:503',
      '200 after the gate:200',
    ]);
    for (const [what, res] of responses) {
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      await res.arrayBuffer();
    }
    expect(shed.headers.get('retry-after')).toBe('1');
    expect(await outcome(await raw(shedding, '/image/files/ok.jpg?w=12'))).toMatchObject({ status: 200 });
  });
});

describe('shedding is cheap to log', () => {
  it('a 503 overloaded is one request line at warn, with no error object or stack trace; a real 5xx keeps its stack', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inner = new FsSourceStore(root);
    const store: SourceStore = { description: 'gated', ping: (s) => inner.ping(s), open: async (key, signal) => (await gate, inner.open(key, signal)) };
    const app = buildApp({ store, concurrency: 1, queueLimit: 0, logger });
    const holding = raw(app, '/image/files/ok.jpg?w=10');
    const shed = await raw(app, '/image/files/ok.jpg?w=11');
    expect(shed.status).toBe(503);
    release();
    await (await holding).arrayBuffer();
    const shedLines = lines.filter((l) => JSON.stringify(l).includes('w=11'));
    expect(shedLines).toHaveLength(1);
    expect(shedLines[0]).toMatchObject({ level: 40, status: 503, msg: 'request' });
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
    expect(JSON.stringify(lines)).not.toMatch(/"err"|stack|overloaded/);

    const broken: SourceStore = { description: 'broken', ping: async () => {}, open: async () => Promise.reject(new Error('disk on fire')) };
    lines.length = 0;
    expect((await raw(buildApp({ store: broken, logger }), '/image/files/ok.jpg?w=10')).status).toBe(500);
    expect(lines.find((l) => l.code === 'internal')).toMatchObject({ level: 50, err: { message: 'disk on fire' } });
  });
});

describe('any raw request target: a typed answer, never a 500 (property)', () => {
  // Fragments that parsers trip over, mixed with arbitrary text.
  const fragment = fc.oneof(
    fc.constantFrom(
      '..',
      '.',
      '/',
      '//',
      '%2e',
      '%2E',
      '%2f',
      '%2F',
      '%5c',
      '%00',
      '%0a',
      '%',
      '%zz',
      '%ff',
      '%C3%A9',
      'é',
      '\\',
      ':',
      '?',
      '#',
      '&',
      '=',
      'ok.jpg',
      'a',
      'b.jpg',
      'w=',
      'h=',
      'fit=cover',
      'format=',
      'q=',
      '[]',
      '+',
      ' ',
    ),
    fc.string({ unit: 'binary', maxLength: 8 }),
  );
  const target = fc.array(fragment, { maxLength: 12 }).map((parts) => `/image/files/${parts.join('')}`);

  it('answers 200, 400 or 404 (JSON for errors) for any target, and 400 whenever a decoded key has a dot-dot segment', async () => {
    const app = buildApp();
    await fc.assert(
      fc.asyncProperty(target, async (t) => {
        const res = await raw(app, t);
        const got = await outcome(res);
        expect([200, 400, 404]).toContain(got.status);
        if (got.status === 400) expect(['invalid_key', 'invalid_parameter']).toContain(got.code);
        const q = t.indexOf('?');
        const rawKey = t.slice('/image/files/'.length, q < 0 ? undefined : q);
        let decoded: string | undefined;
        try {
          decoded = decodeURIComponent(rawKey);
        } catch {
          decoded = undefined;
        }
        if (decoded === undefined || decoded.split('/').some((s) => s === '..' || s === '.' || s === '')) expect(got.code).toBe('invalid_key');
      }),
      { numRuns: 400 },
    );
  });
});
