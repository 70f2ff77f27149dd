/**
 * PURE: what a hot-path response must look like, from its request path alone (the image API
 * contract, section 1), so that checks catch a backend that answers 200 with the wrong thing.
 */

/** @param {string} query the part after '?' @returns {Record<string, string>} first value of each parameter */
export function parseQuery(query) {
  const out = {};
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
    const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    if (!(name in out)) out[name] = value;
  }
  return out;
}

const BY_EXTENSION = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif' };
const TRANSFORM_PARAMS = ['w', 'h', 'fit', 'q', 'format'];

/**
 * The Content-Type a 200 must carry: the `format` asked for; else, for a transform, the source's
 * format (GIF sources become PNG); else (a plain download) the stored type. undefined when the
 * key's extension does not say.
 * @param {string} path e.g. /image/files/a.gif?w=300
 */
export function expectedContentType(path) {
  const q = path.indexOf('?');
  const pathname = q < 0 ? path : path.slice(0, q);
  const params = q < 0 ? {} : parseQuery(path.slice(q + 1));
  if (params.format) return `image/${params.format}`;
  const ext = (/\.([A-Za-z0-9]+)$/.exec(pathname)?.[1] ?? '').toLowerCase();
  const stored = BY_EXTENSION[ext];
  if (!stored) return undefined;
  const transformed = TRANSFORM_PARAMS.some((p) => p in params);
  return transformed && stored === 'image/gif' ? 'image/png' : stored;
}

/**
 * A body that is worth calling an image: not empty, and exactly as long as Content-Length says
 * (a truncated body behind a correct status is the failure a status check misses).
 * @param {number} bodyLength @param {string | undefined} contentLength
 */
export function bodySizeOk(bodyLength, contentLength) {
  if (!(bodyLength > 0)) return false;
  return contentLength === undefined || Number(contentLength) === bodyLength;
}

/** @param {string} base e.g. http://127.0.0.1:8081 @param {string} path starting with / */
export function joinUrl(base, path) {
  // An absolute URL stands as it is: the new service's /healthz is on its admin listener, not under NEW_URL.
  if (/^https?:\/\//.test(path)) return path;
  return `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;
}

/**
 * Adds a parameter the backends ignore (unknown parameters are ignored by contract) but that makes
 * the request URI unique: the front door splits on $request_uri, so a canary over a few dozen
 * distinct URIs would measure the hash of those URIs, not the configured share.
 * @param {string} path @param {number} n
 */
export function withUniqueParam(path, n) {
  return `${path}${path.includes('?') ? '&' : '?'}k6n=${n}`;
}
