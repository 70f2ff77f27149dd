/**
 * The service's behaviour under concurrency and faults, through app.request(): coalescing,
 * shedding, deadlines (in the queue, in storage, across a shared flight) and storage failures.
 * Slowness is made with gates that the test opens, not with sleeps, so nothing here is timed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImages } from '../../support/fixtures.ts';
import { ImageError } from '../src/errors.ts';
import type { ImageRequest, ResizeRequest } from '../src/params.ts';
import { renderImage } from '../src/pipeline.ts';
import { FsSourceStore, type SourceObject, type SourceStore } from '../src/storage/index.ts';
import { DEFAULT_OPTIONS, buildHarness, gatedStore, until } from './harness.ts';

let root: string;
beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'service-test-'));
  await generateImages(root);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const IMG = '/image/files/gen-photo-1920x1280.jpg';
const resize = (width: number): ImageRequest => ({ kind: 'resize', resize: { width, height: undefined, fit: 'inside', quality: 85, format: undefined } });

async function errorOf(res: Response): Promise<{ status: number; error: string; message: string; retryAfter: string | null }> {
  const body = (await res.json()) as { error: string; message: string };
  return { status: res.status, ...body, retryAfter: res.headers.get('retry-after') };
}

describe('coalescing', () => {
  it('20 identical concurrent requests: one fetch, one resize, 19 coalesced, identical answers', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store);
    const pending = Array.from({ length: 20 }, (_, i) => h.app.request(`${IMG}?w=300${i % 2 ? '&q=85' : ''}${i % 3 ? '&utm=1' : ''}`));
    await until(async () => (await h.metric('image_coalesced_requests_total')) === 19, '19 requests joined the flight');
    gated.release();
    const responses = await Promise.all(pending);
    const bodies = await Promise.all(responses.map(async (r) => Buffer.from(await r.arrayBuffer())));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(responses.map((r) => r.headers.get('etag'))).size).toBe(1);
    for (const b of bodies) expect(b.equals(bodies[0]!)).toBe(true);
    expect(await h.metric('image_resizes_total')).toBe(1);
    expect(await h.metric('image_coalesced_requests_total')).toBe(19);
    expect(gated.opens()).toBe(1);
  });

  it('different variants do not coalesce', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store, { concurrency: 4 });
    const pending = [h.app.request(`${IMG}?w=300`), h.app.request(`${IMG}?w=301`), h.app.request(`${IMG}?w=300&format=webp`)];
    await until(() => gated.waiting() === 3, 'three fetches started');
    gated.release();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await h.metric('image_resizes_total')).toBe(3);
    expect(await h.metric('image_coalesced_requests_total')).toBe(0);
  });

  it('a request that joins a flight keeps its own deadline: the starter timing out does not fail it', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store);
    const starter = new AbortController();
    const joiner = new AbortController();
    const first = h.service.handle('gen-photo-1920x1280.jpg', resize(200), { ifNoneMatch: undefined, head: false, signal: starter.signal });
    const second = h.service.handle('gen-photo-1920x1280.jpg', resize(200), { ifNoneMatch: undefined, head: false, signal: joiner.signal });
    starter.abort(new DOMException('deadline', 'TimeoutError'));
    await expect(first).rejects.toMatchObject({ code: 'timeout', status: 504 });
    gated.release();
    const result = await second;
    expect(result.status).toBe(200);
    expect(await h.metric('image_resizes_total')).toBe(1);
    expect(await h.metric('image_coalesced_requests_total')).toBe(1);
  });

  it('a flight every caller has left is abandoned: it leaves the queue and never resizes', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store, { concurrency: 1, queueLimit: 4 });
    const busy = h.app.request(`${IMG}?w=100`); // holds the only slot at the gate
    await until(() => gated.waiting() === 1, 'the slot is taken');
    const a = new AbortController();
    const b = new AbortController();
    const ctx = (signal: AbortSignal) => ({ ifNoneMatch: undefined, head: false, signal });
    const pa = h.service.handle('gen-photo-1920x1280.jpg', resize(50), ctx(a.signal));
    const pb = h.service.handle('gen-photo-1920x1280.jpg', resize(50), ctx(b.signal));
    await until(() => h.limiter.queued === 1, 'one flight queued for two callers');
    a.abort();
    expect(h.limiter.queued).toBe(1); // b still waits
    b.abort();
    // Both gave up while their flight was still queued: shed (503), not timed out.
    await expect(pa).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    await expect(pb).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    await until(() => h.limiter.queued === 0, 'the abandoned flight left the queue');
    // A new identical request starts afresh instead of joining the abandoned flight.
    const fresh = h.app.request('/image/files/gen-photo-1920x1280.jpg?w=50');
    gated.release();
    expect((await busy).status).toBe(200);
    expect((await fresh).status).toBe(200);
    expect(await h.metric('image_resizes_total')).toBe(2);
    expect(await h.metric('image_coalesced_requests_total')).toBe(1);
  });
});

describe('reading ahead: originals are read while their requests wait for a slot', () => {
  it('with lookahead 1, the first queued request opens its original while the slot is busy, and both answers are right', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store, { concurrency: 1, queueLimit: 4, lookahead: 1 });
    const first = h.app.request(`${IMG}?w=131`);
    const second = h.app.request(`${IMG}?w=132`);
    const third = h.app.request(`${IMG}?w=133`);
    // One in the slot, two queued; the slot's and the first queued one's originals are being read.
    await until(() => gated.waiting() === 2, 'two opens in flight');
    expect([h.limiter.active, h.limiter.queued]).toEqual([1, 2]);
    gated.release();
    const metas = await Promise.all([first, second, third].map(async (r) => sharp(Buffer.from(await (await r).arrayBuffer())).metadata()));
    expect(metas.map((m) => m.width)).toEqual([131, 132, 133]);
    expect(gated.opens()).toBe(3);
    expect(await h.metric('image_resizes_total')).toBe(3);
  });

  it('a queued request whose original is missing answers 404 at once, without waiting for a slot', async () => {
    const inner = new FsSourceStore(root);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store: SourceStore = {
      description: 'first original held',
      ping: (s) => inner.ping(s),
      async open(key, signal) {
        if (key === 'gen-photo-1920x1280.jpg') await gate;
        return inner.open(key, signal);
      },
    };
    const h = buildHarness(store, { concurrency: 1, queueLimit: 4, lookahead: 1 });
    const busy = h.app.request(`${IMG}?w=141`);
    await until(() => h.limiter.active === 1, 'the slot is taken');
    const missing = await h.app.request('/image/files/no-such-original.jpg?w=100');
    expect(await errorOf(missing)).toMatchObject({ status: 404, error: 'not_found' });
    expect([h.limiter.active, h.limiter.queued]).toEqual([1, 0]);
    release();
    expect((await busy).status).toBe(200);
  });
});

describe('input buffers are reused between resizes', () => {
  it('two different originals of the same size, read as streams one after the other in one slot: each answer is its own picture', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'service-pool-'));
    try {
      const { photoRaw } = await import('../../support/fixtures.ts');
      const a = await (await photoRaw(400, 300, 21)).jpeg().toBuffer();
      const b = await (await photoRaw(400, 300, 22)).jpeg().toBuffer();
      const size = Math.max(a.length, b.length) + 8;
      // Same length on disk (bytes after the JPEG end marker are ignored), so the second read lands in the first's buffer.
      writeFileSync(path.join(dir, 'a.jpg'), Buffer.concat([a, Buffer.alloc(size - a.length)]));
      writeFileSync(path.join(dir, 'b.jpg'), Buffer.concat([b, Buffer.alloc(size - b.length)]));
      // Read as a stream (like S3), not by libvips from the file: that is the path that reuses buffers.
      const files = new FsSourceStore(dir);
      const streamOnly: SourceStore = {
        description: 'stream only',
        ping: (s) => files.ping(s),
        open: async (key, s) => ({ ...(await files.open(key, s)), localFile: undefined }),
      };
      const h = buildHarness(streamOnly, { concurrency: 1 });
      const w100: ResizeRequest = { width: 100, height: undefined, fit: 'inside', quality: 85, format: undefined };
      const direct = (bytes: Buffer) => renderImage(bytes, w100, DEFAULT_OPTIONS);
      const outA = Buffer.from(await (await h.app.request('/image/files/a.jpg?w=100')).arrayBuffer());
      const outB = Buffer.from(await (await h.app.request('/image/files/b.jpg?w=100')).arrayBuffer());
      expect(outA.equals((await direct(a)).body)).toBe(true);
      expect(outB.equals((await direct(b)).body)).toBe(true);
      expect(outA.equals(outB)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shedding and deadlines', () => {
  it('concurrency 1, queue 1: the third request gets 503 overloaded with Retry-After at once; the first two finish', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store, { concurrency: 1, queueLimit: 1 });
    const first = h.app.request(`${IMG}?w=101`);
    await until(() => gated.waiting() === 1, 'first holds the slot');
    const second = h.app.request(`${IMG}?w=102`);
    await until(() => h.limiter.queued === 1, 'second is queued');
    const third = await h.app.request(`${IMG}?w=103`);
    expect(third.status).toBe(503);
    expect(third.headers.get('content-type')).toMatch(/^application\/json/);
    const err = await errorOf(third);
    expect(err).toMatchObject({ error: 'overloaded', retryAfter: '1' });
    expect(err.message).toContain('retry later');
    // Identical to a flight already queued: it joins it instead of being shed.
    const joined = h.app.request(`${IMG}?w=102`);
    await until(async () => (await h.metric('image_coalesced_requests_total')) === 1, 'joined the queued flight');
    gated.release();
    expect((await Promise.all([first, second, joined])).map((r) => r.status)).toEqual([200, 200, 200]);
    const metrics = await (await h.admin.request('/metrics')).text();
    expect(metrics).toContain('image_http_requests_total{route="image",method="GET",status="503"} 1');
  });

  it('a request whose deadline passes while it waits in the queue is shed with 503 overloaded + Retry-After; one already started gets 504', async () => {
    const gated = gatedStore(new FsSourceStore(root));
    const h = buildHarness(gated.store, { concurrency: 1, queueLimit: 2, service: { requestTimeoutMs: 200 } });
    const first = h.app.request(`${IMG}?w=111`);
    await until(() => gated.waiting() === 1, 'first holds the slot');
    const queued = h.app.request(`${IMG}?w=112`);
    await until(() => h.limiter.queued === 1, 'second is queued');
    // Joins the queued flight: shed with it.
    const joined = h.app.request(`${IMG}?w=112`);
    // Never started, so a 503 (which the front door passes through), not a 504 (which it replays on legacy).
    expect(await errorOf(await queued)).toMatchObject({ status: 503, error: 'overloaded', retryAfter: '1' });
    expect(await errorOf(await joined)).toMatchObject({ status: 503, error: 'overloaded', retryAfter: '1' });
    expect(h.limiter.queued).toBe(0);
    // The first one outlived its deadline while started (its fetch is still held at the gate): 504.
    expect(await errorOf(await first)).toMatchObject({ status: 504, error: 'timeout' });
    gated.release();
    await until(() => h.limiter.active === 0, 'the slot comes back once the held work ends');
    expect((await h.app.request(`${IMG}?w=113`)).status).toBe(200);
  });

  it('a request that waited long for its slot and then ran out of time is shed (503), not timed out (504): overload is not replayed on legacy', async () => {
    // The first request holds the only slot at a gate; the second waits in the queue, then starts
    // on an original whose open hangs, and runs out of its deadline while started.
    const inner = new FsSourceStore(root);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store: SourceStore = {
      description: 'gate, then hang',
      ping: (signal) => inner.ping(signal),
      async open(key, signal) {
        if (key === 'gen-photo-1920x1280.jpg') {
          await gate;
          return inner.open(key, signal);
        }
        return new Promise<SourceObject>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      },
    };
    const h = buildHarness(store, { concurrency: 1, queueLimit: 2, service: { requestTimeoutMs: 1000, storageTimeoutMs: 5000 } });
    const first = h.app.request(`${IMG}?w=121`);
    await until(() => h.limiter.active === 1, 'first holds the slot');
    const second = h.app.request('/image/files/hangs.jpg?w=122');
    await until(() => h.limiter.queued === 1, 'second is queued');
    // Well past a tenth of its deadline in the queue, well before the deadline itself.
    await new Promise((r) => setTimeout(r, 300));
    release();
    expect((await first).status).toBe(200);
    expect(await errorOf(await second)).toMatchObject({ status: 503, error: 'overloaded', retryAfter: '1' });
  });
});

/** A store whose opens and bodies misbehave in a chosen way; bytes come from a real file. */
function faultyStore(fault: 'hang' | 'stall-body' | 'unreachable' | 'error-mid-body' | 'slow-body'): SourceStore {
  const bytes = readFileSync(path.join(root, 'gen-photo-1920x1280.jpg'));
  const info = { size: bytes.length, lastModified: new Date('2024-01-01T00:00:00Z'), version: 'v1', contentType: 'image/jpeg' };
  return {
    description: `faulty:${fault}`,
    async ping() {},
    open(_key, signal): Promise<SourceObject> {
      if (fault === 'unreachable') return Promise.reject(new ImageError('storage_unavailable', 'storage unavailable', { cause: new Error('ECONNREFUSED') }));
      if (fault === 'hang') {
        // Like an HTTP client: nothing until the signal aborts, then an AbortError.
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true }));
      }
      const body = new PassThrough();
      // Like the real adapters (fs read streams, the S3 SDK): an aborted signal cuts the body too.
      signal.addEventListener('abort', () => body.destroy(new DOMException('aborted', 'AbortError')), { once: true });
      if (fault === 'stall-body') body.write(bytes.subarray(0, 1000)); // then nothing, ever
      if (fault === 'error-mid-body') {
        body.write(bytes.subarray(0, 1000));
        setImmediate(() => body.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
      }
      if (fault === 'slow-body') {
        // The first bytes at once, the rest long after the storage timeout has passed: only the
        // open and the first bytes are bounded by it, not a download.
        let offset = 0;
        const step = () => {
          if (offset >= bytes.length) return void body.end();
          body.write(bytes.subarray(offset, offset + 64 * 1024));
          offset += 64 * 1024;
          setTimeout(step, 40);
        };
        step();
      }
      return Promise.resolve({ info, body: body as Readable, discard: () => body.destroy() });
    },
  };
}

