/**
 * `gateway apply | set | rollback | status | render` as users run them (the CLI as a process),
 * against a real front door with real backends: a refused apply leaves the running config
 * serving, set/rollback keep the file's comments, status reads the running workers and the log.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { freePort } from '../../stack/process.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { findTool } from '../../stack/tools.ts';
import { setRouteShare } from '../src/cutover/edit.ts';
import { planCutover } from '../src/cutover/plan.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { testNginxConfig } from '../src/nginx/check.ts';
import { queryRunningPlan } from '../src/nginx/control-socket.ts';
import { renderNginxConfig } from '../src/nginx/render.ts';
import { frontDoorPaths, prepareRunDir } from '../src/nginx/run-dir.ts';
import { loadTemplates } from '../src/nginx/templates.ts';

const run = promisify(execFile);
let stack: RunningStack;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-apply-'));
  const storageDir = path.join(work, 'originals');
  mkdirSync(storageDir);
  await sharp({ create: { width: 8, height: 6, channels: 3, background: '#37a' } })
    .png()
    .toFile(path.join(storageDir, 'tiny.png'));
  stack = await startStack({ storageDir, runDir: path.join(work, 'run'), share: 100, legacyChildren: 2 });
});

afterAll(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The gateway command as a user runs it; never throws: exit code and output. */
async function gateway(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(projectRoot, 'gateway/bin/gateway.js'), ...args], { cwd: projectRoot, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const flags = () => ['--file', stack.cutoverFile, '--run-dir', stack.frontDoor.runDir];
const backendOf = async (uri = '/image/files/tiny.png?w=3') =>
  (await fetch(`${stack.frontDoor.url}${uri}`).then(async (r) => (await r.arrayBuffer(), r))).headers.get('x-image-backend');
const running = async () => (await queryRunningPlan(stack.frontDoor.runDir))!;

describe('nginx accepts every shape of rendered config', () => {
  const base = 'listen: 127.0.0.1:1\nlegacy: 127.0.0.1:2\nshadow_sink: 127.0.0.1:3\n';
  const route = (extra: string, name = 'images', p = '/image/files/') => `  - name: ${name}\n    path: ${p}\n    backend: 127.0.0.1:4\n${extra}`;
  const cases: Array<[string, string]> = [
    ['no routes', `${base}routes: []\n`],
    ['share 0', `${base}routes:\n${route('    share: 0\n')}`],
    ['share 100', `${base}routes:\n${route('    share: 100\n')}`],
    ['fallback and override off', `${base}routes:\n${route('    share: 5\n    fallback: false\n    override_header: false\n')}`],
    ['mirror 100%', `${base}routes:\n${route('    share: 50\n    shadow_sample: 100\n')}`],
    ['mirror 3% with fallback off', `${base}routes:\n${route('    share: 50\n    shadow_sample: 3\n    fallback: false\n')}`],
    [
      'two routes, one of them with POST (no fallback)',
      `${base}routes:\n${route('    share: 10\n')}\n${route('    share: 20\n    methods: [GET, POST]\n    fallback: false\n', 'thumbs', '/thumbs/')}`,
    ],
    [
      'passive health off, override from a list, debug headers, writes_from',
      `writes_from: [10.0.0.0/8, "::1"]\n${base}routes:\n` +
        `${route('    share: 10\n    max_fails: 0\n    override_header: true\n    override_from: [192.0.2.0/24, "2001:db8::/32"]\n    debug_headers: true\n')}`,
    ],
    [
      'a sticky cookie and a host-name backend',
      `${base}routes:\n  - name: images\n    path: /image/files/\n    backend: localhost:4\n    sticky: cookie_uid\n    share: 33\n`,
    ],
    ['a bare listen port', `listen: 18080\nroutes: []\n`],
  ];
  it.each(cases)('%s', async (_name, yaml) => {
    const dir = mkdtempSync(path.join(work, 'render-'));
    prepareRunDir(dir);
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, renderNginxConfig(planCutover(parseCutover(yaml)), { templates: loadTemplates(), runDir: dir, source: 'test' }).text);
    await testNginxConfig(findTool('nginx'), dir, conf);
  });
});

