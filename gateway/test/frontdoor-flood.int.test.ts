/**
 * The front door under a connection flood from one client: thousands of connections that send
 * nothing or half a request header and stay open. Real clients must still be served, on the hot
 * route and on legacy, and a half-sent header is cut off after client_header_timeout instead of
 * holding its slot for nginx's default minute.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFlood, type Flood } from '../../support/connection-flood.ts';
import { generateImages } from '../../support/fixtures.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';

/** More than the 4096 slots one worker had, which a flood of ~4000 filled. */
const FLOOD = 10_000;
const HEADER_TIMEOUT_S = 10;

let work: string;
let stack: RunningStack;
let front: { host: string; port: number };
let flood: Flood | undefined;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-flood-'));
  await generateImages(path.join(work, 'originals'));
  stack = await startStack({ storageDir: path.join(work, 'originals'), runDir: path.join(work, 'stack'), share: 100 });
  const url = new URL(stack.frontDoor.url);
  front = { host: url.hostname, port: Number(url.port) };
}, 120_000);

afterAll(async () => {
  flood?.close();
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a connection flood from one client', () => {
  it(`${FLOOD} idle and half-sent connections held open: the hot route and legacy still answer`, async () => {
    flood = await openFlood(front.host, front.port, FLOOD);
    const hot = await fetch(`${stack.frontDoor.url}/image/files/gen-photo-1920x1280.jpg?w=301`, { signal: AbortSignal.timeout(10_000) });
    expect(hot.status).toBe(200);
    expect(hot.headers.get('x-image-backend')).toBe('new');
    const other = await fetch(`${stack.frontDoor.url}/image/health`, { signal: AbortSignal.timeout(10_000) });
    expect(other.status).toBe(200); // legacy's own path
    expect(flood.open()).toBe(FLOOD);
    const errors = readFileSync(path.join(stack.frontDoor.runDir, 'logs/error.log'), 'utf8');
    expect(errors).not.toContain('worker_connections are not enough');
  }, 120_000);

  it(`a half-sent request header is cut off after ${HEADER_TIMEOUT_S} s, not held for a minute`, async () => {
    const started = Date.now();
    const one = await openFlood(front.host, front.port, 2); // the second sends half a header
    const closedAfter = await new Promise<number>((resolve) => {
      one.sockets[1]!.once('close', () => resolve((Date.now() - started) / 1000));
      setTimeout(() => resolve(Infinity), 30_000);
    });
    one.close();
    expect(closedAfter).toBeGreaterThanOrEqual(HEADER_TIMEOUT_S - 1);
    expect(closedAfter).toBeLessThan(HEADER_TIMEOUT_S + 10);
  }, 60_000);
});
