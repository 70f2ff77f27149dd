/**
 * The routing table through the real front door: real nginx, the real legacy backend (PHP-FPM +
 * Imagick behind its nginx) and the real image service, started by stack/stack.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { accessLogSize, awaitAccessLines } from '../../support/access-log.ts';
import { setRouteShare, setYamlValue } from '../src/cutover/edit.ts';
import { splitBuckets } from '../src/cutover/plan.ts';
import { splitClients } from './nginx-murmur.ts';

let stack: RunningStack;
let work: string;

const URIS = Array.from({ length: 2000 }, (_, i) => `/image/files/tiny.png?w=${i + 1}`);

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-routing-'));
  const storageDir = path.join(work, 'originals');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(storageDir);
  // A tiny original keeps 2000 distinct variants cheap for both backends (the routing is the subject).
  await sharp({ create: { width: 8, height: 6, channels: 3, background: '#3a7' } })
    .png()
    .toFile(path.join(storageDir, 'tiny.png'));
  stack = await startStack({
    storageDir,
    runDir: path.join(work, 'run'),
    share: 10,
    cutover: { override_header: true, debug_headers: true },
    legacyChildren: 2,
  });
});

afterAll(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function setShare(share: number): Promise<void> {
  writeFileSync(stack.cutoverFile, setRouteShare(readFileSync(stack.cutoverFile, 'utf8'), 'images', share));
  await stack.frontDoor.apply();
}

interface Seen {
  status: number;
  backend: string | null;
  fallback: string | null;
  headers: Headers;
  body: Buffer;
}

async function get(uri: string, init: RequestInit = {}): Promise<Seen> {
  const res = await fetch(`${stack.frontDoor.url}${uri}`, init);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, backend: res.headers.get('x-image-backend'), fallback: res.headers.get('x-image-fallback'), headers: res.headers, body };
}

/** Backend per URI, `concurrency` requests at a time. */
async function backends(uris: readonly string[], concurrency = 8): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < uris.length) {
        const uri = uris[next++]!;
        const r = await get(uri);
        if (r.status !== 200) throw new Error(`${uri}: status ${r.status} from ${r.backend}: ${r.body.toString().slice(0, 200)}`);
        out.set(uri, r.backend ?? 'none');
      }
    }),
  );
  return out;
}

const count = (m: Map<string, string>, backend: string) => [...m.values()].filter((b) => b === backend).length;

describe('the split (share 10, then 30, then 0 and 100)', () => {
  let at10: Map<string, string>;

  it('share 10: 10% +-3 of 2000 distinct URIs reach the new service, the rest legacy', async () => {
    at10 = await backends(URIS);
    const n = count(at10, 'new');
    console.log(`share 10: ${n} of ${URIS.length} distinct URIs reached the new service (${((n / URIS.length) * 100).toFixed(1)}%)`);
    expect(n / URIS.length).toBeGreaterThanOrEqual(0.07);
    expect(n / URIS.length).toBeLessThanOrEqual(0.13);
    expect(count(at10, 'legacy')).toBe(URIS.length - n);
  });

  it("nginx's choice is split_clients' MurmurHash2 of $request_uri with 'new' first", () => {
    const mismatches = URIS.filter((u) => splitClients(u, splitBuckets(10)) !== at10.get(u));
    expect(mismatches).toEqual([]);
  });

  it('the same URI always reaches the same backend (and across a reload of the same share)', async () => {
    const sample = URIS.filter((_, i) => i % 10 === 0);
    const again = await backends(sample);
    await stack.frontDoor.apply();
    const afterReload = await backends(sample);
    for (const u of sample) {
      expect(again.get(u)).toBe(at10.get(u));
      expect(afterReload.get(u)).toBe(at10.get(u));
    }
  });

  it('raising the share to 30 only moves variants over: every URI on new at 10 is still on new', async () => {
    await setShare(30);
    const at30 = await backends(URIS);
    const movedBack = URIS.filter((u) => at10.get(u) === 'new' && at30.get(u) !== 'new');
    expect(movedBack).toEqual([]);
    expect(count(at30, 'new') / URIS.length).toBeGreaterThanOrEqual(0.27);
    expect(count(at30, 'new') / URIS.length).toBeLessThanOrEqual(0.33);
  });

  it('share 0 sends none to the new service', async () => {
    await setShare(0);
    expect(count(await backends(URIS), 'new')).toBe(0);
  });

  it('share 100 sends all to the new service', async () => {
    await setShare(100);
    expect(count(await backends(URIS), 'legacy')).toBe(0);
  });
});

