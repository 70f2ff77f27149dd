import { describe, expect, it } from 'vitest';
import { planCutover, type FrontDoorPlan } from '../src/cutover/plan.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { fillTemplate, renderNginxConfig } from '../src/nginx/render.ts';
import { loadTemplates } from '../src/nginx/templates.ts';

const runDir = '/srv/frontdoor/run';

function plan(route: string = '', top: string = ''): FrontDoorPlan {
  return planCutover(
    parseCutover(`
listen: 127.0.0.1:18080
legacy: 127.0.0.1:18081
${top}
routes:
  - name: images
    path: /image/files/
    backend: 127.0.0.1:18082
    share: 10
${route}
`),
  );
}

const render = (p: FrontDoorPlan, user?: string) => renderNginxConfig(p, { templates: loadTemplates(), runDir, source: 'test.yaml', user }).text;

/** The `{ ... }` block that follows `header` (quotes respected), without the braces. */
function block(source: string, header: string): string {
  // Comment lines may hold quotes and braces ("the backends' errors"): drop them first.
  const text = stripComments(source);
  const at = text.indexOf(header);
  if (at < 0) throw new Error(`no block '${header}' in:\n${text}`);
  const brace = header.lastIndexOf('{');
  let i = brace >= 0 ? at + brace : text.indexOf('{', at + header.length);
  const start = i + 1;
  let depth = 0;
  let quote: string | undefined;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(start, i);
  }
  throw new Error(`unbalanced block '${header}'`);
}

