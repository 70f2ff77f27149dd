/**
 * Security cross-checks through the real front door (nginx, PHP-FPM legacy, the image service),
 * with shadowing at 100% into a recording sink:
 * - nothing but GET ever reaches the shadow sink, whatever methods clients send (uploads and
 *   deletes change data and must never be mirrored or repeated), and a delete reaches legacy once;
 * - X-Content-Type-Options: nosniff on every kind of answer the front door gives.
 * The compare/shadow code refuses other methods itself (gateway/test/compare-send.test.ts,
 * shadow.int.test.ts); this checks the whole path end to end, from the client's side.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../stack/process.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { accessLinesSince, awaitAccessLines } from '../access-log.ts';

let work: string;
let storage: string;
let stack: RunningStack;
let sink: Server;
const mirrored: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'security-int-'));
  storage = path.join(work, 'originals');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(storage);
  writeFileSync(
    path.join(storage, 'ok.jpg'),
    await sharp({ create: { width: 120, height: 80, channels: 3, background: '#8e44ad' } })
      .jpeg()
      .toBuffer(),
  );
  const sinkPort = await freePort();
  sink = createServer((req, res) => {
    mirrored.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => sink.listen(sinkPort, '127.0.0.1', r));
  stack = await startStack({
    storageDir: storage,
    runDir: path.join(work, 'run'),
    share: 100,
    shadowSink: `127.0.0.1:${sinkPort}`,
    cutover: { shadow_sample: 100 },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => sink?.close(r));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('shadowing through the real front door', () => {
  it('mirrors GETs only: uploads, deletes, PUT, PATCH, OPTIONS, POST on the hot path and HEAD never reach the sink', async () => {
    const front = stack.frontDoor.url;
    const upload = new FormData();
    upload.append(
      'file',
      new Blob([
        await sharp({ create: { width: 10, height: 10, channels: 3, background: '#000' } })
          .png()
          .toBuffer(),
      ]),
      'up.png',
    );
    upload.append('key', 'uploaded/up.png');
    const answers: Record<string, number> = {};
    const send = async (name: string, url: string, init: RequestInit = {}) => {
      const res = await fetch(`${front}${url}`, init);
      await res.arrayBuffer();
      answers[name] = res.status;
    };
    await send('GET hot', '/image/files/ok.jpg?w=20');
    await send('HEAD hot', '/image/files/ok.jpg?w=20', { method: 'HEAD' });
    await send('POST upload', '/image/files', { method: 'POST', body: upload });
    const uploaded = existsSync(path.join(storage, 'uploaded/up.png'));
    await send('DELETE batch', '/image/files', {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ files: ['uploaded/up.png'] }),
    });
    await send('DELETE hot', '/image/files/ok.jpg', { method: 'DELETE' });
    await send('PUT hot', '/image/files/ok.jpg', { method: 'PUT', body: 'x' });
    await send('PATCH hot', '/image/files/ok.jpg', { method: 'PATCH', body: 'x' });
    await send('OPTIONS hot', '/image/files/ok.jpg', { method: 'OPTIONS' });
    await send('POST hot', '/image/files/ok.jpg?w=20', { method: 'POST', body: 'x' });
    await send('GET hot again', '/image/files/ok.jpg?w=21');
    await new Promise((r) => setTimeout(r, 500));

    expect(answers['GET hot']).toBe(200);
    expect(answers['POST upload']).toBe(201);
    expect(uploaded).toBe(true);
    expect(answers['DELETE batch']).toBe(200);
    expect(existsSync(path.join(storage, 'uploaded/up.png'))).toBe(false);
    // The original survives every other method: nothing but the batch delete deletes.
    expect(existsSync(path.join(storage, 'ok.jpg'))).toBe(true);

    expect(mirrored.length).toBe(2);
    expect(mirrored.every((m) => m.startsWith('GET '))).toBe(true);
    expect(mirrored.join('\n')).toContain('ok.jpg?w=20');
    expect(mirrored.join('\n')).toContain('ok.jpg?w=21');

    // Each mutating request reached a backend exactly once (no retry, no mirror).
    // nginx logs after answering: wait for the last request's line, then read them all.
    await awaitAccessLines(stack.frontDoor.accessLog, { count: 1, match: (l) => l.uri === '/image/files/ok.jpg?w=21' });
    const log = accessLinesSince(stack.frontDoor.accessLog) as unknown as Array<{ method: string; uri: string; backend: string; upstream_addr: string }>;
    const deletes = log.filter((l) => l.method === 'DELETE' && l.uri === '/image/files');
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.backend).toBe('legacy');
    expect(deletes[0]!.upstream_addr.split(',')).toHaveLength(1);
    const uploads = log.filter((l) => l.method === 'POST' && l.uri === '/image/files');
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.upstream_addr.split(',')).toHaveLength(1);
  });
});

describe('X-Content-Type-Options: nosniff through the front door', () => {
  it('on images, downloads, HEAD, 304, errors of both backends and the blocked internal endpoints', async () => {
    const front = stack.frontDoor.url;
    const first = await fetch(`${front}/image/files/ok.jpg?w=30`);
    await first.arrayBuffer();
    const etag = first.headers.get('etag')!;
    const cases: Array<[string, string, RequestInit, number]> = [
      ['resize from new', '/image/files/ok.jpg?w=31', {}, 200],
      ['download from new', '/image/files/ok.jpg', {}, 200],
      ['HEAD', '/image/files/ok.jpg?w=30', { method: 'HEAD' }, 200],
      ['304', '/image/files/ok.jpg?w=30', { headers: { 'if-none-match': etag } }, 304],
      ['400 from new', '/image/files/ok.jpg?w=0', {}, 400],
      ['404 from new', '/image/files/missing.jpg?w=5', {}, 404],
      ['legacy health', '/image/health', {}, 200],
      ['legacy 404', '/no/such/path', {}, 404],
      ['metrics blocked', '/metrics', {}, 404],
      ['readyz blocked', '/readyz', {}, 404],
      ['mirror location blocked', '/_frontdoor/mirror/images', {}, 404],
    ];
    for (const [what, url, init, status] of cases) {
      const res = await fetch(`${front}${url}`, init);
      await res.arrayBuffer();
      expect(res.status, what).toBe(status);
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      // One header, not one from nginx and one from the backend.
      expect(res.headers.get('x-content-type-options'), what).not.toContain(',');
    }
  });
});
