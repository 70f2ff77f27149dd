/**
 * The comparison harness against real servers: the legacy backend (nginx + PHP-FPM + Imagick),
 * the image service, and a deliberately broken candidate in front of the image service. Each
 * defect must be caught in its own category; the ignore file moves a case to intended; the report
 * renders in a real headless Chromium; the CLI's exit code gates.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare } from '../src/compare/command.ts';
import type { Report } from '../src/compare/report.ts';
import { CATEGORIES, type Category } from '../src/compare/result.ts';
import { startBrokenCandidate, type BrokenCandidate, type Defect } from '../../support/broken-candidate.ts';
import { projectRoot } from '../../common/paths.ts';
import { generateImages, realFixturesDir } from '../../support/fixtures.ts';
import { startLegacy, type RunningLegacy } from '../../stack/legacy.ts';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { findTool } from '../../stack/tools.ts';

let work: string;
let storage: string;
let legacy: RunningLegacy | undefined;
let service: RunningService | undefined;
let broken: BrokenCandidate | undefined;
let originals: string[];
let photos: string[];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'compare-int-'));
  storage = path.join(work, 'originals');
  mkdirSync(storage);
  const real = realFixturesDir();
  if (real) for (const name of readdirSync(real)) copyFileSync(path.join(real, name), path.join(storage, name));
  await generateImages(storage);
  originals = readdirSync(storage).sort();
  photos = originals.filter((n) => /photo-.*\.(jpg|webp)$/.test(n) && !/3840|2999/.test(n)).slice(0, 4);
  [legacy, service] = await Promise.all([startLegacy({ storageDir: storage }), startImageService({ STORAGE_URL: pathToFileURL(storage).href })]);
  broken = await startBrokenCandidate({ upstream: service.url });
});

afterAll(async () => {
  await Promise.allSettled([broken?.stop(), legacy?.stop(), service?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Collects what a command writes. */
function sink(): NodeJS.WritableStream & { text: string } {
  const s = { text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WritableStream & { text: string };
}

async function runCompare(args: string[]): Promise<{ code: number; stdout: string; stderr: string; report: Report | undefined; out: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await compare.run(args, {}, { stdout, stderr });
  const i = args.indexOf('--out');
  const out = args[i + 1]!;
  const file = path.join(out, 'report.json');
  return { code, stdout: stdout.text, stderr: stderr.text, out, report: existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Report) : undefined };
}

