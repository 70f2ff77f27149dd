/**
 * Smoke tests of the k6 scripts (not a benchmark): each runs for a few seconds with real k6
 * against a real stack (legacy PHP-FPM + Imagick, the image service, the front door), and the
 * summaries it writes must hold what the scripts promise: both targets side by side, the observed
 * share against the configured one (and a mismatch must fail the run), a saturation verdict per target.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requests } from '../../gateway/src/requests.ts';
import { projectRoot } from '../../common/paths.ts';
import { benchPhotos } from '../../support/fixtures.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { findTool } from '../../stack/tools.ts';

const k6 = findTool('k6');
const work = mkdtempSync(path.join(os.tmpdir(), 'loadtest-int-'));
const storageDir = path.join(work, 'originals');
const requestList = path.join(work, 'requests.json');
let stack: RunningStack | undefined;

interface K6Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runK6(script: string, env: Record<string, string>, timeoutMs = 120_000): Promise<K6Run> {
  return new Promise((resolve, reject) => {
    const args = [
      'run',
      '--quiet',
      '--no-usage-report',
      ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      path.join(projectRoot, 'loadtest', script),
    ];
    const child = spawn(k6, args, { env: { ...process.env, K6_NO_USAGE_REPORT: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

// A smoke test checks behaviour, not speed: latency limits generous enough for a busy shared machine.
const summaryPaths = (name: string) => ({
  SUMMARY_JSON: path.join(work, `${name}.json`),
  SUMMARY_MD: path.join(work, `${name}.md`),
  P95_MS: '20000',
  P99_MS: '30000',
});
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

async function setShare(share: number): Promise<void> {
  const s = stack!;
  const doc = parseDocument(readFileSync(s.cutoverFile, 'utf8'));
  doc.setIn(['routes', 0, 'share'], share);
  writeFileSync(s.cutoverFile, doc.toString());
  await s.frontDoor.apply();
}

beforeAll(async () => {
  mkdirSync(storageDir, { recursive: true });
  for (const file of await benchPhotos(path.join(work, 'generated'))) copyFileSync(file, path.join(storageDir, path.basename(file)));
  stack = await startStack({ storageDir, runDir: path.join(work, 'run'), share: 50 });
  // Light variants: this is a smoke test on two shared cores, not a measurement.
  const code = await requests.run(
    ['--from-originals', storageDir, '--variants', 'w=300&format=jpeg;w=200&h=200&fit=cover&format=webp', '--out', requestList],
    {},
  );
  expect(code).toBe(0);
});

afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('loadtest scripts against a real stack', () => {
  it('shadow.js: same requests to legacy and new, both in the side-by-side summary', async () => {
    const s = summaryPaths('shadow');
    const run = await runK6('shadow.js', {
      LEGACY_URL: stack!.legacy.url,
      NEW_URL: stack!.service.url,
      NEW_HEALTH: `${stack!.service.adminUrl}/healthz`,
      REQUESTS: requestList,
      RATE: '3',
      DURATION: '3s',
      GAP: '1s',
      ...s,
    });
    expect(run.code, run.stderr).toBe(0);
    const json = readJson(s.SUMMARY_JSON);
    for (const t of ['legacy', 'new']) {
      expect(json.targets[t].requests).toBeGreaterThanOrEqual(8);
      expect(json.targets[t].failed_rate).toBe(0);
      expect(json.targets[t].checks_rate).toBe(1);
      expect(json.targets[t].p99_ms).toBeGreaterThan(0);
      expect(json.targets[t].body_bytes_avg).toBeGreaterThan(1000);
    }
    expect(json.thresholds_ok).toBe(true);
    const md = readFileSync(s.SUMMARY_MD, 'utf8');
    expect(md).toMatch(/\| \| legacy \| new \| new \/ legacy \|/);
    expect(md).toMatch(/\| p99 \(ms\) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \|/);
    // The table is printed too.
    expect(run.stdout).toContain('Shadow comparison: legacy vs new');
  });

  it('shadow.js: refuses to start against a target that is down, before any load', async () => {
    const s = summaryPaths('shadow-down');
    const run = await runK6('shadow.js', {
      LEGACY_URL: 'http://127.0.0.1:9',
      NEW_URL: stack!.service.url,
      NEW_HEALTH: `${stack!.service.adminUrl}/healthz`,
      REQUESTS: requestList,
      DURATION: '2s',
      ...s,
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/legacy is not healthy: GET http:\/\/127\.0\.0\.1:9\/image\/health/);
  });

  it('canary.js: observed share within tolerance at 50, per-backend latency from X-Image-Backend', async () => {
    const s = summaryPaths('canary');
    const run = await runK6('canary.js', { FRONT_URL: stack!.frontDoor.url, SHARE: '50', REQUESTS: requestList, RATE: '10', DURATION: '4s', ...s });
    expect(run.code, run.stderr).toBe(0);
    const json = readJson(s.SUMMARY_JSON);
    expect(json.requests).toBeGreaterThanOrEqual(35);
    expect(json.share_ok).toBe(true);
    expect(json.observed_share).toBeGreaterThan(0);
    expect(json.observed_share).toBeLessThan(1);
    expect(json.backends.new.requests).toBeGreaterThan(0);
    expect(json.backends.legacy.requests).toBeGreaterThan(0);
    expect(json.backends.new.requests + json.backends.legacy.requests).toBe(json.requests);
    expect(readFileSync(s.SUMMARY_MD, 'utf8')).toMatch(/\| new \| \d+ \|/);
  });

  it('canary.js: share 0 is checked exactly, and a configured share the front door does not run fails the run', async () => {
    await setShare(0);
    try {
      const ok = summaryPaths('canary-0');
      const run0 = await runK6('canary.js', { FRONT_URL: stack!.frontDoor.url, SHARE: '0', REQUESTS: requestList, RATE: '10', DURATION: '2s', ...ok });
      expect(run0.code, run0.stderr).toBe(0);
      expect(readJson(ok.SUMMARY_JSON)).toMatchObject({ observed_share: 0, tolerance: 0, share_ok: true });

      const bad = summaryPaths('canary-mismatch');
      const run100 = await runK6('canary.js', { FRONT_URL: stack!.frontDoor.url, SHARE: '100', REQUESTS: requestList, RATE: '10', DURATION: '2s', ...bad });
      // 99: k6's exit code for failed thresholds.
      expect(run100.code).toBe(99);
      const json = readJson(bad.SUMMARY_JSON);
      expect(json.share_ok).toBe(false);
      expect(json.failed_thresholds.join(' ')).toMatch(/routed_new/);
      expect(readFileSync(bad.SUMMARY_MD, 'utf8')).toContain('MISMATCH');
    } finally {
      await setShare(50);
    }
  });

  it('stress.js: a staircase per target, each with its levels and a saturation verdict', async () => {
    const s = summaryPaths('stress');
    const run = await runK6('stress.js', {
      LEGACY_URL: stack!.legacy.url,
      NEW_URL: stack!.service.url,
      NEW_HEALTH: `${stack!.service.adminUrl}/healthz`,
      REQUESTS: requestList,
      START_RATE: '2',
      STEP_RATE: '2',
      STEPS: '2',
      STEP_DURATION: '2s',
      GAP: '1s',
      ...s,
    });
    expect(run.code, run.stderr).toBe(0);
    const json = readJson(s.SUMMARY_JSON);
    for (const t of ['legacy', 'new']) {
      const target = json.targets[t];
      expect(target.steps.map((x: { rate: number }) => x.rate)).toEqual([2, 4]);
      expect(target.steps[0].requests).toBeGreaterThan(0);
      expect(target.steps[1].requests).toBeGreaterThan(target.steps[0].requests);
      expect(target.saturation).toHaveProperty('note');
    }
    expect(readFileSync(s.SUMMARY_MD, 'utf8')).toMatch(/\| target \| saturation \(req\/s\) \|/);
  });

  it('npm run loadtest (loadtest/run.ts) runs shadow.js on the given stack and prints the table', async () => {
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'loadtest/run.ts')], {
        cwd: projectRoot,
        env: {
          ...process.env,
          LEGACY_URL: stack!.legacy.url,
          NEW_URL: stack!.service.url,
          NEW_HEALTH: `${stack!.service.adminUrl}/healthz`,
          REQUESTS: requestList,
          RATE: '2',
          DURATION: '3s',
          GAP: '1s',
          P95_MS: '20000',
          P99_MS: '30000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('Shadow comparison: legacy vs new');
    const summary = path.join(projectRoot, 'var/loadtest/shadow-summary.json');
    expect(existsSync(summary)).toBe(true);
    expect(readJson(summary).targets.new.requests).toBeGreaterThan(0);
  });
});
