/**
 * `gateway status`'s backend check: one short HTTP request to a backend, on a fresh connection.
 * Any HTTP answer counts as up (a 400 for a bare route prefix is the cheapest answer the image
 * service has, and every version gives it); what it cannot tell apart is said as it is.
 */
import { request } from 'node:http';
import type { BackendProbe } from './cutover/traffic.ts';

export function probeBackend(address: string, path: string, timeoutMs: number): Promise<BackendProbe> {
  return new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    const done = (p: BackendProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(p);
    };
    const req = request(`http://${address}${path}`, { method: 'GET', agent: false, headers: { 'user-agent': 'gateway-status' } }, (res) => {
      // The status line is the answer; the body is not waited for.
      done({ state: 'up', ms: performance.now() - started, status: res.statusCode ?? 0 });
    });
    const timer = setTimeout(() => done({ state: 'timeout', timeoutMs }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      done({ state: 'down', reason: err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message) });
    });
    req.end();
  });
}
