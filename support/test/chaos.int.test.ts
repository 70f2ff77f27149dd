/**
 * Runs `npm run chaos` shortened (CHAOS_SHORT=1: a few seconds of load per scenario) as a child
 * process, the way users run it, and holds every scenario to its verdict and its figures: real
 * nginx, PHP-FPM, versitygw and image-service processes, killed, slowed and flooded for real.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RSS_BUDGET_MB, type ScenarioResult } from '../../scripts/chaos.ts';
import { projectRoot } from '../../common/paths.ts';
import { startProcess } from '../../stack/process.ts';

const SCENARIOS = [
  'sigkill-share-50',
  'storage-slow',
  'storage-down',
  'overload-5x',
  'reloads-20',
  'php-fpm-down',
  'sigterm-under-load',
  'new-hung',
  'overload-share-100',
  'hostile-targets',
  'connection-flood',
  'new-killed-under-start',
  'replicas-3',
];

let dir: string;
let results: ScenarioResult[];
let stdout: string;
let exitCode: number | null;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-test-'));
  const json = path.join(dir, 'chaos.json');
  const proc = startProcess('chaos', process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/chaos.ts')], {
    cwd: projectRoot,
    env: { ...process.env, CHAOS_SHORT: '1', CHAOS_JSON: json },
  });
  // replicas-3 (npm start with 3 replicas) adds ~30 s to the short run.
  const timer = setTimeout(() => void proc.stop(), 330_000);
  exitCode = await proc.exited;
  clearTimeout(timer);
  stdout = proc.output();
  try {
    results = JSON.parse(readFileSync(json, 'utf8')) as ScenarioResult[];
  } catch {
    throw new Error(`scripts/chaos.ts wrote no results (exit ${exitCode}):\n${stdout}`);
  }
}, 350_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const scenario = (name: string): ScenarioResult => {
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};

describe('npm run chaos (CHAOS_SHORT=1)', () => {
  it('prints the table: scenario, requests, client-visible errors, lost, peak RSS, verdict', () => {
    expect(stdout).toMatch(/\| scenario\s+\| requests \| client-visible errors \| lost \| peak RSS \| verdict \|/);
    for (const name of SCENARIOS)
      expect(stdout).toMatch(new RegExp(`\\| ${name}\\s+\\|\\s+\\d+ \\|\\s+\\d+ \\|\\s+\\d+ \\|\\s+\\d+ MB \\|\\s+(PASS|FAIL) \\|`));
  });

  it.each(SCENARIOS)('%s: PASS', (name) => {
    const r = scenario(name);
    // The failed checks and the figures are in the notes: show them when this fails.
    expect(r.verdict, `${name}: ${r.notes}`).toBe('PASS');
    expect(r.checks.length).toBeGreaterThan(0);
    expect(r.checks.every((c) => c.ok)).toBe(true);
    expect(r.requests).toBeGreaterThan(0);
  });

  it('exits 0 only because every verdict passed', () => {
    expect(exitCode).toBe(results.every((r) => r.verdict === 'PASS') ? 0 : 1);
    expect(results.map((r) => r.name)).toEqual(SCENARIOS);
  });

  it('loses no request in any scenario', () => {
    expect(Object.fromEntries(results.map((r) => [r.name, r.lost]))).toEqual(Object.fromEntries(SCENARIOS.map((n) => [n, 0])));
  });

  it('shows no client-visible error where the front door or the design must hide the fault', () => {
    for (const name of [
      'sigkill-share-50',
      'reloads-20',
      'php-fpm-down',
      'sigterm-under-load',
      'new-hung',
      'hostile-targets',
      'connection-flood',
      'new-killed-under-start',
      'replicas-3',
    ])
      expect(scenario(name).clientErrors, name).toBe(0);
  });

  it('answers the provoked faults with errors, not with silence (the designed 5xx are counted)', () => {
    // overload-share-100 counts its 503s: the new service shedding, passed through to the client.
    for (const name of ['storage-slow', 'storage-down', 'overload-5x', 'overload-share-100']) expect(scenario(name).clientErrors, name).toBeGreaterThan(0);
  });

  it(`keeps the image service's peak RSS under ${RSS_BUDGET_MB} MB everywhere`, () => {
    for (const r of results) {
      expect(r.peakRssMb, r.name).toBeGreaterThan(30);
      expect(r.peakRssMb, r.name).toBeLessThan(RSS_BUDGET_MB);
    }
  });
});
