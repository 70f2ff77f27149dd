/**
 * `gateway compare`: replay, render a report from results.jsonl, or calibrate. The thin I/O
 * shell around the pure parts: reads files, runs the replay, writes the report, prints a summary,
 * and turns the gate into the exit code (0 pass, 1 gate failed, 2 bad arguments or input).
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.ts';
import { readJsonl, relocateImages } from './files.ts';
import { applyIgnore, parseIgnoreFile, type IgnoreEntry } from './ignore.ts';
import { planReplay, targetPath } from './input.ts';
import { COMPARE_USAGE, parseCompareArgs, type ReplayArgs, type ReportArgs } from './options.ts';
import { createProgress } from './progress.ts';
import { runReplay, writeReportFiles } from './replay.ts';
import { ReportBuilder, type Report } from './report.ts';
import { renderOriginalsText } from './text.ts';
import type { PairResult } from './result.ts';
import { DEFAULT_THRESHOLDS } from './thresholds.ts';

type Out = NodeJS.WritableStream & { isTTY?: boolean };

export const compare = {
  async run(args: string[], _env: NodeJS.ProcessEnv, io: { stdout: Out; stderr: Out } = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
    const parsed = parseCompareArgs(args);
    if (!parsed.ok) {
      io.stderr.write(`gateway compare: ${parsed.errors.join('\n  ')}\n\n${COMPARE_USAGE}`);
      return 2;
    }
    const a = parsed.value;
    if (a.mode === 'help') {
      io.stdout.write(COMPARE_USAGE);
      return 0;
    }
    try {
      if (a.mode === 'calibrate') {
        const { runCalibration } = await import('./calibrate.ts');
        return await runCalibration(a, io);
      }
      if (a.mode === 'report') return await renderFromResults(a, io);
      return await replay(a, io);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'invalid_input') {
        io.stderr.write(`gateway compare: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  },
};

/** Bad input files (unreadable, invalid ignore file): exit 2 with the message, prefixed with the command's name. */
const inputError = (message: string) => new GatewayError('invalid_input', message, { exitCode: 2 });

async function loadIgnore(file: string | undefined): Promise<IgnoreEntry[]> {
  if (!file) return [];
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`--ignore: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseIgnoreFile(text, file);
  } catch (err) {
    throw inputError((err as Error).message);
  }
}

async function replay(a: ReplayArgs, io: { stdout: Out; stderr: Out }): Promise<number> {
  const ignore = await loadIgnore(a.ignore);
  let text: string;
  try {
    text = await readFile(a.from, 'utf8');
  } catch (err) {
    throw inputError(`--from: cannot read ${a.from}: ${(err as Error).message}`);
  }
  const { requests, summary } = planReplay(text.split('\n'), { dedupe: a.dedupe, sample: a.sample, seed: a.seed });
  const refused = summary.refused.method + summary.refused.route + summary.refused.unparseable;
  io.stderr.write(
    `compare: ${summary.lines} lines, ${summary.accepted} replayable; refused ${refused} (method ` +
      `${summary.refused.method}${formatMethods(summary.refusedMethods)}, route ${summary.refused.route}, unparseable ` +
      `${summary.refused.unparseable}); ${summary.duplicates} duplicates, ${summary.sampledOut} sampled out; replaying ${summary.planned}\n`,
  );
  for (const example of summary.refusedExamples.slice(0, 3)) io.stderr.write(`  refused: ${example}\n`);
  await mkdir(a.out, { recursive: true });
  const progress = createProgress(requests.length, io.stderr, { quiet: a.quiet });
  const builder = await runReplay({
    requests,
    legacyUrl: a.legacy,
    newUrl: a.new,
    outDir: a.out,
    thresholds: a.thresholds,
    ignore,
    concurrency: a.concurrency,
    rate: a.rate,
    order: a.order,
    seed: a.seed,
    timeoutMs: a.timeoutMs,
    maxImages: a.maxImages,
    progress,
  });
  const report = builder.build({
    source: { from: path.resolve(a.from), legacy: a.legacy, new: a.new },
    thresholds: a.thresholds,
    minParity: a.minParity,
    input: summary,
  });
  await writeReportFiles(a.out, report);
  io.stdout.write(originalsText(report) + summaryText(report, a.out));
  return report.gate.passed ? 0 : 1;
}

async function renderFromResults(a: ReportArgs, io: { stdout: Out; stderr: Out }): Promise<number> {
  const ignore = await loadIgnore(a.ignore);
  const fromDir = path.dirname(path.resolve(a.report));
  await mkdir(a.out, { recursive: true });
  const results: PairResult[] = [];
  let read;
  try {
    read = await readJsonl(a.report, (r) => results.push(r));
  } catch (err) {
    throw inputError(`--report: cannot read ${a.report}: ${(err as Error).message}`);
  }
  for (const p of read.problems) io.stderr.write(`compare: skipped ${p}\n`);
  if (read.valid === 0 && read.invalid > 0)
    throw inputError(`--report: ${a.report} holds no comparison records (expected the JSONL written by 'gateway shadow' or a replay)`);
  const builder = new ReportBuilder();
  for (const raw of results) {
    // An ignore file given now applies to what was recorded: findings it accepts become intended.
    let r = raw;
    if (ignore.length > 0) {
      const all = [...raw.findings, ...raw.intended.map(({ reason: _reason, ...f }) => f)];
      const j = applyIgnore(all, { route: raw.route, path: targetPath(raw.target), params: raw.params }, ignore);
      r = { ...raw, verdict: j.verdict, category: j.category, findings: j.findings, intended: j.intended };
    }
    builder.add(await relocateImages(r, fromDir, a.out));
  }
  const report = builder.build({ source: { report: path.resolve(a.report) }, thresholds: DEFAULT_THRESHOLDS, minParity: a.minParity });
  await writeReportFiles(a.out, report);
  io.stdout.write(originalsText(report) + summaryText(report, a.out));
  return report.gate.passed ? 0 : 1;
}

/** The tables by likely cause and by original, when there is any difference to explain. */
function originalsText(r: Report): string {
  return r.mismatched + r.intended > 0 ? renderOriginalsText(r) : '';
}

function formatMethods(m: Record<string, number>): string {
  const e = Object.entries(m).filter(([k]) => k !== 'GET' && k !== 'HEAD');
  return e.length ? `: ${e.map(([k, n]) => `${k} ${n}`).join(', ')}` : '';
}

/** PURE: the summary printed at the end of a run. */
export function summaryText(r: Report, outDir: string): string {
  const cats = Object.entries(r.categories)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  const l = r.latency;
  return [
    `parity ${(r.parity * 100).toFixed(2)}% (${r.matched} matched, ${r.intended} intended, ${r.mismatched} mismatched of ${r.total})${cats ? `; mismatches: ${cats}` : ''}`,
    `latency ms  legacy p50 ${l.legacy.p50} p95 ${l.legacy.p95} p99 ${l.legacy.p99} max ${l.legacy.max} | new p50 ${l.new.p50} p95 ${l.new.p95} p99 ` +
      `${l.new.p99} max ${l.new.max} | new/legacy p50 ${l.ratio.p50}x p95 ${l.ratio.p95}x`,
    `report: ${path.join(outDir, 'index.html')} (data: ${path.join(outDir, 'report.json')})`,
    r.gate.passed ? 'gate: PASS' : `gate: FAIL: ${r.gate.reasons.join('; ')}`,
    '',
  ].join('\n');
}
