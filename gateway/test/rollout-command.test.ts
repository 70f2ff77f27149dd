/** `gateway rollout`: its usage errors, and `status` on a state file (no nginx needed for either). */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rollout } from '../src/commands/rollout.ts';
import { GatewayError } from '../src/errors.ts';
import { startRollout } from '../src/rollout/core/machine.ts';
import { rolloutPaths, writeStateFile } from '../src/rollout/store.ts';

let dir: string;
const file = () => path.join(dir, 'cutover.yaml');
const withRollout = `routes:
  - name: images
    path: /image/files/
    backend: 127.0.0.1:8082
    rollout: { steps: [10, 100], interval: 30s }
  - name: thumbs
    path: /thumbs/
    backend: 127.0.0.1:8082
`;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rollout-command-'));
  writeFileSync(file(), withRollout);
  mkdirSync(path.join(dir, 'run'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

const runIt = (...args: string[]) => rollout.run([...args, '--file', file(), '--run-dir', path.join(dir, 'run')], {});

async function usageError(promise: Promise<unknown>): Promise<GatewayError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(GatewayError);
  return e as GatewayError;
}

describe('gateway rollout: usage errors say what was expected', () => {
  it.each([
    [['bogus', 'images'], 'expected an action (run|status|pause|resume|promote|abort|restart) and a route, such as: gateway rollout status images'],
    [['status'], 'expected an action'],
    [['status', 'images', 'extra'], 'expected an action'],
    [['status', 'nope'], "has no route named 'nope' (routes: images, thumbs)"],
    [['run', 'thumbs'], "route 'thumbs' has no rollout: block"],
    [['run', 'images', '--metrics-listen', 'everywhere'], "--metrics-listen: expected host:port such as 127.0.0.1:9084, or off; got 'everywhere'"],
    [['pause', 'images'], "the rollout of images has not started: run 'gateway rollout run images' (or npm start)"],
    [['promote', 'images', '--router', 'envoy'], "--router: expected one of nginx, gateway-api, istio, ingress-nginx; got 'envoy'"],
    [['promote', 'images', '--router', 'istio'], '--router istio: expected --out <dir>, where the manifests are written'],
    [['promote', 'images', '--out', '/tmp/x'], '--out: only with a Kubernetes --router'],
  ])('%j', async (args, message) => {
    const e = await usageError(runIt(...args));
    expect(e.message).toContain(message);
    expect(e.exitCode).toBe(2);
  });
});

describe('gateway rollout status', () => {
  it('prints the state file: status, step, next decision, the last decision', async () => {
    const t = startRollout('images', { steps: [10, 100], interval: 30_000, min_requests: 100, failure_limit: 2, gates: {} }, Date.now());
    writeStateFile(rolloutPaths(path.join(dir, 'run'), 'images'), { state: t.state });
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (printed.push(String(s)), true));
    expect(await runIt('status', 'images')).toBe(0);
    expect(printed.join('')).toMatch(
      /^images: running, step 1 of 2 \(10%\), next decision .* \(in [0-9]+s\)\n {2}last decision: start at .* \(by controller\): started: step 1 of 2 \(10%\)/,
    );
    printed.length = 0;
    expect(await runIt('status', 'images', '--json')).toBe(0);
    expect(JSON.parse(printed.join(''))).toMatchObject({ route: 'images', state: { status: 'running', share: 10 }, pending: false });
  });

  it('not started yet: says how to start', async () => {
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (printed.push(String(s)), true));
    await runIt('status', 'images');
    expect(printed.join('')).toContain('images: not started (steps 10, 100% every 30s; gateway rollout run images)');
  });
});

describe('gateway rollout with a GitOps router (--router <target> --out <dir>)', () => {
  it('promote edits the cutover file, writes the target manifests with the new weights, and records it in the audit log', async () => {
    const t = startRollout('images', { steps: [10, 100], interval: 30_000, min_requests: 100, failure_limit: 2, gates: {} }, Date.now());
    writeStateFile(rolloutPaths(path.join(dir, 'run'), 'images'), { state: t.state });
    const out = path.join(dir, 'overlay');
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await runIt('promote', 'images', '--router', 'istio', '--out', out)).toBe(0);
    const manifests = readFileSync(path.join(out, 'routes.yaml'), 'utf8');
    // Istio: the images route sends 100 to the new service and 0 to legacy; thumbs (no rollout) stays 0/100.
    const weights = [...manifests.matchAll(/weight: ([0-9]+)/g)].map((m) => Number(m[1]));
    expect(weights).toEqual([100, 0, 0, 100]);
    expect(readFileSync(file(), 'utf8')).toMatch(/name: images[\s\S]*?share: 100/);
    const audit = readFileSync(rolloutPaths(path.join(dir, 'run'), 'images').audit, 'utf8')
      .trim()
      .split('\n');
    expect(JSON.parse(audit.at(-1)!)).toMatchObject({ decision: 'promote', route: 'images' });
  });
});
