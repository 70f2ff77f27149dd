/**
 * The reference legacy backend as the tests, benchmarks and the stack run it: PHP-FPM (Debian's
 * php-fpm + php-imagick) behind its own nginx over FastCGI. The configs are templates in
 * legacy/conf, rendered into a run directory, so the system's nginx and php-fpm are never touched.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, chmodSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { projectRoot } from './fixtures.ts';
import { freePort, startProcess, type Managed } from './process.ts';
import { findTool } from './tools.ts';

export interface RunningLegacy {
  /** http://127.0.0.1:<port>: legacy's own nginx, FastCGI to PHP-FPM (no fastcgi_keep_conn). */
  url: string;
  port: number;
  /** The originals directory it reads and writes (same layout as the image service's file:// store). */
  storageDir: string;
  runDir: string;
  /** PHP-FPM master + children and nginx master + workers, for CPU/RSS accounting. */
  pids(): number[];
  /** Fault injection: PHP-FPM down (its nginx keeps answering, with a JSON 502). */
  stopFpm(): Promise<void>;
  startFpm(): Promise<void>;
  stop(): Promise<void>;
}

export interface LegacyOptions {
  storageDir: string;
  /** nginx port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** PHP-FPM children (pm = static). Default: the number of cores. */
  children?: number;
  /** Where configs, sockets, pids, logs and temp files go. Default: a fresh temp dir, removed by stop(). */
  runDir?: string;
}

export const legacyDir = path.join(projectRoot, 'legacy');

/** Values for the {{name}} placeholders of legacy/conf/*.template. */
export interface LegacyTemplateValues {
  run_dir: string;
  legacy_dir: string;
  storage_dir: string;
  srgb_profile: string;
  port: number;
  children: number;
  max_input_bytes: number;
  max_input_pixels: number;
  /** A random token nginx sends as X-Legacy-Instance, so the runner knows it reached its own nginx. */
  instance: string;
  /** Whether the processes run as root: then both need an explicit `user` (root, see below). */
  root: boolean;
}

/**
 * PURE: fills a template's {{name}} placeholders. An unknown placeholder is an error, and so is a
 * value that could break out of its line or its quotes.
 */
export function renderTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{([a-z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    const text = String(value);
    if (/[\n\r";{}]/.test(text) && !name.endsWith('_directive')) throw new Error(`template value for {{${name}}} contains a character that would break the config: ${JSON.stringify(text)}`);
    return text;
  });
}

/**
 * PURE: the values that differ between the two templates. As root, PHP-FPM refuses to start
 * without an explicit pool user, and its workers must read originals in root-owned 0700 temp
 * dirs (what mkdtemp makes), so they run as root (with the master's -R); nginx's workers run as
 * root too, for the same reason (the socket and temp paths live in such a directory).
 */
export function renderLegacyConfigs(values: LegacyTemplateValues, templates = readTemplates()): { fpm: string; nginx: string } {
  const common = { ...values, root: String(values.root) };
  return {
    fpm: renderTemplate(templates.fpm, {
      ...common,
      user_directive: values.root ? 'user = root\ngroup = root' : '; user: not running as root, the workers run as the invoking user',
    }),
    nginx: renderTemplate(templates.nginx, {
      ...common,
      user_directive: values.root ? 'user root root;' : '# user: not running as root, the workers run as the invoking user',
    }),
  };
}

function readTemplates(): { fpm: string; nginx: string } {
  return {
    fpm: readFileSync(path.join(legacyDir, 'conf/php-fpm.conf.template'), 'utf8'),
    nginx: readFileSync(path.join(legacyDir, 'conf/nginx.conf.template'), 'utf8'),
  };
}

/**
 * The sRGB profile the new service converts to (libvips' built-in one), written for ImageMagick,
 * so that both backends convert embedded profiles (CMYK, Adobe RGB, ...) to the same target.
 * Debian's only sRGB profile comes with ghostscript, which php-imagick merely recommends.
 */
async function writeSrgbProfile(file: string): Promise<void> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).withIccProfile('srgb').png().toBuffer();
  const { icc } = await sharp(png).metadata();
  if (!icc) throw new Error('sharp returned no sRGB ICC profile');
  writeFileSync(file, icc);
}