function writeRequests(name: string, lines: string[]): string {
  const file = path.join(work, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const nonZero = (r: Report) => Object.fromEntries(Object.entries(r.categories).filter(([, n]) => n > 0));

describe('replay', () => {
  it('legacy against itself: 100% parity, exit 0', async () => {
    const lines = [
      ...photos.slice(0, 3).flatMap((n) => [`/image/files/${n}?w=320`, `/image/files/${n}?w=200&h=200&fit=cover&format=webp`, `HEAD /image/files/${n}?w=320`]),
      '/image/files/exif-landscape-6.jpg?w=100',
      '/image/files/no-such-file.jpg?w=100',
      '/image/files/a.jpg?w=0',
      '/image/files/../etc/passwd',
      'DELETE /image/files',
    ];
    const r = await runCompare([
      '--from',
      writeRequests('self.txt', lines),
      '--legacy',
      legacy!.url,
      '--new',
      legacy!.url,
      '--out',
      path.join(work, 'self'),
      '--concurrency',
      '2',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.report).toMatchObject({ total: lines.length - 1, matched: lines.length - 1, mismatched: 0, parity: 1 });
    expect(r.report!.input).toMatchObject({ refused: { method: 1 }, refusedMethods: { DELETE: 1 } });
    expect(r.stderr).toContain('DELETE /image/files refused');
  });

  const defects: Array<[Defect, Category | null]> = [
    ['none', null],
    ['off-by-one', 'dimensions_off_by_one'],
    ['swap-channels', 'pixels'],
    ['crop', 'pixels'],
    ['no-cache-control', 'header'],
    ['fail', 'status'],
  ];
  it.each(defects)('a broken candidate (%s) is caught in its own category (%s)', async (defect, category) => {
    broken!.setDefect(defect);
    const lines = photos.flatMap((n) => [`/image/files/${n}?w=320`, `/image/files/${n}?w=300&h=200&fit=cover`, `/image/files/${n}?w=240&format=png`]);
    const r = await runCompare([
      '--from',
      writeRequests(`defect-${defect}.txt`, lines),
      '--legacy',
      service!.url,
      '--new',
      broken!.url,
      '--out',
      path.join(work, `defect-${defect}`),
      '--quiet',
    ]);
    const report = r.report!;
    process.stdout.write(
      `defect ${defect}: parity ${(report.parity * 100).toFixed(1)}%, categories ${JSON.stringify(nonZero(report))}, rules ${JSON.stringify(report.rules)}\n`,
    );
    if (category === null) {
      expect(report.parity).toBe(1);
      expect(r.code).toBe(0);
      return;
    }
    expect(Object.keys(nonZero(report))).toEqual([category]);
    // Every request is spoiled, except 'fail', which fails about a third of them.
    if (defect === 'fail') expect(report.categories.status).toBeGreaterThan(0);
    else expect(report.categories[category]).toBe(lines.length);
    expect(r.code).toBe(1);
    // The text report explains by original: one line per spoiled original, with a likely cause.
    expect(r.stdout).toMatch(/by likely cause[\s\S]*by original \(\d+ of \d+ mismatched/);
    for (const c of CATEGORIES) if (c !== category) expect(report.categories[c]).toBe(0);
    if (category === 'pixels' || category === 'dimensions_off_by_one') {
      // Evidence: both images and a heat map for each case.
      const first = report.worst[0]!;
      for (const f of [first.images?.legacy, first.images?.new, first.images?.diff]) expect(existsSync(path.join(r.out, f!))).toBe(true);
    }
  });

  it('the ignore file moves the dropped Cache-Control to intended differences, reported apart', async () => {
    broken!.setDefect('no-cache-control');
    const ignore = path.join(work, 'ignore.yaml');
    writeFileSync(
      ignore,
      'ignore:\n  - path: /image/files/**\n    category: header\n    rule: cache_control\n    reason: the candidate leaves caching to the CDN (TICKET-42)\n',
    );
    const lines = photos.map((n) => `/image/files/${n}?w=320`);
    const r = await runCompare([
      '--from',
      writeRequests('ignore.txt', lines),
      '--legacy',
      service!.url,
      '--new',
      broken!.url,
      '--out',
      path.join(work, 'ignored'),
      '--ignore',
      ignore,
      '--quiet',
    ]);
    expect(r.code).toBe(0);
    expect(r.report).toMatchObject({ total: lines.length, mismatched: 0, intended: lines.length, parity: 1 });
    expect(r.report!.intendedCategories.header).toBe(lines.length);
    expect(r.report!.intendedCases[0]!.intended[0]!.reason).toBe('the candidate leaves caching to the CDN (TICKET-42)');
    expect(readFileSync(path.join(r.out, 'index.html'), 'utf8')).toContain('TICKET-42');
    broken!.setDefect('none');
  });

  it('new against legacy on the sample originals: parity reported, every difference explained', async () => {
    const variants = ['', '?w=320', '?w=640', '?w=300&h=300&fit=cover', '?w=200&h=150&fit=cover&format=webp', '?w=500&format=png', '?h=240&q=60'];
    const lines = [
      ...originals.flatMap((n) => variants.map((v) => `/image/files/${n}${v}`)),
      '/image/files/no-such-file.jpg?w=100',
      '/image/files/photo-x.jpg?w=5000',
      '/image/files/a.jpg?fit=cover&w=10',
      '/image/files/a.jpg?w=1&w=2',
    ];
    // The known, genuine difference (see the report to the lead): CMYK originals without an
    // embedded ICC profile. Listed as intended so the gate checks everything else.
    const ignore = path.join(work, 'known.yaml');
    writeFileSync(
      ignore,
      'ignore:\n  - path: /image/files/gen-cmyk.jpg\n    category: pixels\n    reason: CMYK without an ICC profile; legacy (ImageMagick) converts ' +
        'naively, new (libvips) through its default CMYK profile\n',
    );
    const r = await runCompare([
      '--from',
      writeRequests('samples.txt', lines),
      '--legacy',
      legacy!.url,
      '--new',
      service!.url,
      '--out',
      path.join(work, 'samples'),
      '--concurrency',
      '2',
      '--ignore',
      ignore,
    ]);
    const report = r.report!;
    process.stdout.write(
      `new vs legacy over ${report.total} requests on ${originals.length} originals: parity ${(report.parity * 100).toFixed(2)}% ` +
        `(${report.matched} matched, ${report.intended} intended, ${report.mismatched} mismatched); latency p50 legacy ${report.latency.legacy.p50} ms, new ${report.latency.new.p50} ms\n` +
        report.mismatches.map((m) => `  ${m.category} ${m.target}: ${m.findings.map((f) => f.detail).join('; ')}\n`).join(''),
    );
    expect(report.total).toBe(lines.length);
    expect(report.statusMismatches).toBe(0);
    expect(report.mismatched, JSON.stringify(report.mismatches.map((m) => [m.target, m.findings]))).toBe(0);
    expect(r.code).toBe(0);
  });

  it('renders the same report from results.jsonl (--report)', async () => {
    const from = path.join(work, 'defect-crop', 'results.jsonl');
    const r = await runCompare(['--report', from, '--out', path.join(work, 'rerendered')]);
    const original = JSON.parse(readFileSync(path.join(work, 'defect-crop', 'report.json'), 'utf8')) as Report;
    expect(r.report).toMatchObject({ total: original.total, matched: original.matched, mismatched: original.mismatched, categories: original.categories });
    expect(r.code).toBe(1);
    // Images were copied next to the new report.
    expect(existsSync(path.join(work, 'rerendered', r.report!.worst[0]!.images!.diff!))).toBe(true);
  });
});

describe('the CLI', () => {
  // Asynchronous: the broken candidate runs in this process and must keep answering meanwhile.
  const cli = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(projectRoot, 'gateway/bin/gateway.js'), 'compare', ...args],
        { encoding: 'utf8', timeout: 120_000 },
        (err, stdout, stderr) => {
          resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
        },
      );
    });

  it('exits 1 when a status mismatch appears, with the reason on stdout', async () => {
    broken!.setDefect('fail');
    const lines = photos.flatMap((n) => [`/image/files/${n}?w=100`, `/image/files/${n}?w=101`, `/image/files/${n}?w=102`]);
    const r = await cli(['--from', writeRequests('cli.txt', lines), '--legacy', service!.url, '--new', broken!.url, '--out', path.join(work, 'cli')]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/gate: FAIL: .*different status/);
    expect(r.stderr).toMatch(/compare: \d+\/\d+ /); // plain progress lines when not a TTY
    broken!.setDefect('none');
  });

  it('exits 2 on a bad flag, saying what was expected', async () => {
    const r = await cli(['--from', 'x', '--legacy', 'http://127.0.0.1:1', '--new', 'http://127.0.0.1:2', '--out', path.join(work, 'x'), '--min-parity', '99%']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--min-parity: expected a number from 0 to 1');
  });
});

describe('the HTML report in headless Chromium', () => {
  it('shows the summary, the histograms, and every image', async () => {
    const dir = path.join(work, 'defect-swap-channels');
    const browser = await chromium.launch({
      executablePath: findTool('chromium'),
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on('request', (req) => requested.push(req.url()));
      await page.goto(pathToFileURL(path.join(dir, 'index.html')).href, { waitUntil: 'load' });
      expect(await page.textContent('#parity')).toBe('0.00%');
      expect(await page.locator('svg.hist').count()).toBe(1);
      expect(await page.locator('#mismatch-list .case').count()).toBe(photos.length * 3);
      const images = await page.$$eval('img', (imgs) =>
        imgs.map((i) => ({ src: i.getAttribute('src'), w: (i as unknown as { naturalWidth: number }).naturalWidth })),
      );
      expect(images.length).toBe(photos.length * 3 * 3);
      for (const img of images) expect(img.w, img.src ?? '').toBeGreaterThan(0);
      expect(requested.every((u) => u.startsWith('file://'))).toBe(true);
      // One row per original (not one per variant), each off on every variant, with a likely cause; the clustering above it.
      expect(await page.locator('#originals tr[data-cause]').count()).toBe(photos.length);
      for (const cause of await page.$$eval('#originals tr[data-cause]', (rows) => rows.map((r) => r.getAttribute('data-cause')))) expect(cause).not.toBe('');
      expect(await page.locator('#originals tr[data-cause] b.bad', { hasText: 'all' }).count()).toBe(photos.length);
      expect(await page.textContent('#by-original')).toContain(`${photos.length} on every variant`);
      expect(await page.locator('h2#by-cause + p + table tr').count()).toBeGreaterThan(1);
      // The category filter works (inline script).
      await page.click('button[data-filter="pixels"]');
      expect(await page.locator('#mismatch-list .case:visible').count()).toBe(photos.length * 3);
    } finally {
      await browser.close();
    }
  });
});