function stripComments(text: string): string {
  return text.replace(/^[ \t]*#.*$/gm, '');
}

/** The statements of a block, at its own level: `directive args;` or `name args {` (contents skipped). */
function directives(blockText: string): string[] {
  const out: string[] = [];
  let current = '';
  let depth = 0;
  let quote: string | undefined;
  for (const c of stripComments(blockText)) {
    if (quote) {
      if (depth === 0) current += c;
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      if (depth === 0) current += c;
    } else if (c === '{') {
      if (depth === 0) out.push(`${current.trim().replace(/\s+/g, ' ')} {`);
      current = '';
      depth++;
    } else if (c === '}') {
      depth--;
      current = '';
    } else if (c === ';' && depth === 0) {
      out.push(`${current.trim().replace(/\s+/g, ' ')};`);
      current = '';
    } else if (depth === 0) current += c;
  }
  return out;
}

function mainServer(text: string): string {
  return block(text, 'server {\n        listen 127.0.0.1:18080');
}

describe('renderNginxConfig: runs inside its run dir, never /etc/nginx', () => {
  const text = render(plan());
  it('puts pid, logs and every temp path under the prefix (relative paths)', () => {
    expect(text).toMatch(/^pid nginx\.pid;$/m);
    expect(text).toMatch(/^error_log logs\/error\.log warn;$/m);
    expect(text).toContain('access_log logs/access.log frontdoor;');
    for (const t of [
      'client_body_temp_path tmp/client_body;',
      'proxy_temp_path tmp/proxy;',
      'fastcgi_temp_path tmp/fastcgi;',
      'uwsgi_temp_path tmp/uwsgi;',
      'scgi_temp_path tmp/scgi;',
    ]) {
      expect(text).toContain(t);
    }
    expect(stripComments(text)).not.toMatch(/\/etc\/nginx|\/var\/log\/nginx|\/var\/lib\/nginx|\/run\/nginx/);
    expect(text).not.toMatch(/^\s*include\b/m);
  });
  it('fills every placeholder and keeps braces balanced', () => {
    expect(text).not.toContain('{{');
    expect(block(text, 'http {').length).toBeGreaterThan(100);
  });
  it('never uses fastcgi_keep_conn', () => expect(text).not.toContain('fastcgi_keep_conn'));
  it('workers stay the invoking user unless told (root: user root)', () => {
    expect(text).not.toMatch(/^user /m);
    expect(render(plan(), 'root')).toMatch(/^user root;$/m);
  });
  it('listens where the file says', () => expect(directives(mainServer(text))).toContain('listen 127.0.0.1:18080;'));
  it('the control socket is in the run dir', () => expect(text).toContain(`listen unix:${runDir}/control.sock;`));
});

describe('renderNginxConfig: the split', () => {
  const cases: Array<[number, string[]]> = [
    [0, ['* legacy;']],
    [10, ['10% new;', '* legacy;']],
    [55, ['55% new;', '* legacy;']],
    [100, ['* new;']],
  ];
  it.each(cases)('share %i: split_clients on $request_uri with new first', (share, lines) => {
    const p = plan();
    p.routes[0] = {
      ...p.routes[0]!,
      share,
      split: planCutover(parseCutover(`routes: [{name: images, path: /image/files/, backend: '127.0.0.1:1', share: ${share}}]`)).routes[0]!.split,
    };
    expect(directives(block(render(p), 'split_clients "${request_uri}" $fd_images_split {'))).toEqual(lines);
  });
  it('hashes the configured sticky variable', () => {
    expect(render(plan('    sticky: cookie_uid'))).toContain('split_clients "${cookie_uid}" $fd_images_split {');
  });
});

describe('renderNginxConfig: which requests may reach new', () => {
  it('only the route methods with split or override = new; default legacy', () => {
    const map = directives(block(render(plan('    override_header: true')), 'map "$request_method:$fd_images_override:$fd_images_split" $fd_images_target {'));
    expect(map).toEqual([
      '"GET:new:new" new;',
      '"GET:new:legacy" new;',
      '"GET::new" new;',
      '"HEAD:new:new" new;',
      '"HEAD:new:legacy" new;',
      '"HEAD::new" new;',
      'default legacy;',
    ]);
  });
  it('without override_header the header cannot pin anything', () => {
    const text = render(plan('    override_header: false'));
    const map = directives(block(text, 'map "$request_method::$fd_images_split" $fd_images_target {'));
    expect(map).toEqual(['"GET::new" new;', '"HEAD::new" new;', 'default legacy;']);
  });
  it('a route with POST lists POST too (and only its methods)', () => {
    // A write route must not fall back (schema): fallback: false.
    const map = directives(block(render(plan('    methods: [GET, POST]\n    fallback: false')), '$fd_images_target {'));
    expect(map).toEqual(['"GET::new" new;', '"POST::new" new;', 'default legacy;']);
  });
  it('the override header only accepts legacy|new, case-insensitively (a map of strings)', () => {
    expect(directives(block(render(plan()), 'map $http_x_image_backend $fd_override {'))).toEqual(['new new;', 'legacy legacy;', 'default "";']);
  });
  it('the route location hands new requests to the named location and the rest to legacy', () => {
    const loc = directives(block(render(plan()), 'location ^~ /image/files/ {'));
    expect(loc).toEqual(
      expect.arrayContaining([
        'set $fd_route $fd_images_route;',
        'set $fd_backend legacy;',
        'error_page 418 = @fd_images_new;',
        'if ($fd_images_target = new) {',
        'proxy_pass http://fd_legacy;',
      ]),
    );
  });
  it("the prefix without its slash (POST/DELETE /image/files) is an exact location on legacy, not nginx's 301", () => {
    expect(directives(block(render(plan()), 'location = /image/files {'))).toEqual(
      expect.arrayContaining(['set $fd_backend legacy;', 'proxy_pass http://fd_legacy;']),
    );
  });
  it('everything else goes to legacy', () => {
    expect(directives(block(render(plan()), 'location / {'))).toEqual(expect.arrayContaining(['set $fd_backend legacy;', 'proxy_pass http://fd_legacy;']));
  });
});

describe('renderNginxConfig: the new service and the fallback', () => {
  const text = render(plan('    timeout_ms: 2500'));
  const newLoc = directives(block(text, 'location @fd_images_new {'));
  it('short connect timeout, read/send timeout from the route, keep-alive upstream', () => {
    expect(newLoc).toEqual(
      expect.arrayContaining([
        'set $fd_backend new;',
        'proxy_pass http://fd_images_new;',
        'proxy_connect_timeout 1s;',
        'proxy_send_timeout 2500ms;',
        'proxy_read_timeout 2500ms;',
      ]),
    );
    expect(directives(block(text, 'upstream fd_images_new {'))).toEqual([
      'zone fd_images_new 64k;',
      'server 127.0.0.1:18082 max_fails=3 fail_timeout=30s;',
      'server 127.0.0.1:18082 down;',
      'keepalive 32;',
      'keepalive_timeout 60s;',
    ]);
    expect(directives(mainServer(text))).toEqual(expect.arrayContaining(['proxy_http_version 1.1;', 'proxy_set_header Connection "";']));
  });
  it('fallback: 502/504 (and connect errors/timeouts, which nginx reports as 502/504) go to legacy, marked; 503 passes through', () => {
    expect(newLoc).toEqual(expect.arrayContaining(['proxy_intercept_errors on;', 'error_page 502 504 = @fd_images_fallback;']));
    expect(newLoc.filter((d) => d.startsWith('error_page') && / 503 /.test(`${d} `))).toEqual([]);
    expect(directives(block(text, 'location @fd_images_fallback {'))).toEqual(
      expect.arrayContaining(['set $fd_backend legacy;', 'set $fd_fallback 1;', 'proxy_pass http://fd_legacy;', 'error_page 502 = @fd_unreachable;']),
    );
  });
  it('every error_page hop may redirect again', () => expect(directives(mainServer(text))).toContain('recursive_error_pages on;'));
  it('fallback off: no interception, no fallback location; an unreachable new service is a JSON 502', () => {
    const off = render(plan('    fallback: false'));
    expect(off).not.toContain('@fd_images_fallback');
    expect(off).not.toContain('proxy_intercept_errors on;');
    expect(directives(block(off, 'location @fd_images_new {'))).toEqual(
      expect.arrayContaining(['error_page 502 = @fd_unreachable;', 'error_page 504 = @fd_timeout;']),
    );
  });
  it('legacy unreachable: a JSON 502 / 504', () => {
    expect(directives(block(text, 'location @fd_unreachable {'))).toEqual([
      'default_type application/json;',
      `return 502 '{"error":"internal","message":"the $fd_backend backend is unreachable"}';`,
    ]);
    expect(directives(block(text, 'location @fd_timeout {'))).toEqual([
      'default_type application/json;',
      `return 504 '{"error":"timeout","message":"the $fd_backend backend did not answer in time"}';`,
    ]);
  });
});

describe('renderNginxConfig: response headers and blocked paths', () => {
  const server = directives(mainServer(render(plan())));
  it('X-Image-Backend, X-Image-Fallback and nosniff on every response (always), set once at server level', () => {
    expect(server).toEqual(
      expect.arrayContaining([
        'add_header X-Image-Backend $fd_backend_header always;',
        'add_header X-Image-Fallback $fd_fallback_header always;',
        'add_header X-Content-Type-Options nosniff always;',
      ]),
    );
    // A location-level add_header would silently drop the server-level ones.
    const locations = render(plan())
      .split(/\n\s*location /)
      .slice(1);
    for (const loc of locations) expect(loc.split(/\n\s*location /)[0]).not.toMatch(/^\s*add_header/m);
  });
  it('backends cannot spoof the front door headers; the override header does not reach them', () => {
    expect(server).toEqual(
      expect.arrayContaining(['proxy_hide_header X-Image-Backend;', 'proxy_hide_header X-Image-Fallback;', 'proxy_set_header X-Image-Backend "";']),
    );
  });
  it('no server-level "set": a mirror subrequest would rerun it and reset the request variables', () => {
    expect(server.filter((d) => d.startsWith('set '))).toEqual([]);
  });
  it.each(['/metrics', '/healthz', '/readyz'])('%s answers a JSON 404', (p) => {
    const loc = directives(block(render(plan()), `location = ${p} {`));
    expect(loc.join(' ')).toMatch(/return 404 '\{"error":"not_found"/);
    expect(loc).toContain('default_type application/json;');
  });
});

describe('renderNginxConfig: the JSON access log', () => {
  const text = render(plan());
  const format = (text.match(/log_format frontdoor escape=json\s+((?:'[^']*'\s*)+);/) ?? [])[1];
  it('escape=json, one object per line with the fields the brief names', () => {
    expect(format).toBeDefined();
    const joined = [...format!.matchAll(/'([^']*)'/g)].map((m) => m[1]).join('');
    // Substitute plausible values for the variables; the result must be JSON.
    const sample = joined.replace(/\$[a-z_0-9]+/g, (v) =>
      ['$msec', '$status', '$request_time', '$body_bytes_sent', '$connection', '$connection_requests'].includes(v) ? '1' : 'x',
    );
    const entry = JSON.parse(sample) as Record<string, unknown>;
    for (const k of [
      'time',
      'method',
      'uri',
      'status',
      'request_time',
      'upstream_addr',
      'upstream_status',
      'upstream_response_time',
      'route',
      'backend',
      'fallback',
    ]) {
      expect(entry).toHaveProperty(k);
    }
    expect(joined).toContain('"uri":"$fd_log_uri"');
    expect(joined).toContain('"time":"$time_iso8601"');
    expect(joined).toContain('"backend":"$fd_backend"');
    expect(joined).toContain('"fallback":"$fd_fallback"');
  });
});

describe('renderNginxConfig: the mirror', () => {
  const withSink = 'shadow_sink: 127.0.0.1:18083';
  it('no mirror without a sample', () => {
    const text = render(plan('', withSink));
    expect(text).not.toMatch(/^\s*mirror /m);
    expect(text).not.toContain('fd_shadow_sink');
  });
  it('mirrors from the legacy branch and the new location, never from the fallback (that would mirror twice)', () => {
    const text = render(plan('    shadow_sample: 20', withSink));
    expect(directives(block(text, 'location ^~ /image/files/ {'))).toEqual(
      expect.arrayContaining(['mirror /_frontdoor/mirror/images;', 'mirror_request_body off;']),
    );
    expect(directives(block(text, 'location @fd_images_new {'))).toEqual(
      expect.arrayContaining(['mirror /_frontdoor/mirror/images;', 'mirror_request_body off;']),
    );
    expect(block(text, 'location @fd_images_fallback {')).not.toContain('mirror');
  });
  it('samples per request, GETs only, with tight timeouts, internal', () => {
    const text = render(plan('    shadow_sample: 20', withSink));
    expect(directives(block(text, 'split_clients "${request_id}" $fd_images_shadow_pick {'))).toEqual(['20% 1;', '* "";']);
    expect(directives(block(text, 'map "$request_method:$fd_images_shadow_pick" $fd_images_shadow {'))).toEqual(['"GET:1" 1;', 'default "";']);
    const loc = directives(block(text, 'location = /_frontdoor/mirror/images {'));
    expect(loc).toEqual(
      expect.arrayContaining([
        'internal;',
        'proxy_pass http://fd_shadow_sink$request_uri;',
        'proxy_pass_request_body off;',
        'proxy_connect_timeout 100ms;',
        'proxy_send_timeout 100ms;',
        'proxy_read_timeout 100ms;',
        'proxy_set_header X-Shadow-Route images;',
      ]),
    );
    expect(directives(block(text, 'upstream fd_shadow_sink {'))).toContain('server 127.0.0.1:18083 max_fails=0;');
  });
  it('shadow_sample 100 mirrors every GET', () => {
    expect(directives(block(render(plan('    shadow_sample: 100', withSink)), '$fd_images_shadow_pick {'))).toEqual(['* 1;']);
  });
});

describe('renderNginxConfig: several routes', () => {
  it('one upstream, split and location per route', () => {
    const p = planCutover(
      parseCutover(`
routes:
  - { name: images, path: /image/files/, backend: '127.0.0.1:1', share: 10 }
  - { name: thumbs, path: /thumbs/, backend: '127.0.0.1:2', share: 30, fallback: false }
`),
    );
    const text = render(p);
    expect(text).toContain('upstream fd_thumbs_new {');
    expect(directives(block(text, '$fd_thumbs_split {'))).toEqual(['30% new;', '* legacy;']);
    expect(text).toContain('location ^~ /thumbs/ {');
    expect(text).toContain('location @fd_images_fallback {');
    expect(text).not.toContain('location @fd_thumbs_fallback {');
  });
});

describe('variables exist whatever the routes', () => {
  it('the request variables are declared even with no routes (nginx -t refuses unknown variables)', () => {
    const text = render(planCutover(parseCutover('routes: []')));
    expect(directives(block(text, 'location @fd_declare {'))).toEqual([
      'set $fd_route "";',
      'set $fd_backend "";',
      'set $fd_fallback "";',
      'set $fd_debug "";',
      'return 404;',
    ]);
    expect(text).not.toContain('error_page 404 = @fd_declare');
  });
});

describe('digest and plan marker', () => {
  it('the same plan renders the same digest; another share another one', () => {
    const a = renderNginxConfig(plan(), { templates: loadTemplates(), runDir, source: 'x' });
    const b = renderNginxConfig(plan(), { templates: loadTemplates(), runDir, source: 'y' });
    const p = plan();
    p.routes[0]!.share = 11;
    const c = renderNginxConfig(p, { templates: loadTemplates(), runDir, source: 'x' });
    expect(a.digest).toBe(b.digest);
    expect(c.digest).not.toBe(a.digest);
    expect(a.text).toContain(`# frontdoor-digest: ${a.digest}`);
    expect(block(a.text, 'location = /frontdoor/plan {')).toContain(`'{"digest":"${a.digest}","plan":{"listen":"127.0.0.1:18080"`);
  });
});

describe('fillTemplate', () => {
  it('replaces placeholders', () => expect(fillTemplate('a {{x}} b {{y_z}}', { x: '1', y_z: '2' })).toBe('a 1 b 2'));
  it('a placeholder without a value is an error, not an empty string', () => expect(() => fillTemplate('{{missing}}', {})).toThrowError(/missing/));
});

describe('renderNginxConfig: passive health of the new service', () => {
  it('max_fails / fail_timeout_s from the route, with a "down" placeholder so that nginx applies them (a single server ignores them)', () => {
    const up = directives(block(render(plan('    max_fails: 5\n    fail_timeout_s: 7')), 'upstream fd_images_new {'));
    expect(up).toEqual(expect.arrayContaining(['server 127.0.0.1:18082 max_fails=5 fail_timeout=7s;', 'server 127.0.0.1:18082 down;']));
    expect(up.filter((d) => d.startsWith('server ') && !d.endsWith(' down;'))).toHaveLength(1);
  });
  it('one try per request: a timed-out request is never retried on the same server', () => {
    const newLoc = directives(block(render(plan()), 'location @fd_images_new {'));
    expect(newLoc).toEqual(expect.arrayContaining(['proxy_next_upstream error timeout;', 'proxy_next_upstream_tries 1;']));
  });
});

describe('renderNginxConfig: several replicas of the new service', () => {
  const three = (route = '') => planWith(['127.0.0.1:18082', '127.0.0.1:18182', '127.0.0.1:18282'], route);
  function planWith(backends: string[], route = ''): FrontDoorPlan {
    const p = plan(route);
    p.routes[0]!.backends = backends;
    return p;
  }
  it('least_conn before keepalive, every replica with the route passive health, no "down" placeholder, a pool per replica', () => {
    const up = directives(block(render(three('    max_fails: 4\n    fail_timeout_s: 9')), 'upstream fd_images_new {'));
    expect(up).toEqual([
      'zone fd_images_new 64k;',
      'least_conn;',
      'server 127.0.0.1:18082 max_fails=4 fail_timeout=9s;',
      'server 127.0.0.1:18182 max_fails=4 fail_timeout=9s;',
      'server 127.0.0.1:18282 max_fails=4 fail_timeout=9s;',
      'keepalive 96;',
      'keepalive_timeout 60s;',
    ]);
  });
  it('a connect error moves on to the next replica (each tried once), within half the route timeout; a read timeout never does', () => {
    const newLoc = directives(block(render(three('    timeout_ms: 2500')), 'location @fd_images_new {'));
    expect(newLoc).toEqual(
      expect.arrayContaining([
        'proxy_next_upstream error timeout;',
        'proxy_next_upstream_tries 3;',
        'proxy_next_upstream_timeout 1250ms;',
        'proxy_read_timeout 2500ms;',
      ]),
    );
    // No method other than GET/HEAD is retried: nginx needs non_idempotent for that.
    expect(newLoc.join('\n')).not.toContain('non_idempotent');
  });
  it('one replica renders as before: the placeholder, one try, no least_conn', () => {
    const text = render(planWith(['127.0.0.1:18082']));
    const up = directives(block(text, 'upstream fd_images_new {'));
    expect(up).toContain('server 127.0.0.1:18082 down;');
    expect(up).not.toContain('least_conn;');
    expect(directives(block(text, 'location @fd_images_new {')).filter((d) => d.startsWith('proxy_next_upstream'))).toEqual([
      'proxy_next_upstream error timeout;',
      'proxy_next_upstream_tries 1;',
    ]);
  });
  it('the running workers report every replica (gateway status probes each)', () => {
    expect(render(three())).toContain('"backend":["127.0.0.1:18082","127.0.0.1:18182","127.0.0.1:18282"]');
  });
});

describe('renderNginxConfig: the public listener refuses what it should not route', () => {
  const text = render(plan());
  const server = directives(mainServer(text));
  it('every public location refuses a request target not in normal form (400), then a write from outside writes_from (403)', () => {
    const publicLocations = [
      'location = /metrics {',
      'location = /healthz {',
      'location = /readyz {',
      'location ^~ /_frontdoor/ {',
      'location / {',
      'location = /image/files {',
      'location ^~ /image/files/ {',
    ];
    for (const header of publicLocations) {
      const loc = directives(block(text, header));
      expect(loc.indexOf('if ($fd_target_refused) {')).toBeGreaterThanOrEqual(0);
      expect(loc.indexOf('if ($fd_write_refused) {')).toBeGreaterThan(loc.indexOf('if ($fd_target_refused) {'));
    }
    // Not at server level: the error pages are internal redirects and would be refused again.
    expect(server).not.toContain('if ($fd_target_refused) {');
    expect(directives(block(text, 'if ($fd_target_refused) {'))).toEqual(['return 400;']);
    expect(directives(block(text, 'if ($fd_write_refused) {'))).toEqual(['return 403;']);
    // Before the hand-over to the new service.
    const route = directives(block(text, 'location ^~ /image/files/ {'));
    expect(route.indexOf('if ($fd_target_refused) {')).toBeLessThan(route.indexOf('if ($fd_images_target = new) {'));
  });
  it("writes_from: everyone by default, else only the listed blocks (geo, no default: unlisted is '')", () => {
    expect(directives(block(text, 'geo $fd_write_allowed {'))).toEqual(['0.0.0.0/0 1;', '::/0 1;']);
    const only = render(plan('', 'writes_from: [10.0.0.0/8, "fd00::/8"]'));
    expect(directives(block(only, 'geo $fd_write_allowed {'))).toEqual(['10.0.0.0/8 1;', 'fd00::/8 1;']);
  });
  it("nginx's own errors are JSON: every location with its own error_page repeats the front door's", () => {
    for (const code of [400, 403, 405, 411, 413, 414, 494, 500, 501]) {
      expect(server).toContain(`error_page ${code} = /_frontdoor/error/${code};`);
      const loc = directives(block(text, `location = /_frontdoor/error/${code} {`));
      expect(loc.slice(0, 2)).toEqual(['internal;', 'default_type application/json;']);
      const m = /^return (\d+) '(.*)';$/.exec(loc[2]!);
      expect(m && JSON.parse(m[2]!)).toMatchObject({ error: expect.any(String), message: expect.stringMatching(/^expected |failed/) });
    }
    expect(directives(block(text, 'location = /_frontdoor/error/494 {'))[2]).toMatch(/^return 431 /);
    for (const header of ['location / {', 'location = /image/files {', 'location ^~ /image/files/ {', 'location @fd_images_fallback {']) {
      expect(directives(block(text, header))).toEqual(
        expect.arrayContaining(['error_page 413 = /_frontdoor/error/413;', 'error_page 400 = /_frontdoor/error/400;']),
      );
    }
  });
});

describe('renderNginxConfig: clients cannot steer or see inside', () => {
  it('debug_headers off (default): the header values are empty, so add_header sends nothing', () => {
    const text = render(plan());
    expect(directives(block(text, 'location ^~ /image/files/ {'))).toContain('set $fd_debug "";');
    expect(directives(block(text, 'map $fd_debug $fd_backend_header {'))).toEqual(['1 $fd_backend;', 'default "";']);
  });
  it('debug_headers: true sets $fd_debug 1 in every location of the route', () => {
    const text = render(plan('    debug_headers: true'));
    for (const header of ['location = /image/files {', 'location ^~ /image/files/ {', 'location @fd_images_fallback {'])
      expect(directives(block(text, header))).toContain('set $fd_debug 1;');
  });
  it('the override header is honoured from override_from only (default loopback)', () => {
    const text = render(plan('    override_header: true'));
    expect(directives(block(text, 'geo $fd_images_override_from {'))).toEqual(['127.0.0.0/8 1;', '::1 1;']);
    expect(directives(block(text, 'map "$fd_images_override_from:$fd_override" $fd_images_override {'))).toEqual([
      '"1:new" new;',
      '"1:legacy" legacy;',
      'default "";',
    ]);
    const wide = render(plan('    override_header: true\n    override_from: [192.0.2.0/24]'));
    expect(directives(block(wide, 'geo $fd_images_override_from {'))).toEqual(['192.0.2.0/24 1;']);
  });
  it('the mirror sets X-Original-URI itself (a client-sent one is never forwarded)', () => {
    const text = render(plan('    shadow_sample: 20', 'shadow_sink: 127.0.0.1:18083'));
    expect(directives(block(text, 'location = /_frontdoor/mirror/images {'))).toContain('proxy_set_header X-Original-URI $request_uri;');
  });
  it('the access log redacts the signature parameter', () => {
    const text = render(plan());
    expect(text).toContain('"uri":"$fd_log_uri"');
    expect(text).not.toContain('"uri":"$request_uri"');
  });
});
