/**
 * The front door under hostile request targets, as a property: fast-check over raw targets
 * (percent-encoded '/', '.', '\', NUL and unreserved characters in both hex cases, dot segments,
 * '//', ';', backslashes, overlong paths, query tricks), sent byte for byte over a socket to the
 * real nginx, at share 100 with the override header honoured from loopback and set to "new" on
 * every request: the most a client can steer. Whatever the target, nothing but the hot route (on
 * the new service, in normal form) and legacy is reached: the new service's /metrics, /readyz
 * and /healthz never answer, and its own access log shows normal-form hot targets only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectAccessLog, internalAnswer, isNormalHotTarget, KNOWN_ATTACKS, runHostileTargets, type HostileRun } from '../../support/hostile-targets.ts';
import { generateImages } from '../../support/fixtures.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';

const RUNS = 300;
const SEED = 20261203;

let work: string;
let stack: RunningStack;
let run: HostileRun;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hostile-targets-'));
  const storage = path.join(work, 'originals');
  await generateImages(storage);
  await sharp({ create: { width: 32, height: 24, channels: 3, background: '#2c3e50' } })
    .png()
    .toFile(path.join(storage, 'tiny.png'));
  stack = await startStack({
    storageDir: storage,
    runDir: path.join(work, 'stack'),
    share: 100,
    cutover: { override_header: true, debug_headers: true },
    serviceEnv: { LOG_LEVEL: 'info' },
  });
  const accessLog = collectAccessLog(stack.service.process.child.stdout!);
  const front = new URL(stack.frontDoor.url);
  run = await runHostileTargets({
    front: { host: front.hostname, port: Number(front.port) },
    accessLog,
    runs: RUNS,
    seed: SEED,
    headers: { 'X-Image-Backend': 'new' },
  });
  const statuses = new Map<number, number>();
  for (const a of run.answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  process.stdout.write(
    `hostile targets: ${run.answers.length} sent (seed ${SEED}, ${RUNS} runs + ${KNOWN_ATTACKS.length} known attacks); statuses ${[...statuses].map(([s, n]) => `${n}x${s}`).join(' ')}; ` +
      `the new service logged ${run.reached.length} requests, ${run.offending.length} not in normal form\n`,
  );
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the front door under hostile request targets (real nginx, share 100, override to new)', () => {
  it('answers every target, and never with the new service metrics or health', () => {
    expect(run.failure, `counterexample ${run.counterexample}: ${run.failure}`).toBeUndefined();
    expect(run.answers.length).toBeGreaterThanOrEqual(RUNS);
    expect(run.answers.filter((a) => internalAnswer(a.body) !== undefined)).toEqual([]);
  });

  it("the new service's access log shows normal-form hot-route targets only", () => {
    expect(run.offending).toEqual([]);
  });

  it('answers a hostile target as the client error it is: 4xx, never a 5xx', () => {
    expect(run.serverErrors.map((a) => `${a.status} ${JSON.stringify(a.target).slice(0, 100)}`)).toEqual([]);
  });

  it('is a real test: normal-form hot targets did reach the new service, and the others were refused in front of it', () => {
    // Without these the property could pass vacuously (everything refused, or nothing logged).
    expect(run.reached.length).toBeGreaterThan(0);
    expect(run.reached.every(isNormalHotTarget)).toBe(true);
    expect(run.answers.some((a) => a.status === 200 && a.headers['x-image-backend'] === 'new')).toBe(true);
    const refused = run.answers.filter((a) => !isNormalHotTarget(a.target) && a.target.startsWith('/image/files/') && a.status === 400);
    expect(refused.length).toBeGreaterThan(0);
  });
});
