import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { assertReplayable, isShadowable, parseCutover, validateCutover } from '../src/cutover/schema.ts';
import { GatewayError } from '../src/errors.ts';

const route = (extra: Record<string, unknown> = {}) => ({ name: 'images', path: '/image/files/', backend: '127.0.0.1:8082', ...extra });
const file = (extra: Record<string, unknown> = {}, routeExtra: Record<string, unknown> = {}) => ({ routes: [route(routeExtra)], ...extra });

describe('cutover schema: defaults', () => {
  it('fills every default of the file and of a route', () => {
    const r = validateCutover({ routes: [route()] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({
      listen: '127.0.0.1:8080',
      legacy: '127.0.0.1:8081',
      writes_from: ['0.0.0.0/0', '::/0'],
      routes: [
        {
          name: 'images',
          methods: ['GET', 'HEAD'],
          path: '/image/files/',
          backend: ['127.0.0.1:8082'],
          share: 0,
          sticky: 'request_uri',
          fallback: true,
          override_header: false,
          override_from: ['127.0.0.0/8', '::1'],
          debug_headers: false,
          max_fails: 3,
          fail_timeout_s: 30,
          shadow_sample: 0,
          timeout_ms: 2000,
        },
      ],
    });
  });

  it('an empty file is valid: no routes, everything to legacy', () => {
    expect(parseCutover('')).toEqual({ listen: '127.0.0.1:8080', legacy: '127.0.0.1:8081', writes_from: ['0.0.0.0/0', '::/0'], routes: [] });
  });

  it('normalises friendly spellings: lowercase methods, $sticky, a bare listen port', () => {
    const r = validateCutover(file({ listen: 9000 }, { methods: ['get', 'head'], sticky: '$uri' }));
    expect(r.ok && r.value).toMatchObject({ listen: '9000', routes: [{ methods: ['GET', 'HEAD'], sticky: 'uri' }] });
  });
});

describe('cutover schema: errors name the field and what was expected', () => {
  const cases: Array<[string, unknown, string]> = [
    ['share above 100', file({}, { share: 101 }), 'routes[0].share: expected an integer from 0 to 100'],
    ['share negative', file({}, { share: -1 }), 'routes[0].share: expected an integer from 0 to 100'],
    ['share fractional', file({}, { share: 10.5 }), 'routes[0].share: expected an integer from 0 to 100'],
    ['share as a percent string', file({}, { share: '10%' }), 'routes[0].share: expected an integer from 0 to 100'],
    ['shadow_sample above 100', file({ shadow_sink: '127.0.0.1:8083' }, { shadow_sample: 200 }), 'routes[0].shadow_sample: expected an integer from 0 to 100'],
    ['backend without a port', file({}, { backend: 'localhost' }), 'routes[0].backend: expected host:port'],
    ['backend port out of range', file({}, { backend: '127.0.0.1:70000' }), 'routes[0].backend: expected a port from 1 to 65535'],
    ['backend with a path (config injection)', file({}, { backend: '127.0.0.1:8082; deny all' }), 'routes[0].backend: expected host:port'],
    ['backend list: empty', file({}, { backend: [] }), 'routes[0].backend: expected at least one address'],
    [
      'backend list: a replica twice',
      file({}, { backend: ['127.0.0.1:8082', '127.0.0.1:8182', '127.0.0.1:8082'] }),
      "routes[0].backend[2]: expected each address once ('127.0.0.1:8082'",
    ],
    ['backend list: one bad address', file({}, { backend: ['127.0.0.1:8082', '127.0.0.1:8182; deny all'] }), 'routes[0].backend[1]: expected host:port'],
    ['backend list: a number', file({}, { backend: ['127.0.0.1:8082', 8182] }), 'routes[0].backend[1]: expected host:port'],
    [
      'backend list: 17 replicas',
      file({}, { backend: Array.from({ length: 17 }, (_, i) => `127.0.0.1:${8000 + i}`) }),
      'routes[0].backend: expected at most 16 replicas',
    ],
    [
      'backend: a mapping',
      file({}, { backend: { host: '127.0.0.1' } }),
      'routes[0].backend: expected host:port, such as 127.0.0.1:8082 or image-service:8082, or a list of them',
    ],
    ['legacy missing port', file({ legacy: '127.0.0.1' }), 'legacy: expected host:port'],
    ['listen garbage', file({ listen: 'everywhere' }), 'listen: expected [host:]port'],
    ['name with capitals', file({}, { name: 'Images' }), 'routes[0].name: expected a route name'],
    ['name missing', { routes: [{ path: '/a/', backend: '127.0.0.1:1' }] }, 'routes[0].name: expected a route name'],
    ['path without trailing slash', file({}, { path: '/image/files' }), "routes[0].path: expected a path prefix that starts and ends with '/'"],
    ['path with a brace (config injection)', file({}, { path: '/a{b}/' }), "routes[0].path: expected a path prefix that starts and ends with '/'"],
    ['path is /', file({}, { path: '/' }), "routes[0].path: expected a narrower prefix than '/'"],
    ['path in the reserved prefix', file({}, { path: '/_frontdoor/x/' }), 'routes[0].path: expected a prefix outside /_frontdoor/'],
    ['path with ..', file({}, { path: '/a/../b/' }), "routes[0].path: expected no '.' or '..' segments"],
    ['unknown method', file({}, { methods: ['GET', 'FETCH'] }), 'routes[0].methods[1]: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
    ['no methods', file({}, { methods: [] }), 'routes[0].methods: expected at least one method'],
    ['a method twice', file({}, { methods: ['GET', 'GET'] }), 'routes[0].methods: expected each method once'],
    ['fallback as a string', file({}, { fallback: 'yes' }), 'routes[0].fallback: expected true or false'],
    ['sticky with a space', file({}, { sticky: 'request uri' }), 'routes[0].sticky: expected an nginx variable name'],
    ['timeout too short', file({}, { timeout_ms: 5 }), 'routes[0].timeout_ms: expected an integer number of milliseconds from 100 to 600000'],
    ['routes not a list', { routes: { name: 'images' } }, 'routes: expected a list of routes'],
    ['unknown route field (typo)', file({}, { shadow_smaple: 5 }), "routes[0]: unknown field 'shadow_smaple'; expected only name, methods, path"],
    ['unknown top-level field', file({ lisen: '1' }), "(file): unknown field 'lisen'; expected only listen, legacy, shadow_sink, writes_from, routes"],
    ['duplicate route name', { routes: [route(), route({ path: '/other/' })] }, "routes[1].name: expected a unique name ('images' is also routes[0].name)"],
    ['duplicate route path', { routes: [route(), route({ name: 'more' })] }, "routes[1].path: expected a unique path ('/image/files/' is also routes[0].path)"],
    [
      'nested route paths',
      { routes: [route(), route({ name: 'thumbs', path: '/image/files/thumbs/' })] },
      "routes[1].path: expected a path that does not overlap routes[0].path ('/image/files/')",
    ],
    [
      'shadowing a route that matches DELETE',
      file({ shadow_sink: '127.0.0.1:8083' }, { methods: ['GET', 'DELETE'], shadow_sample: 5 }),
      'routes[0].shadow_sample: expected 0: shadowing is refused for a route that matches DELETE',
    ],
    ['shadowing without a sink', file({}, { shadow_sample: 5 }), 'routes[0].shadow_sample: expected 0 unless shadow_sink is set'],
    ...(['POST', 'PUT', 'PATCH', 'DELETE'] as const).map((m): [string, unknown, string] => [
      `a ${m} route with the default fallback`,
      file({}, { methods: ['GET', m] }),
      `routes[0].fallback: expected false: a route that matches ${m} must not fall back (the fallback replays a request on legacy that the new ` +
        `service may already have applied, and a replayed write changes data)`,
    ]),
    [
      'a write route with fallback: true',
      file({}, { methods: ['POST'], fallback: true }),
      'routes[0].fallback: expected false: a route that matches POST must not fall back',
    ],
    ['override_from not a CIDR', file({}, { override_from: ['127.0.0.1/33'] }), 'routes[0].override_from[0]: expected an IPv4 or IPv6 address or CIDR block'],
    [
      'override_from smuggling nginx syntax',
      file({}, { override_from: ['1.2.3.4 1; }'] }),
      'routes[0].override_from[0]: expected an IPv4 or IPv6 address or CIDR block',
    ],
    ['writes_from not a list', file({ writes_from: '10.0.0.0/8' }), 'writes_from: expected a list of addresses or CIDR blocks (writes_from)'],
    ['writes_from with a hostname', file({ writes_from: ['localhost'] }), 'writes_from[0]: expected an IPv4 or IPv6 address or CIDR block'],
    ['max_fails negative', file({}, { max_fails: -1 }), 'routes[0].max_fails: expected an integer from 0 to 100'],
    ['fail_timeout_s zero', file({}, { fail_timeout_s: 0 }), 'routes[0].fail_timeout_s: expected an integer number of seconds from 1 to 3600'],
    ['debug_headers not a boolean', file({}, { debug_headers: 'yes' }), 'routes[0].debug_headers: expected true or false (debug_headers)'],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    const r = validateCutover(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.some((p) => p.startsWith(expected))).toBe(true);
    if (!r.problems.some((p) => p.startsWith(expected))) throw new Error(r.problems.join('\n'));
  });

  it('reports every problem at once', () => {
    const r = validateCutover(file({ legacy: 'x' }, { share: 500, backend: 'y' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toHaveLength(3);
  });

  it('a route matching POST may exist with fallback: false (no shadowing, no replay on legacy)', () => {
    expect(validateCutover(file({}, { methods: ['GET', 'POST'], share: 10, fallback: false })).ok).toBe(true);
    expect(validateCutover(file({}, { methods: ['GET', 'OPTIONS'] })).ok).toBe(true);
  });
});

describe('parseCutover', () => {
  it('turns a YAML syntax error into invalid_cutover naming the file', () => {
    expect(() => parseCutover('routes: [\n', 'x.yaml')).toThrowError(/x\.yaml is not valid YAML/);
    try {
      parseCutover('routes: [\n');
    } catch (e) {
      expect(e).toBeInstanceOf(GatewayError);
      expect((e as GatewayError).code).toBe('invalid_cutover');
      expect((e as GatewayError).exitCode).toBe(2);
    }
  });

  it('refuses duplicate keys instead of silently taking the last', () => {
    expect(() => parseCutover('listen: 1\nlisten: 2\n')).toThrowError(/not valid YAML/);
  });

  it('lists the problems, one per line, each with its field path', () => {
    expect(() => parseCutover('routes:\n  - name: images\n    path: /image/files/\n    backend: 127.0.0.1:8082\n    share: 150\n', 'c.yaml')).toThrowError(
      'c.yaml is invalid:\n  - routes[0].share: expected an integer from 0 to 100',
    );
  });

  it('accepts the shipped nginx/cutover.yaml', async () => {
    const { readFileSync } = await import('node:fs');
    const { gatewayProjectRoot } = await import('../src/config.ts');
    const shipped = parseCutover(readFileSync(`${gatewayProjectRoot}/nginx/cutover.yaml`, 'utf8'));
    expect(shipped.routes.map((r) => r.name)).toEqual(['images']);
    expect(shipped.routes[0]).toMatchObject({
      methods: ['GET', 'HEAD'],
      path: '/image/files/',
      share: 0,
      override_header: false,
      debug_headers: false,
      timeout_ms: 2000,
    });
    // Same keys as the brief's example, in the same file.
    expect(Object.keys(parseYaml(readFileSync(`${gatewayProjectRoot}/nginx/cutover.yaml`, 'utf8')).routes[0])).toEqual(
      expect.arrayContaining(['name', 'methods', 'path', 'backend', 'share', 'sticky', 'fallback', 'override_header', 'shadow_sample']),
    );
  });
});

describe('isShadowable / assertReplayable', () => {
  const cases: Array<[string[], boolean]> = [
    [['GET'], true],
    [['GET', 'HEAD'], true],
    [['HEAD'], true],
    [['GET', 'POST'], false],
    [['DELETE'], false],
    [['GET', 'HEAD', 'PUT'], false],
  ];
  it.each(cases)('%j -> %s', (methods, expected) => {
    const r = { name: 'r', methods: methods as never };
    expect(isShadowable(r)).toBe(expected);
    if (expected) expect(() => assertReplayable(r)).not.toThrow();
    else expect(() => assertReplayable(r)).toThrowError(/only GET and HEAD routes may be shadowed or replayed/);
  });
});

describe('cutover schema: backend replicas', () => {
  it('one address or a list; either way a list once parsed, in file order', () => {
    const one = validateCutover(file({}, { backend: '127.0.0.1:8082' }));
    const three = validateCutover(file({}, { backend: ['127.0.0.1:8282', '127.0.0.1:8082', 'image-service-3:8082'] }));
    expect(one.ok && one.value.routes[0]!.backend).toEqual(['127.0.0.1:8082']);
    expect(three.ok && three.value.routes[0]!.backend).toEqual(['127.0.0.1:8282', '127.0.0.1:8082', 'image-service-3:8082']);
  });
  it('YAML flow and block lists both read', () => {
    const flow = parseCutover('routes:\n  - name: images\n    path: /image/files/\n    backend: [127.0.0.1:8082, 127.0.0.1:8182]\n');
    const block = parseCutover('routes:\n  - name: images\n    path: /image/files/\n    backend:\n      - 127.0.0.1:8082\n      - 127.0.0.1:8182\n');
    expect(flow.routes[0]!.backend).toEqual(['127.0.0.1:8082', '127.0.0.1:8182']);
    expect(block.routes[0]!.backend).toEqual(flow.routes[0]!.backend);
  });
});
