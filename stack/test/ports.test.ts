import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { busyPorts, plannedPorts, portsInUseMessage } from '../ports.ts';

const all = new Set(['legacy', 'service', 'frontdoor'] as const);

describe('plannedPorts', () => {
  it("lists every part's ports with the variable that moves it, the front door on its listen host", () => {
    expect(
      plannedPorts({ parts: all, listenHost: '0.0.0.0', front: 8080, legacy: 8081, services: [{ port: 8082, adminPort: 9082 }] }).map(
        (p) => `${p.host}:${p.port} ${p.variable} ${p.what}`,
      ),
    ).toEqual([
      "127.0.0.1:8081 LEGACY_PORT legacy's nginx",
      '127.0.0.1:8082 SERVICE_PORT the image service',
      '127.0.0.1:9082 ADMIN_PORT the image service: its admin listener',
      '0.0.0.0:8080 FRONT_PORT the front door',
    ]);
  });

  it('names replicas, skips an admin port left to chance, and only the parts that run', () => {
    const planned = plannedPorts({
      parts: new Set(['service'] as const),
      listenHost: '127.0.0.1',
      front: 8080,
      legacy: 8081,
      services: [
        { port: 8082, adminPort: 9082 },
        { port: 8182, adminPort: undefined },
      ],
    });
    expect(planned.map((p) => `${p.port} ${p.what}`)).toEqual([
      '8082 the image service (replica 1/2)',
      '9082 the image service (replica 1/2): its admin listener',
      '8182 the image service (replica 2/2)',
    ]);
  });
});

describe('portsInUseMessage', () => {
  it('one line per taken port, saying which variable moves it', () => {
    const message = portsInUseMessage([
      { port: 8080, host: '127.0.0.1', what: 'the front door', variable: 'FRONT_PORT' },
      { port: 9082, host: '127.0.0.1', what: 'the image service: its admin listener', variable: 'ADMIN_PORT' },
    ]);
    expect(message.split('\n')).toEqual([
      'port 8080 on 127.0.0.1 (the front door) is already in use; stop what listens there, or set FRONT_PORT',
      'port 9082 on 127.0.0.1 (the image service: its admin listener) is already in use; stop what listens there, or set ADMIN_PORT',
      '(`ss -ltnp` shows which process holds a port; another `npm start` still running?)',
    ]);
  });
});

describe('busyPorts', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('finds the port a listener holds, and only that one', async () => {
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const taken = (server.address() as { port: number }).port;
    const free = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const busy = await busyPorts([
      { port: taken, host: '127.0.0.1', what: 'the front door', variable: 'FRONT_PORT' },
      { port: free, host: '127.0.0.1', what: "legacy's nginx", variable: 'LEGACY_PORT' },
    ]);
    expect(busy.map((b) => b.port)).toEqual([taken]);
  });
});
