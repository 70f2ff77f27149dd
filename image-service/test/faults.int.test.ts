/**
 * Faults under the real image-service process: its S3 storage (a real versitygw) made slow,
 * stalled, hung or down by a TCP proxy in between, its resize slots held until the queue is full,
 * and SIGTERM while requests are in flight. Each answer must be the contract's (504 timeout,
 * 502 storage_unavailable, 503 overloaded + Retry-After) within its configured bound, no request
 * may hang, and the work in flight must stay bounded. The measured, table-printing versions of
 * these (and the front-door faults) are in scripts/chaos/.
 */
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDelayProxy, type DelayProxy } from '../../support/delay-proxy.ts';
import { photoRaw } from '../../support/fixtures.ts';
import { startImageService, startVersitygw, type RunningS3, type RunningService } from '../../stack/services.ts';

const STORAGE_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 2000;
/** Slack for scheduling on a shared 2-core machine; the bounds themselves come from the config. */
const SLACK_MS = 700;

interface Answer {
  status: number;
  code?: string;
  retryAfter?: string;
  ms: number;
  error?: string;
}

/** One GET on a fresh connection, with a hard client-side timeout so a hang shows as a failure. */
function get(url: string, timeoutMs = 15_000): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let code: string | undefined;
        if (res.headers['content-type']?.startsWith('application/json') && (res.statusCode ?? 0) >= 400)
          code = (JSON.parse(body.toString()) as { error?: string }).error;
        resolve({ status: res.statusCode ?? 0, code, retryAfter: res.headers['retry-after'], ms: performance.now() - started });
      });
      res.on('error', (err) => resolve({ status: 0, error: String(err), ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout: no answer')));
    req.on('error', (err) => resolve({ status: 0, error: (err as NodeJS.ErrnoException).code ?? String(err), ms: performance.now() - started }));
    req.end();
  });
}