describe('storage faults', () => {
  it('storage slower than STORAGE_TIMEOUT_MS: 504 timeout, for resizes and downloads', async () => {
    const h = buildHarness(faultyStore('hang'), { service: { storageTimeoutMs: 50 } });
    expect(await errorOf(await h.app.request('/image/files/a.jpg?w=10'))).toMatchObject({ status: 504, error: 'timeout' });
    expect(await errorOf(await h.app.request('/image/files/a.jpg'))).toMatchObject({ status: 504, error: 'timeout' });
    expect(h.limiter.active).toBe(0);
  });

  it('a body that stalls past STORAGE_TIMEOUT_MS: 504 timeout, and the slot comes back', async () => {
    const h = buildHarness(faultyStore('stall-body'), { concurrency: 1, service: { storageTimeoutMs: 50 } });
    expect(await errorOf(await h.app.request('/image/files/a.jpg?w=10'))).toMatchObject({ status: 504, error: 'timeout' });
    expect(h.limiter.active).toBe(0);
    expect(await h.metric('image_resizes_total')).toBe(0);
  });

  it('storage unreachable: 502 storage_unavailable', async () => {
    const h = buildHarness(faultyStore('unreachable'));
    expect(await errorOf(await h.app.request('/image/files/a.jpg?w=10'))).toMatchObject({ status: 502, error: 'storage_unavailable' });
    expect(await errorOf(await h.app.request('/image/files/a.jpg'))).toMatchObject({ status: 502, error: 'storage_unavailable' });
  });

  it('a connection lost mid-body: 502 storage_unavailable, not a 500', async () => {
    const h = buildHarness(faultyStore('error-mid-body'));
    expect(await errorOf(await h.app.request('/image/files/a.jpg?w=10'))).toMatchObject({ status: 502, error: 'storage_unavailable' });
  });

  it('a download that takes longer than STORAGE_TIMEOUT_MS arrives whole (the deadline bounds the open and the first bytes only)', async () => {
    const h = buildHarness(faultyStore('slow-body'), { service: { storageTimeoutMs: 30 } });
    const res = await h.app.request('/image/files/a.jpg');
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(readFileSync(path.join(root, 'gen-photo-1920x1280.jpg')))).toBe(true);
  });

  it('a store that under-reports the size: the body is read whole, and refused at MAX_INPUT_BYTES however it arrives', async () => {
    const bytes = readFileSync(path.join(root, 'gen-photo-1920x1280.jpg'));
    const lying = (reported: number): SourceStore => ({
      description: 'lying',
      async ping() {},
      async open() {
        const body = Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000, 50_000), bytes.subarray(50_000)]);
        return { info: { size: reported, lastModified: new Date(0), version: 'v', contentType: 'image/jpeg' }, body, discard: () => body.destroy() };
      },
    });
    const fine = buildHarness(lying(10));
    const ok = await fine.app.request('/image/files/a.jpg?w=64');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/jpeg');
    const capped = buildHarness(lying(10), { service: { maxInputBytes: 60_000 } });
    expect(await errorOf(await capped.app.request('/image/files/a.jpg?w=64'))).toMatchObject({ status: 413, error: 'image_too_large' });
    expect(await capped.metric('image_resizes_total')).toBe(0);
  });

  it('the source fetch time is recorded by outcome', async () => {
    const h = buildHarness(faultyStore('unreachable'));
    await h.app.request('/image/files/a.jpg?w=10');
    const text = await (await h.admin.request('/metrics')).text();
    expect(text).toContain('image_source_fetch_seconds_count{outcome="error"} 1');
  });
});

