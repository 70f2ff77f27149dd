/**
 * The reference legacy backend as the tests, benchmarks and the stack run it: PHP-FPM (Debian's
 * php-fpm + php-imagick) behind its own nginx over FastCGI. The configs are templates in
 * legacy/conf, rendered into a run directory, so the system's nginx and php-fpm are never touched.
 */
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { MAX_INPUT_BYTES, MAX_INPUT_PIXELS } from '../common/contract.ts';
import { projectRoot } from '../common/paths.ts';
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
  /** Starts legacy's nginx again on the same config and port, when it is not running; resolves once it answers. */
  startNginx(): Promise<void>;
  /**
   * Hands everything now in the originals directory to the workers' account (started as root:
   * they do not run as root, and must be able to replace and delete what the runner wrote there
   * after the start). A no-op otherwise.
   */
  adoptStorage(): void;
  /** The PHP-FPM master and the nginx master as they run now (what npm start's supervisor watches). */
  processes(): { fpm: Managed | undefined; nginx: Managed | undefined };
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
  /** LEGACY_RENDER_TIMEOUT_MS: the CPU time one render may take before it is stopped (504). Default 30 000. */
  renderTimeoutMs?: number;
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
  /** Whether the runner runs as root: then the workers need an explicit, unprivileged `user` (see below). */
  root: boolean;
  /** The user and group PHP-FPM's pool and nginx's workers run as when `root` (never root itself). */
  worker_user: string;
  worker_group: string;
  /** LEGACY_RENDER_TIMEOUT_MS of the pool. */
  render_timeout_ms: number;
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
    if (/[\n\r";{}]/.test(text) && !name.endsWith('_directive'))
      throw new Error(`template value for {{${name}}} contains a character that would break the config: ${JSON.stringify(text)}`);
    return text;
  });
}

/**
 * PURE: the values that differ between the two templates. Started as root, the masters stay root
 * (to bind, and to chown the socket) but the PHP-FPM pool and nginx's workers run as an
 * unprivileged user: a pool running as root is code execution as root for anything that can
 * reach its socket. The socket is 0660 and owned by that same user, so only nginx's workers (and
 * root) can talk FastCGI to the pool. Started as another user, everything runs as that user.
 */
export function renderLegacyConfigs(values: LegacyTemplateValues, templates = readTemplates()): { fpm: string; nginx: string } {
  if (values.root && (values.worker_user === 'root' || values.worker_group === 'root'))
    throw new Error('renderLegacyConfigs: the workers must not run as root');
  const common = { ...values, root: String(values.root) };
  return {
    fpm: renderTemplate(templates.fpm, {
      ...common,
      user_directive: values.root
        ? `user = ${values.worker_user}\ngroup = ${values.worker_group}\nlisten.owner = ${values.worker_user}\nlisten.group = ${values.worker_group}`
        : '; user: not running as root, the workers run as the invoking user (who owns the socket)',
    }),
    nginx: renderTemplate(templates.nginx, {
      ...common,
      user_directive: values.root ? `user ${values.worker_user} ${values.worker_group};` : '# user: not running as root, the workers run as the invoking user',
    }),
  };
}

/** The unprivileged account the workers run as when started as root: www-data, else nobody. */
export function workerAccount(passwd = readPasswd()): { user: string; group: string; uid: number; gid: number } {
  for (const name of ['www-data', 'nobody']) {
    const entry = passwd.find((e) => e.name === name);
    if (entry && entry.uid !== 0) {
      const group = readGroupName(entry.gid) ?? name;
      return { user: name, group, uid: entry.uid, gid: entry.gid };
    }
  }
  throw new Error('no unprivileged account (www-data or nobody) to run the legacy workers as; create one (useradd --system www-data)');
}

function readPasswd(): Array<{ name: string; uid: number; gid: number }> {
  return readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
}

function readGroupName(gid: number): string | undefined {
  try {
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => Number(f[2]) === gid)?.[0];
  } catch {
    return undefined;
  }
}

/**
 * Lets the workers' account use what the runner (root) prepared: the originals directory (read,
 * and write for uploads and deletes) and the temp and log directories become its own; every
 * directory above them must let it pass (search only). Directories of our own (under the system
 * temp dir, such as mkdtemp's private 0700 ones, or inside this repository) get o+x. A closed
 * directory above the repository (a clone in /root, say) is not ours to open to everyone: the
 * workers' account alone gets search-only access to it through a POSIX ACL, said on stderr.
 */
