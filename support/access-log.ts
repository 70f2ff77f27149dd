/**
 * Reading the front door's JSON access log in tests. nginx writes a request's line in its log
 * phase, after the response has left: a client holding its last answer can read the log before
 * that answer's line is there (seen under load as "no line" or "one line short"). So every read
 * that expects lines waits for them, bounded, instead of sleeping a guessed 50 ms.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';

export type AccessLine = Record<string, unknown>;

/** The log's size in bytes: an offset for `accessLinesSince`. */
export const accessLogSize = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

/** The complete lines written from byte `from` on (a line still being written is left out). */
export function accessLinesSince(file: string, from = 0): AccessLine[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file).subarray(from).toString('utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AccessLine);
}

/**
 * Waits until at least `count` lines written from byte `from` on pass `match`, then returns
 * those lines (all of them, so a test that sees more than it expected still fails). After
 * `timeoutMs` it returns what is there: the test's own assertion then says what is missing.
 *
 * An offset taken just after an earlier request was answered can precede that request's line
 * too, so a count of "the lines since" may include it: tests that know their request targets
 * give `uris` (the targets as logged) instead of a count, and lines of other requests are left out.
 */
export async function awaitAccessLines(
  file: string,
  options: { from?: number; match?: (line: AccessLine) => boolean; timeoutMs?: number } & ({ count: number } | { uris: readonly string[] }),
): Promise<AccessLine[]> {
  const uris = 'uris' in options ? new Set(options.uris) : null;
  const count = 'uris' in options ? options.uris.length : options.count;
  const match = (l: AccessLine) => (uris === null || uris.has(String(l.uri))) && (options.match?.(l) ?? true);
  const deadline = performance.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    const lines = accessLinesSince(file, options.from ?? 0).filter(match);
    if (lines.length >= count || performance.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}
