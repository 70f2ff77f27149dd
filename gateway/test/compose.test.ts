/**
 * compose.yaml cannot run here (no Docker engine): this checks what can be checked without one.
 * Every service builds from a context and Dockerfile that exist, every path a Dockerfile copies
 * or runs exists, every mounted path exists, every service it names exists, and the addresses
 * the containers use agree with the shipped cutover file (which compose runs unchanged).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gatewayProjectRoot as root } from '../src/config.ts';
import { serviceDeadlineMs } from '../src/cutover/plan.ts';
import { parseCutover } from '../src/cutover/schema.ts';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
  pid?: string;
  depends_on?: Record<string, { condition: string }> | string[];
  profiles?: string[];
  working_dir?: string;
}
const compose = parse(readFileSync(path.join(root, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = Object.entries(compose.services);
const cutover = parseCutover(readFileSync(path.join(root, 'nginx/cutover.yaml'), 'utf8'));
const portOf = (a: string) => Number(a.slice(a.lastIndexOf(':') + 1));

function build(s: Service): { context: string; dockerfile: string } | undefined {
  if (!s.build) return undefined;
  const b = typeof s.build === 'string' ? { context: s.build } : s.build;
  const context = path.resolve(root, b.context);
  return { context, dockerfile: path.resolve(context, b.dockerfile ?? 'Dockerfile') };
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(file: string): Array<{ op: string; args: string }> {
  return readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

describe('compose.yaml', () => {
  it('has the stack: s3 (versitygw), legacy, the image service, the front door, the gateway, k6 under a profile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['frontdoor', 'gateway', 'image-service', 'k6', 'legacy', 's3', 'seed']);
    expect(compose.services.s3!.image).toMatch(/^versity\/versitygw:v\d+\.\d+\.\d+$/);
    expect(compose.services.k6!.image).toMatch(/^grafana\/k6:/);
    expect(compose.services.k6!.profiles).toEqual(['loadtest']);
  });

  it.each(services)('%s: an image, or a build context and Dockerfile that exist', (_name, s) => {
    const b = build(s);
    expect(Boolean(s.image) !== Boolean(b)).toBe(true);
    if (b) {
      expect(statSync(b.context).isDirectory()).toBe(true);
      expect(existsSync(b.dockerfile)).toBe(true);
    }
  });

  it.each(services.filter(([, s]) => s.build))('%s: every path its Dockerfile copies, and the command it runs, exist', (_name, s) => {
    const b = build(s)!;
    const steps = instructions(b.dockerfile);
    expect(steps[0]!.op).toBe('FROM');
    for (const { args } of steps.filter((x) => x.op === 'COPY')) {
      const sources = args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const src of sources) expect([b.dockerfile, src, existsSync(path.join(b.context, src))]).toEqual([b.dockerfile, src, true]);
    }
    const cmd = steps.find((x) => x.op === 'CMD');
    expect(cmd).toBeDefined();
    for (const file of JSON.parse(cmd!.args) as string[]) if (/\.(ts|js)$/.test(file)) expect(existsSync(path.join(root, file))).toBe(true);
  });

  it.each(services)('%s: every mounted host path exists and every named volume is declared', (_name, s) => {
    for (const v of s.volumes ?? []) {
      const [source, target] = v.split(':');
      expect(target).toMatch(/^\//);
      if (source!.startsWith('.') || source!.startsWith('/')) expect([v, existsSync(path.resolve(root, source!))]).toEqual([v, true]);
      else expect(Object.keys(compose.volumes)).toContain(source);
    }
  });

  it.each(services)('%s: the services it names exist', (_name, s) => {
    const named = [
      ...(Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})),
      ...[s.network_mode, s.pid].filter((x): x is string => x?.startsWith('service:') ?? false).map((x) => x.slice('service:'.length)),
    ];
    for (const other of named) expect(Object.keys(compose.services)).toContain(other);
  });

  it.each(services)('%s: repository files in its command exist', (_name, s) => {
    const words = (Array.isArray(s.command) ? s.command : [s.command ?? '']).join(' ').split(/\s+/);
    for (const w of words.filter((x) => /^[a-z][\w./-]*\.(ts|js)$/.test(x))) expect([w, existsSync(path.join(root, w))]).toEqual([w, true]);
    // /loadtest is ./loadtest mounted read-only in the k6 container.
    for (const w of words.filter((x) => x.startsWith('/loadtest/'))) expect(existsSync(path.join(root, w.slice(1)))).toBe(true);
  });

  it('STACK_PARTS names parts scripts/stack.ts knows', () => {
    for (const [, s] of services) {
      const parts = s.environment?.STACK_PARTS;
      if (parts) for (const p of parts.split(',')) expect(['legacy', 'service', 'frontdoor']).toContain(p);
    }
    expect(readFileSync(path.join(root, 'scripts/stack.ts'), 'utf8')).toContain("const ALL_PARTS = ['legacy', 'service', 'frontdoor'] as const;");
  });
});

describe('compose.yaml and the shipped cutover file agree', () => {
  const legacyOwnsNetwork = ['image-service', 'frontdoor', 'gateway', 'k6'];
  it("the pod shares legacy's network namespace, so 127.0.0.1 in the cutover file means the same there", () => {
    for (const name of legacyOwnsNetwork) expect(compose.services[name]!.network_mode).toBe('service:legacy');
    expect(cutover.legacy.startsWith('127.0.0.1:')).toBe(true);
    for (const b of cutover.routes[0]!.backend) expect(b.startsWith('127.0.0.1:')).toBe(true);
  });

  it("the published port is the front door's, which listens on 0.0.0.0 there", () => {
    const fd = compose.services.frontdoor!.environment!;
    expect(fd.FRONT_HOST).toBe('0.0.0.0');
    expect(Number(fd.FRONT_PORT)).toBe(portOf(cutover.listen));
    expect(compose.services.legacy!.ports).toEqual([`127.0.0.1:${fd.FRONT_PORT}:${fd.FRONT_PORT}`]);
  });

  it('the image service listens where the cutover file sends the route', () => {
    // One replica in compose (its containers share one network namespace: a second needs a port of its own).
    expect(cutover.routes[0]!.backend).toHaveLength(1);
    expect(Number(compose.services['image-service']!.environment!.PORT)).toBe(portOf(cutover.routes[0]!.backend[0]!));
  });

  it("the image service's own deadline is serviceDeadlineMs of the shipped route timeout (it gives up, and answers, before nginx does)", () => {
    const route = cutover.routes.find((r) => r.name === 'images')!;
    expect(compose.services['image-service']!.environment!.REQUEST_TIMEOUT_MS).toBe(String(serviceDeadlineMs(route.timeout_ms)));
  });

  it('the shadow sink listens where the cutover file mirrors to, and compares against legacy and the new service', () => {
    const cmd = compose.services.gateway!.command as string[];
    expect(cmd[cmd.indexOf('--listen') + 1]).toBe(cutover.shadow_sink);
    expect(cmd[cmd.indexOf('--legacy') + 1]).toBe(`http://${cutover.legacy}`);
    expect(cmd[cmd.indexOf('--new') + 1]).toBe(`http://${cutover.routes[0]!.backend[0]}`);
  });

  it("the gateway can reach the front door's nginx: same run dir volume, same pid namespace, same cutover file", () => {
    const gw = compose.services.gateway!;
    expect(gw.pid).toBe('service:frontdoor');
    const runMount = (s: Service) => s.volumes!.find((v) => v.startsWith('run:'))!.split(':')[1];
    expect(gw.environment!.GATEWAY_RUN_DIR).toBe(`${runMount(compose.services.frontdoor!)}/frontdoor`);
    expect(runMount(gw)).toBe(runMount(compose.services.frontdoor!));
    expect(gw.volumes).toContain('./nginx:/app/nginx');
    expect(gw.environment!.GATEWAY_CUTOVER_FILE).toBe('/app/nginx/cutover.yaml');
  });

  it('legacy and versitygw see the same originals (one volume, the bucket directory)', () => {
    expect(compose.services.s3!.volumes).toContain('originals:/data/originals');
    expect(compose.services.legacy!.volumes).toContain('originals:/var/lib/stack/originals');
    expect(compose.services['image-service']!.environment!.STORAGE_URL).toBe('s3://originals');
    expect(compose.services['image-service']!.environment!.S3_ENDPOINT).toBe('http://s3:7070');
    expect(compose.services['image-service']!.environment!.AWS_ACCESS_KEY_ID).toBe(
      (compose.services.s3 as { environment: Record<string, string> }).environment.ROOT_ACCESS_KEY,
    );
  });
});
