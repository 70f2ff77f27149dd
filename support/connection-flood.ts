/**
 * A connection flood from one client, for the front door's flood test and the chaos scenario:
 * many TCP connections that send nothing, or half a request header, and stay open.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

export interface Flood {
  sockets: Socket[];
  /** The connections still open (none closed by the server). */
  open(): number;
  close(): void;
}

/** The start of a request whose header never ends (slowloris). */
const HALF_HEADER = 'GET /image/files/flood.jpg?w=300 HTTP/1.1\r\nHost: flood\r\n';

function openOne(host: string, port: number, halfHeader: boolean, closed: Set<Socket>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => {
      if (halfHeader) s.write(HALF_HEADER);
      s.off('error', reject);
      s.on('error', () => undefined); // a server cutting a flood connection off is expected
      s.once('close', () => closed.add(s));
      s.resume(); // read, so that a close by the server is seen
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Opens `count` connections to host:port, in batches so that the listen backlog is not the limit
 * being measured. `mixed`: every other one sends half a header, the rest nothing (nginx may close
 * those idle ones to make room: they are "reusable"); `half-header`: all of them (slowloris: none
 * can be reclaimed before client_header_timeout). Rejects if one cannot connect.
 */
export async function openFlood(host: string, port: number, count: number, kind: 'mixed' | 'half-header' = 'mixed', batch = 500): Promise<Flood> {
  const limit = openFileLimit();
  if (limit < count + 1000)
    throw new Error(`a flood of ${count} connections needs an open-file limit above ${count + 1000}; this process has ${limit} (ulimit -n)`);
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();
  try {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      sockets.push(...(await Promise.all(Array.from({ length: n }, (_, j) => openOne(host, port, kind === 'half-header' || (i + j) % 2 === 1, closed)))));
    }
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  }
  return {
    sockets,
    open: () => sockets.length - closed.size,
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** The soft limit on this process' open files, from /proc (Node has no getrlimit). */
export function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s{2,}/)[1] ?? 0);
}
