/** The machine a benchmark ran on, as results.md prints it: CPUs, memory, OS and the versions that matter. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import sharp from 'sharp';
import { findTool } from '../../stack/tools.ts';

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).trim();
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || 'unknown';
  }
}

export function describeMachine(usableCpus: number, projectRoot: string): Record<string, string | number | number[]> {
  let osName = `${os.type()} ${os.release()}`;
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (pretty) osName = `${pretty}, ${os.type()} ${os.release()}`;
  } catch {
    /* keep the kernel name */
  }
  // `nginx -v` writes its version to stderr.
  const nginx = run('sh', ['-c', `'${findToolSafe('nginx')}' -v 2>&1`]);
  const dirty = run('git', ['-C', projectRoot, 'status', '--porcelain']) !== '';
  return {
    date: new Date().toISOString(),
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    usable_cpus: usableCpus,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    os: osName,
    node: process.version,
    sharp: sharp.versions.sharp ?? 'unknown',
    libvips: sharp.versions.vips,
    php: run('php', ['-r', 'echo "PHP " . PHP_VERSION;']),
    imagemagick: run('php', ['-r', 'echo class_exists("Imagick") ? Imagick::getVersion()["versionString"] : "(no php-imagick)";'])
      .replace(/^ImageMagick\s+/, '')
      .replace(/\s+https?:\S+$/, ''),
    nginx: nginx.replace(/^nginx version:\s*/, ''),
    commit: `${run('git', ['-C', projectRoot, 'rev-parse', '--short', 'HEAD'])}${dirty ? ' (with uncommitted changes)' : ''}`,
    loadavg_start: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

function findToolSafe(name: string): string {
  try {
    return findTool(name);
  } catch {
    return name;
  }
}
