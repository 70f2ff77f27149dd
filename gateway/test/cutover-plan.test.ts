import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backendList, listenUrl, planCutover, splitBuckets, summarizePlan } from '../src/cutover/plan.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { splitClients } from './nginx-murmur.ts';

const yaml = `
listen: 127.0.0.1:8080
legacy: 127.0.0.1:8081
shadow_sink: 127.0.0.1:8083
routes:
  - name: images
    path: /image/files/
    backend: 127.0.0.1:8082
    share: 25
    override_header: true
    shadow_sample: 5
`;

describe('splitBuckets', () => {
  const cases: Array<[number, Array<{ percent: number | undefined; value: string }>]> = [
    [0, [{ percent: undefined, value: 'legacy' }]],
    [
      1,
      [
        { percent: 1, value: 'new' },
        { percent: undefined, value: 'legacy' },
      ],
    ],
    [
      10,
      [
        { percent: 10, value: 'new' },
        { percent: undefined, value: 'legacy' },
      ],
    ],
    [
      99,
      [
        { percent: 99, value: 'new' },
        { percent: undefined, value: 'legacy' },
      ],
    ],
    [100, [{ percent: undefined, value: 'new' }]],
  ];
  it.each(cases)('share %i', (share, buckets) => expect(splitBuckets(share)).toEqual(buckets));

  it("'new' is always the first bucket, so [0, share) of the hash range is new", () => {
    for (let share = 1; share < 100; share++) expect(splitBuckets(share)[0]).toEqual({ percent: share, value: 'new' });
  });

  // Stickiness: raising the share only moves variants over, never back.
  it('raising the share never moves a variant from new back to legacy (simulated nginx hash)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (uri, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const before = splitClients(`/image/files/${uri}`, splitBuckets(low));
        const after = splitClients(`/image/files/${uri}`, splitBuckets(high));
        return before !== 'new' || after === 'new';
      }),
      { numRuns: 2000 },
    );
  });

  it('sends about share% of 2000 distinct URIs to new (simulated nginx hash)', () => {
    for (const share of [0, 10, 50, 100]) {
      let n = 0;
      for (let i = 0; i < 2000; i++) if (splitClients(`/image/files/photo-${i}.jpg?w=${100 + (i % 7)}`, splitBuckets(share)) === 'new') n++;
      expect(Math.abs(n / 2000 - share / 100)).toBeLessThanOrEqual(0.03);
    }
  });
});

describe('planCutover', () => {
  it('plans a route from the file', () => {
    const plan = planCutover(parseCutover(yaml));
    expect(plan).toMatchObject({ listen: '127.0.0.1:8080', legacy: '127.0.0.1:8081', shadowSink: '127.0.0.1:8083' });
    expect(plan.routes[0]).toEqual({
      name: 'images',
      methods: ['GET', 'HEAD'],
      path: '/image/files/',
      backends: ['127.0.0.1:8082'],
      share: 25,
      sticky: 'request_uri',
      fallback: true,
      overrideHeader: true,
      overrideFrom: ['127.0.0.0/8', '::1'],
      debugHeaders: false,
      maxFails: 3,
      failTimeoutS: 30,
      shadowSample: 5,
      timeoutMs: 2000,
      split: splitBuckets(25),
    });
    expect(plan.writesFrom).toEqual(['0.0.0.0/0', '::/0']);
  });

  it('carries the passive-health, steering and writes_from fields through', () => {
    const text =
      yaml.replace('routes:', 'writes_from: [192.0.2.0/24]\nroutes:') +
      '    max_fails: 0\n    fail_timeout_s: 5\n    override_from: [10.0.0.0/8]\n    debug_headers: true\n';
    const plan = planCutover(parseCutover(text));
    expect(plan.routes[0]).toMatchObject({ maxFails: 0, failTimeoutS: 5, overrideFrom: ['10.0.0.0/8'], debugHeaders: true });
    expect(plan.writesFrom).toEqual(['192.0.2.0/24']);
  });

  it('address overrides replace the file addresses, every route backend included', () => {
    const plan = planCutover(parseCutover(yaml), { listen: '0.0.0.0:80', legacy: 'legacy:8081', backend: ['image-service:8082'], shadow_sink: 'gateway:8083' });
    expect(plan).toMatchObject({ listen: '0.0.0.0:80', legacy: 'legacy:8081', shadowSink: 'gateway:8083' });
    expect(plan.routes[0]!.backends).toEqual(['image-service:8082']);
    expect(plan.routes[0]!.share).toBe(25);
  });

  it('replicas: the file lists them, an override replaces the whole list (npm start with IMAGE_SERVICE_REPLICAS)', () => {
    const three = yaml.replace('backend: 127.0.0.1:8082', 'backend: [127.0.0.1:8082, 127.0.0.1:8182, 127.0.0.1:8282]');
    expect(planCutover(parseCutover(three)).routes[0]!.backends).toEqual(['127.0.0.1:8082', '127.0.0.1:8182', '127.0.0.1:8282']);
    expect(planCutover(parseCutover(three), { backend: ['127.0.0.1:9001', '127.0.0.1:9002'] }).routes[0]!.backends).toEqual([
      '127.0.0.1:9001',
      '127.0.0.1:9002',
    ]);
    expect(planCutover(parseCutover(yaml), { backend: ['a:1', 'b:2'] }).routes[0]!.backends).toEqual(['a:1', 'b:2']);
  });

  it('an override recorded as one string (a run dir from before replicas) still plans', () => {
    const legacyShape = { backend: '127.0.0.1:9009' } as unknown as { backend: string[] };
    expect(planCutover(parseCutover(yaml), legacyShape).routes[0]!.backends).toEqual(['127.0.0.1:9009']);
    expect(backendList('x:1')).toEqual(['x:1']);
    expect(backendList(['x:1', 'y:2'])).toEqual(['x:1', 'y:2']);
  });

  it('summarizePlan keeps what the running workers report', () => {
    expect(summarizePlan(planCutover(parseCutover(yaml)))).toEqual({
      listen: '127.0.0.1:8080',
      legacy: '127.0.0.1:8081',
      routes: { images: { share: 25, backend: ['127.0.0.1:8082'], fallback: true, override_header: true, shadow_sample: 5 } },
    });
  });
});

describe('listenUrl', () => {
  const cases: Array<[string, string]> = [
    ['127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['0.0.0.0:8080', 'http://127.0.0.1:8080'],
    ['8080', 'http://127.0.0.1:8080'],
    ['localhost:9000', 'http://localhost:9000'],
    ['[::]:8080', 'http://[::1]:8080'],
  ];
  it.each(cases)('%s -> %s', (listen, url) => expect(listenUrl(listen)).toBe(url));
});