describe('plain downloads, HEAD and revalidation', () => {
  /** A store that claims every original is text/html, and counts full opens and metadata reads. */
  function countingStore(): { store: SourceStore; opens: () => number; stats: () => number } {
    const inner = new FsSourceStore(root);
    let opens = 0;
    let stats = 0;
    return {
      opens: () => opens,
      stats: () => stats,
      store: {
        description: 'counting',
        ping: (s) => inner.ping(s),
        async open(key, signal) {
          opens++;
          const obj = await inner.open(key, signal);
          // Like an S3 object uploaded with a forged Content-Type; the directory store has no localFile here.
          return { info: { ...obj.info, contentType: 'text/html' }, body: obj.body, discard: obj.discard };
        },
        async stat(key, signal, options) {
          stats++;
          const head = await inner.stat(key, signal, options);
          return { ...head, info: { ...head.info, contentType: 'text/html' } };
        },
      },
    };
  }

  it('a plain download is served with the sniffed content type, never the stored one', async () => {
    const c = countingStore();
    const h = buildHarness(c.store);
    const res = await h.app.request(IMG);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(readFileSync(path.join(root, 'gen-photo-1920x1280.jpg')))).toBe(true);
    const head = await h.app.request(IMG, { method: 'HEAD' });
    expect(head.headers.get('content-type')).toBe('image/jpeg');
  });

  it('HEAD of a download and If-None-Match revalidation read metadata only, never the body', async () => {
    const c = countingStore();
    const h = buildHarness(c.store);
    const head = await h.app.request(IMG, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const etag = head.headers.get('etag')!;
    expect((await h.app.request(IMG, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const variantEtag = (await h.app.request(`${IMG}?w=20`)).headers.get('etag')!;
    const opensAfterRender = c.opens();
    expect((await h.app.request(`${IMG}?w=20`, { headers: { 'if-none-match': variantEtag } })).status).toBe(304);
    expect(c.opens()).toBe(opensAfterRender);
    expect(opensAfterRender).toBe(1); // the render only
    expect(c.stats()).toBe(3);
  });
});
