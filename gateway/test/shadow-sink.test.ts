/**
 * The shadow sink in process, with in-process fake backends: what it compares is the mirrored
 * request target and nothing a client can send, and what it writes is bounded.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS } from '../src/compare/thresholds.ts';
import { createShadowSink, type ShadowSink } from '../src/shadow/sink.ts';

let dir: string;
let png: Buffer;
const backends: http.Server[] = [];
const seen: string[] = [];

/** A backend that answers every GET with the same small PNG and remembers the targets it saw. */
async function fakeBackend(): Promise<string> {
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
  });
  backends.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'shadow-sink-'));
  png = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#336699' } })
    .png()
    .toBuffer();
});

afterAll(async () => {
  for (const s of backends) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function startSink(name: string, extra: { resultsMaxBytes?: number } = {}): Promise<{ sink: ShadowSink; url: string; out: string }> {
  const out = path.join(dir, name, 'results.jsonl');
  const sink = createShadowSink({
    legacyUrl: await fakeBackend(),
    newUrl: await fakeBackend(),
    outFile: out,
    thresholds: DEFAULT_THRESHOLDS,
    defaultMetrics: false,
    ...extra,
  });
  const { url } = await sink.listen('127.0.0.1', 0);
  return { sink, url, out };
}

function mirror(url: string, target: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${target}`, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const targets = (out: string) =>
  readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { target: string }).target);

describe('the sink trusts no client header', () => {
  it('compares the mirrored request target, whatever X-Original-URI a client sent', async () => {
    const { sink, url, out } = await startSink('trust');
    seen.length = 0;
    expect(await mirror(url, '/image/files/a.png?w=4', { 'x-original-uri': '/image/files/chosen-by-client.png?w=9' })).toBe(204);
    // A client-sent header naming a hot target must not turn a refused target into a comparison.
    expect(await mirror(url, '/image/health', { 'x-original-uri': '/image/files/b.png?w=3' })).toBe(204);
    await new Promise((r) => setImmediate(r));
    await sink.idle();
    await sink.close(1000);
    expect(targets(out)).toEqual(['/image/files/a.png?w=4']);
    expect(seen.every((t) => t === '/image/files/a.png?w=4')).toBe(true);
    const metrics = await sink.metrics.registry.metrics();
    expect(metrics).toMatch(/gateway_shadow_refused_total\{reason="route"\} 1/);
  });
});

describe('the results file is bounded', () => {
  it('rotates at resultsMaxBytes: one older generation kept, the oldest lines dropped', async () => {
    const { sink, url, out } = await startSink('bounded', { resultsMaxBytes: 2000 });
    const n = 40;
    for (let i = 0; i < n; i++) {
      await mirror(url, `/image/files/a.png?w=4&i=${i}`);
      await new Promise((r) => setImmediate(r));
      await sink.idle();
    }
    await sink.close(1000);
    expect(statSync(out).size).toBeLessThanOrEqual(2000);
    expect(existsSync(`${out}.1`)).toBe(true);
    expect(statSync(`${out}.1`).size).toBeLessThanOrEqual(2000);
    const kept = [...targets(`${out}.1`), ...targets(out)];
    // Whole lines only, in order, ending with the newest; the oldest are gone.
    expect(kept.length).toBeLessThan(n);
    expect(kept.at(-1)).toBe(`/image/files/a.png?w=4&i=${n - 1}`);
    const indices = kept.map((t) => Number(/i=(\d+)/.exec(t)![1]));
    expect(indices).toEqual(indices.map((_, k) => n - indices.length + k));
    expect(indices[0]).toBeGreaterThan(0);
  });
});
