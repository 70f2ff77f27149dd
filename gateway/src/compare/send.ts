/**
 * The one way the harness talks to a backend: a GET or HEAD of a raw request target, timed.
 * node:http rather than fetch, because fetch's URL parser rewrites targets (`..`, `%2e`
 * segments) that the replay must send exactly as recorded, and because it gives time to first
 * byte directly. Any method other than GET and HEAD is refused here, in code, whatever the
 * caller's types say: replaying a DELETE deletes data.
 */
import http from 'node:http';
import https from 'node:https';
import { GatewayError } from '../errors.ts';

/** What one backend answered. Header names lower-case; repeated headers joined with ', '. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Request start to response headers, ms. */
  ttfbMs: number;
  /** Request start to the end of the body, ms. */
  totalMs: number;
}

export type SendOutcome = ({ ok: true } & HttpAnswer) | { ok: false; error: string; ttfbMs: number; totalMs: number };

export interface SenderOptions {
  /** Whole-request timeout, default 30000 ms. */
  timeoutMs?: number;
  /** Keep-alive sockets per backend, default 8. */
  maxSockets?: number;
  /** Bodies above this are an error, default 64 MiB (the contract caps originals at 50 MB). */
  maxBodyBytes?: number;
}

export interface Sender {
  send(baseUrl: string, method: 'GET' | 'HEAD', target: string): Promise<SendOutcome>;
  close(): void;
}

/** Throws unless `method` is GET or HEAD. Exported so the refusal is tested on its own. */
export function assertReadOnlyMethod(method: string): asserts method is 'GET' | 'HEAD' {
  if (method !== 'GET' && method !== 'HEAD') {
    throw new GatewayError(
      'method_refused',
      `refusing to send ${JSON.stringify(method)}: only GET and HEAD are replayed or shadowed (other methods change data)`,
    );
  }
}

export function createSender(options: SenderOptions = {}): Sender {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBody = options.maxBodyBytes ?? 64 * 1024 * 1024;
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 8, maxFreeSockets: options.maxSockets ?? 8 };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  function send(baseUrl: string, method: 'GET' | 'HEAD', target: string): Promise<SendOutcome> {
    assertReadOnlyMethod(method);
    if (!target.startsWith('/')) throw new GatewayError('bad_target', `request target must start with '/', got ${JSON.stringify(target)}`);
    const base = new URL(baseUrl);
    const secure = base.protocol === 'https:';
    // A base URL may carry a path prefix (a backend mounted under /legacy, say); the target is appended raw.
    const prefix = base.pathname.replace(/\/$/, '');
    const started = performance.now();
    return new Promise<SendOutcome>((resolve) => {
      let ttfb = 0;
      let settled = false;
      const done = (o: SendOutcome) => {
        if (!settled) {
          settled = true;
          resolve(o);
        }
      };
      const fail = (error: string) =>
        done({ ok: false, error, ttfbMs: round(ttfb || performance.now() - started), totalMs: round(performance.now() - started) });
      const req = (secure ? https : http).request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port || (secure ? 443 : 80),
          method,
          path: prefix + target,
          agent: secure ? httpsAgent : httpAgent,
          headers: { 'user-agent': 'gateway-compare/1', accept: '*/*', 'x-gateway-compare': '1' },
          timeout: timeoutMs,
        },
        (res) => {
          ttfb = performance.now() - started;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBody) {
              req.destroy(new Error(`body larger than ${maxBody} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
            done({
              ok: true,
              status: res.statusCode ?? 0,
              headers,
              body: Buffer.concat(chunks),
              ttfbMs: round(ttfb),
              totalMs: round(performance.now() - started),
            });
          });
          res.on('error', (err) => fail(describe(err)));
          res.on('aborted', () => fail('response aborted'));
        },
      );
      const deadline = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.on('close', () => clearTimeout(deadline));
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => fail(describe(err)));
      req.end();
    });
  }

  return {
    send,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
