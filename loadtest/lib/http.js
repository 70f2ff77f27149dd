/** k6 I/O shared by the scripts: health checks in setup(), image GETs and their checks. */
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { bodySizeOk, expectedContentType, joinUrl } from './expect.js';

/**
 * Aborts the test, before any load, unless `url` answers 2xx within a few tries: a load test
 * against a dead target measures connection errors, and comparisons against it are meaningless.
 * @param {string} name @param {string} url
 */
export function requireHealthy(name, url) {
  let last = '';
  for (let i = 0; i < 5; i++) {
    const res = http.get(url, { timeout: '3s', tags: { name: 'setup-health' } });
    if (res.status >= 200 && res.status < 300) return;
    last = res.error ? res.error : `status ${res.status}`;
    sleep(0.5);
  }
  exec.test.abort(`${name} is not healthy: GET ${url} gave ${last}`);
}

/**
 * GET one image; the body is read as binary so its real size can be checked.
 * @param {string} base @param {string} path @param {{ timeout: string, tags?: Record<string,string>, headers?: Record<string,string> }} o
 */
export function getImage(base, path, o) {
  return http.get(joinUrl(base, path), { responseType: 'binary', timeout: o.timeout, tags: o.tags, headers: o.headers });
}

/**
 * The checks every hot-path response gets: status 200, the Content-Type the request implies,
 * a body as long as Content-Length. Returns the body size (0 when there is none).
 * @param {import('k6/http').RefinedResponse<'binary'>} res @param {string} path @param {Record<string,string>} [tags]
 */
export function checkImage(res, path, tags) {
  const size = res.body ? res.body.byteLength : 0;
  const wantType = expectedContentType(path);
  const type = res.headers['Content-Type'];
  check(
    res,
    {
      'status is 200': (r) => r.status === 200,
      'content type matches the request': () => (wantType === undefined ? /^image\//.test(type ?? '') : type === wantType),
      'body is non-empty and as long as Content-Length': () => bodySizeOk(size, res.headers['Content-Length']),
    },
    tags,
  );
  return size;
}
