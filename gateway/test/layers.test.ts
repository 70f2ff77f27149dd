/**
 * The gateway's folders are its architecture: commands -> I/O adapters -> pure core, and the
 * gateway and the image service never import each other. These tests read the import lines of
 * the sources, so a stray `import { readFileSync } from 'node:fs'` in the pure core fails here
 * instead of surviving until someone tries to test it without a disk.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../common/paths.ts';

/** Every .ts file under `dir`, as absolute paths. */
function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** The module specifiers a source imports or re-exports, static or dynamic. */
function importedSpecifiers(source: string): string[] {
  const specifiers: string[] = [];
  const patterns = [/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm, /^\s*import\s+['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) specifiers.push(m[1]!);
  return specifiers;
}

/** Which of a file's imports resolve into `targetDir` (relative imports only). */
function importsInto(file: string, targetDir: string): string[] {
  return importedSpecifiers(readFileSync(file, 'utf8'))
    .filter((s) => s.startsWith('.'))
    .filter((s) => path.resolve(path.dirname(file), s).startsWith(`${targetDir}${path.sep}`));
}

const gatewaySrc = path.join(projectRoot, 'gateway/src');
const imageServiceDir = path.join(projectRoot, 'image-service');
const gatewayDir = path.join(projectRoot, 'gateway');

describe('importedSpecifiers (the reader the other tests rely on)', () => {
  it.each([
    ["import { readFileSync } from 'node:fs';", ['node:fs']],
    ["import fs from 'fs';", ['fs']],
    ["import type { X } from './x.ts';", ['./x.ts']],
    ["import {\n  a,\n  b,\n} from '../nginx/apply.ts';", ['../nginx/apply.ts']],
    ["export { y } from './y.ts';", ['./y.ts']],
    ["import 'node:net';", ['node:net']],
    ["const m = await import('node:http');", ['node:http']],
    ['// nothing imported here', []],
  ])('%j -> %j', (source, expected) => {
    expect(importedSpecifiers(source)).toEqual(expected);
  });
});

describe('gateway/src/cutover is pure', () => {
  // fs, processes and the network: what would make the schema/plan/edit/traffic logic need a
  // machine to run. Both spellings ('node:fs' and 'fs') and subpaths ('node:fs/promises').
  const forbidden = /^(?:node:)?(?:fs|child_process|net|http|https|http2|dgram)(?:\/|$)/;
  const files = sourcesUnder(path.join(gatewaySrc, 'cutover'));

  it('has modules to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [path.relative(projectRoot, f), f]))('%s imports no fs, process or network module', (_name, file) => {
    expect(importedSpecifiers(readFileSync(file, 'utf8')).filter((s) => forbidden.test(s))).toEqual([]);
  });

  it.each(files.map((f) => [path.relative(projectRoot, f), f]))('%s imports nothing from commands/ or nginx/ (dependencies run one way)', (_name, file) => {
    expect([...importsInto(file, path.join(gatewaySrc, 'commands')), ...importsInto(file, path.join(gatewaySrc, 'nginx'))]).toEqual([]);
  });
});

describe('gateway/src/k8s is pure (the Kubernetes renders)', () => {
  const forbidden = /^(?:node:)?(?:fs|child_process|net|http|https|http2|dgram)(?:\/|$)/;
  const files = sourcesUnder(path.join(gatewaySrc, 'k8s'));

  it('has modules to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [path.relative(projectRoot, f), f]))('%s: no fs, process or network; nothing from commands/, nginx/, router/', (_name, file) => {
    expect(importedSpecifiers(readFileSync(file, 'utf8')).filter((s) => forbidden.test(s))).toEqual([]);
    expect(['commands', 'nginx', 'router'].flatMap((d) => importsInto(file, path.join(gatewaySrc, d)))).toEqual([]);
  });
});

describe('gateway/src/rollout/core is pure (the rollout decisions)', () => {
  const forbidden = /^(?:node:)?(?:fs|child_process|net|http|https|http2|dgram)(?:\/|$)/;
  const files = sourcesUnder(path.join(gatewaySrc, 'rollout/core'));

  it('has modules to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [path.relative(projectRoot, f), f]))('%s imports no fs, process or network module, nor any I/O folder', (_name, file) => {
    expect(importedSpecifiers(readFileSync(file, 'utf8')).filter((s) => forbidden.test(s))).toEqual([]);
    const io = ['commands', 'nginx', 'router', 'shadow'].flatMap((d) => importsInto(file, path.join(gatewaySrc, d)));
    // ../store.ts, ../controller.ts ...: the rollout's own I/O sits beside core/, never below it.
    const own = importedSpecifiers(readFileSync(file, 'utf8')).filter(
      (s) =>
        s.startsWith('..') &&
        path.resolve(path.dirname(file), s).startsWith(path.join(gatewaySrc, 'rollout') + path.sep) &&
        !path.resolve(path.dirname(file), s).startsWith(path.join(gatewaySrc, 'rollout/core') + path.sep),
    );
    expect([...io, ...own]).toEqual([]);
  });
});

describe('gateway/src/nginx never imports the commands', () => {
  it.each(sourcesUnder(path.join(gatewaySrc, 'nginx')).map((f) => [path.relative(projectRoot, f), f]))('%s', (_name, file) => {
    expect(importsInto(file, path.join(gatewaySrc, 'commands'))).toEqual([]);
  });
});

describe('the gateway and the image service never import each other', () => {
  // Their sources, that is: the parity tests under image-service/test/ use the gateway's
  // comparison rules as their judge on purpose (the one definition of "the same image").
  it('no gateway/src module imports image-service/', () => {
    const offenders = sourcesUnder(gatewaySrc).filter((f) => importsInto(f, imageServiceDir).length > 0);
    expect(offenders.map((f) => path.relative(projectRoot, f))).toEqual([]);
  });

  it('no image-service/src module imports gateway/', () => {
    const offenders = sourcesUnder(path.join(imageServiceDir, 'src')).filter((f) => importsInto(f, gatewayDir).length > 0);
    expect(offenders.map((f) => path.relative(projectRoot, f))).toEqual([]);
  });
});
