/**
 * Several replicas of the new service behind the real front door (3 real image services, real
 * nginx, real legacy): nginx balances them by least connections; a replica that refuses
 * connections (killed) costs clients nothing, not even a fallback, because the request moves on
 * to a sibling; a hung replica costs the requests that meet it the route's timeout once, served
 * by legacy, and none after max_fails; legacy serves the route only when every replica has failed.
 * Who served each request is read from the front door's access log (upstream_addr).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';
import { awaitAccessLines, type AccessLine } from '../../support/access-log.ts';
import { photoRaw } from '../../support/fixtures.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';

let stack: RunningStack;
let work: string;
const stopped = new Set<number>();
/** The route's timeout: what a request that meets the hung replica pays before legacy serves it. */
const TIMEOUT_MS = 1000;
const MAX_FAILS = 2;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'frontdoor-replicas-'));
  const storageDir = path.join(work, 'originals');
  mkdirSync(storageDir);
  await sharp({ create: { width: 8, height: 6, channels: 3, background: '#37a' } })
    .png()
    .toFile(path.join(storageDir, 'tiny.png'));
  // A few ms per resize: enough for requests to overlap, so that least_conn has something to balance.
  await (await photoRaw(640, 480, 5)).jpeg({ quality: 85 }).toFile(path.join(storageDir, 'small.jpg'));
  stack = await startStack({
    storageDir,
    runDir: path.join(work, 'run'),
    share: 100,
    replicas: 3,
    // fail_timeout_s long enough that a failed replica stays skipped for the whole file.
    cutover: { debug_headers: true, timeout_ms: TIMEOUT_MS, max_fails: MAX_FAILS, fail_timeout_s: 120 },
    legacyChildren: 2,
  });
});

afterAll(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Answer {
  status: number;
  backend: string | null;
  fallback: string | null;
  startedAt: number;
  ms: number;
}

/** A closed loop of `connections` clients for `durationMs` (bounded), each on its own URIs. */
async function load(durationMs: number, connections: number, tag: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  const until = performance.now() + durationMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until && n < 5000) {
        const i = n++;
        const startedAt = performance.now();
        const res = await fetch(`${stack.frontDoor.url}/image/files/${i % 3 === 0 ? 'tiny.png' : 'small.jpg'}?w=${16 + (i % 300)}&t=${tag}${i}`);
        await res.arrayBuffer();
        answers.push({
          status: res.status,
          backend: res.headers.get('x-image-backend'),
          fallback: res.headers.get('x-image-fallback'),
          startedAt,
          ms: performance.now() - startedAt,
        });
      }
    }),
  );
  return answers;
}

interface LogLine {
  uri: string;
  status: number;
  backend: string;
  fallback: string;
  upstream_addr: string;
}

/** The log lines of one load's answers, once all of them are there (nginx logs after answering). */
async function logLines(tag: string, answers: Answer[]): Promise<LogLine[]> {
  const mine = (l: AccessLine) => String(l.uri).includes(`t=${tag}`);
  const lines = await awaitAccessLines(stack.frontDoor.accessLog, { count: answers.length, match: mine });
  return lines as unknown as LogLine[];
}

/** The new-service addresses one request went to, in order ("a, b : legacy" -> [a, b]). */
const newAttempts = (l: LogLine) => l.upstream_addr.split(' : ')[0]!.split(', ');

