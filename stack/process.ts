/**
 * Starting and stopping the programs that the stack, the tests and the benchmarks drive: wait
 * until a process is healthy, keep its output for the error message, stop it (and its group) for sure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Managed {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last lines the process printed, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * util-linux's setpriv, when processes started from here are to get SIGTERM if this process dies
 * (stopChildrenWithThisProcess).
 */
let setprivForParentDeath: string | undefined;

/**
 * From now on, every process started here gets SIGTERM from the kernel when this process dies,
 * even by SIGKILL (Linux' parent-death signal, set by setpriv, which util-linux installs on every
 * Debian/Ubuntu): nginx and PHP-FPM then stop and take their workers with them, the image service
 * drains and exits. Without it each part, in a session of its own so that its group can be
 * signalled, lives on orphaned and holds the ports the next `npm start` needs. For `npm start`'s
 * supervisor only: the kernel watches the *thread* that started a child, and the supervisor
 * starts its parts from the main thread (a test runner's worker threads come and go). Returns
 * whether it is on (false where setpriv is missing or cannot set the signal: nothing changes).
 */
export function stopChildrenWithThisProcess(): boolean {
  // Tried once: a sandbox without prctl(PR_SET_PDEATHSIG) must not keep every part from starting.
  setprivForParentDeath = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => {
    try {
      execFileSync(p, ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
      return true;
    } catch {
      return false;
    }
  });
  return setprivForParentDeath !== undefined;
}

export function startProcess(name: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; echo?: boolean } = {}): Managed {
  // setpriv sets the signal and execs the command: same pid, same group.
  const [file, argv] = setprivForParentDeath ? [setprivForParentDeath, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args];
  const child = spawn(file, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    if (options.echo) process.stderr.write(text);
    lines.push(...text.split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      lines.push(String(err));
      resolve(-1);
    });
  });
  return {
    name,
    child,
    pid: child.pid ?? -1,
    output: () => lines.join('\n'),
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(child, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Polls `url` until it answers with a status below 500, or fails with the process's output. */
export async function waitForHttp(url: string, options: { timeoutMs?: number; process?: Managed; okStatus?: (s: number) => boolean } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const ok = options.okStatus ?? ((s: number) => s < 500);
  let last = '';
  while (Date.now() < deadline) {
    if (options.process && options.process.child.exitCode !== null) {
      throw new Error(`${options.process.name} exited with ${options.process.child.exitCode} before ${url} was ready:\n${options.process.output()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (ok(res.status)) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${url} (${last})${options.process ? `\n${options.process.name} output:\n${options.process.output()}` : ''}`);
}

/**
 * A port to listen on, free when checked. It is picked at random *below* the kernel's ephemeral
 * range: a port from listen(0) lies inside that range, where any outgoing connection may take it
 * as its local port before the server that was promised it binds (seen here: nginx failing with
 * EADDRINUSE in the middle of a test run full of loopback connections). Below the range only
 * another listener can take it, and handed-out ports are not handed out twice by this process.
 */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  const [low, high] = portRange(ephemeralRange());
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${low}-${high - 1} after 100 tries`);
}

/** PURE: the ports [low, high) to pick from, outside the ephemeral range [first, last]. */
export function portRange([first, last]: [number, number]): [number, number] {
  if (first - 10_000 >= 1_000) return [10_000, first];
  if (65_535 - last >= 1_000) return [last + 1, 65_536];
  return [1_025, 65_536]; // an ephemeral range that leaves no room: any unprivileged port, checked
}

function ephemeralRange(): [number, number] {
  try {
    const [first, last] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(first) && Number.isInteger(last)) return [first!, last!];
  } catch {
    // not Linux: assume its default
  }
  return [32_768, 60_999];
}

/** Whether a listener could bind `host:port` now (it binds and closes at once). */
export function canListen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