async function metric(service: RunningService, name: string): Promise<number> {
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('storage faults (S3 behind a delaying proxy)', () => {
  let s3: RunningS3;
  let proxy: DelayProxy;
  let service: RunningService;

  beforeAll(async () => {
    s3 = await startVersitygw({ buckets: [] });
    const client = s3.client();
    await client.send(new CreateBucketCommand({ Bucket: 'originals' }));
    const photo = await (await photoRaw(1200, 800, 42)).jpeg({ quality: 85 }).toBuffer();
    await client.send(new PutObjectCommand({ Bucket: 'originals', Key: 'photo.jpg', Body: photo, ContentType: 'image/jpeg' }));
    await client.send(new PutObjectCommand({ Bucket: 'originals', Key: 'large.bin', Body: LARGE, ContentType: 'application/octet-stream' }));
    client.destroy();
    proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: s3.port } });
    service = await startImageService({
      ...s3.clientEnv,
      STORAGE_URL: 's3://originals',
      S3_ENDPOINT: proxy.url,
      STORAGE_TIMEOUT_MS: String(STORAGE_TIMEOUT_MS),
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      CONCURRENCY: '2',
      QUEUE_LIMIT: '8',
    });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  it('serves through the proxy when storage is healthy', async () => {
    await proxy.setMode({ kind: 'pass' });
    expect((await get(`${service.url}/image/files/photo.jpg?w=100`)).status).toBe(200);
    expect((await get(`${service.adminUrl}/readyz`)).status).toBe(200);
  });

  it('a slow client downloading a large original gets all of it: the storage deadline bounds the open, not the transfer', async () => {
    await proxy.setMode({ kind: 'pass' });
    const got = await slowDownload(`${service.url}/image/files/large.bin`, STORAGE_TIMEOUT_MS * 3);
    expect(got).toEqual({ status: 200, bytes: LARGE.length, error: undefined });
  });

  it('slow storage: 504 timeout within the storage bound, for resizes and downloads, and nothing piles up', async () => {
    await proxy.setMode({ kind: 'delay', ms: 3000 });
    proxy.resetStats();
    // 40 different variants at once: twice what the slots and the queue hold together.
    const answers = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => get(`${service.url}/image/files/photo.jpg?w=${50 + i}`)),
      ...Array.from({ length: 10 }, () => get(`${service.url}/image/files/photo.jpg`)),
    ]);
    const byOutcome = count(answers.map((a) => `${a.status} ${a.code ?? a.error}`));
    // Every request answered: none hung, none was a 500.
    expect(
      Object.keys(byOutcome).every((k) => k === '504 timeout' || k === '503 overloaded'),
      JSON.stringify(byOutcome),
    ).toBe(true);
    // The 10 admitted resizes and the 10 downloads end on the storage bound (504), except an
    // admitted one whose wait for a slot used up its request deadline first: that one was shed (503).
    const admittedThenShed = answers.filter((a) => a.status === 503 && a.ms > STORAGE_TIMEOUT_MS).length;
    expect(byOutcome['504 timeout']! + admittedThenShed).toBeGreaterThanOrEqual(10 + 10);
    expect(byOutcome['504 timeout']).toBeGreaterThanOrEqual(10 + 2);
    // Admitted resizes wait at most their storage deadline per turn; nothing waits past the request deadline.
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    const downloads = answers.slice(30);
    expect(Math.max(...downloads.map((a) => a.ms))).toBeLessThan(STORAGE_TIMEOUT_MS + SLACK_MS);
    // In flight at the storage: bounded by the slots (2) plus the downloads, which take no slot.
    expect(proxy.stats().maxOpen).toBeLessThanOrEqual(2 + 10 + 2);
    expect(await metric(service, 'image_resizes_in_flight')).toBeLessThanOrEqual(2);
  });

  it('stalled storage (headers arrive, the body never ends): 504 within the storage bound, and the slot comes back', async () => {
    await proxy.setMode({ kind: 'stall', afterBytes: 2000 });
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${service.url}/image/files/photo.jpg?w=${200 + i}`)));
    expect(answers.map((a) => `${a.status} ${a.code ?? a.error}`)).toEqual(Array(4).fill('504 timeout'));
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(2 * STORAGE_TIMEOUT_MS + SLACK_MS);
    await proxy.setMode({ kind: 'pass' });
    // The stalled reads released their slots: full service again.
    const after = await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${service.url}/image/files/photo.jpg?w=${300 + i}`)));
    expect(after.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(await metric(service, 'image_resizes_in_flight')).toBe(0);
  });

  it('hung storage (accepts, never answers): 504 within the storage bound; /readyz 503', async () => {
    await proxy.setMode({ kind: 'blackhole' });
    const answers = await Promise.all([get(`${service.url}/image/files/photo.jpg?w=64`), get(`${service.url}/image/files/photo.jpg`)]);
    expect(answers.map((a) => `${a.status} ${a.code}`)).toEqual(['504 timeout', '504 timeout']);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(STORAGE_TIMEOUT_MS + SLACK_MS);
    const ready = await get(`${service.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
  });

  it('storage down (connection refused): 502 storage_unavailable at once; /readyz 503; recovery when it is back', async () => {
    await proxy.setMode({ kind: 'refuse' });
    const answers = await Promise.all([get(`${service.url}/image/files/photo.jpg?w=65`), get(`${service.url}/image/files/photo.jpg`)]);
    expect(answers.map((a) => `${a.status} ${a.code}`)).toEqual(['502 storage_unavailable', '502 storage_unavailable']);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(STORAGE_TIMEOUT_MS + SLACK_MS);
    const ready = await get(`${service.adminUrl}/readyz`);
    expect([ready.status, ready.code]).toEqual([503, 'storage_unavailable']);
    const readyBody = await (await fetch(`${service.adminUrl}/readyz`)).json();
    expect(readyBody).toMatchObject({ status: 'not_ready', error: 'storage_unavailable' });

    await proxy.setMode({ kind: 'pass' });
    expect((await get(`${service.adminUrl}/readyz`)).status).toBe(200);
    expect((await get(`${service.url}/image/files/photo.jpg?w=66`)).status).toBe(200);
    expect((await get(`${service.adminUrl}/healthz`)).status).toBe(200);
  });
});

describe('overload: every slot and queue place held', () => {
  let s3: RunningS3;
  let proxy: DelayProxy;
  let service: RunningService;

  beforeAll(async () => {
    s3 = await startVersitygw({ buckets: ['originals'] });
    writeFileSync(
      path.join(s3.root, 'originals', 'a.jpg'),
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#999' } })
        .jpeg()
        .toBuffer(),
    );
    // Held storage: every admitted resize keeps its slot for the whole storage deadline.
    proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: s3.port }, mode: { kind: 'blackhole' } });
    service = await startImageService({
      ...s3.clientEnv,
      STORAGE_URL: 's3://originals',
      S3_ENDPOINT: proxy.url,
      STORAGE_TIMEOUT_MS: '3000',
      REQUEST_TIMEOUT_MS: '4000',
      CONCURRENCY: '2',
      QUEUE_LIMIT: '8',
      RETRY_AFTER_SECONDS: '2',
    });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  it('admits exactly slots + queue, sheds the rest at once with 503 overloaded and Retry-After, then recovers', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => get(`${service.url}/image/files/a.jpg?w=${10 + i}`)));
    // Admitted: the 2 slots and the 8 queue places, held by the storage. The first two end on the
    // storage bound (504); the ones that waited seconds for a slot and then ran out of their own
    // deadline are shed (503), as load. The other 20 are shed at once.
    const held = answers.filter((a) => a.ms > 2500);
    const shed = answers.filter((a) => a.ms <= 2500);
    expect(held.length).toBe(2 + 8);
    expect(held.every((a) => (a.status === 504 && a.code === 'timeout') || (a.status === 503 && a.code === 'overloaded'))).toBe(true);
    expect(held.filter((a) => a.status === 504).length).toBeGreaterThanOrEqual(2);
    expect(shed.every((a) => a.status === 503 && a.code === 'overloaded' && a.retryAfter === '2')).toBe(true);
    // Shedding costs no storage round trip and no resize: it is answered long before the held ones.
    expect(Math.max(...shed.map((a) => a.ms))).toBeLessThan(500);

    await proxy.setMode({ kind: 'pass' });
    const after = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`${service.url}/image/files/a.jpg?w=${50 + i}`)));
    expect(after.map((a) => a.status)).toEqual(Array(6).fill(200));
  });
});

describe('slow clients, file store', () => {
  let root: string;
  let service: RunningService;
  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'faults-slow-client-'));
    writeFileSync(path.join(root, 'large.bin'), LARGE);
    service = await startImageService({ STORAGE_URL: pathToFileURL(root).href, STORAGE_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '600' });
  });
  afterAll(async () => {
    await service?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("a download that outlasts both deadlines at the client's pace is complete, and the service stays up", async () => {
    const got = await slowDownload(`${service.url}/image/files/large.bin`, 1200);
    expect(got).toEqual({ status: 200, bytes: LARGE.length, error: undefined });
    expect((await get(`${service.adminUrl}/healthz`)).status).toBe(200);
  });
});

describe('SIGTERM under load', () => {
  let root: string;
  let service: RunningService;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'faults-sigterm-'));
    writeFileSync(path.join(root, 'big.jpg'), await (await photoRaw(3000, 2000, 9)).jpeg({ quality: 90 }).toBuffer());
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('finishes in-flight requests, refuses new connections, and exits 0 within its bound', async () => {
    // Slow full-size renders that must finish: a deadline well past them (the default, 1600 ms, is tied to the front door's).
    service = await startImageService({
      STORAGE_URL: pathToFileURL(root).href,
      CONCURRENCY: '2',
      SHUTDOWN_TIMEOUT_MS: '8000',
      FAST_SHRINK_ON_LOAD: 'false',
      REQUEST_TIMEOUT_MS: '30000',
    });
    // Eight slow resizes (full-size decodes of a 6-megapixel JPEG), four of them queued.
    const inFlight = Array.from({ length: 8 }, (_, i) => get(`${service.url}/image/files/big.jpg?w=${1000 + i}&format=png`));
    await waitFor(async () => (await metric(service, 'image_resizes_in_flight')) === 2);
    const signalled = performance.now();
    service.process.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 150));
    // The public port refuses new connections; the admin port stays up, saying not ready.
    const late = await get(`${service.url}/image/files/big.jpg?w=10`, 2000);
    const ready = await get(`${service.adminUrl}/readyz`, 2000);
    const finished = await Promise.all(inFlight);
    const code = await service.process.exited;
    const exitMs = performance.now() - signalled;

    expect(finished.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(late.error).toBe('ECONNREFUSED');
    expect(ready.status).toBe(503);
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(8000);
  });

  it('gives up on work that outlives SHUTDOWN_TIMEOUT_MS and exits 1 at the bound', async () => {
    // A queue long enough for all twelve: this is about the shutdown bound, not about shedding.
    service = await startImageService({
      STORAGE_URL: pathToFileURL(root).href,
      CONCURRENCY: '1',
      QUEUE_LIMIT: '16',
      SHUTDOWN_TIMEOUT_MS: '300',
      FAST_SHRINK_ON_LOAD: 'false',
    });
    const inFlight = Array.from({ length: 12 }, (_, i) => get(`${service.url}/image/files/big.jpg?w=${2000 + i}&format=png`));
    await waitFor(async () => (await metric(service, 'image_resizes_in_flight')) === 1);
    const signalled = performance.now();
    service.process.child.kill('SIGTERM');
    const code = await service.process.exited;
    const exitMs = performance.now() - signalled;
    const answers = await Promise.all(inFlight);
    expect(code).toBe(1);
    expect(exitMs).toBeLessThan(300 + SLACK_MS);
    // Some finished, the rest were cut (a client or nginx sees a reset and retries elsewhere), none hangs.
    expect(answers.every((a) => a.status === 200 || a.error !== undefined)).toBe(true);
    expect(answers.some((a) => a.error !== undefined)).toBe(true);
  });
});

/** 16 MiB that no compressor shrinks, behind a JPEG signature (a download serves any bytes as stored). */
const LARGE = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), randomBytes(16 * 1024 * 1024)]);

/** Downloads `url`, reading nothing for `pauseMs` first (a slow client; the sockets fill up and stall). */
function slowDownload(url: string, pauseMs: number): Promise<{ status: number; bytes: number; error: string | undefined }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let bytes = 0;
      res.pause();
      setTimeout(() => res.resume(), pauseMs);
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, error: undefined }));
      res.on('error', (err) => resolve({ status: res.statusCode ?? 0, bytes, error: String(err) }));
    });
    req.on('error', (err) => resolve({ status: 0, bytes: 0, error: String(err) }));
    req.end();
  });
}

function count(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not reached in time');
}
