/**
 * The send function refuses anything but GET and HEAD in code, whatever the caller's types say,
 * and sends the target verbatim. An in-process server records what reaches it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSender, assertReadOnlyMethod } from '../src/compare/send.ts';
import { runPool, takeToken } from '../src/compare/pacing.ts';

let server: http.Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/hang') return; // never answers
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2', 'x-twice': ['a', 'b'] });
    res.end(req.method === 'HEAD' ? undefined : 'ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('send', () => {
  it.each(['DELETE', 'POST', 'PUT', 'PATCH', 'OPTIONS', 'get', 'CONNECT'])('refuses %s before any request leaves', (method) => {
    const sender = createSender();
    const before = seen.length;
    expect(() => sender.send(base, method as 'GET', '/image/files/a.jpg')).toThrow(/only GET and HEAD/);
    expect(() => assertReadOnlyMethod(method)).toThrow(/refusing to send/);
    expect(seen.length).toBe(before);
    sender.close();
  });

  it('sends GET and HEAD with the raw target, and times them', async () => {
    const sender = createSender();
    const g = await sender.send(base, 'GET', '/image/files/%2e%2e/a.jpg?w=1&w=2');
    const h = await sender.send(base, 'HEAD', '/image/files/a.jpg');
    sender.close();
    expect(seen).toContain('GET /image/files/%2e%2e/a.jpg?w=1&w=2');
    expect(seen).toContain('HEAD /image/files/a.jpg');
    expect(g.ok && g.body.toString()).toBe('ok');
    expect(g.ok && g.headers['x-twice']).toBe('a, b');
    expect(h.ok && h.body.length).toBe(0);
    expect(g.ttfbMs).toBeGreaterThanOrEqual(0);
    expect(g.totalMs).toBeGreaterThanOrEqual(g.ttfbMs);
  });

  it('a refused connection or a timeout is an outcome, not a throw', async () => {
    const sender = createSender({ timeoutMs: 200 });
    const refused = await sender.send('http://127.0.0.1:1', 'GET', '/x');
    const hung = await sender.send(base, 'GET', '/hang');
    sender.close();
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toMatch(/ECONNREFUSED/);
    expect(!hung.ok && hung.error).toMatch(/timed out after 200 ms/);
  });
});

describe('pacing', () => {
  it.each([
    ['a full bucket gives at once', { tokens: 1, at: 0 }, 0, 10, 1, 0],
    ['an empty bucket waits 1/rate', { tokens: 0, at: 0 }, 0, 10, 1, 100],
    ['time refills it', { tokens: 0, at: 0 }, 100, 10, 1, 0],
    ['a token owed in the future waits for it and the next', { tokens: 0, at: 100 }, 0, 10, 1, 200],
    ['burst caps the refill', { tokens: 0, at: 0 }, 10_000, 10, 3, 0],
  ])('%s', (_name, bucket, now, rate, burst, wait) => {
    expect(takeToken(bucket, now, rate, burst).waitMs).toBeCloseTo(wait, 6);
  });

  it('tokens taken in a row are spaced 1/rate apart', () => {
    let b = { tokens: 1, at: 0 };
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = takeToken(b, 0, 20, 1);
      b = r.bucket;
      waits.push(Math.round(r.waitMs));
    }
    expect(waits).toEqual([0, 50, 100, 150]);
  });

  it('runPool never exceeds the concurrency and runs everything once', async () => {
    let active = 0;
    let most = 0;
    const done: number[] = [];
    await runPool(
      Array.from({ length: 25 }, (_, i) => i),
      3,
      async (i) => {
        active++;
        most = Math.max(most, active);
        await new Promise((r) => setImmediate(r));
        done.push(i);
        active--;
      },
    );
    expect(most).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });
});
