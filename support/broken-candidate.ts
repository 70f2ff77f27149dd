/**
 * A deliberately broken candidate for the comparison harness's tests: a small HTTP server that
 * proxies to the real new service and spoils its answers in one selectable way, so that each
 * defect must be caught by the harness in its own category.
 *
 * - 'off-by-one': images 1 px smaller on both sides          -> dimensions_off_by_one
 * - 'swap-channels': red and blue swapped                     -> pixels (colour signal)
 * - 'crop': the left 12% cut off and stretched back to size   -> pixels (structure signal)
 * - 'no-cache-control': the Cache-Control header dropped      -> header
 * - 'fail': every `failEvery`-th distinct target answers 500  -> status
 * - 'none': a faithful proxy (the control)
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export const DEFECTS = ['none', 'off-by-one', 'swap-channels', 'crop', 'no-cache-control', 'fail'] as const;
export type Defect = (typeof DEFECTS)[number];

export interface BrokenCandidate {
  url: string;
  port: number;
  setDefect(defect: Defect): void;
  /** Requests answered so far. */
  requests(): number;
  stop(): Promise<void>;
}

export interface BrokenCandidateOptions {
  /** Base URL of the real new service. */
  upstream: string;
  defect?: Defect;
  /** For 'fail': targets whose hash is divisible by this answer 500 (default 3: about a third). */
  failEvery?: number;
  port?: number;
}

/** Hop-by-hop and length headers are not copied: the body may change size. */
const DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

export async function startBrokenCandidate(options: BrokenCandidateOptions): Promise<BrokenCandidate> {
  let defect: Defect = options.defect ?? 'none';
  const failEvery = options.failEvery ?? 3;
  let count = 0;
  const upstream = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  const server = http.createServer((req, res) => {
    count++;
    const target = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (defect === 'fail' && hashOf(target) % failEvery === 0) {
      const body = JSON.stringify({ error: 'internal', message: 'internal server error (broken candidate)' });
      res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    const up = http.request(
      { hostname: upstream.hostname, port: upstream.port, method, path: target, agent, headers: { accept: req.headers.accept ?? '*/*' } },
      (ur) => {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          void spoil(defect, method, ur.statusCode ?? 502, ur.headers, Buffer.concat(chunks)).then(
            ({ headers, body }) => {
              if (method === 'HEAD') {
                res.writeHead(ur.statusCode ?? 502, headers);
                res.end();
                return;
              }
              res.writeHead(ur.statusCode ?? 502, { ...headers, 'content-length': body.length });
              res.end(body);
            },
            (err: Error) => {
              res.writeHead(502, { 'content-type': 'text/plain' });
              res.end(`broken candidate failed to spoil: ${err.message}`);
            },
          );
        });
      },
    );
    up.on('error', (err) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`upstream error: ${err.message}`);
    });
    up.end();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setDefect: (d) => {
      defect = d;
    },
    requests: () => count,
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hashOf(s: string): number {
  return createHash('sha1').update(s).digest().readUInt32BE(0);
}

async function spoil(
  defect: Defect,
  method: string,
  status: number,
  upstreamHeaders: http.IncomingHttpHeaders,
  body: Buffer,
): Promise<{ headers: Record<string, string | string[]>; body: Buffer }> {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(upstreamHeaders)) if (v !== undefined && !DROP.has(k)) headers[k] = v;
  if (method === 'HEAD' && upstreamHeaders['content-length']) headers['content-length'] = upstreamHeaders['content-length'];
  if (defect === 'no-cache-control') {
    delete headers['cache-control'];
    return { headers, body };
  }
  const isImage = String(upstreamHeaders['content-type'] ?? '').startsWith('image/');
  if (method !== 'GET' || status !== 200 || !isImage || (defect !== 'off-by-one' && defect !== 'swap-channels' && defect !== 'crop')) return { headers, body };

  const input = sharp(body);
  const meta = await input.metadata();
  const { data, info } = await input.autoOrient().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  let img = sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } });
  if (defect === 'off-by-one') {
    img = img.resize(Math.max(1, info.width - 1), Math.max(1, info.height - 1), { fit: 'fill', kernel: 'lanczos3' });
  } else if (defect === 'swap-channels') {
    for (let i = 0; i < data.length; i += 3) {
      const r = data[i]!;
      data[i] = data[i + 2]!;
      data[i + 2] = r;
    }
    img = sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } });
  } else {
    const cut = Math.max(1, Math.round(info.width * 0.12));
    img = sharp(
      await img
        .extract({ left: cut, top: 0, width: Math.max(1, info.width - cut), height: info.height })
        .raw()
        .toBuffer(),
      {
        raw: { width: Math.max(1, info.width - cut), height: info.height, channels: 3 },
      },
    ).resize(info.width, info.height, { fit: 'fill' });
  }
  const out =
    meta.format === 'png' ? img.png() : meta.format === 'webp' ? img.webp({ quality: 85 }) : meta.format === 'gif' ? img.gif() : img.jpeg({ quality: 85 });
  return { headers, body: await out.toBuffer() };
}
