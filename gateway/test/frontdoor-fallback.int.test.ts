/**
 * The safety net through the real front door: when the new service refuses connections or hangs,
 * nginx serves the request from legacy (X-Image-Fallback: 1, logged), and clients see no error;
 * after max_fails such failures it stops trying the new service for fail_timeout_s (passive
 * health), then probes it with one request. A 503 (the service shedding load on purpose) passes
 * through to the client, never replayed on legacy. Real nginx, real legacy (PHP-FPM + Imagick),
 * real image service.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoRaw } from '../../support/fixtures.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { accessLogSize, awaitAccessLines } from '../../support/access-log.ts';
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
  stack = await startStack({
    storageDir,
    runDir: path.join(work, 'run'),
    share: 100,
    cutover: { timeout_ms: 800, debug_headers: true, override_header: true, max_fails: 2, fail_timeout_s: 2 },
    serviceEnv,
    legacyChildren: 2,
  });
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
  return {
    status: res.status,
    backend: res.headers.get('x-image-backend'),
    fallback: res.headers.get('x-image-fallback'),
    type: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    body,
    ms: performance.now() - started,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const legacyAccessLog = () => readFileSync(path.join(stack.legacy.runDir, 'log/nginx-access.log'), 'utf8');

/**
 * The lines of these request targets logged from `offset` on, once they are all there (nginx logs
 * after answering, so the line of the request before `offset` may come after it: it is left out).
 */
const logLinesFor = (offset: number, uris: readonly string[]) => awaitAccessLines(stack.frontDoor.accessLog, { from: offset, uris });
const logSize = () => accessLogSize(stack.frontDoor.accessLog);

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
  it('its 503 reaches the client with Retry-After; legacy never sees the request (no amplification)', async () => {
    const offset = logSize();
    const legacyBefore = legacyAccessLog().length;
    const uris = Array.from({ length: 6 }, (_, i) => `/image/files/big.jpg?w=${1200 + i}&shed=1`);
    const results = await Promise.all(uris.map((u) => get(u)));
    const shed = results.filter((r) => r.status === 503);
    expect(shed.length).toBeGreaterThan(0);
    for (const r of results) expect([200, 503]).toContain(r.status);
    for (const r of shed) {
      expect([r.backend, r.fallback, r.type?.split(';')[0]]).toEqual(['new', null, 'application/json']);
      expect(r.retryAfter).toMatch(/^[0-9]+$/);
      expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'overloaded' });
    }
    const lines = await logLinesFor(offset, uris);
    expect(lines).toHaveLength(uris.length);
    expect(lines.filter((l) => l.status === 503).length).toBe(shed.length);
    for (const l of lines) expect(l).toMatchObject({ backend: 'new', fallback: '' });
    for (const l of lines.filter((x) => x.status === 503)) expect(String(l.upstream_status)).toBe('503');
    // Legacy's own access log: none of these URIs (served or shed) reached it.
    expect(legacyAccessLog().slice(legacyBefore)).not.toContain('shed=1');
  });
  it('a 503 does not count as a failure: the service keeps getting requests', async () => {
    const r = await get('/image/files/tiny.png?w=9');
    expect([r.status, r.backend, r.fallback]).toEqual([200, 'new', null]);
  });
});

