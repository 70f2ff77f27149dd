/**
 * The live shadow sink as users run it (`gateway shadow`, its own process): it answers a mirrored
 * request at once even while its queue is full, drops and counts what it cannot take, refuses
 * other methods, exports metrics, and writes results that `gateway compare --report` renders.
 * Then behind the real front door (nginx `mirror` at 100%), with the real backends.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare } from '../src/compare/command.ts';
import type { Report } from '../src/compare/report.ts';
import { setYamlValue } from '../src/cutover/edit.ts';
import { startDelayProxy, type DelayProxy } from '../../support/delay-proxy.ts';
import { projectRoot } from '../../common/paths.ts';
import { percentileOrNaN } from '../../common/stats.ts';
import { generateImages } from '../../support/fixtures.ts';
import { freePort, startProcess, waitForHttp, type Managed } from '../../stack/process.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { startStack, type RunningStack } from '../../stack/stack.ts';
import { writeFileSync } from 'node:fs';

let work: string;
let storage: string;
const stops: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'shadow-int-'));
  storage = path.join(work, 'originals');
  await generateImages(storage);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function startSink(args: {
  legacy: string;
  new: string;
  out: string;
  port: number;
  queue: number;
  concurrency: number;
}): Promise<{ url: string; proc: Managed }> {
  const proc = startProcess('gateway-shadow', process.execPath, [
    path.join(projectRoot, 'gateway/bin/gateway.js'),
    'shadow',
    '--listen',
    `127.0.0.1:${args.port}`,
    '--legacy',
    args.legacy,
    '--new',
    args.new,
    '--out',
    args.out,
    '--queue',
    String(args.queue),
    '--concurrency',
    String(args.concurrency),
  ]);
  stops.push(() => proc.stop());
  const url = `http://127.0.0.1:${args.port}`;
  await waitForHttp(`${url}/healthz`, { process: proc });
  return { url, proc };
}

/** One request on a keep-alive agent (as nginx's upstream connection to the sink), timed. */
function timedGet(agent: http.Agent, url: string, method = 'GET'): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, method }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the sink, saturated', () => {
  let service: RunningService;
  let slow: DelayProxy;
  let sink: { url: string; proc: Managed };
  const out = () => path.join(work, 'saturated', 'results.jsonl');

  beforeAll(async () => {
    service = await startImageService({ STORAGE_URL: pathToFileURL(storage).href });
    stops.push(() => service.stop());
    // The "new" backend answers 400 ms late: one comparison at a time, four waiting, the rest dropped.
    slow = await startDelayProxy({ target: { host: '127.0.0.1', port: service.port }, mode: { kind: 'delay', ms: 400 } });
    stops.push(() => slow.close());
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.dirname(out()), { recursive: true });
    sink = await startSink({ legacy: service.url, new: slow.url, out: out(), port: await freePort(), queue: 4, concurrency: 1 });
  });

  it('answers a mirrored request at once while its queue is full, and drops and counts the excess', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const targets = ['gen-photo-1920x1280.jpg?w=640', 'gen-photo-1001x667.webp?w=320', 'gen-alpha-640x480.png?w=200', 'gen-exif-6.jpg?w=300'];
    // Warm the connection and the sink's JIT first: what is measured is the steady state.
    for (let i = 0; i < 20; i++) await timedGet(agent, `${sink.url}/image/files/${targets[i % 4]}&warm=${i}`);
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const r = await timedGet(agent, `${sink.url}/image/files/${targets[i % 4]}&i=${i}`);
      expect(r.status).toBe(204);
      times.push(r.ms);
    }
    agent.destroy();
    const median = percentileOrNaN(times, 0.5);
    process.stdout.write(
      `sink answer time with its queue full (300 sequential keep-alive GETs): median ${median.toFixed(3)} ms, p99 ` +
        `${percentileOrNaN(times, 0.99).toFixed(3)} ms, max ${Math.max(...times).toFixed(3)} ms\n`,
    );
    expect(median).toBeLessThan(5);
    const dropped = await metric(sink.url, 'gateway_shadow_dropped_total');
    expect(dropped).toBeGreaterThan(250);
    expect(await metric(sink.url, 'gateway_shadow_queue_depth')).toBeGreaterThan(0);
  });

  it('refuses other methods and routes, counting them, and exports parity and latency', async () => {
    const agent = new http.Agent({ keepAlive: true });
    expect((await timedGet(agent, `${sink.url}/image/files`, 'DELETE')).status).toBe(405);
    expect((await timedGet(agent, `${sink.url}/image/files/a.jpg`, 'POST')).status).toBe(405);
    expect((await timedGet(agent, `${sink.url}/image/health`)).status).toBe(204);
    agent.destroy();
    const text = await (await fetch(`${sink.url}/metrics`)).text();
    expect(text).toMatch(/gateway_shadow_refused_total\{reason="method"\} 2/);
    expect(text).toMatch(/gateway_shadow_refused_total\{reason="route"\} 1/);
    for (const name of ['gateway_shadow_parity', 'gateway_shadow_queue_depth', 'gateway_shadow_in_flight']) expect(text).toContain(name);
  });

  it('writes results that compare --report renders; the delayed backend still matches', async () => {
    await slow.setMode({ kind: 'pass' });
    await waitUntil('the queue to drain', async () => {
      const h = (await (await fetch(`${sink.url}/healthz`)).json()) as { depth: number; inFlight: number };
      return h.depth === 0 && h.inFlight === 0;
    });
    const accepted = ((await (await fetch(`${sink.url}/healthz`)).json()) as { accepted: number }).accepted;
    const text = await (await fetch(`${sink.url}/metrics`)).text();
    expect(text).toMatch(new RegExp(`gateway_shadow_compared_total\\{verdict="match",category=""\\} ${accepted}\\b`));
    expect(text).toMatch(/gateway_shadow_backend_duration_seconds_count\{backend="new"\} \d+/);
    expect(text).toMatch(/gateway_shadow_parity 1\b/);
    await sink.proc.stop();
    const lines = readFileSync(out(), 'utf8').trim().split('\n');
    expect(lines.length).toBe(accepted);
    const dir = path.join(work, 'saturated', 'report');
    const stdout = { text: '', write: (s: string) => ((stdout.text += s), true) };
    const code = await compare.run(['--report', out(), '--out', dir], {}, { stdout: stdout as never, stderr: stdout as never });
    const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report;
    expect(report.total).toBe(accepted);
    expect(report.parity).toBe(1);
    expect(report.latency.new.max).toBeGreaterThan(400); // the comparisons made while "new" was 400 ms late
    expect(code).toBe(0);
  });
});

