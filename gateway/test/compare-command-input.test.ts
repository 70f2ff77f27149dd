/**
 * `gateway compare` on input files it cannot use: exit 2 and a message on stderr that names the
 * flag and the file, never a stack trace (these are the user's mistakes, not the tool's).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { compare } from '../src/compare/command.ts';

function capture(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(w, { text: () => chunks.join('') });
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'compare-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gateway compare --report with unusable input', () => {
  it.each([
    ['an unreadable results file', () => path.join(dir, 'missing.jsonl'), /^gateway compare: --report: cannot read .*missing\.jsonl/],
    [
      'a file with no comparison records',
      () => {
        const file = path.join(dir, 'junk.jsonl');
        writeFileSync(file, '{"not":"a record"}\n');
        return file;
      },
      /^gateway compare: --report: .*junk\.jsonl holds no comparison records \(expected the JSONL/m,
    ],
  ])('%s: exit 2 with a message that says what was expected', async (_name, file, message) => {
    const stdout = capture();
    const stderr = capture();
    const code = await compare.run(['--report', file(), '--out', path.join(dir, 'out')], {}, { stdout, stderr });
    expect(code).toBe(2);
    expect(stderr.text()).toMatch(message);
  });
});