describe('everything else stays on legacy, even at share 100 with the override header asking for new', () => {
  const pin = { 'X-Image-Backend': 'new' };
  beforeAll(() => setShare(100));

  it('POST /image/files (upload) reaches legacy', async () => {
    const form = new FormData();
    form.append('file', new Blob([readFileSync(path.join(stack.legacy.storageDir, 'tiny.png'))], { type: 'image/png' }), 'up.png');
    form.append('key', 'uploaded/up.png');
    const r = await get('/image/files', { method: 'POST', body: form, headers: pin });
    expect(r.backend).toBe('legacy');
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ key: 'uploaded/up.png' });
  });

  it('DELETE /image/files (batch delete) reaches legacy', async () => {
    const r = await get('/image/files', {
      method: 'DELETE',
      body: JSON.stringify({ files: ['uploaded/up.png'] }),
      headers: { ...pin, 'content-type': 'application/json' },
    });
    expect(r.backend).toBe('legacy');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toMatchObject({ succeeded_count: 1, failed_count: 0 });
  });

  it.each([
    ['DELETE', '/image/files/tiny.png'],
    ['POST', '/image/files/tiny.png'],
    ['PUT', '/image/files/tiny.png'],
    ['GET', '/image/health'],
    ['GET', '/image/other'],
    ['GET', '/no/such/path'],
    ['HEAD', '/image/health'],
  ])('%s %s reaches legacy', async (method, uri) => {
    const before = accessLogSize(stack.frontDoor.accessLog);
    const r = await get(uri, { method, headers: pin, ...(method === 'POST' || method === 'PUT' ? { body: 'x' } : {}) });
    // debug_headers is the route's: outside its path there is no X-Image-Backend; the log says it.
    expect(r.backend).toBe(uri.startsWith('/image/files/') ? 'legacy' : null);
    const [line] = await awaitAccessLines(stack.frontDoor.accessLog, { from: before, uris: [uri], match: (l) => l.method === method });
    expect([line?.uri, line?.backend, line?.upstream_addr]).toEqual([uri, 'legacy', `127.0.0.1:${stack.legacy.port}`]);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('GET and HEAD of the route path reach new', async () => {
    expect((await get('/image/files/tiny.png?w=4')).backend).toBe('new');
    const head = await get('/image/files/tiny.png?w=4', { method: 'HEAD' });
    expect(head.backend).toBe('new');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });
});

describe('the override header', () => {
  it('pins a request to new at share 0, and to legacy at share 100', async () => {
    await setShare(0);
    expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'new' } })).backend).toBe('new');
    expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'NEW' } })).backend).toBe('new');
    expect((await get('/image/files/tiny.png?w=3')).backend).toBe('legacy');
    await setShare(100);
    expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'legacy' } })).backend).toBe('legacy');
    expect((await get('/image/files/tiny.png?w=3')).backend).toBe('new');
  });

  it('any other value leaves the split in charge', async () => {
    expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'old' } })).backend).toBe('new');
  });

  it('is ignored when the cutover file disables it', async () => {
    const text = readFileSync(stack.cutoverFile, 'utf8');
    writeFileSync(stack.cutoverFile, setYamlValue(setRouteShare(text, 'images', 0), ['routes', 0, 'override_header'], false));
    await stack.frontDoor.apply();
    try {
      expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'new' } })).backend).toBe('legacy');
    } finally {
      writeFileSync(stack.cutoverFile, text);
      await stack.frontDoor.apply();
    }
  });
});

