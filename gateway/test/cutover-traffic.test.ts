import { describe, expect, it } from 'vitest';
import {
  backendTargets,
  describeProbe,
  formatBackends,
  formatStatus,
  parseAccessLine,
  percentile,
  summarizeTraffic,
  type AccessEntry,
  type BackendProbe,
} from '../src/cutover/traffic.ts';

const line = (o: Record<string, unknown>) =>
  JSON.stringify({
    time: '2026-01-01T00:00:00+00:00',
    msec: 1000,
    method: 'GET',
    uri: '/image/files/a.jpg',
    status: 200,
    request_time: 0.01,
    route: 'images',
    backend: 'new',
    fallback: '',
    ...o,
  });

describe('parseAccessLine', () => {
  it('reads the fields status needs', () => {
    expect(parseAccessLine(line({ status: 502, request_time: 1.5, fallback: '1', backend: 'legacy' }))).toEqual({
      at: 1000,
      method: 'GET',
      uri: '/image/files/a.jpg',
      status: 502,
      requestTime: 1.5,
      route: 'images',
      backend: 'legacy',
      fallback: true,
    });
  });
  it('falls back to `time` without msec', () => {
    expect(parseAccessLine(line({ msec: undefined }))!.at).toBe(Date.parse('2026-01-01T00:00:00Z') / 1000);
  });
  it.each(['', 'not json', '{"broken":', '{"msec":1}', '127.0.0.1 - - [x] "GET / HTTP/1.1" 200'])('skips %j', (l) =>
    expect(parseAccessLine(l)).toBeUndefined(),
  );
});

