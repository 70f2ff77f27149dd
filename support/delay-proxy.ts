/**
 * A TCP proxy that makes a server slow, silent or gone, for fault tests: put it between the image
 * service and versitygw (S3_ENDPOINT=proxy.url) and switch its mode while load runs.
 *
 * It works on bytes, not HTTP, so what the client sees is exactly what a sick network or a
 * stalled storage server gives: late bytes, no bytes, a refused connection.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * - `pass`: forward both ways.
 * - `delay`: every chunk from the server reaches the client `ms` later (a slow storage server).
 * - `stall`: forward the first `afterBytes` bytes of each server response stream, then nothing
 *   (headers arrive, the body never finishes).
 * - `blackhole`: accept connections and swallow everything; nothing ever comes back (a hung server).
 * - `refuse`: stop listening and reset open connections (a server that is down: ECONNREFUSED).
 */
export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'stall'; afterBytes: number } | { kind: 'blackhole' } | { kind: 'refuse' };

export interface ProxyStats {
  /** Connections accepted since the last reset. */
  accepted: number;
  /** Connections open right now. */
  open: number;
  /** Most connections open at once since the last reset: the in-flight work the client let pile up. */
  maxOpen: number;
}

export interface DelayProxy {
  url: string;
  port: number;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): Promise<void>;
  stats(): ProxyStats;
  resetStats(): void;
  close(): Promise<void>;
}

export async function startDelayProxy(options: { target: { host: string; port: number }; port?: number; mode?: ProxyMode }): Promise<DelayProxy> {
  let mode: ProxyMode = options.mode ?? { kind: 'pass' };
  const connections = new Set<Connection>();
  const stats: ProxyStats = { accepted: 0, open: 0, maxOpen: 0 };
  let server: Server | undefined;

  const onConnection = (client: Socket) => {
    stats.accepted++;
    stats.open++;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    const upstream = connect(options.target.port, options.target.host);
    const conn: Connection = { client, upstream, fromServer: 0 };
    connections.add(conn);
    // The server's bytes (and its hang-up) reach the client after the current delay, in order.
    const later = (fn: () => void) => (mode.kind === 'delay' ? setTimeout(fn, mode.ms) : fn());
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      connections.delete(conn);
      stats.open--;
      upstream.destroy();
    });
    upstream.on('error', () => later(() => client.destroy()));
    // A clean hang-up is passed on as one: end() lets the bytes already written drain first.
    upstream.on('end', () =>
      later(() => {
        if (mode.kind !== 'blackhole' && mode.kind !== 'stall') client.end();
      }),
    );

    client.on('data', (chunk: Buffer) => {
      if (mode.kind === 'blackhole') return;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const m = mode;
      if (m.kind === 'blackhole') return;
      if (m.kind === 'stall') {
        const room = m.afterBytes - conn.fromServer;
        conn.fromServer += chunk.length;
        if (room > 0) client.write(chunk.subarray(0, room));
        return;
      }
      conn.fromServer += chunk.length;
      // Backpressure: a slow client slows the server down, as a direct connection would.
      const write = () => {
        if (!client.destroyed && !client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      };
      later(write);
    });
  };

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        const a = s.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
    });
  const dropAll = () => {
    for (const c of connections) {
      c.client.resetAndDestroy();
      c.upstream.destroy();
    }
  };

  const port = await listen(options.port ?? 0);
  if (mode.kind === 'refuse') await stopListening();

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    mode: () => mode,
    async setMode(next) {
      const was = mode;
      mode = next;
      if (next.kind === 'refuse' && was.kind !== 'refuse') {
        await stopListening();
        dropAll();
      } else if (next.kind !== 'refuse' && was.kind === 'refuse') {
        await listen(port);
      }
      // 'stall' counts from the switch, also on connections kept alive from before it.
      if (next.kind === 'stall') for (const c of connections) c.fromServer = 0;
    },
    stats: () => ({ ...stats }),
    resetStats() {
      stats.accepted = 0;
      stats.maxOpen = stats.open;
    },
    async close() {
      await stopListening();
      dropAll();
    },
  };
}

interface Connection {
  client: Socket;
  upstream: Socket;
  /** Bytes the server sent on this connection (since the last switch to 'stall'). */
  fromServer: number;
}
