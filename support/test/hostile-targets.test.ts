/** The hostile-target oracle and the raw answer parser (pure parts of support/hostile-targets.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostileTarget, internalAnswer, isNormalHotTarget, parseAnswer } from '../hostile-targets.ts';

describe('isNormalHotTarget', () => {
  it.each([
    ['/image/files/tiny.png?w=8', true],
    ['/image/files/a/b-c_d.e~f.jpg', true],
    ['/image/files/tiny.png/', true],
    ['/image/files/?w=8', true],
    ['/image/files/x?/../metrics', true], // the query is not routed on
    ['/image/files', false],
    ['/image/files/%2e%2e/metrics', false],
    ['/image/files/a%2Fb', false],
    ['/image/files/../metrics', false],
    ['/image/files/./a', false],
    ['/image/files//a', false],
    ['/image/files/a;b', false],
    ['/image/files/a\\b', false],
    ['/IMAGE/files/a', false],
    ['/metrics', false],
    ['/healthz', false],
  ])('%s -> %s', (target, expected) => {
    expect(isNormalHotTarget(target)).toBe(expected);
  });
});

describe('internalAnswer', () => {
  it.each([
    ['# HELP image_requests_total Requests\n# TYPE image_requests_total counter\n', 'metrics'],
    ['{"status":"ok","pid":1234}', 'health'],
    ['{"status":"ready","storage":"file:///x"}', 'health'],
    ['{"status":"not_ready","error":"storage_unavailable"}', 'health'],
    ['{"status":"ok"}', undefined], // legacy's public /image/health
    ['{"error":"invalid_request","message":"expected ..."}', undefined],
    ['<html>500</html>', undefined],
  ])('%s -> %s', (body, expected) => {
    expect(internalAnswer(body)).toBe(expected);
  });
});

describe('parseAnswer', () => {
  it('reads status, headers and a chunked body', () => {
    const raw = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    expect(parseAnswer(raw)).toEqual({ status: 200, headers: { 'transfer-encoding': 'chunked', 'x-a': 'b' }, body: 'hello world' });
  });
  it('no status line: status 0', () => {
    expect(parseAnswer(Buffer.from('garbage')).status).toBe(0);
  });
});

describe('hostileTarget', () => {
  it('makes request-line-safe targets (no space, CR or LF), hostile and near-valid alike', () => {
    const sample = fc.sample(hostileTarget, { numRuns: 500, seed: 1 });
    expect(sample.every((t) => !/[ \r\n]/.test(t))).toBe(true);
    expect(sample.filter(isNormalHotTarget).length).toBeGreaterThan(20);
    expect(sample.filter((t) => !isNormalHotTarget(t)).length).toBeGreaterThan(250);
  });
});