function grantWorkerAccess(account: { uid: number; gid: number }, owned: string[], traversed: string[]): void {
  for (const dir of owned) chownTree(dir, account.uid, account.gid);
  const ours = [path.resolve(os.tmpdir()), path.resolve(projectRoot)];
  const opened = new Set<string>();
  for (const target of [...owned, ...traversed]) {
    for (let dir = path.dirname(target); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const mode = statSync(dir).mode;
      if (mode & 0o001 || opened.has(dir)) continue;
      if (ours.some((base) => dir === base || dir.startsWith(`${base}/`))) {
        chmodSync(dir, (mode & 0o7777) | 0o001);
        continue;
      }
      try {
        execFileSync('setfacl', ['-m', `u:${account.uid}:x`, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
        opened.add(dir);
        process.stderr.write(
          `legacy: ${dir} is closed to others; the legacy workers (uid ${account.uid}) got search-only access to it (setfacl -m u:${account.uid}:x)\n`,
        );
      } catch (err) {
        throw new Error(
          `the legacy workers (uid ${account.uid}) cannot reach ${target}: ${dir} is not searchable by them, and setfacl failed ` +
            `(${err instanceof Error ? err.message.split('\n')[0] : String(err)}); chmod o+x it, or run from another directory`,
          { cause: err },
        );
      }
    }
  }
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(entry.parentPath, entry.name);
    // lchown: a link itself changes hands, never what it points to.
    lchownSync(p, uid, gid);
  }
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
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .withIccProfile('srgb')
    .png()
    .toBuffer();
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
  const account = root ? workerAccount() : undefined;
  const srgbProfile = path.join(runDir, 'srgb.icc');

  const fpmConf = path.join(runDir, 'php-fpm.conf');
  const nginxConf = path.join(runDir, 'nginx.conf');
  const socket = path.join(runDir, 'php-fpm.sock');
  // No -R: the pool never runs as root (see renderLegacyConfigs).
  const fpmArgs = ['-y', fpmConf, '-p', runDir];
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
  let instance = '';
  const startNginx = async () => {
    if (nginx && nginx.child.exitCode === null && nginx.child.signalCode === null) return;
    const started = startProcess('legacy-nginx', nginxBin, ['-p', `${runDir}/`, '-c', nginxConf]);
    nginx = started;
    try {
      await waitForOwnHealth(`http://127.0.0.1:${port}/image/health`, instance, started);
    } catch (err) {
      // Not left half-up: the next call must start it again, not take it for running.
      await started.stop();
      throw err;
    }
  };
  try {
    await writeSrgbProfile(srgbProfile);
    if (account) grantWorkerAccess(account, [storageDir, path.join(runDir, 'tmp'), path.join(runDir, 'log')], [legacyDir, srgbProfile]);
    for (let attempt = 1; ; attempt++) {
      port = options.port ?? (await freePort());
      instance = randomBytes(8).toString('hex');
      const configs = renderLegacyConfigs({
        run_dir: runDir,
        legacy_dir: legacyDir,
        storage_dir: storageDir,
        srgb_profile: srgbProfile,
        port,
        children: options.children ?? os.availableParallelism(),
        max_input_bytes: MAX_INPUT_BYTES,
        max_input_pixels: MAX_INPUT_PIXELS,
        instance,
        root,
        worker_user: account?.user ?? 'nobody',
        worker_group: account?.group ?? 'nogroup',
        render_timeout_ms: options.renderTimeoutMs ?? 30_000,
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
    throw new Error(`${err instanceof Error ? err.message : String(err)}${logs}`, { cause: err });
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    storageDir,
    runDir,
    pids: () => [...processTree(fpm), ...processTree(nginx)],
    stopFpm,
    startFpm,
    startNginx,
    adoptStorage: () => {
      if (account) chownTree(storageDir, account.uid, account.gid);
    },
    processes: () => ({ fpm, nginx }),
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
    throw new Error(`${name} refused the rendered config:\n${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`, { cause: err });
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
    return tasks.flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
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
