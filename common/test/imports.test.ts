/**
 * common/ is what both programs may import, so it imports neither of them (nor the stack or the
 * test helpers): only node built-ins and its own modules. Otherwise the image service would reach
 * the gateway through it, which the layout forbids.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../paths.ts';

/** The module specifiers a source imports or re-exports, static or dynamic. */
function importedSpecifiers(source: string): string[] {
  const patterns = [/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm, /^\s*import\s+['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!));
}

const commonDir = path.join(projectRoot, 'common');

/** The imports of `file` that are neither node built-ins nor modules inside common/. */
function foreignImports(file: string, source: string): string[] {
  return importedSpecifiers(source).filter((s) => {
    if (s.startsWith('node:')) return false;
    if (!s.startsWith('.')) return true;
    return !path.resolve(path.dirname(file), s).startsWith(`${commonDir}${path.sep}`);
  });
}

describe('foreignImports (the reader the check relies on)', () => {
  const file = path.join(commonDir, 'x.ts');
  it.each([
    ["import path from 'node:path';", []],
    ["import { percentile } from './stats.ts';", []],
    ["import { x } from '../gateway/src/requests.ts';", ['../gateway/src/requests.ts']],
    ["import type { Y } from '../image-service/src/params.ts';", ['../image-service/src/params.ts']],
    ["const z = await import('../support/fixtures.ts');", ['../support/fixtures.ts']],
    ["import sharp from 'sharp';", ['sharp']],
  ])('%j -> %j', (source, expected) => {
    expect(foreignImports(file, source)).toEqual(expected);
  });
});

describe('common/ imports only node built-ins and itself', () => {
  const files = readdirSync(commonDir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(commonDir, e.name));

  it('has modules to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [path.relative(projectRoot, f), f]))('%s', (_name, file) => {
    expect(foreignImports(file, readFileSync(file, 'utf8'))).toEqual([]);
  });
});