/** A request whose target is sent exactly as written (fetch would resolve '..' itself). */
function rawGet(
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; backend: string | undefined; contentType: string | undefined }> {
  const url = new URL(stack.frontDoor.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: target, method: 'GET', agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, backend: res.headers['x-image-backend'] as string | undefined, contentType: res.headers['content-type'] }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('internal endpoints are not reachable through the front door', () => {
  beforeAll(() => setShare(100));

  it.each(['/metrics', '/healthz', '/readyz', '/metrics?x=1', '/_frontdoor/mirror/images'])('%s: a JSON 404', async (target) => {
    const r = await rawGet(target);
    expect(r.status).toBe(404);
    expect(r.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'not_found' });
    expect(r.body).not.toContain('# HELP');
  });

  it.each(['/image/files/../../metrics', '/image/files/..%2f..%2fmetrics', '/image/files/%2e%2e/%2e%2e/metrics'])(
    '%s never yields the metrics',
    async (target) => {
      const r = await rawGet(target);
      expect(r.body).not.toContain('# HELP');
      expect(r.status).toBeGreaterThanOrEqual(400);
    },
  );

  it('the new service still has them (the front door hides them, the service does not lose them)', async () => {
    const res = await fetch(`${stack.service.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# HELP');
  });
});

describe("only the normal form of a request target is served (the public listener's rule)", () => {
  // nginx routes on the decoded, normalised $uri but passes the raw target on: any target whose
  // two forms could differ is refused before routing, for every path.
  const refused = [
    '/image%2Ffiles%2Fz/../metrics',
    '/image/files/a%2Fb.png?w=2',
    '/image/files/a%2fb.png',
    '/image/files/a/%2e%2e/tiny.png?w=2',
    '/image/files/%2E%2E/%2E%2E/metrics',
    '/image/files/tiny%2Epng?w=2',
    '/image/files/%74iny.png?w=2',
    '/image/files/tiny.png%00.jpg',
    '/image/files/a%5Cb.png',
    '/image/files/a\\b.png',
    '/image/files/a/../tiny.png?w=2',
    '/image/files/./tiny.png',
    '/image/files/a/..',
    '/image/files//tiny.png',
    '//image/files/tiny.png',
    '/image/files/tiny.png;v=1?w=2',
    '/image/health/.',
    '/image/health;x',
    '/image/%68ealth',
    '/x/../image/health',
    '/%6detrics',
  ];
  it.each(refused)('%s: 400 invalid_request (JSON), before any backend', async (target) => {
    const before = accessLogSize(stack.frontDoor.accessLog);
    // The request id names this request's line. A target nginx cannot parse (%00) is logged
    // before its headers are read: no target, no request id of the client's.
    const id = `refused-${refused.indexOf(target)}`;
    const r = await rawGet(target, { 'X-Image-Backend': 'new', 'X-Request-Id': id });
    expect([r.status, r.contentType?.split(';')[0]]).toEqual([400, 'application/json']);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_request', message: expect.stringMatching(/^expected .*normal form/) });
    expect(r.body).not.toContain('# HELP');
    const [line] = await awaitAccessLines(stack.frontDoor.accessLog, { from: before, count: 1, match: (l) => l.request_id === id || l.uri === '' });
    expect([line?.status, line?.upstream_addr]).toEqual([400, '']);
  });

  it.each([
    ['/image/files/tiny.png?w=2', 200],
    ['/image/files/tiny.png?w=2&note=a%2Fb%20c', 200], // the query is not normalised by nginx: not checked
    ['/image/files/..tiny.png?w=2', 404], // '..tiny.png' is a name, not a dot segment
    ['/image/files/a.b-c_d/e.f.png?w=2', 404],
    ['/image/health', 200],
  ] as const)('%s: served (%i)', async (target, status) => {
    await setShare(100);
    const r = await rawGet(target);
    expect(r.status).toBe(status);
  });
});

/** Sends `text` as it is on a fresh connection; resolves with the status line's code, headers and body. */
function rawRequest(text: string | Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const url = new URL(stack.frontDoor.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(url.port), url.hostname, () => socket.end(text));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = all.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

describe("the front door's own errors are the contract's JSON, not nginx's HTML", () => {
  const host = 'Host: frontdoor\r\n';
  it.each([
    ['a header line without a colon', `GET /image/health HTTP/1.1\r\n${host}Broken header line\r\n\r\n`, 400],
    ['two Host headers', `GET /image/health HTTP/1.1\r\n${host}${host}\r\n`, 400],
    ['a request target over 8 KB', `GET /image/files/${'a'.repeat(9000)}.png HTTP/1.1\r\n${host}\r\n`, 414],
    ['a header over 8 KB', `GET /image/health HTTP/1.1\r\n${host}X-Big: ${'b'.repeat(9000)}\r\n\r\n`, 431],
    [
      'an upload over client_max_body_size',
      `POST /image/files HTTP/1.1\r\n${host}Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 70000000\r\n\r\n`,
      413,
    ],
    ['an unknown Transfer-Encoding', `POST /image/files HTTP/1.1\r\n${host}Transfer-Encoding: gzip\r\n\r\n`, 501],
    ['TRACE', `TRACE /image/health HTTP/1.1\r\n${host}\r\n`, 405],
  ] as const)('%s: %i', async (_what, text, status) => {
    const r = await rawRequest(text);
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(r.body) as { error: string; message: string };
    expect(body).toEqual({ error: expect.any(String), message: expect.stringMatching(/^expected /) });
  });
});

describe('clients cannot steer or see inside', () => {
  async function withCutover(edit: (text: string) => string, run: () => Promise<void>): Promise<void> {
    const text = readFileSync(stack.cutoverFile, 'utf8');
    writeFileSync(stack.cutoverFile, edit(text));
    await stack.frontDoor.apply();
    try {
      await run();
    } finally {
      writeFileSync(stack.cutoverFile, text);
      await stack.frontDoor.apply();
    }
  }
  const logLines = (from: number, uris: readonly string[]) => awaitAccessLines(stack.frontDoor.accessLog, { from, uris });

  it('the override header is honoured only from override_from addresses (here: not loopback)', async () => {
    await withCutover(
      (t) => setYamlValue(setRouteShare(t, 'images', 0), ['routes', 0, 'override_from'], ['192.0.2.0/24']),
      async () => {
        expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'new' } })).backend).toBe('legacy');
      },
    );
    await setShare(0);
    expect((await get('/image/files/tiny.png?w=3', { headers: { 'X-Image-Backend': 'new' } })).backend).toBe('new'); // loopback, by default
  });

  it('debug_headers false: no X-Image-Backend / X-Image-Fallback on any response; the access log still says who served it', async () => {
    await withCutover(
      (t) => setYamlValue(setRouteShare(t, 'images', 100), ['routes', 0, 'debug_headers'], false),
      async () => {
        const before = accessLogSize(stack.frontDoor.accessLog);
        for (const uri of ['/image/files/tiny.png?w=3&dbg=1', '/image/health?dbg=1', '/image/files/missing.png?w=3&dbg=1']) {
          const r = await get(uri);
          expect([uri, r.headers.get('x-image-backend'), r.headers.get('x-image-fallback')]).toEqual([uri, null, null]);
        }
        const uris = ['/image/files/tiny.png?w=3&dbg=1', '/image/health?dbg=1', '/image/files/missing.png?w=3&dbg=1'];
        expect((await logLines(before, uris)).map((l) => [l.uri, l.backend])).toEqual([
          ['/image/files/tiny.png?w=3&dbg=1', 'new'],
          ['/image/health?dbg=1', 'legacy'],
          ['/image/files/missing.png?w=3&dbg=1', 'new'],
        ]);
      },
    );
  });

  it('the access log redacts the signature (s=) of the request target', async () => {
    const before = accessLogSize(stack.frontDoor.accessLog);
    await get('/image/files/tiny.png?w=3&s=secret-sig-1&q=80');
    await get('/image/files/tiny.png?s=secret-sig-2');
    await get('/image/files/tiny.png?w=4&%73=secret-sig-3');
    await get('/image/files/tiny.png?w=5&s=secret-sig-4&s=secret-sig-5');
    await get('/image/files/tiny.png?w=6&pass=keep&xs=keep');
    // The targets as they must be logged: a line that kept a signature is not among them (and the
    // wait then comes up short), and the raw log must not hold one anywhere.
    const redacted = [
      '/image/files/tiny.png?w=3&s=REDACTED&q=80',
      '/image/files/tiny.png?s=REDACTED',
      '/image/files/tiny.png?w=4&%73=REDACTED',
      '/image/files/tiny.png?(query redacted: several signature parameters)',
      '/image/files/tiny.png?w=6&pass=keep&xs=keep',
    ];
    const lines = await logLines(before, redacted);
    const raw = readFileSync(stack.frontDoor.accessLog).subarray(before).toString('utf8');
    expect(raw).not.toMatch(/secret-sig/);
    expect(lines.map((l) => l.uri)).toEqual(redacted);
  });

  it('writes_from: a write from elsewhere is a JSON 403; GETs are unaffected', async () => {
    await withCutover(
      (t) => setYamlValue(t, ['writes_from'], ['192.0.2.0/24']),
      async () => {
        for (const method of ['POST', 'DELETE', 'PUT']) {
          const r = await fetch(`${stack.frontDoor.url}/image/files`, { method, headers: { 'content-type': 'application/json' }, body: '{"files":["x.png"]}' });
          expect([method, r.status, r.headers.get('content-type')?.split(';')[0]]).toEqual([method, 403, 'application/json']);
          expect((await r.json()) as unknown).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/^expected GET or HEAD/) });
        }
        expect((await get('/image/files/tiny.png?w=3')).status).toBe(200);
        expect((await get('/image/files/tiny.png?w=3', { method: 'HEAD' })).status).toBe(200);
      },
    );
    // The default (everyone): the batch delete reaches legacy again.
    const r = await fetch(`${stack.frontDoor.url}/image/files`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: '{"files":["not-there.png"]}',
    });
    expect(r.status).toBe(200);
  });
});

describe('the JSON access log', () => {
  it('one JSON object per request with the request, timings, upstream, route, backend and fallback', async () => {
    await setShare(0);
    const before = accessLogSize(stack.frontDoor.accessLog);
    const id = `t-${Date.now()}`;
    await get(`/image/files/tiny.png?w=5&id=${id}`, { headers: { 'X-Image-Backend': 'new' } });
    await get(`/image/files/tiny.png?w=6&id=${id}`);
    await get(`/image/health?id=${id}`);
    const mine = await awaitAccessLines(stack.frontDoor.accessLog, { from: before, count: 3, match: (l) => String(l.uri).includes(id) });
    expect(mine).toHaveLength(3);
    const [pinned, split, health] = mine as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    for (const l of mine) {
      expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
      expect(String(l.time)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/);
      expect(l.method).toBe('GET');
      expect(l.status).toBe(200);
      expect(typeof l.request_time).toBe('number');
      expect(l.upstream_status).toBe('200');
      expect(Number(l.upstream_response_time)).toBeGreaterThanOrEqual(0);
      expect(l.fallback).toBe('');
    }
    expect(pinned).toMatchObject({
      uri: `/image/files/tiny.png?w=5&id=${id}`,
      route: 'images',
      backend: 'new',
      upstream_addr: `127.0.0.1:${stack.service.port}`,
      override: 'new',
    });
    expect(split).toMatchObject({ route: 'images', backend: 'legacy', upstream_addr: `127.0.0.1:${stack.legacy.port}` });
    expect(health).toMatchObject({ uri: `/image/health?id=${id}`, route: '', backend: 'legacy' });
  });
});
