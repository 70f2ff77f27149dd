/**
 * The sink's results file, bounded: the sink runs for as long as a shadow lasts (weeks), one line
 * per mirrored request, so an append-only file would fill the disk. When the next line would take
 * the file over `maxBytes`, it is renamed to `<file>.1` (replacing the previous one) and a fresh
 * file started: at most two generations, about 2 x maxBytes on disk, the oldest lines dropped.
 * Each file holds whole lines only, so `gateway compare --report` reads either one.
 *
 * Writes are synchronous on purpose: one short line per comparison (a few per second at most, the
 * comparisons are the slow part), and a rotation must not race a stream's pending writes.
 */
import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';
import type { PairResult } from '../compare/result.ts';

/** Default cap of the current results file: 64 MiB (~100 000 comparisons). */
export const DEFAULT_RESULTS_MAX_BYTES = 64 * 1024 * 1024;

export interface ResultsFile {
  write(result: PairResult): void;
  /** Rotations so far. */
  readonly rotations: number;
  close(): void;
}

/** PURE: whether a line of `lineBytes` goes to a fresh file, given the current size. */
export function needsRotation(currentBytes: number, lineBytes: number, maxBytes: number): boolean {
  // A line longer than the cap on its own still gets written (into a fresh file): dropping it
  // would lose a comparison silently.
  return currentBytes > 0 && currentBytes + lineBytes > maxBytes;
}

export function openResultsFile(file: string, options: { maxBytes?: number } = {}): ResultsFile {
  const maxBytes = options.maxBytes ?? DEFAULT_RESULTS_MAX_BYTES;
  let fd = openSync(file, 'a');
  let size = fstatSync(fd).size;
  let rotations = 0;
  return {
    write(result) {
      const line = Buffer.from(`${JSON.stringify(result)}\n`);
      if (needsRotation(size, line.length, maxBytes)) {
        closeSync(fd);
        renameSync(file, `${file}.1`);
        fd = openSync(file, 'a');
        size = 0;
        rotations++;
      }
      writeSync(fd, line);
      size += line.length;
    },
    get rotations() {
      return rotations;
    },
    close() {
      closeSync(fd);
    },
  };
}
