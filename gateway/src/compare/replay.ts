/**
 * A replay run: every planned request through comparePair, within the rate and concurrency caps;
 * each result appended to DIR/results.jsonl (so the report can be re-rendered with
 * `gateway compare --report`), evidence images for mismatches into DIR/images, counters into the
 * report builder. Then DIR/report.json and DIR/index.html.
 */
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { createArtifactWriter } from './artifacts.ts';
import { openJsonl, writeFileAtomic } from './files.ts';
import { renderHtml } from './html.ts';
import type { IgnoreEntry } from './ignore.ts';
import type { ReplayRequest } from './input.ts';
import { createRateLimiter, runPool } from './pacing.ts';
import { comparePair, type PairOrder } from './pair.ts';
import type { Progress } from './progress.ts';
import { mulberry32 } from '../../../common/random.ts';
import { ReportBuilder, type Report } from './report.ts';
import type { PairResult } from './result.ts';
import { createSender } from './send.ts';
import type { Thresholds } from './thresholds.ts';

export interface ReplayOptions {
  requests: readonly ReplayRequest[];
  legacyUrl: string;
  newUrl: string;
  /** The report folder: results.jsonl, images/, report.json, index.html. */
  outDir: string;
  thresholds: Thresholds;
  ignore: readonly IgnoreEntry[];
  /** Requests (pairs) in flight at most, default 4. */
  concurrency: number;
  /** Pairs started per second at most; undefined: no cap. Each backend sees at most this rate. */
  rate?: number;
  order: PairOrder;
  seed: number;
  timeoutMs: number;
  /** Mismatches that get image files, default 200. */
  maxImages: number;
  progress: Progress;
  /** Called with every result (tests, live counters). */
  onResult?: (r: PairResult) => void;
}

export async function runReplay(o: ReplayOptions): Promise<ReportBuilder> {
  const sender = createSender({ timeoutMs: o.timeoutMs, maxSockets: o.concurrency });
  const builder = new ReportBuilder();
  const resultsFile = path.join(o.outDir, 'results.jsonl');
  const partial = `${resultsFile}.partial`;
  const jsonl = openJsonl(partial, { append: false });
  const artifacts = createArtifactWriter({ dir: path.join(o.outDir, 'images'), relativeTo: o.outDir, max: o.maxImages });
  const ctx = {
    sender,
    legacyUrl: o.legacyUrl,
    newUrl: o.newUrl,
    thresholds: o.thresholds,
    ignore: o.ignore,
    order: o.order,
    random: mulberry32(o.seed ^ 0x5bd1e995),
  };
  let done = 0;
  let matchedOrIntended = 0;
  try {
    await runPool(
      o.requests,
      o.concurrency,
      async (request) => {
        const { result, evidence } = await comparePair(request, ctx);
        const images = await artifacts.save(result, evidence);
        const record = images ? { ...result, images } : result;
        jsonl.write(record);
        builder.add(record);
        o.onResult?.(record);
        done++;
        if (record.verdict !== 'mismatch') matchedOrIntended++;
        o.progress.update({ done, mismatched: done - matchedOrIntended, parity: matchedOrIntended / done });
      },
      createRateLimiter(o.rate),
    );
  } finally {
    sender.close();
    await jsonl.close();
  }
  await rename(partial, resultsFile);
  o.progress.stop({ done, mismatched: done - matchedOrIntended, parity: done ? matchedOrIntended / done : 1 });
  return builder;
}

/** Writes DIR/report.json and DIR/index.html, each atomically. */
export async function writeReportFiles(outDir: string, report: Report): Promise<void> {
  await writeFileAtomic(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(path.join(outDir, 'index.html'), renderHtml(report));
}
