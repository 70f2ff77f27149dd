/**
 * The safety net through the real front door: when the new service refuses connections, hangs,
 * or sheds load (503), nginx serves the request from legacy (X-Image-Fallback: 1, logged), and
 * clients see no error. Real nginx, real legacy (PHP-FPM + Imagick), real image service.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoRaw } from '../../support/fixtures.ts';
import { startImageService, type RunningService } from '../../support/services.ts';
import { startStack, type RunningStack } from '../../support/stack.ts';
import { setRouteShare, setYamlValue } from '../src/cutover/edit.ts';

let stack: RunningStack;
let work: string;
let storageDir: string;
let restarted: RunningService | undefined;
// One resize at a time and no queue: concurrent requests get 503 overloaded from the new service.
const serviceEnv = { CONCURRENCY: '1', QUEUE_LIMIT: '0' };

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-fallback-'));
  storageDir = path.join(work, 'originals');
  mkdirSync(storageDir);
  await sharp({ create: { width: 8, height: 6, channels: 3, background: '#a37' } })
    .png()
    .toFile(path.join(storageDir, 'tiny.png'));
  await (await photoRaw(2400, 1600, 11)).jpeg({ quality: 90 }).toFile(path.join(storageDir, 'big.jpg'));
  stack = await startStack({ storageDir, runDir: path.join(work, 'run'), share: 100, cutover: { timeout_ms: 800 }, serviceEnv, legacyChildren: 2 });
});

afterAll(async () => {
  await restarted?.stop();
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function get(uri: string, init: RequestInit = {}) {
  const started = performance.now();
  const res = await fetch(`${stack.frontDoor.url}${uri}`, init);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, backend: res.headers.get('x-image-backend'), fallback: res.headers.get('x-image-fallback'), type: res.headers.get('content-type'), body, ms: performance.now() - started };
}

function logLinesSince(offset: number): Array<Record<string, unknown>> {
  return readFileSync(stack.frontDoor.accessLog, 'utf8')
    .slice(offset)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
const logSize = () => readFileSync(stack.frontDoor.accessLog, 'utf8').length;

async function editCutover(edit: (text: string) => string): Promise<void> {
  writeFileSync(stack.cutoverFile, edit(readFileSync(stack.cutoverFile, 'utf8')));
  await stack.frontDoor.apply();
}

describe('new service healthy (baseline)', () => {
  it('share 100: served by new, no fallback; its 4xx pass through as they are', async () => {
    const ok = await get('/image/files/tiny.png?w=4');
    expect([ok.status, ok.backend, ok.fallback]).toEqual([200, 'new', null]);
    const missing = await get('/image/files/missing.jpg?w=4');
    expect([missing.status, missing.backend, missing.fallback]).toEqual([404, 'new', null]);
    expect(JSON.parse(missing.body.toString())).toMatchObject({ error: 'not_found' });
    const bad = await get('/image/files/tiny.png?w=0');
    expect([bad.status, bad.backend, bad.fallback]).toEqual([400, 'new', null]);
  });
});

describe('new service sheds load (503 overloaded)', () => {
  it('concurrent requests beyond its one slot fall back to legacy; every client gets a 200', async () => {
    const offset = logSize();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`/image/files/big.jpg?w=${1200 + i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    const fellBack = results.filter((r) => r.fallback === '1');
    expect(fellBack.length).toBeGreaterThan(0);
    for (const r of fellBack) expect(r.backend).toBe('legacy');
    for (const r of results.filter((x) => x.fallback !== '1')) expect(r.backend).toBe('new');
    const logged = logLinesSince(offset).filter((l) => l.fallback === '1');
    expect(logged.length).toBe(fellBack.length);
    for (const l of logged) expect(String(l.upstream_status)).toMatch(/^503 : 200$/);
  });
});

describe('new service hung (SIGSTOP): the route timeout, then legacy', () => {
  it('answers from legacy after the read timeout (800 ms), not after minutes', async () => {
    process.kill(stack.service.process.pid, 'SIGSTOP');
    try {
      const r = await get('/image/files/tiny.png?w=5');
      expect([r.status, r.backend, r.fallback]).toEqual([200, 'legacy', '1']);
      expect(r.ms).toBeGreaterThanOrEqual(700);
      expect(r.ms).toBeLessThan(10_000);
    } finally {
      process.kill(stack.service.process.pid, 'SIGCONT');
    }
  });
});

describe('new service stopped', () => {
  beforeAll(async () => {
    await stack.service.stop();
  });

  it('share 100: every hot-path request succeeds from legacy, marked and logged as a fallback', async () => {
    const offset = logSize();
    const uris = [...Array.from({ length: 40 }, (_, i) => `/image/files/tiny.png?w=${i + 1}`), '/image/files/big.jpg?w=300', '/image/files/big.jpg?w=200&format=webp'];
    for (const uri of uris) {
      const r = await get(uri);
      expect([uri, r.status, r.backend, r.fallback]).toEqual([uri, 200, 'legacy', '1']);
      expect(r.type).toMatch(/^image\//);
    }
    const head = await get('/image/files/tiny.png?w=3', { method: 'HEAD' });
    expect([head.status, head.backend, head.fallback]).toEqual([200, 'legacy', '1']);
    const lines = logLinesSince(offset);
    expect(lines).toHaveLength(uris.length + 1);
    for (const l of lines) {
      expect(l).toMatchObject({ route: 'images', backend: 'legacy', fallback: '1', status: 200 });
      expect(String(l.upstream_addr)).toBe(`127.0.0.1:${stack.service.port} : 127.0.0.1:${stack.legacy.port}`);
      expect(String(l.upstream_status)).toBe('502 : 200');
    }
  });

  it('with fallback off, the client gets a JSON 502 naming the new backend', async () => {
    await editCutover((t) => setYamlValue(t, ['routes', 0, 'fallback'], false));
    try {
      const r = await get('/image/files/tiny.png?w=4');
      expect([r.status, r.backend, r.fallback]).toEqual([502, 'new', null]);
      expect(r.type).toMatch(/^application\/json/);
      expect(JSON.parse(r.body.toString())).toEqual({ error: 'internal', message: 'the new backend is unreachable' });
    } finally {
      await editCutover((t) => setYamlValue(t, ['routes', 0, 'fallback'], true));
    }
  });

  it('once the service is back, requests return to it without a reload', async () => {
    restarted = await startImageService({ STORAGE_URL: pathToFileURL(storageDir).href, ...serviceEnv }, { port: stack.service.port });
    const r = await get('/image/files/tiny.png?w=6');
    expect([r.status, r.backend, r.fallback]).toEqual([200, 'new', null]);
  });
});

describe('legacy failing', () => {
  it("PHP-FPM down: legacy's own JSON 502 passes through unchanged", async () => {
    await editCutover((t) => setRouteShare(t, 'images', 0));
    await stack.legacy.stopFpm();
    try {
      const r = await get('/image/files/tiny.png?w=7');
      expect([r.status, r.backend]).toEqual([502, 'legacy']);
      expect(r.type).toMatch(/^application\/json/);
      const body = JSON.parse(r.body.toString()) as { error: string };
      expect(typeof body.error).toBe('string');
      // The new service is untouched by legacy's trouble.
      expect((await get('/image/files/tiny.png?w=7', { headers: { 'X-Image-Backend': 'new' } })).status).toBe(200);
    } finally {
      await stack.legacy.startFpm();
    }
  });

  it('legacy unreachable: a JSON 502 from the front door, for the route and for everything else', async () => {
    await stack.legacy.stop();
    for (const uri of ['/image/files/tiny.png?w=8', '/image/health', '/other']) {
      const r = await get(uri);
      expect([uri, r.status, r.backend]).toEqual([uri, 502, 'legacy']);
      expect(JSON.parse(r.body.toString())).toEqual({ error: 'internal', message: 'the legacy backend is unreachable' });
    }
  });
});