/** Requests answered by each replica (the last new address of a request that new served). */
function servedBy(lines: LogLine[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(stack.services.map((s) => [`127.0.0.1:${s.port}`, 0]));
  for (const l of lines) if (l.backend === 'new') counts[newAttempts(l).at(-1)!] = (counts[newAttempts(l).at(-1)!] ?? 0) + 1;
  return counts;
}

const addr = (i: number) => `127.0.0.1:${stack.services[i]!.port}`;

describe('three replicas behind the front door', () => {
  it('the route lists all three, and least_conn spreads the load over every one', async () => {
    expect(readFileSync(path.join(stack.frontDoor.runDir, 'nginx.conf'), 'utf8')).toContain('least_conn;');
    const answers = await load(2000, 6, 'spread');
    expect(answers.length).toBeGreaterThan(30);
    expect(answers.every((a) => a.status === 200 && a.backend === 'new' && a.fallback === null)).toBe(true);
    const counts = servedBy(await logLines('spread', answers));
    for (let i = 0; i < 3; i++) expect(counts[addr(i)], `replica ${addr(i)} in ${JSON.stringify(counts)}`).toBeGreaterThan(answers.length / 10);
  });

  it('one replica killed (SIGKILL): no client error, no fallback; requests that meet it move on to a sibling', async () => {
    const pid = stack.services[0]!.process.pid;
    process.kill(pid, 'SIGKILL');
    await stack.services[0]!.process.exited;
    const answers = await load(2000, 6, 'killed');
    expect(answers.length).toBeGreaterThan(30);
    expect(answers.filter((a) => a.status !== 200 || a.backend !== 'new' || a.fallback !== null)).toEqual([]);
    const lines = await logLines('killed', answers);
    const counts = servedBy(lines);
    expect(counts[addr(0)]).toBe(0);
    expect(counts[addr(1)]! + counts[addr(2)]!).toBe(answers.length);
    // Its refusals were retried on a sibling ("dead, sibling" in upstream_addr), until max_fails marked it down.
    const retried = lines.filter((l) => newAttempts(l).length > 1);
    expect(retried.length).toBeGreaterThanOrEqual(1);
    for (const l of retried) expect(newAttempts(l)[0]).toBe(addr(0));
  });

  it('`gateway status` probes each replica: the killed one down, its siblings up', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(projectRoot, 'gateway/bin/gateway.js'), 'status', '--file', stack.cutoverFile, '--run-dir', stack.frontDoor.runDir],
      { cwd: projectRoot, timeout: 30_000 },
    );
    const line = (i: number) => stdout.split('\n').find((l) => l.startsWith(`  images (new ${i + 1}/3) `)) ?? `(no line for replica ${i + 1} in:\n${stdout})`;
    expect(line(0)).toMatch(new RegExp(`^  images \\(new 1/3\\) +${addr(0).replace(/\./g, '\\.')} +down \\(connection refused\\)$`));
    expect(line(1)).toMatch(/ up \(\d+ ms\)$/);
    expect(line(2)).toMatch(/ up \(\d+ ms\)$/);
  });

  it('a second replica hung (SIGSTOP): no client error; a request that meets it pays the timeout once and legacy serves it; then the last replica takes all', async () => {
    const pid = stack.services[1]!.process.pid;
    process.kill(pid, 'SIGSTOP');
    stopped.add(pid);
    const hungAt = performance.now();
    const answers = await load(3 * TIMEOUT_MS + 1500, 4, 'hung');
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const lines = await logLines('hung', answers);
    const fellBack = lines.filter((l) => l.fallback === '1');
    // It is found out by timing out: at least one request paid for that, at most a few (least_conn
    // stops feeding a replica whose requests never finish; max_fails marks it down).
    expect(fellBack.length).toBeGreaterThanOrEqual(1);
    expect(fellBack.length).toBeLessThanOrEqual(MAX_FAILS + 4);
    // A timed-out request is not retried on a sibling: one new address, then legacy.
    for (const l of fellBack) expect(newAttempts(l)).toEqual([addr(1)]);
    for (const a of answers.filter((x) => x.fallback === '1')) expect(a.ms).toBeGreaterThanOrEqual(TIMEOUT_MS * 0.9);
    // After max_fails timeouts (the first ones end about TIMEOUT_MS after the hang), only the last replica serves.
    const late = answers.filter((a) => a.startedAt > hungAt + 2 * TIMEOUT_MS + 500);
    expect(late.length).toBeGreaterThan(10);
    expect(late.every((a) => a.backend === 'new' && a.fallback === null)).toBe(true);
    const counts = servedBy(lines);
    expect(counts[addr(0)]).toBe(0);
    expect(counts[addr(2)]).toBeGreaterThan(counts[addr(1)]! * 3);
  });

  it('every replica failed (the last one killed too): legacy serves the route, every answer a 200', async () => {
    process.kill(stack.services[2]!.process.pid, 'SIGKILL');
    await stack.services[2]!.process.exited;
    const answers = await load(1000, 4, 'none');
    expect(answers.length).toBeGreaterThan(5);
    expect(answers.filter((a) => a.status !== 200 || a.backend !== 'legacy' || a.fallback !== '1')).toEqual([]);
  });
});