describe('behind the real front door: nginx mirrors hot-path GETs to the sink', () => {
  let stack: RunningStack;
  let sink: { url: string; proc: Managed };
  const results = () => path.join(work, 'mirrored', 'results.jsonl');

  beforeAll(async () => {
    const sinkPort = await freePort();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.dirname(results()), { recursive: true });
    stack = await startStack({
      storageDir: storage,
      runDir: path.join(work, 'stack'),
      share: 100,
      shadowSink: `127.0.0.1:${sinkPort}`,
      cutover: { shadow_sample: 100 },
    });
    stops.push(() => stack.stop());
    sink = await startSink({ legacy: stack.legacy.url, new: stack.service.url, out: results(), port: sinkPort, queue: 64, concurrency: 2 });
  });

  it('every mirrored GET is compared (and nothing else is mirrored); the access log replays', async () => {
    const targets = [
      'gen-photo-1920x1280.jpg?w=320',
      'gen-photo-777x555.png?w=200&format=webp',
      'gen-exif-6.jpg?w=150',
      'gen-alpha-640x480.png?w=100&h=100&fit=cover',
      'no-such.jpg?w=10',
    ];
    for (const t of targets) {
      const res = await fetch(`${stack.frontDoor.url}/image/files/${t}`);
      await res.arrayBuffer();
    }
    // Not mirrored: HEAD (the mirror map takes GETs only) and a non-hot path.
    await fetch(`${stack.frontDoor.url}/image/files/${targets[0]}`, { method: 'HEAD' });
    await (await fetch(`${stack.frontDoor.url}/image/health`)).arrayBuffer();
    await waitUntil('5 comparisons', async () => (await metric(sink.url, 'gateway_shadow_compared_total')) >= targets.length);
    await new Promise((r) => setTimeout(r, 500));
    expect(await metric(sink.url, 'gateway_shadow_compared_total')).toBe(targets.length);
    const lines = readFileSync(results(), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { target: string; verdict: string; legacy: { status: number } });
    expect(lines.map((l) => l.target).sort()).toEqual(targets.map((t) => `/image/files/${t}`).sort());
    expect(lines.find((l) => l.target.includes('no-such'))!.legacy.status).toBe(404);

    // The front door's own JSON access log is replay input as it is.
    const dir = path.join(work, 'replayed');
    const sinkOut = { text: '', write: (s: string) => ((sinkOut.text += s), true) };
    const code = await compare.run(
      ['--from', stack.frontDoor.accessLog, '--legacy', stack.legacy.url, '--new', stack.service.url, '--out', dir, '--dedupe', '--quiet'],
      {},
      { stdout: sinkOut as never, stderr: sinkOut as never },
    );
    const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report;
    expect(report.input!.accepted).toBeGreaterThanOrEqual(targets.length + 1);
    expect(report.total).toBe(targets.length + 1); // the HEAD is replayed too; /image/health is refused
    expect(report.input!.refused.route).toBeGreaterThanOrEqual(1);
    expect(report.parity, sinkOut.text).toBe(1);
    expect(code).toBe(0);
  });

  it('a client-sent X-Original-URI changes nothing in what the sink compares or counts', async () => {
    const before = await metric(sink.url, 'gateway_shadow_compared_total');
    const lines = () => readFileSync(results(), 'utf8').split('\n').filter(Boolean);
    const lineCount = () => lines().length;
    const linesBefore = lineCount();
    const real = 'gen-exif-6.jpg?w=77';
    // A hot GET whose header names another hot target, and a legacy-only GET whose header names a
    // hot target: only the first is mirrored, and it is compared as the target it really had.
    const forged = { 'x-original-uri': '/image/files/gen-photo-1920x1280.jpg?w=999' };
    await (await fetch(`${stack.frontDoor.url}/image/files/${real}`, { headers: forged })).arrayBuffer();
    await (await fetch(`${stack.frontDoor.url}/image/health`, { headers: forged })).arrayBuffer();
    await waitUntil('1 more comparison', async () => (await metric(sink.url, 'gateway_shadow_compared_total')) >= before + 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await metric(sink.url, 'gateway_shadow_compared_total')).toBe(before + 1);
    const added = lines()
      .slice(linesBefore)
      .map((l) => (JSON.parse(l) as { target: string }).target);
    expect(lineCount()).toBe(linesBefore + 1);
    expect(added).toEqual([`/image/files/${real}`]);
  });

  it("the front door's latency with shadowing at 100% and the sink saturated, against shadowing off", async () => {
    // Two ways to saturate the sink (one comparison at a time, a queue of one, the rest dropped):
    // - 'mirror': its backends answer 2 s late, so it holds its queue full at almost no CPU; what
    //   is left is the cost of nginx's mirror itself, which the sink must keep off the client path;
    // - 'full': it compares against the real backends, so it also makes legacy and the new service
    //   resize every comparison on these same two cores: the CPU a shadow costs where it shares
    //   the machine (in production the sink and its load sit elsewhere or at a smaller sample).
    const port = Number(new URL(sink.url).port);
    const lateLegacy = await startDelayProxy({ target: { host: '127.0.0.1', port: stack.legacy.port }, mode: { kind: 'delay', ms: 2000 } });
    const lateNew = await startDelayProxy({ target: { host: '127.0.0.1', port: stack.service.port }, mode: { kind: 'delay', ms: 2000 } });
    stops.push(
      () => lateLegacy.close(),
      () => lateNew.close(),
    );
    const restartSink = async (legacy: string, fresh: string, name: string) => {
      await sink.proc.stop();
      sink = await startSink({ legacy, new: fresh, out: path.join(work, 'mirrored', `${name}.jsonl`), port, queue: 1, concurrency: 1 });
    };
    const setShadow = async (sample: number) => {
      writeFileSync(stack.cutoverFile, setYamlValue(readFileSync(stack.cutoverFile, 'utf8'), ['routes', 0, 'shadow_sample'], sample));
      await stack.frontDoor.apply();
    };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const target = `${stack.frontDoor.url}/image/files/gen-exif-6.jpg?w=64`;
    // The modes alternate (off, mirror, full, off, ...), so that whatever else this shared machine
    // does weighs on all alike; the percentiles pool the rounds of each.
    const modes = ['off', 'mirror', 'full'] as const;
    const times: Record<(typeof modes)[number], number[]> = { off: [], mirror: [], full: [] };
    const dropped: Record<string, number> = { mirror: 0, full: 0 };
    for (let round = 0; round < 5; round++) {
      for (const mode of modes) {
        if (mode === 'mirror') await restartSink(lateLegacy.url, lateNew.url, 'late');
        if (mode === 'full') await restartSink(stack.legacy.url, stack.service.url, 'saturated');
        await setShadow(mode === 'off' ? 0 : 100);
        for (let i = 0; i < 20; i++) await timedGet(agent, target);
        for (let i = 0; i < 200; i++) times[mode].push((await timedGet(agent, target)).ms);
        if (mode !== 'off') dropped[mode]! += await metric(sink.url, 'gateway_shadow_dropped_total');
      }
    }
    agent.destroy();
    const stats = (t: number[]) => ({ p50: percentileOrNaN(t, 0.5), p99: percentileOrNaN(t, 0.99) });
    const off = stats(times.off);
    const mirror = stats(times.mirror);
    const full = stats(times.full);
    const line = (name: string, s: { p50: number; p99: number }) =>
      `${name} p50 ${s.p50.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms (p99 x${(s.p99 / off.p99).toFixed(2)})`;
    process.stdout.write(
      `front door, 5 rounds x 200 sequential keep-alive GETs per mode, alternating: ${line('shadow off', off)}; ` +
        `${line('shadow 100%, sink saturated by slow backends (mirror cost alone)', mirror)}, ${dropped.mirror} dropped; ` +
        `${line('shadow 100%, sink saturated comparing against the real backends on the same cores', full)}, ${dropped.full} dropped\n`,
    );
    expect(dropped.mirror).toBeGreaterThan(300);
    expect(dropped.full).toBeGreaterThan(100);
    // Generous bounds on a shared two-core machine (the target, +10% at p99, is judged on the
    // printed figures): a mirror that held the client until the sink answered would add the
    // backends' 2 s to every request.
    expect(mirror.p50).toBeLessThan(off.p50 * 1.5 + 5);
    expect(mirror.p99).toBeLessThan(1000);
    expect(full.p50).toBeLessThan(off.p50 * 2 + 10);
    expect(existsSync(results())).toBe(true);
  });
});
