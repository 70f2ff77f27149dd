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
    for (const t of ['client_body_temp_path tmp/client_body;', 'proxy_temp_path tmp/proxy;', 'fastcgi_temp_path tmp/fastcgi;', 'uwsgi_temp_path tmp/uwsgi;', 'scgi_temp_path tmp/scgi;']) {
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
    p.routes[0] = { ...p.routes[0]!, share, split: planCutover(parseCutover(`routes: [{name: images, path: /image/files/, backend: '127.0.0.1:1', share: ${share}}]`)).routes[0]!.split };
    expect(directives(block(render(p), 'split_clients "${request_uri}" $fd_images_split {'))).toEqual(lines);
  });
  it('hashes the configured sticky variable', () => {
    expect(render(plan('    sticky: cookie_uid'))).toContain('split_clients "${cookie_uid}" $fd_images_split {');
  });
});

describe('renderNginxConfig: which requests may reach new', () => {
  it('only the route methods with split or override = new; default legacy', () => {
    const map = directives(block(render(plan('    override_header: true')), 'map "$request_method:$fd_override:$fd_images_split" $fd_images_target {'));
    expect(map).toEqual(['"GET:new:new" new;', '"GET:new:legacy" new;', '"GET::new" new;', '"HEAD:new:new" new;', '"HEAD:new:legacy" new;', '"HEAD::new" new;', 'default legacy;']);
  });
  it('without override_header the header cannot pin anything', () => {
    const text = render(plan('    override_header: false'));
    const map = directives(block(text, 'map "$request_method::$fd_images_split" $fd_images_target {'));
    expect(map).toEqual(['"GET::new" new;', '"HEAD::new" new;', 'default legacy;']);
  });
  it('a route with POST lists POST too (and only its methods)', () => {
    const map = directives(block(render(plan('    methods: [GET, POST]')), '$fd_images_target {'));
    expect(map).toEqual(['"GET::new" new;', '"POST::new" new;', 'default legacy;']);
  });
  it('the override header only accepts legacy|new, case-insensitively (a map of strings)', () => {
    expect(directives(block(render(plan()), 'map $http_x_image_backend $fd_override {'))).toEqual(['new new;', 'legacy legacy;', 'default "";']);
  });
  it('the route location hands new requests to the named location and the rest to legacy', () => {
    const loc = directives(block(render(plan()), 'location ^~ /image/files/ {'));
    expect(loc).toEqual(
      expect.arrayContaining(['set $fd_route $fd_images_route;', 'set $fd_backend legacy;', 'error_page 418 = @fd_images_new;', 'if ($fd_images_target = new) {', 'proxy_pass http://fd_legacy;']),
    );
  });
  it('the prefix without its slash (POST/DELETE /image/files) is an exact location on legacy, not nginx\'s 301', () => {
    expect(directives(block(render(plan()), 'location = /image/files {'))).toEqual(expect.arrayContaining(['set $fd_backend legacy;', 'proxy_pass http://fd_legacy;']));
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
      expect.arrayContaining(['set $fd_backend new;', 'proxy_pass http://fd_images_new;', 'proxy_connect_timeout 1s;', 'proxy_send_timeout 2500ms;', 'proxy_read_timeout 2500ms;']),
    );
    expect(directives(block(text, 'upstream fd_images_new {'))).toEqual(['server 127.0.0.1:18082 max_fails=0;', 'keepalive 32;', 'keepalive_timeout 60s;']);
    expect(directives(mainServer(text))).toEqual(expect.arrayContaining(['proxy_http_version 1.1;', 'proxy_set_header Connection "";']));
  });
  it('fallback: 502/503/504 (and connect errors/timeouts, which nginx reports as 502/504) go to legacy, marked', () => {
    expect(newLoc).toEqual(expect.arrayContaining(['proxy_intercept_errors on;', 'error_page 502 503 504 = @fd_images_fallback;']));
    expect(directives(block(text, 'location @fd_images_fallback {'))).toEqual(
      expect.arrayContaining(['set $fd_backend legacy;', 'set $fd_fallback 1;', 'proxy_pass http://fd_legacy;', 'error_page 502 = @fd_unreachable;']),
    );
  });
  it('every error_page hop may redirect again', () => expect(directives(mainServer(text))).toContain('recursive_error_pages on;'));
  it('fallback off: no interception, no fallback location; an unreachable new service is a JSON 502', () => {
    const off = render(plan('    fallback: false'));
    expect(off).not.toContain('@fd_images_fallback');
    expect(off).not.toContain('proxy_intercept_errors on;');
    expect(directives(block(off, 'location @fd_images_new {'))).toEqual(expect.arrayContaining(['error_page 502 = @fd_unreachable;', 'error_page 504 = @fd_timeout;']));
  });
  it('legacy unreachable: a JSON 502 / 504', () => {
    expect(directives(block(text, 'location @fd_unreachable {'))).toEqual(['default_type application/json;', `return 502 '{"error":"internal","message":"the $fd_backend backend is unreachable"}';`]);
    expect(directives(block(text, 'location @fd_timeout {'))).toEqual(['default_type application/json;', `return 504 '{"error":"timeout","message":"the $fd_backend backend did not answer in time"}';`]);
  });
});

describe('renderNginxConfig: response headers and blocked paths', () => {
  const server = directives(mainServer(render(plan())));
  it('X-Image-Backend, X-Image-Fallback and nosniff on every response (always), set once at server level', () => {
    expect(server).toEqual(
      expect.arrayContaining(['add_header X-Image-Backend $fd_backend always;', 'add_header X-Image-Fallback $fd_fallback always;', 'add_header X-Content-Type-Options nosniff always;']),
    );
    // A location-level add_header would silently drop the server-level ones.
    const locations = render(plan()).split(/\n\s*location /).slice(1);
    for (const loc of locations) expect(loc.split(/\n\s*location /)[0]).not.toMatch(/^\s*add_header/m);
  });
  it('backends cannot spoof the front door headers; the override header does not reach them', () => {
    expect(server).toEqual(expect.arrayContaining(['proxy_hide_header X-Image-Backend;', 'proxy_hide_header X-Image-Fallback;', 'proxy_set_header X-Image-Backend "";']));
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
    const sample = joined.replace(/\$[a-z_0-9]+/g, (v) => (['$msec', '$status', '$request_time', '$body_bytes_sent', '$connection', '$connection_requests'].includes(v) ? '1' : 'x'));
    const entry = JSON.parse(sample) as Record<string, unknown>;
    for (const k of ['time', 'method', 'uri', 'status', 'request_time', 'upstream_addr', 'upstream_status', 'upstream_response_time', 'route', 'backend', 'fallback']) {
      expect(entry).toHaveProperty(k);
    }
    expect(joined).toContain('"uri":"$request_uri"');
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
    expect(directives(block(text, 'location ^~ /image/files/ {'))).toEqual(expect.arrayContaining(['mirror /_frontdoor/mirror/images;', 'mirror_request_body off;']));
    expect(directives(block(text, 'location @fd_images_new {'))).toEqual(expect.arrayContaining(['mirror /_frontdoor/mirror/images;', 'mirror_request_body off;']));
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
    expect(directives(block(text, 'location @fd_declare {'))).toEqual(['set $fd_route "";', 'set $fd_backend "";', 'set $fd_fallback "";', 'return 404;']);
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
