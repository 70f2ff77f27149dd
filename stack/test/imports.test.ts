/**
 * What `npm start` runs lives in stack/ and never depends on the test helpers in support/: a
 * helper may change for a test's convenience without changing what users run. This reads the
 * import lines of every stack/ source, so a stray `../support/...` import fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';

/** The module specifiers a source imports or re-exports, static or dynamic. */
function importedSpecifiers(source: string): string[] {
  const patterns = [/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm, /^\s*import\s+['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!));
}

/** The relative imports of `file` (whose text is `source`) that resolve into `targetDir`. */
function importsInto(file: string, source: string, targetDir: string): string[] {
  return importedSpecifiers(source)
    .filter((s) => s.startsWith('.'))
    .filter((s) => path.resolve(path.dirname(file), s).startsWith(`${targetDir}${path.sep}`));
}

const stackDir = path.join(projectRoot, 'stack');
const supportDir = path.join(projectRoot, 'support');

describe('importsInto (the reader the check relies on)', () => {
  const file = path.join(stackDir, 'x.ts');
  it.each([
    ["import { startProcess } from './process.ts';", []],
    ["import type { X } from '../support/fixtures.ts';", ['../support/fixtures.ts']],
    ["import {\n  a,\n  b,\n} from '../support/legacy.ts';", ['../support/legacy.ts']],
    ["export { y } from '../support/y.ts';", ['../support/y.ts']],
    ["const m = await import('../support/z.ts');", ['../support/z.ts']],
    ["import { projectRoot } from '../common/paths.ts';", []],
    ["import { x } from '../supporting/x.ts';", []],
  ])('%j -> %j', (source, expected) => {
    expect(importsInto(file, source, supportDir)).toEqual(expected);
  });
});

describe('stack/ does not import support/', () => {
  const files = readdirSync(stackDir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(stackDir, e.name));

  it('has modules to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [path.relative(projectRoot, f), f]))('%s imports nothing from support/', (_name, file) => {
    expect(importsInto(file, readFileSync(file, 'utf8'), supportDir)).toEqual([]);
  });
});
