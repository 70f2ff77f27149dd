/**
 * `npm run parity`: builds the corpus, starts the legacy backend and the new service on it, writes
 * the request list, replays it with the harness (the same runReplay that `gateway compare` runs),
 * and prints the tables by likely cause and by original with each original's metadata. The exit
 * code: 0 when parity is at least `minParity` with no status mismatch and no original that
 * mismatches on every variant (unless the ignore file declares it intended), else 1.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { OriginalInfo } from '../../gateway/src/compare/causes.ts';
import { parseIgnoreFile, type IgnoreEntry } from '../../gateway/src/compare/ignore.ts';
import { planReplay } from '../../gateway/src/compare/input.ts';
import { createProgress } from '../../gateway/src/compare/progress.ts';
import { runReplay, writeReportFiles } from '../../gateway/src/compare/replay.ts';
import type { Report } from '../../gateway/src/compare/report.ts';
import { renderOriginalsText } from '../../gateway/src/compare/text.ts';
import { DEFAULT_THRESHOLDS } from '../../gateway/src/compare/thresholds.ts';
import { summaryText } from '../../gateway/src/compare/command.ts';
import { startLegacy } from '../../stack/legacy.ts';
import { startImageService } from '../../stack/services.ts';
import { buildCorpus, type Corpus, type CorpusEntry } from './corpus.ts';
import { sourcesMarkdown, sourcesText } from './manifest.ts';
import { requestLines, sliceCorpus } from './requests.ts';

export interface ParityOptions {
  /** Download, extraction and corpus cache (default ~/.cache/image-gateway/parity). */
  cacheDir: string;
  /** Report folder: requests.txt, results.jsonl, report.json, index.html, images/, manifest.json. */
  outDir: string;
  /** Run only this many package originals per format (plus a few derived ones): the integration test's slice. */
  slice?: number;
  /** Derived originals added to a slice, by file name. */
  sliceDerived?: string[];
  /** Pairs in flight (default 2: the machine has two cores and both backends share them). */
  concurrency: number;
  /** Parity below this fails (default 0.995). */
  minParity: number;
  /** Declared intended differences (see docs/parity.md, "The ignore file"). */
  ignoreFile?: string;
  /** Where to write SOURCES.md (the full run writes parity/SOURCES.md; a slice writes none). */
  sourcesFile?: string;
  quiet?: boolean;
  /**
   * Tests only: puts something in front of the new service (a deliberately broken candidate) and
   * compares legacy with that instead.
   */
  candidate?: (newUrl: string) => Promise<{ url: string; stop(): Promise<void> }>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface ParityResult {
  code: number;
  report: Report;
  corpus: Corpus;
  entries: CorpusEntry[];
  /** Why the run failed (empty when it passed). */
  reasons: string[];
}

/** PURE: the exit decision over a built report. */
export function parityVerdict(report: Report, minParity: number): { code: number; reasons: string[] } {
  const reasons: string[] = [];
  if (report.parity < minParity) reasons.push(`parity ${(report.parity * 100).toFixed(2)}% is below ${(minParity * 100).toFixed(1)}%`);
  if (report.statusMismatches > 0) reasons.push(`${report.statusMismatches} request(s) got a different status or error code`);
  const all = report.byOriginal.filter((r) => r.allVariants);
  if (all.length > 0)
    reasons.push(
      `${all.length} original(s) mismatch on every variant without a declared intended category: ${all
        .slice(0, 5)
        .map((r) => r.path)
        .join(', ')}${all.length > 5 ? ', ...' : ''}`,
    );
  return { code: reasons.length ? 1 : 0, reasons };
}

