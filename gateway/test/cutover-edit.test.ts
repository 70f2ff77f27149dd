import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gatewayProjectRoot } from '../src/config.ts';
import { routeIndex, setRouteShare, setYamlValue } from '../src/cutover/edit.ts';
import { parseCutover } from '../src/cutover/schema.ts';

const shipped = readFileSync(`${gatewayProjectRoot}/nginx/cutover.yaml`, 'utf8');

const twoRoutes = `# header comment
routes:
  # the hot path
  - name: images      # aligned comment
    path: /image/files/
    backend: 127.0.0.1:8082
    share: 0          # percent
  - name: thumbs
    path: /thumbs/
    backend: "127.0.0.1:8084"
    share: 5
# trailing comment
`;

describe('setRouteShare: byte-for-byte except the number', () => {
  it('changes only the share of the shipped file, comments and alignment intact', () => {
    const out = setRouteShare(shipped, 'images', 25);
    expect(out).toBe(shipped.replace(/share: 0( +# 0\.\.100)/, 'share: 25$1'));
    expect(parseCutover(out).routes[0]!.share).toBe(25);
  });

  it('picks the named route among several', () => {
    const out = setRouteShare(twoRoutes, 'thumbs', 40);
    expect(out).toBe(twoRoutes.replace('share: 5', 'share: 40'));
    const back = setRouteShare(out, 'images', 100);
    expect(back).toBe(twoRoutes.replace('share: 5', 'share: 40').replace('share: 0          # percent', 'share: 100          # percent'));
  });

  it('works on flow-style routes', () => {
    const flow = 'routes: [{ name: images, path: /image/files/, backend: "127.0.0.1:1", share: 3 }] # flow\n';
    expect(setRouteShare(flow, 'images', 30)).toBe(flow.replace('share: 3', 'share: 30'));
  });

  it('adds the share when the route has none (the default applied before)', () => {
    const noShare = '# keep me\nroutes:\n  - name: images # route\n    path: /image/files/\n    backend: 127.0.0.1:8082\n';
    const out = setRouteShare(noShare, 'images', 10);
    expect(out).toContain('# keep me');
    expect(out).toContain('# route');
    expect(parseCutover(out).routes[0]!.share).toBe(10);
  });

  it('an unknown route names the routes there are', () => {
    expect(() => setRouteShare(twoRoutes, 'imgs', 10)).toThrowError("no route named 'imgs' in the cutover file; expected one of: images, thumbs");
    expect(() => setRouteShare('listen: 1\n', 'images', 10)).toThrowError(/the file has no routes/);
  });

  it('refuses text that is not YAML rather than guessing', () => {
    expect(() => setRouteShare('routes: [\n', 'images', 1)).toThrowError(/not valid YAML/);
  });
});

describe('setYamlValue', () => {
  it('replaces a quoted scalar and keeps it readable', () => {
    expect(setYamlValue(twoRoutes, ['routes', 1, 'backend'], '127.0.0.1:9999')).toBe(twoRoutes.replace('"127.0.0.1:8084"', '127.0.0.1:9999'));
  });
  it('quotes a string that would read back as something else', () => {
    const out = setYamlValue('a: x\n', ['a'], 'true');
    expect(out).toBe('a: "true"\n');
  });
  it('replaces a list in flow style, keeping the rest', () => {
    const text = 'routes:\n  - name: images\n    methods:\n      - GET\n      - HEAD\n    path: /image/files/ # p\n';
    const out = setYamlValue(text, ['routes', 0, 'methods'], ['GET']);
    expect(out).toBe('routes:\n  - name: images\n    methods: [GET]\n    path: /image/files/ # p\n');
  });
  it('sets booleans', () => {
    expect(setYamlValue(twoRoutes, ['routes', 0, 'share'], false)).toContain('share: false          # percent');
  });
});

describe('routeIndex', () => {
  it('finds routes by name', () => {
    expect(routeIndex(twoRoutes, 'images')).toBe(0);
    expect(routeIndex(twoRoutes, 'thumbs')).toBe(1);
  });
});