describe('gateway apply refuses, and the running config keeps serving', () => {
  let good: string;
  beforeAll(() => {
    good = readFileSync(stack.cutoverFile, 'utf8');
  });
  const expectUntouched = async (confBefore: string, digestBefore: string) => {
    expect(readFileSync(frontDoorPaths(stack.frontDoor.runDir).conf, 'utf8')).toBe(confBefore);
    expect((await running()).digest).toBe(digestBefore);
    expect(await backendOf()).toBe('new'); // share 100 still in force
  };

  it('an invalid cutover file: exit 2, the field and what was expected', async () => {
    const conf = readFileSync(frontDoorPaths(stack.frontDoor.runDir).conf, 'utf8');
    const { digest } = await running();
    writeFileSync(stack.cutoverFile, good.replace(/share: 100/, 'share: 150'));
    try {
      const r = await gateway('apply', ...flags());
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('routes[0].share: expected an integer from 0 to 100');
      await expectUntouched(conf, digest);
    } finally {
      writeFileSync(stack.cutoverFile, good);
    }
  });

  it("a file nginx -t rejects (a backend host that does not resolve): exit 1 with nginx's words", async () => {
    const conf = readFileSync(frontDoorPaths(stack.frontDoor.runDir).conf, 'utf8');
    const { digest } = await running();
    writeFileSync(stack.cutoverFile, good.replace(/backend: "?127\.0\.0\.1:\d+"?/, 'backend: no-such-host.invalid:8082'));
    try {
      const r = await gateway('apply', ...flags());
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('nginx rejected the rendered config (nginx -t)');
      expect(r.stderr).toContain('host not found in upstream "no-such-host.invalid:8082"');
      await expectUntouched(conf, digest);
    } finally {
      writeFileSync(stack.cutoverFile, good);
    }
  });

  it('a config the master refuses on reload (its listen port is taken): the previous file is put back', async () => {
    const conf = readFileSync(frontDoorPaths(stack.frontDoor.runDir).conf, 'utf8');
    const { digest } = await running();
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    writeFileSync(stack.cutoverFile, good.replace(/^listen: .*$/m, `listen: 127.0.0.1:${port}`));
    try {
      const r = await gateway('apply', ...flags());
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('nginx did not start serving the new config');
      expect(r.stderr).toContain('the previous config is back in place');
      expect(r.stderr).toMatch(/\[emerg\].*Address already in use/);
      await expectUntouched(conf, digest);
    } finally {
      writeFileSync(stack.cutoverFile, good);
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('no front door running in the run dir: exit 3, says so, nothing written there', async () => {
    const empty = path.join(work, 'no-nginx-here');
    const r = await gateway('apply', '--file', stack.cutoverFile, '--run-dir', empty);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the front door is not running');
    expect(r.stderr).toContain('the cutover file is valid and nginx accepts it');
    expect(() => readFileSync(path.join(empty, 'nginx.conf'))).toThrow();
  });
});

describe('gateway set / rollback / status', () => {
  it('set: only the share changes in the file (comments and layout kept), nginx runs it', async () => {
    const before = readFileSync(stack.cutoverFile, 'utf8');
    expect(before).toMatch(/# 0\.\.100, percent of variants sent to the new service/);
    const r = await gateway('set', 'images', '40', ...flags());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nginx reloaded');
    expect(r.stdout).toContain('images: GET,HEAD /image/files/ -> new 100% -> 40%');
    expect(readFileSync(stack.cutoverFile, 'utf8')).toBe(setRouteShare(before, 'images', 40));
    expect(readFileSync(stack.cutoverFile, 'utf8')).toBe(before.replace(/share: 100(\s+#)/, 'share: 40$1'));
    expect((await running()).plan.routes.images!.share).toBe(40);
  });

  it('status: the share in the file, the share nginx runs, and the traffic per backend', async () => {
    for (let i = 0; i < 60; i++) await backendOf(`/image/files/tiny.png?w=${i + 1}&s=status`);
    await fetch(`${stack.frontDoor.url}/image/health`).then((r) => r.arrayBuffer());
    const r = await gateway('status', ...flags());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`front door: ${stack.frontDoor.url}`);
    const rows = r.stdout.split('\n');
    const images = rows.find((l) => l.startsWith('images'))!.split(/\s+/);
    expect(images.slice(0, 3)).toEqual(['images', '40%', '40%']);
    expect(rows.some((l) => /^\s+legacy\s+\d+/.test(l) || /^images\s.*\slegacy\s/.test(l))).toBe(true);
    expect(rows.some((l) => l.startsWith('(other)'))).toBe(true);

    const json = JSON.parse((await gateway('status', '--json', ...flags())).stdout) as {
      running: boolean;
      routes: Array<{
        name: string;
        fileShare?: number;
        runningShare?: number;
        traffic?: { backends: Record<string, { requests: number; errors: number; p50Ms: number }> };
      }>;
    };
    expect(json.running).toBe(true);
    const route = json.routes.find((x) => x.name === 'images')!;
    expect([route.fileShare, route.runningShare]).toEqual([40, 40]);
    const backends = route.traffic!.backends;
    expect((backends.new?.requests ?? 0) + (backends.legacy?.requests ?? 0)).toBeGreaterThanOrEqual(60);
    expect(backends.new!.requests).toBeGreaterThan(0);
    expect(backends.legacy!.requests).toBeGreaterThan(0);
    expect(backends.new!.errors).toBe(0);
    expect(backends.new!.p50Ms).toBeGreaterThan(0);
  });

  it('status says when the file and nginx disagree', async () => {
    const text = readFileSync(stack.cutoverFile, 'utf8');
    writeFileSync(stack.cutoverFile, setRouteShare(text, 'images', 70));
    try {
      const r = await gateway('status', ...flags());
      expect(
        r.stdout
          .split('\n')
          .find((l) => l.startsWith('images'))!
          .split(/\s+/)
          .slice(0, 3),
      ).toEqual(['images', '70%', '40%']);
      expect(r.stdout).toContain("the file and nginx disagree on images: run 'npx gateway apply'");
    } finally {
      writeFileSync(stack.cutoverFile, text);
    }
  });

  it('rollback: share 0 in the file and in nginx, at once', async () => {
    const r = await gateway('rollback', 'images', ...flags());
    expect(r.code).toBe(0);
    expect(parseCutover(readFileSync(stack.cutoverFile, 'utf8')).routes[0]!.share).toBe(0);
    expect((await running()).plan.routes.images!.share).toBe(0);
    expect(await backendOf()).toBe('legacy');
  });

  it.each([
    [['set', 'images', '101'], 'share: expected an integer from 0 to 100'],
    [['set', 'images', 'ten'], "share: expected an integer from 0 to 100, got 'ten'"],
    [['set', 'images'], 'expected a route and a share'],
    [['set', 'imgs', '10'], "no route named 'imgs' in the cutover file; expected one of: images"],
    [['rollback'], 'expected a route'],
    [['apply', '--bogus'], "Unknown option '--bogus'"],
  ])('gateway %j: exit 2 and a message; the file untouched', async (args, message) => {
    const before = readFileSync(stack.cutoverFile, 'utf8');
    const r = await gateway(...args, ...flags());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(readFileSync(stack.cutoverFile, 'utf8')).toBe(before);
  });

  it('render prints the config the file renders to, with the running digest when unchanged', async () => {
    const r = await gateway('render', ...flags());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('split_clients "${request_uri}" $fd_images_split {');
    expect(r.stdout).toContain(`# frontdoor-digest: ${(await running()).digest}`);
  });
});
