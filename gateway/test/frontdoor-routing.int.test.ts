/**
 * The routing table through the real front door: real nginx, the real legacy backend (PHP-FPM +
 * Imagick behind its nginx) and the real image service, started by support/stack.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../../support/stack.ts';
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
  stack = await startStack({ storageDir, runDir: path.join(work, 'run'), share: 10, cutover: { override_header: true }, legacyChildren: 2 });
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
    const r = await get('/image/files', { method: 'DELETE', body: JSON.stringify({ files: ['uploaded/up.png'] }), headers: { ...pin, 'content-type': 'application/json' } });
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
    const r = await get(uri, { method, headers: pin, ...(method === 'POST' || method === 'PUT' ? { body: 'x' } : {}) });
    expect(r.backend).toBe('legacy');
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
function rawGet(target: string): Promise<{ status: number; body: string; backend: string | undefined; contentType: string | undefined }> {
  const url = new URL(stack.frontDoor.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: target, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, backend: res.headers['x-image-backend'] as string | undefined, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('internal endpoints are not reachable through the front door', () => {
  beforeAll(() => setShare(100));

  it.each(['/metrics', '/healthz', '/readyz', '/metrics?x=1', '/_frontdoor/mirror/images', '/%6detrics'])('%s: a JSON 404', async (target) => {
    const r = await rawGet(target);
    expect(r.status).toBe(404);
    expect(r.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'not_found' });
    expect(r.body).not.toContain('# HELP');
  });

  it.each(['/image/files/../../metrics', '/image/files/..%2f..%2fmetrics', '/image/files/%2e%2e/%2e%2e/metrics'])('%s never yields the metrics', async (target) => {
    const r = await rawGet(target);
    expect(r.body).not.toContain('# HELP');
    expect(r.status).toBeGreaterThanOrEqual(400);
  });

  it('the new service still has them (the front door hides them, the service does not lose them)', async () => {
    const res = await fetch(`${stack.service.url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# HELP');
  });
});

describe('the request reaches the backend untouched', () => {
  it('an encoded invalid key is passed raw, so the new service refuses it as invalid_key', async () => {
    const r = await rawGet('/image/files/a/%2e%2e/tiny.png?w=2');
    expect(r.backend).toBe('new');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_key' });
  });
});

describe('the JSON access log', () => {
  it('one JSON object per request with the request, timings, upstream, route, backend and fallback', async () => {
    await setShare(0);
    const before = readFileSync(stack.frontDoor.accessLog, 'utf8').length;
    const id = `t-${Date.now()}`;
    await get(`/image/files/tiny.png?w=5&id=${id}`, { headers: { 'X-Image-Backend': 'new' } });
    await get(`/image/files/tiny.png?w=6&id=${id}`);
    await get(`/image/health?id=${id}`);
    await new Promise((r) => setTimeout(r, 100));
    const lines = readFileSync(stack.frontDoor.accessLog, 'utf8').slice(before).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => String(l.uri).includes(id));
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
    expect(pinned).toMatchObject({ uri: `/image/files/tiny.png?w=5&id=${id}`, route: 'images', backend: 'new', upstream_addr: `127.0.0.1:${stack.service.port}`, override: 'new' });
    expect(split).toMatchObject({ route: 'images', backend: 'legacy', upstream_addr: `127.0.0.1:${stack.legacy.port}` });
    expect(health).toMatchObject({ uri: `/image/health?id=${id}`, route: '', backend: 'legacy' });
  });
});