export async function startLegacy(options: LegacyOptions): Promise<RunningLegacy> {
  const fpmBin = findTool('php-fpm');
  const nginxBin = findTool('nginx');
  const ownRunDir = options.runDir === undefined;
  const runDir = path.resolve(options.runDir ?? mkdtempSync(path.join(os.tmpdir(), 'legacy-')));
  const storageDir = path.resolve(options.storageDir);
  for (const dir of [runDir, path.join(runDir, 'log'), path.join(runDir, 'tmp'), storageDir]) mkdirSync(dir, { recursive: true });
  chmodSync(runDir, 0o755);
  const root = process.getuid?.() === 0;
  const srgbProfile = path.join(runDir, 'srgb.icc');

  const fpmConf = path.join(runDir, 'php-fpm.conf');
  const nginxConf = path.join(runDir, 'nginx.conf');
  const socket = path.join(runDir, 'php-fpm.sock');
  const fpmArgs = ['-y', fpmConf, '-p', runDir, ...(root ? ['-R'] : [])];
  let fpm: Managed | undefined;
  let nginx: Managed | undefined;
  const startFpm = async () => {
    if (fpm && fpm.child.exitCode === null && fpm.child.signalCode === null) return;
    rmSync(socket, { force: true });
    // -F: stay in the foreground, so the process we hold is the master.
    fpm = startProcess('php-fpm', fpmBin, ['-F', ...fpmArgs]);
    await waitFor(() => existsSync(socket), fpm, 'the PHP-FPM socket');
  };
  const stopFpm = async () => {
    await fpm?.stop();
    fpm = undefined;
  };
  const stop = async () => {
    await Promise.all([nginx?.stop(), stopFpm()]);
    nginx = undefined;
    if (ownRunDir) rmSync(runDir, { recursive: true, force: true });
  };

  let port = 0;
  try {
    await writeSrgbProfile(srgbProfile);
    for (let attempt = 1; ; attempt++) {
      port = options.port ?? (await freePort());
      const instance = randomBytes(8).toString('hex');
      const configs = renderLegacyConfigs({
        run_dir: runDir,
        legacy_dir: legacyDir,
        storage_dir: storageDir,
        srgb_profile: srgbProfile,
        port,
        children: options.children ?? os.availableParallelism(),
        max_input_bytes: 50 * 1024 * 1024,
        max_input_pixels: 50_000_000,
        instance,
        root,
      });
      writeFileSync(fpmConf, configs.fpm);
      writeFileSync(nginxConf, configs.nginx);
      checkConfig(fpmBin, ['-t', ...fpmArgs], 'php-fpm');
      checkConfig(nginxBin, ['-t', '-q', '-p', `${runDir}/`, '-c', nginxConf], 'nginx');
      await startFpm();
      nginx = startProcess('legacy-nginx', nginxBin, ['-p', `${runDir}/`, '-c', nginxConf]);
      try {
        await waitForOwnHealth(`http://127.0.0.1:${port}/image/health`, instance, nginx);
        break;
      } catch (err) {
        // A free port can be taken by someone else before nginx binds it: then try another one
        // (unless the caller asked for this port).
        const clash = /Address already in use/.test(nginx.output());
        await nginx.stop();
        nginx = undefined;
        if (clash && options.port === undefined && attempt < 5) continue;
        throw err;
      }
    }
  } catch (err) {
    const logs = readLogs(runDir);
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}${logs}`);
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    storageDir,
    runDir,
    pids: () => [...processTree(fpm), ...processTree(nginx)],
    stopFpm,
    startFpm,
    stop,
  };
}

/** Waits until /image/health answers 200 from this very nginx (its instance token), or it dies. */
async function waitForOwnHealth(url: string, instance: string, nginx: Managed, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (nginx.child.exitCode !== null) throw new Error(`nginx exited with ${nginx.child.exitCode}:\n${nginx.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 && res.headers.get('x-legacy-instance') === instance) return;
      last = `status ${res.status}, instance ${res.headers.get('x-legacy-instance') ?? 'none'}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${url} (${last})\nnginx output:\n${nginx.output()}`);
}

function checkConfig(bin: string, args: string[], name: string): void {
  try {
    execFileSync(bin, args, { stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`${name} refused the rendered config:\n${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`);
  }
}

async function waitFor(ready: () => boolean, proc: Managed, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode} before ${what} was ready:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A process and all its descendants (FPM's master forks the children, nginx's the workers). */
function processTree(proc: Managed | undefined): number[] {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return [];
  const out: number[] = [];
  const queue = [proc.pid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...childrenOf(pid));
  }
  return out;
}

function childrenOf(pid: number): number[] {
  // /proc/<pid>/task/<tid>/children lists direct children (CONFIG_PROC_CHILDREN); else scan /proc.
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // Field 4 is the parent pid; field 2 (the name) may contain spaces and is in parentheses.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) out.push(Number(entry));
      } catch {
        /* the process has gone */
      }
    }
    return out;
  }
}

function readLogs(runDir: string): string {
  const parts: string[] = [];
  for (const name of ['php-fpm.log', 'php-errors.log', 'nginx-error.log']) {
    try {
      const text = readFileSync(path.join(runDir, 'log', name), 'utf8').trim();
      if (text) parts.push(`\n--- ${name} ---\n${text.split('\n').slice(-30).join('\n')}`);
    } catch {
      /* not written */
    }
  }
  return parts.join('');
}
