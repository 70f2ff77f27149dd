/**
 * The GitOps router (gateway/src/router/manifests.ts) and `gateway render --target`: files in a
 * temporary directory, read back the way a rollout would.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { render } from '../src/commands/render.ts';
import { parseCutover } from '../src/cutover/schema.ts';
import { GatewayError } from '../src/errors.ts';
import { K8S_TARGET_NAMES, parseManifests } from '../src/k8s/render.ts';
import { ManifestsRouter } from '../src/router/manifests.ts';
import type { Router } from '../src/router/router.ts';

let dir: string;
let cutoverFile: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'k8s-router-'));
  cutoverFile = path.join(dir, 'cutover.yaml');
  copyFileSync(path.join(projectRoot, 'nginx/cutover.yaml'), cutoverFile);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.each(K8S_TARGET_NAMES)('ManifestsRouter (%s)', (target) => {
  const router = (): Router => new ManifestsRouter({ target, outDir: path.join(dir, 'out'), cutoverFile });

  it('knows no route before it has written anything', async () => {
    await expect(router().readShare('images')).resolves.toBeUndefined();
  });

  it('setShare writes the manifests and the cutover file; readShare reads the files back', async () => {
    const r = router();
    await r.setShare('images', 25);
    await expect(r.readShare('images')).resolves.toEqual({ share: 25, source: `${target} manifests, ${path.join(dir, 'out', 'routes.yaml')}` });
    // The cutover file stays the source of truth, comments kept.
    const text = readFileSync(cutoverFile, 'utf8');
    expect(parseCutover(text).routes[0]!.share).toBe(25);
    expect(text).toContain('# 0..100, percent of variants sent to the new service');
    await r.setShare('images', 0);
    await expect(r.readShare('images')).resolves.toMatchObject({ share: 0 });
    // One file, written by rename: no temporary file is left beside it.
    expect(readdirSync(path.join(dir, 'out'))).toEqual(['routes.yaml']);
  });

  it('reads what is in the files, not what the cutover file says', async () => {
    const r = router();
    await r.setShare('images', 10);
    const file = path.join(dir, 'out', 'routes.yaml');
    const edited = readFileSync(file, 'utf8')
      .replace(/weight: 10\n/, 'weight: 30\n')
      .replace(/weight: 90\n/, 'weight: 70\n')
      .replace('canary-weight: "10"', 'canary-weight: "30"');
    writeFileSync(file, edited);
    await expect(r.readShare('images')).resolves.toMatchObject({ share: 30 });
    await expect(r.readShare('thumbs')).resolves.toBeUndefined();
  });

  it('refuses an unknown route or a share out of range, leaving both files as they were', async () => {
    const r = router();
    await r.setShare('images', 10);
    const before = [readFileSync(cutoverFile, 'utf8'), readFileSync(path.join(dir, 'out', 'routes.yaml'), 'utf8')];
    await expect(r.setShare('thumbs', 10)).rejects.toThrow(GatewayError);
    await expect(r.setShare('images', 101)).rejects.toThrow(/share: expected an integer from 0 to 100/);
    expect([readFileSync(cutoverFile, 'utf8'), readFileSync(path.join(dir, 'out', 'routes.yaml'), 'utf8')]).toEqual(before);
  });

  it('puts the cutover file back when the manifests cannot be written', async () => {
    const before = readFileSync(cutoverFile, 'utf8');
    writeFileSync(path.join(dir, 'out'), 'a file where the directory should be');
    await expect(router().setShare('images', 40)).rejects.toThrow(/cannot write the .* manifests/);
    expect(readFileSync(cutoverFile, 'utf8')).toBe(before);
  });
});

describe('gateway render --target', () => {
  let stdout: string[];
  let stderr: string[];
  beforeEach(() => {
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (stdout.push(String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
  });
  afterEach(() => vi.restoreAllMocks());

  it.each(K8S_TARGET_NAMES)('%s: writes routes.yaml into --out and lists what it could not render', async (target) => {
    const out = path.join(dir, target);
    await expect(render.run(['--file', cutoverFile, '--target', target, '--out', out], {})).resolves.toBe(0);
    const manifests = parseManifests(readFileSync(path.join(out, 'routes.yaml'), 'utf8'), 'routes.yaml');
    expect(manifests.length).toBeGreaterThan(0);
    expect(stderr.join('')).toMatch(/not expressible: route images: fallback not rendered/);
  });

  it('prints to stdout without --out', async () => {
    await expect(render.run(['--file', cutoverFile, '--target', 'istio'], {})).resolves.toBe(0);
    expect(stdout.join('')).toMatch(/kind: VirtualService/);
  });

  it('refuses an unknown target, naming the known ones', async () => {
    await expect(render.run(['--file', cutoverFile, '--target', 'linkerd'], {})).rejects.toThrow(
      /--target: unknown target 'linkerd'; expected nginx, gateway-api, istio, ingress-nginx/,
    );
  });
});
