/**
 * The mirror (shadow_sample) through the real front door with the real backends. The sink here
 * is a recording HTTP server standing in for `gateway shadow` (which has its own tests): the
 * subject is what nginx sends it, and that a slow or dead sink costs clients nothing.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../stack/process.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { awaitAccessLines } from '../../support/access-log.ts';
import { setRouteShare, setYamlValue } from '../src/cutover/edit.ts';

let stack: RunningStack;
let work: string;
let sink: http.Server;
let sinkPort: number;
const seen: Array<{ method: string; url: string; route: string | undefined; originalUri: string | undefined; at: number }> = [];
let sinkDelayMs = 0;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-mirror-'));
  const storageDir = path.join(work, 'originals');
  mkdirSync(storageDir);
  await sharp({ create: { width: 8, height: 6, channels: 3, background: '#a73' } })
    .png()
    .toFile(path.join(storageDir, 'tiny.png'));
  sinkPort = await freePort();
  sink = http.createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      route: req.headers['x-shadow-route'] as string | undefined,
      originalUri: req.headers['x-original-uri'] as string | undefined,
      at: Date.now(),
    });
    req.resume();
    setTimeout(() => res.end('ok'), sinkDelayMs);
  });
  await new Promise<void>((resolve) => sink.listen(sinkPort, '127.0.0.1', resolve));
  stack = await startStack({
    storageDir,
    runDir: path.join(work, 'run'),
    share: 100,
    shadowSink: `127.0.0.1:${sinkPort}`,
    cutover: { shadow_sample: 100, debug_headers: true },
    legacyChildren: 2,
  });
});

afterAll(async () => {
  await stack?.stop();
  sink?.closeAllConnections();
  await new Promise((r) => sink?.close(r));
  if (work) rmSync(work, { recursive: true, force: true });
});

const settle = () => new Promise((r) => setTimeout(r, 300));

async function get(uri: string, init: RequestInit = {}) {
  const started = performance.now();
  const res = await fetch(`${stack.frontDoor.url}${uri}`, init);
  await res.arrayBuffer();
  return { status: res.status, backend: res.headers.get('x-image-backend'), fallback: res.headers.get('x-image-fallback'), ms: performance.now() - started };
}

async function editCutover(edit: (text: string) => string): Promise<void> {
  writeFileSync(stack.cutoverFile, edit(readFileSync(stack.cutoverFile, 'utf8')));
  await stack.frontDoor.apply();
}

describe('shadow_sample 100', () => {
  it('mirrors each GET of the route once, raw URI, with the route name; the client still sees the new service', async () => {
    seen.length = 0;
    for (let i = 1; i <= 20; i++) {
      const r = await get(`/image/files/tiny.png?w=${i}&m=1`);
      // The regression this guards: a mirror subrequest once reset the request's variables.
      expect([r.status, r.backend, r.fallback]).toEqual([200, 'new', null]);
    }
    await settle();
    expect(seen.map((s) => s.url).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `/image/files/tiny.png?w=${i + 1}&m=1`).sort());
    expect(new Set(seen.map((s) => `${s.method} ${s.route}`))).toEqual(new Set(['GET images']));
  });

  it("sets X-Original-URI to the request target itself: a client's own header is never forwarded", async () => {
    seen.length = 0;
    await get('/image/files/tiny.png?w=11', { headers: { 'X-Original-URI': '/image/files/chosen-by-client.png?w=9' } });
    await settle();
    expect(seen.map((s) => [s.url, s.originalUri])).toEqual([['/image/files/tiny.png?w=11', '/image/files/tiny.png?w=11']]);
  });

  it('also mirrors the GETs that legacy serves (share 0), and logs them with the right backend', async () => {
    await editCutover((t) => setRouteShare(t, 'images', 0));
    seen.length = 0;
    const r = await get('/image/files/tiny.png?w=3&m=2');
    expect(r.backend).toBe('legacy');
    await settle();
    expect(seen.map((s) => s.url)).toEqual(['/image/files/tiny.png?w=3&m=2']);
    const [last] = await awaitAccessLines(stack.frontDoor.accessLog, { count: 1, match: (l) => l.uri === '/image/files/tiny.png?w=3&m=2' });
    expect(last).toMatchObject({ uri: '/image/files/tiny.png?w=3&m=2', route: 'images', backend: 'legacy' });
    await editCutover((t) => setRouteShare(t, 'images', 100));
  });

  it('never mirrors HEAD, uploads, deletes or other paths', async () => {
    seen.length = 0;
    await get('/image/files/tiny.png?w=2&m=3', { method: 'HEAD' });
    await get('/image/files/tiny.png', { method: 'DELETE' });
    await get('/image/files', { method: 'DELETE', body: JSON.stringify({ files: ['nothing.png'] }), headers: { 'content-type': 'application/json' } });
    await get('/image/health');
    await settle();
    expect(seen).toEqual([]);
  });
});

describe('a slow or dead sink costs clients nothing', () => {
  it('a sink that answers after 3 s: responses are not held back (100 ms mirror timeouts)', async () => {
    sinkDelayMs = 3000;
    try {
      await get('/image/files/tiny.png?w=5&m=4'); // warm the upstream connections
      const times: number[] = [];
      for (let i = 0; i < 5; i++) times.push((await get(`/image/files/tiny.png?w=${6 + i}&m=4`)).ms);
      expect(Math.max(...times)).toBeLessThan(1500);
    } finally {
      sinkDelayMs = 0;
    }
  });

  it('a sink that is not there: every request still succeeds', async () => {
    const nobody = await freePort(); // free a moment ago: nothing listens there
    await editCutover((t) => setYamlValue(t, ['shadow_sink'], `127.0.0.1:${nobody}`));
    for (let i = 0; i < 10; i++) expect((await get(`/image/files/tiny.png?w=${i + 1}&m=5`)).status).toBe(200);
    await editCutover((t) => setYamlValue(t, ['shadow_sink'], `127.0.0.1:${sinkPort}`));
  });
});

describe('shadow_sample 30', () => {
  it('mirrors about 30% of GETs, per request', async () => {
    await editCutover((t) => setYamlValue(t, ['routes', 0, 'shadow_sample'], 30));
    seen.length = 0;
    const n = 300;
    for (let i = 0; i < n; i++) await get(`/image/files/tiny.png?w=${(i % 50) + 1}&m=6`);
    await settle();
    // Binomial(300, 0.3): mean 90, sd ~7.9; +-4 sd.
    expect(seen.length).toBeGreaterThanOrEqual(58);
    expect(seen.length).toBeLessThanOrEqual(122);
  });
});
