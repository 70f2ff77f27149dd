/**
 * File I/O of the harness: whole files are written to a temporary name and renamed (a reader
 * never sees half a report), results go out as one JSON line per write, and results.jsonl is
 * read back line by line with each line checked against the schema.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pairResultSchema, type PairResult } from './result.ts';

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Appends results as JSON lines; each line is one write, so a reader sees whole lines only. */
export interface JsonlWriter {
  write(result: PairResult): void;
  close(): Promise<void>;
}

export function openJsonl(file: string, options: { append: boolean }): JsonlWriter {
  const stream: WriteStream = createWriteStream(file, { flags: options.append ? 'a' : 'w' });
  let failed: Error | undefined;
  stream.on('error', (err) => {
    failed = err;
  });
  return {
    write(result) {
      if (failed) throw failed;
      stream.write(`${JSON.stringify(result)}\n`);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(failed);
        stream.end(() => (failed ? reject(failed) : resolve()));
      }),
  };
}

/** Reads results.jsonl; lines that are not a valid record are counted and described, not fatal. */
export async function readJsonl(
  file: string,
  onResult: (r: PairResult) => void,
): Promise<{ lines: number; valid: number; invalid: number; problems: string[] }> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lines = 0;
  let valid = 0;
  let invalid = 0;
  const problems: string[] = [];
  const problem = (text: string) => {
    invalid++;
    if (problems.length < 10) problems.push(text);
  };
  for await (const text of rl) {
    lines++;
    if (!text.trim()) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      problem(`line ${lines}: not JSON`);
      continue;
    }
    const r = pairResultSchema.safeParse(parsed);
    if (!r.success) {
      problem(`line ${lines}: not a comparison record (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`);
      continue;
    }
    valid++;
    onResult(r.data);
  }
  return { lines, valid, invalid, problems };
}

/**
 * Makes a record's image paths (relative to `fromDir`) usable from `toDir`: copies the files into
 * toDir/images when the folders differ. Missing files are dropped from the record.
 */
export async function relocateImages(r: PairResult, fromDir: string, toDir: string): Promise<PairResult> {
  if (!r.images || path.resolve(fromDir) === path.resolve(toDir)) return r;
  const images: NonNullable<PairResult['images']> = {};
  for (const [side, rel] of Object.entries(r.images) as Array<[keyof NonNullable<PairResult['images']>, string | undefined]>) {
    if (!rel) continue;
    const src = path.resolve(fromDir, rel);
    const name = `images/${path.basename(rel)}`;
    try {
      await mkdir(path.join(toDir, 'images'), { recursive: true });
      await copyFile(src, path.join(toDir, name));
      images[side] = name;
    } catch {
      /* the image was not kept (or was removed): the card shows "no image" */
    }
  }
  return { ...r, images };
}
