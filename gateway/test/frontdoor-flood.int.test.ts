/**
 * The front door under a connection flood from one client: thousands of connections that send
 * nothing or half a request header and stay open. Real clients must still be served, on the hot
 * route and on legacy, and a half-sent header is cut off after client_header_timeout instead of
 * holding its slot for nginx's default minute.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImages } from '../../support/fixtures.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';

/** More than the 4096 slots one worker had, which a flood of ~4000 filled. */
const FLOOD = 10_000;
const HEADER_TIMEOUT_S = 10;

let work: string;
let stack: RunningStack;
let front: { host: string; port: number };
const flood: Socket[] = [];

function open(partial: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(front.port, front.host, () => {
      if (partial) s.write('GET /image/files/gen-photo-1920x1280.jpg?w=300 HTTP/1.1\r\nHost: flood\r\n');
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The soft limit on this process' open files, from /proc (Node has no getrlimit). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s{2,}/)[1] ?? 0);
}

beforeAll(async () => {
  const limit = openFileLimit();
  if (limit < FLOOD + 1000) throw new Error(`this test opens ${FLOOD} sockets; the open-file limit is ${limit}: raise it (ulimit -n ${FLOOD + 1000})`);
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-flood-'));
  await generateImages(path.join(work, 'originals'));
  stack = await startStack({ storageDir: path.join(work, 'originals'), runDir: path.join(work, 'stack'), share: 100 });
  const url = new URL(stack.frontDoor.url);
  front = { host: url.hostname, port: Number(url.port) };
}, 120_000);

afterAll(async () => {
  for (const s of flood) s.destroy();
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a connection flood from one client', () => {
  it(`${FLOOD} idle and half-sent connections held open: the hot route and legacy still answer`, async () => {
    // In batches, so that the listen backlog is never the limit being measured.
    for (let i = 0; i < FLOOD; i += 500) flood.push(...(await Promise.all(Array.from({ length: 500 }, (_, j) => open((i + j) % 2 === 1)))));
    expect(flood.filter((s) => !s.destroyed).length).toBe(FLOOD);
    const hot = await fetch(`${stack.frontDoor.url}/image/files/gen-photo-1920x1280.jpg?w=301`, { signal: AbortSignal.timeout(10_000) });
    expect(hot.status).toBe(200);
    expect(hot.headers.get('x-image-backend')).toBe('new');
    const other = await fetch(`${stack.frontDoor.url}/image/health`, { signal: AbortSignal.timeout(10_000) });
    expect(other.status).toBe(200); // legacy's own path
    const errors = readFileSync(path.join(stack.frontDoor.runDir, 'logs/error.log'), 'utf8');
    expect(errors).not.toContain('worker_connections are not enough');
  }, 120_000);

  it(`a half-sent request header is cut off after ${HEADER_TIMEOUT_S} s, not held for a minute`, async () => {
    const started = Date.now();
    const s = await open(true);
    const closedAfter = await new Promise<number>((resolve) => {
      s.once('close', () => resolve((Date.now() - started) / 1000));
      s.resume();
      setTimeout(() => resolve(Infinity), 30_000);
    });
    s.destroy();
    expect(closedAfter).toBeGreaterThanOrEqual(HEADER_TIMEOUT_S - 1);
    expect(closedAfter).toBeLessThan(HEADER_TIMEOUT_S + 10);
  }, 60_000);
});