describe('new service hung (SIGSTOP): the route timeout, then legacy', () => {
  it('answers from legacy after the read timeout (800 ms) paid once, not twice (no retry on the hung server)', async () => {
    process.kill(stack.service.process.pid, 'SIGSTOP');
    try {
      const offset = logSize();
      const r = await get('/image/files/tiny.png?w=5');
      expect([r.status, r.backend, r.fallback]).toEqual([200, 'legacy', '1']);
      expect(r.ms).toBeGreaterThanOrEqual(700);
      expect(r.ms).toBeLessThan(1600);
      const [line] = await logLinesFor(offset, ['/image/files/tiny.png?w=5']);
      // One attempt at the new service (its address once), then legacy.
      expect(String(line!.upstream_addr)).toBe(`127.0.0.1:${stack.service.port} : 127.0.0.1:${stack.legacy.port}`);
      expect(String(line!.upstream_status)).toBe('504 : 200');
    } finally {
      process.kill(stack.service.process.pid, 'SIGCONT');
      // fail_timeout_s (nginx counts whole seconds): the next success forgets the failure above.
      // In `finally`, so a failure here is not also charged to the next test.
      await sleep(3200);
    }
  });

  it(
    'passive health: after max_fails (2) timeouts, requests go straight to legacy; after fail_timeout_s (2 s) one request probes, then it serves again',
    { timeout: 30_000 },
    async () => {
      // A success resets nginx's failure count (the previous test left one).
      expect((await get('/image/files/tiny.png?w=20')).backend).toBe('new');
      process.kill(stack.service.process.pid, 'SIGSTOP');
      let stopped = true;
      try {
        const offset = logSize();
        for (const w of [21, 22]) {
          const r = await get(`/image/files/tiny.png?w=${w}`);
          expect([r.status, r.backend, r.fallback]).toEqual([200, 'legacy', '1']);
          expect(r.ms).toBeGreaterThanOrEqual(700);
        }
        // Marked failed: no more waiting on the hung service.
        for (const w of [23, 24, 25, 26]) {
          const r = await get(`/image/files/tiny.png?w=${w}`);
          expect([w, r.status, r.backend, r.fallback]).toEqual([w, 200, 'legacy', '1']);
          expect(r.ms).toBeLessThan(600);
        }
        const skipped = await logLinesFor(
          offset,
          [23, 24, 25, 26].map((w) => `/image/files/tiny.png?w=${w}`),
        );
        expect(skipped).toHaveLength(4);
        for (const l of skipped)
          expect([String(l.upstream_addr), String(l.upstream_status)]).toEqual([`fd_images_new : 127.0.0.1:${stack.legacy.port}`, '502 : 200']);

        // fail_timeout_s later, exactly one request probes the (still hung) service; one sent
        // while the probe waits goes straight to legacy.
        await sleep(3200); // more than fail_timeout_s: nginx compares whole seconds
        const probe = get('/image/files/tiny.png?w=27');
        await sleep(150);
        const during = await get('/image/files/tiny.png?w=28');
        expect([during.status, during.fallback]).toEqual([200, '1']);
        expect(during.ms).toBeLessThan(600);
        const p = await probe;
        expect([p.status, p.fallback]).toEqual([200, '1']);
        expect(p.ms).toBeGreaterThanOrEqual(700);

        // Back: the next probe succeeds and the route serves from the new service again.
        process.kill(stack.service.process.pid, 'SIGCONT');
        stopped = false;
        await sleep(3200); // more than fail_timeout_s: nginx compares whole seconds
        const back = await get('/image/files/tiny.png?w=29');
        expect([back.status, back.backend, back.fallback]).toEqual([200, 'new', null]);
        const again = await get('/image/files/tiny.png?w=30');
        expect([again.status, again.backend, again.fallback]).toEqual([200, 'new', null]);
      } finally {
        if (stopped) process.kill(stack.service.process.pid, 'SIGCONT');
      }
    },
  );
});

describe('new service stopped', () => {
  beforeAll(async () => {
    await stack.service.stop();
  });

  it('share 100: every hot-path request succeeds from legacy, marked and logged as a fallback', async () => {
    const offset = logSize();
    const uris = [
      ...Array.from({ length: 40 }, (_, i) => `/image/files/tiny.png?w=${i + 1}`),
      '/image/files/big.jpg?w=300',
      '/image/files/big.jpg?w=200&format=webp',
    ];
    for (const uri of uris) {
      const r = await get(uri);
      expect([uri, r.status, r.backend, r.fallback]).toEqual([uri, 200, 'legacy', '1']);
      expect(r.type).toMatch(/^image\//);
    }
    const head = await get('/image/files/tiny.png?w=3', { method: 'HEAD' });
    expect([head.status, head.backend, head.fallback]).toEqual([200, 'legacy', '1']);
    const lines = await logLinesFor(offset, [...uris, '/image/files/tiny.png?w=3']);
    expect(lines).toHaveLength(uris.length + 1);
    for (const l of lines) {
      expect(l).toMatchObject({ route: 'images', backend: 'legacy', fallback: '1', status: 200 });
      // Refused connections, until max_fails of them mark it failed: then nginx skips it
      // ("no live upstreams", named by the upstream) and only probes it every fail_timeout_s.
      expect(String(l.upstream_addr)).toMatch(new RegExp(`^(?:127\\.0\\.0\\.1:${stack.service.port}|fd_images_new) : 127\\.0\\.0\\.1:${stack.legacy.port}$`));
      expect(String(l.upstream_status)).toBe('502 : 200');
    }
    expect(lines.filter((l) => String(l.upstream_addr).startsWith('fd_images_new')).length).toBeGreaterThan(30);
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

  it('once the service is back, requests return to it without a reload (after at most fail_timeout_s)', async () => {
    restarted = await startImageService({ STORAGE_URL: pathToFileURL(storageDir).href, ...serviceEnv }, { port: stack.service.port });
    await sleep(3200); // more than fail_timeout_s: nginx compares whole seconds
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
      // debug_headers is the route's: paths outside it carry no X-Image-Backend.
      expect([uri, r.status, r.backend]).toEqual([uri, 502, uri.startsWith('/image/files/') ? 'legacy' : null]);
      expect(JSON.parse(r.body.toString())).toEqual({ error: 'internal', message: 'the legacy backend is unreachable' });
    }
  });
});
