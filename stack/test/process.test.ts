import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, portRange } from '../process.ts';

describe('portRange', () => {
  it.each([
    [
      [32768, 60999],
      [10000, 32768],
    ],
    [
      [1024, 60999],
      [61000, 65536],
    ],
    [
      [1024, 65000],
      [1025, 65536],
    ],
  ] as const)('ephemeral %j -> pick from %j', (ephemeral, expected) => {
    expect(portRange([...ephemeral])).toEqual(expected);
  });
});

describe('freePort', () => {
  it('hands out distinct ports outside the ephemeral range that a server can listen on', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10000);
      expect(port).toBeLessThan(32768);
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(ports[0], '127.0.0.1', () => resolve()));
    await new Promise((r) => server.close(r));
  });
});
