/**
 * The real process as `npm start` runs it (stack/services.ts): graceful shutdown on SIGTERM with
 * requests in flight on keep-alive connections, as nginx holds them upstream. In-flight requests
 * complete with 200, new connections are refused at once, idle keep-alive connections do not hold
 * the process open (their timeout is 75 s), and it exits 0 before SHUTDOWN_TIMEOUT_MS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoRaw } from '../../support/fixtures.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';

const SHUTDOWN_TIMEOUT_MS = 20_000;

let root: string;
let service: RunningService | undefined;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'main-int-'));
  writeFileSync(path.join(root, 'big.jpg'), await (await photoRaw(2999, 2001, 11)).jpeg({ quality: 90 }).toBuffer());
}, 60_000);
afterAll(async () => {
  agent.destroy();
  await service?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: Buffer;
  connection: string | undefined;
  error?: string;
}

function get(url: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), connection: res.headers.connection }));
      res.on('error', (err) => resolve({ status: 0, body: Buffer.alloc(0), connection: undefined, error: String(err) }));
    });
    req.on('error', (err) => resolve({ status: 0, body: Buffer.alloc(0), connection: undefined, error: (err as NodeJS.ErrnoException).code ?? String(err) }));
    req.end();
  });
}

/** Tries a new TCP connection: 'refused' once the listening socket is closed. */
function tryConnect(port: number): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', () => resolve('refused'));
  });
}

async function metric(url: string, name: string): Promise<number> {
  const text = (await get(`${url}/metrics`)).body.toString();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe('graceful shutdown on SIGTERM', () => {
  it('in-flight requests on keep-alive connections complete, new connections are refused, exit 0 within the bound', async () => {
    service = await startImageService({
      STORAGE_URL: pathToFileURL(root).href,
      CONCURRENCY: '1',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      FAST_SHRINK_ON_LOAD: 'false',
    });
    const { url, port } = service;
    // Warm keep-alive sockets in the agent: they sit idle while the resizes run.
    expect((await Promise.all([get(`${url}/`), get(`${url}/`)])).map((a) => a.status)).toEqual([404, 404]);

    // Five distinct slow resizes (full decodes of a 6 MP JPEG): one in flight, four queued.
    let finished = 0;
    const inFlight = [0, 1, 2, 3, 4].map((i) =>
      get(`${url}/image/files/big.jpg?w=${1500 + i}&format=png`).then((a) => {
        finished++;
        return a;
      }),
    );
    for (let i = 0; i < 400 && (await metric(service.adminUrl, 'image_resize_queue_depth')) < 3; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await metric(service.adminUrl, 'image_resize_queue_depth')).toBeGreaterThanOrEqual(3);

    const signalled = performance.now();
    service.process.child.kill('SIGTERM');
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      refused = (await tryConnect(port)) === 'refused';
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).toBe(true);
    // Refused while work was still in flight: the listener closed first, the requests were not dropped.
    expect(finished).toBeLessThan(5);

    const answers = await Promise.all(inFlight);
    const code = await service.process.exited;
    const exitMs = performance.now() - signalled;

    expect(answers.map((a) => a.error ?? a.status)).toEqual([200, 200, 200, 200, 200]);
    for (const [i, a] of answers.entries()) {
      const meta = await sharp(a.body).metadata();
      expect([meta.format, meta.width]).toEqual(['png', 1500 + i]);
    }
    // Answers given after the signal close their connection, so no socket lingers for 75 s.
    expect(answers.some((a) => a.connection === 'close')).toBe(true);
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    const output = service.process.output();
    expect(output).not.toContain('shutdown timeout reached');
  });

  it('an idle service exits 0 at once, its idle keep-alive connections notwithstanding', async () => {
    service = await startImageService({ STORAGE_URL: pathToFileURL(root).href, SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    const got = await get(`${service.url}/image/files/big.jpg?w=100`);
    expect(got.status).toBe(200);
    // HEAD through @hono/node-server keeps the Content-Length of the body it does not send.
    const head = await new Promise<{ status: number; length: string | undefined; bytes: number }>((resolve, reject) => {
      const req = request(`${service!.url}/image/files/big.jpg?w=100`, { agent, method: 'HEAD' }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], bytes }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(head).toEqual({ status: 200, length: String(got.body.length), bytes: 0 });
    service.process.child.kill('SIGTERM');
    expect(await service.process.exited).toBe(0);
    expect(await tryConnect(service.port)).toBe('refused');
  });
});