export async function runParity(o: ParityOptions): Promise<ParityResult> {
  const log = (line: string) => o.stderr.write(`${line}\n`);
  const started = Date.now();
  const corpus = await buildCorpus(o.cacheDir, log);
  o.stdout.write(sourcesText(corpus));
  if (o.sourcesFile) writeFileSync(o.sourcesFile, sourcesMarkdown(corpus));
  const entries = o.slice === undefined ? corpus.entries : sliceCorpus(corpus.entries, o.slice, o.sliceDerived ?? []);
  const ignore: IgnoreEntry[] = o.ignoreFile ? parseIgnoreFile(readFileSync(o.ignoreFile, 'utf8'), o.ignoreFile) : [];

  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(path.join(o.outDir, 'manifest.json'), `${JSON.stringify({ ...corpus, entries }, null, 2)}\n`);
  const requestsFile = path.join(o.outDir, 'requests.txt');
  writeFileSync(requestsFile, `${requestLines(entries).join('\n')}\n`);
  const { requests, summary } = planReplay(readFileSync(requestsFile, 'utf8').split('\n'));
  log(`parity: ${entries.length} originals, ${requests.length} requests; starting legacy and the new service`);

  // Both backends read a copy in a fresh temp dir, not the cache: the legacy workers run as an
  // unprivileged account that takes ownership of its storage and cannot enter a home directory.
  const storage = mkdtempSync(path.join(os.tmpdir(), 'parity-storage-'));
  for (const e of entries) {
    mkdirSync(path.dirname(path.join(storage, e.key)), { recursive: true });
    copyFileSync(path.join(corpus.dir, e.key), path.join(storage, e.key));
  }
  const [legacyStarted, serviceStarted] = await Promise.allSettled([
    startLegacy({ storageDir: storage, children: 2 }),
    startImageService({ STORAGE_URL: pathToFileURL(storage).href }),
  ]);
  if (legacyStarted.status === 'rejected' || serviceStarted.status === 'rejected') {
    await Promise.allSettled([
      legacyStarted.status === 'fulfilled' && legacyStarted.value.stop(),
      serviceStarted.status === 'fulfilled' && serviceStarted.value.stop(),
    ]);
    rmSync(storage, { recursive: true, force: true });
    throw legacyStarted.status === 'rejected' ? legacyStarted.reason : (serviceStarted as PromiseRejectedResult).reason;
  }
  const legacy = legacyStarted.value;
  const service = serviceStarted.value;
  let report: Report;
  let candidate: { url: string; stop(): Promise<void> } | undefined;
  try {
    candidate = o.candidate ? await o.candidate(service.url) : undefined;
    const newUrl = candidate?.url ?? service.url;
    const builder = await runReplay({
      requests,
      legacyUrl: legacy.url,
      newUrl,
      outDir: o.outDir,
      thresholds: DEFAULT_THRESHOLDS,
      ignore,
      concurrency: o.concurrency,
      order: 'random',
      seed: 1,
      timeoutMs: 60_000,
      maxImages: 300,
      progress: createProgress(requests.length, o.stderr, { quiet: o.quiet }),
    });
    const originals: Record<string, OriginalInfo> = Object.fromEntries(entries.map((e) => [`/image/files/${e.key}`, e.info]));
    report = builder.build({
      source: { from: path.resolve(requestsFile), legacy: legacy.url, new: newUrl },
      thresholds: DEFAULT_THRESHOLDS,
      minParity: o.minParity,
      input: summary,
      originals,
    });
  } finally {
    await Promise.allSettled([candidate?.stop(), legacy.stop(), service.stop()]);
    rmSync(storage, { recursive: true, force: true });
  }
  await writeReportFiles(o.outDir, report);
  const verdict = parityVerdict(report, o.minParity);
  o.stdout.write(renderOriginalsText(report));
  o.stdout.write(summaryText(report, o.outDir));
  o.stdout.write(
    `parity run: ${entries.length} originals, ${report.total} pairs in ${((Date.now() - started) / 1000).toFixed(0)} s; ${verdict.code === 0 ? 'PASS' : `FAIL: ${verdict.reasons.join('; ')}`}\n`,
  );
  return { code: verdict.code, report, corpus, entries, reasons: verdict.reasons };
}