describe('percentile (nearest rank)', () => {
  const cases: Array<[number[], number, number | undefined]> = [
    [[], 50, undefined],
    [[5], 99, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 99, 4],
    [Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
    [Array.from({ length: 100 }, (_, i) => i + 1), 50, 50],
    // 7/100*100 is 7.000000000000001 in binary floating point: still the 7th value, not the 8th.
    [Array.from({ length: 100 }, (_, i) => i + 1), 7, 7],
    [Array.from({ length: 100 }, (_, i) => i + 1), 57, 57],
  ];
  it.each(cases)('%j p%i = %s', (values, p, expected) => expect(percentile(values, p)).toBe(expected));
});

describe('summarizeTraffic', () => {
  const e = (o: Partial<AccessEntry>): AccessEntry => ({
    at: 100,
    method: 'GET',
    uri: '/x',
    status: 200,
    requestTime: 0.01,
    route: 'images',
    backend: 'new',
    fallback: false,
    ...o,
  });
  const entries = [
    e({ requestTime: 0.01 }),
    e({ requestTime: 0.02 }),
    e({ requestTime: 0.5, status: 503 }),
    e({ backend: 'legacy', requestTime: 0.1 }),
    e({ backend: 'legacy', requestTime: 0.2, fallback: true }),
    e({ backend: 'legacy', route: '', requestTime: 0.003 }),
    e({ at: 10, requestTime: 9 }), // before the window
  ];
  const [images, other] = summarizeTraffic(entries, 50);
  it('groups by route then backend, new first, route-less traffic last', () => {
    expect(images!.route).toBe('images');
    expect(Object.keys(images!.backends)).toEqual(['new', 'legacy']);
    expect(other!.route).toBe('');
    expect(images!.requests).toBe(5);
  });
  it('counts errors (>= 500), fallbacks and latency percentiles in ms, within the window only', () => {
    expect(images!.backends.new).toEqual({ requests: 3, errors: 1, errorRate: 1 / 3, fallbacks: 0, p50Ms: 20, p99Ms: 500 });
    expect(images!.backends.legacy).toMatchObject({ requests: 2, errors: 0, fallbacks: 1, p50Ms: 100, p99Ms: 200 });
  });
});

describe('formatStatus', () => {
  it('one line per backend, shares in the file and running, a mismatch visible', () => {
    const traffic = summarizeTraffic(
      [{ at: 1, method: 'GET', uri: '/x', status: 200, requestTime: 0.004, route: 'images', backend: 'new', fallback: false }],
      0,
    );
    const text = formatStatus([{ name: 'images', fileShare: 20, runningShare: 10, traffic: traffic[0] }], { minutes: 5, running: 'front door: x' });
    expect(text).toContain('last 5 min');
    const row = text.split('\n').find((l) => l.startsWith('images'))!;
    expect(row.split(/\s+/)).toEqual(['images', '20%', '10%', 'new', '1', '0', '0.0%', '0', '4.0', '4.0']);
  });
  it('a route without traffic still shows its shares', () => {
    const text = formatStatus([{ name: 'images', fileShare: 0, runningShare: undefined, traffic: undefined }], { minutes: 1, running: '' });
    expect(
      text
        .split('\n')
        .find((l) => l.startsWith('images'))!
        .split(/\s+/)
        .slice(0, 5),
    ).toEqual(['images', '0%', '-', '-', '0']);
  });
});

describe('backendTargets: what `gateway status` probes', () => {
  const running = {
    listen: '127.0.0.1:1',
    legacy: '127.0.0.1:9001',
    routes: { images: { share: 10, backend: '127.0.0.1:9002', fallback: true, override_header: false, shadow_sample: 0 } },
  };
  const file = { legacy: '127.0.0.1:8081', routes: [{ name: 'images', path: '/image/files/', backends: ['127.0.0.1:8082'] }] };
  it("legacy on its health path, each route's new service on the route's path (answers 400 at once)", () => {
    expect(backendTargets(file, undefined)).toEqual([
      { name: 'legacy', address: '127.0.0.1:8081', path: '/image/health' },
      { name: 'images (new)', address: '127.0.0.1:8082', path: '/image/files/' },
    ]);
  });
  it('the addresses nginx runs with win over the file (other ports under npm start)', () => {
    expect(backendTargets(file, running).map((t) => t.address)).toEqual(['127.0.0.1:9001', '127.0.0.1:9002']);
  });
  it('routes sharing one backend are probed once, named together', () => {
    const two = { ...file, routes: [...file.routes, { name: 'thumbs', path: '/thumbs/', backends: ['127.0.0.1:8082'] }] };
    expect(backendTargets(two, undefined).map((t) => t.name)).toEqual(['legacy', 'images, thumbs (new)']);
  });
  it('replicas: each is probed, named by its place in the list (one down must show whatever its siblings do)', () => {
    const three = { ...file, routes: [{ name: 'images', path: '/image/files/', backends: ['127.0.0.1:8082', '127.0.0.1:8182', '127.0.0.1:8282'] }] };
    expect(backendTargets(three, undefined).slice(1)).toEqual([
      { name: 'images (new 1/3)', address: '127.0.0.1:8082', path: '/image/files/' },
      { name: 'images (new 2/3)', address: '127.0.0.1:8182', path: '/image/files/' },
      { name: 'images (new 3/3)', address: '127.0.0.1:8282', path: '/image/files/' },
    ]);
    const runningTwo = { ...running, routes: { images: { ...running.routes.images, backend: ['127.0.0.1:9002', '127.0.0.1:9102'] } } };
    expect(backendTargets(three, runningTwo).map((t) => t.address)).toEqual(['127.0.0.1:9001', '127.0.0.1:9002', '127.0.0.1:9102']);
  });
});

describe('describeProbe / formatBackends', () => {
  const cases: Array<[BackendProbe, string]> = [
    [{ state: 'up', ms: 3.2, status: 400 }, 'up (3 ms)'],
    [{ state: 'up', ms: 0.4, status: 200 }, 'up (0 ms)'],
    [{ state: 'up', ms: 12, status: 502 }, 'up (12 ms), but it answered 502'],
    [{ state: 'down', reason: 'connection refused' }, 'down (connection refused)'],
    [{ state: 'down', reason: 'ECONNRESET' }, 'down (ECONNRESET)'],
    [{ state: 'timeout', timeoutMs: 1000 }, 'not answering within 1 s'],
    [{ state: 'timeout', timeoutMs: 250 }, 'not answering within 0.25 s'],
  ];
  it.each(cases)('%j -> %s', (probe, text) => expect(describeProbe(probe)).toBe(text));

  it('one aligned line per backend, with its address', () => {
    const text = formatBackends([
      { name: 'legacy', address: '127.0.0.1:8081', probe: { state: 'up', ms: 2, status: 200 } },
      { name: 'images (new)', address: '127.0.0.1:8082', probe: { state: 'down', reason: 'connection refused' } },
    ]);
    expect(text.split('\n')).toEqual([
      'backends:',
      '  legacy        127.0.0.1:8081  up (2 ms)',
      '  images (new)  127.0.0.1:8082  down (connection refused)',
      '',
    ]);
  });
});
