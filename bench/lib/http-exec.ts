/**
 * The HTTP side of the load generator: one keep-alive agent per phase, a GET of request i of the
 * list, the body read to the end and checked (status 200, the expected Content-Type, as many bytes
 * as Content-Length). The same code drives every HTTP subject, so they pay the same client cost.
 */
import http from 'node:http';
import type { Exec } from './drive.ts';

export interface HttpTarget {
  baseUrl: string;
  paths: readonly string[];
  /** Expected Content-Type of each path (same index), or undefined to accept any image/*. */
  contentTypes: ReadonlyArray<string | undefined>;
  /** A header every response must carry with this value (lower-case name). */
  header?: { name: string; value: string } | undefined;
  /**
   * Keep connections open between requests (default true). Off for a subject whose server is
   * several processes on one listening socket (thumbor --processes N): a kept-alive connection
   * stays with the process that accepted it, so 4 connections can all land on one process and
   * leave the other cores idle (measured: thumbor at 10.6 req/s in one round, 21.5 in the next, of
   * the same run). A fresh connection per request goes to whichever process is free to accept.
   */
  keepAlive?: boolean;
}

export function httpExec(target: HttpTarget, maxSockets: number): { exec: Exec; close(): void } {
  const keepAlive = target.keepAlive ?? true;
  const agent = new http.Agent({ keepAlive, maxSockets, maxFreeSockets: keepAlive ? maxSockets : 0 });
  const base = new URL(target.baseUrl);
  const exec: Exec = (i) =>
    new Promise((resolve) => {
      const n = i % target.paths.length;
      const req = http.get({ host: base.hostname, port: base.port, path: target.paths[n], agent, timeout: 60_000 }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () => {
          const type = res.headers['content-type'];
          const want = target.contentTypes[n];
          const length = Number(res.headers['content-length'] ?? bytes);
          if (res.statusCode !== 200) resolve({ ok: false, error: `status ${res.statusCode} for ${target.paths[n]}` });
          else if (want ? type !== want : !/^image\//.test(type ?? '')) resolve({ ok: false, error: `content type ${type} for ${target.paths[n]}` });
          else if (target.header && res.headers[target.header.name] !== target.header.value) {
            resolve({ ok: false, error: `${target.header.name}: ${String(res.headers[target.header.name])} (expected ${target.header.value})` });
          } else if (bytes === 0 || bytes !== length) resolve({ ok: false, error: `body of ${bytes} bytes (Content-Length ${length}) for ${target.paths[n]}` });
          else resolve({ ok: true });
        });
        res.on('error', (err) => resolve({ ok: false, error: err.message }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout after 60s')));
      req.on('error', (err) => resolve({ ok: false, error: err.message }));
    });
  return { exec, close: () => agent.destroy() };
}
