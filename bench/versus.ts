/**
 * `npm run bench:versus -- <git ref>`: is this checkout slower than that commit? Legacy and the
 * image service of both checkouts, side by side in one run, rounds interleaved (A B, B A, ...), so
 * whatever else the machine is doing falls on both alike. Prints throughput, p99 and CPU seconds
 * per request of each, and the ratios of the medians.
 *
 * A comparison against an earlier run's figures cannot tell a slower build from a busier machine
 * (this one is shared); two builds measured in the same minutes can. The other ref is checked out
 * with `git worktree` into a temporary directory and runs on this checkout's node_modules.
 *
 * Settings: BENCH_VERSUS_ROUNDS (default 4 per build and subject), BENCH_VERSUS_SECONDS (default
 * 10 per round), BENCH_CONCURRENCY (default 4).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../common/paths.ts';
import { percentileOrNaN } from '../common/stats.ts';
import { benchPhotos } from '../support/fixtures.ts';
import { closedLoopFor } from './lib/drive.ts';
import { httpExec } from './lib/http-exec.ts';
import { cpuSeconds } from './lib/proc.ts';

const VARIANTS = ['w=300&format=jpeg', 'w=640&format=webp', 'w=1280&format=jpeg', 'w=200&h=200&fit=cover&format=jpeg'];

interface Running {
  url: string;
  pids(): number[];
  stop(): Promise<void>;
}
interface Build {
  name: string;
  legacy: Running;
  service: Running;
}

const positiveInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9][0-9]*$/.test(raw)) throw new Error(`${name}: expected a positive integer, got '${raw}'`);
  return Number(raw);
};

/** Where a checkout keeps its starters: stack/ since the layout refactor, support/ before it. */
async function starters(root: string) {
  const dir = existsSync(path.join(root, 'stack/legacy.ts')) ? 'stack' : 'support';
  const legacy = (await import(path.join(root, dir, 'legacy.ts'))) as { startLegacy(o: { storageDir: string }): Promise<Running & { url: string }> };
  const services = (await import(path.join(root, dir, 'services.ts'))) as {
    startImageService(env: Record<string, string>): Promise<{ url: string; process: { pid?: number }; stop(): Promise<void> }>;
  };
  return { legacy, services };
}

async function startBuild(name: string, root: string, originals: string): Promise<Build> {
  const { legacy, services } = await starters(root);
  // Each backend gets its own copy: legacy's workers may take ownership of theirs.
  const store = (label: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `versus-${label}-`));
    cpSync(originals, path.join(dir, 'photos'), { recursive: true });
    return dir;
  };
  const l = await legacy.startLegacy({ storageDir: store(`${name}-legacy`) });
  const s = await services.startImageService({ STORAGE_URL: `file://${store(`${name}-service`)}` });
  return {
    name,
    legacy: l,
    service: { url: s.url, pids: () => (s.process.pid ? [s.process.pid] : []), stop: () => s.stop() },
  };
}

interface Round {
  rps: number;
  p99: number;
  cpuPerReq: number;
  errors: number;
}

async function round(subject: Running, paths: string[], seconds: number, concurrency: number): Promise<Round> {
  const cpu = () => subject.pids().reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
  const client = httpExec({ baseUrl: subject.url, paths, contentTypes: paths.map(() => undefined) }, concurrency);
  const before = cpu();
  const r = await closedLoopFor(client.exec, { first: 0, seconds, concurrency });
  const spent = cpu() - before;
  client.close();
  return { rps: r.ok / r.elapsedS, p99: percentileOrNaN(r.latenciesMs, 0.99), cpuPerReq: spent / Math.max(1, r.completedInWindow), errors: r.errors };
}

const median = (xs: number[]) => percentileOrNaN(xs, 0.5);

async function main(): Promise<number> {
  const ref = process.argv[2];
  if (!ref) {
    process.stderr.write('usage: npm run bench:versus -- <git ref>   (for example: npm run bench:versus -- HEAD~5)\n');
    return 2;
  }
  const rounds = positiveInt('BENCH_VERSUS_ROUNDS', 4);
  const seconds = positiveInt('BENCH_VERSUS_SECONDS', 10);
  const concurrency = positiveInt('BENCH_CONCURRENCY', 4);
  const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: projectRoot, encoding: 'utf8' }).trim();
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-versus-'));
  const other = path.join(work, `checkout-${commit}`);
  execFileSync('git', ['worktree', 'add', '--detach', '--quiet', other, commit], { cwd: projectRoot, stdio: 'inherit' });
  const builds: Build[] = [];
  try {
    symlinkSync(path.join(projectRoot, 'node_modules'), path.join(other, 'node_modules'));
    const photos = await benchPhotos(path.join(work, 'generated'));
    const originals = path.join(work, 'originals');
    for (const p of photos) cpSync(p, path.join(originals, path.basename(p)));
    const paths = photos.flatMap((p) => VARIANTS.map((v) => `/image/files/photos/${path.basename(p)}?${v}`));
    builds.push(await startBuild(commit, other, originals), await startBuild('this checkout', projectRoot, originals));
    process.stdout.write(
      `${photos.length} originals x ${VARIANTS.length} variants, ${rounds} rounds of ${seconds} s per build and subject, ${concurrency} connections\n`,
    );
    const results = new Map<string, Round[]>();
    for (let i = 0; i < rounds; i++) {
      // Alternate who goes first, so a drift in the machine's load does not favour one build.
      const order = i % 2 === 0 ? builds : [...builds].reverse();
      for (const subject of ['legacy', 'service'] as const) {
        for (const b of order) {
          const r = await round(b[subject], paths, seconds, concurrency);
          const key = `${subject} @ ${b.name}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          process.stdout.write(
            `  round ${i + 1} ${key}: ${r.rps.toFixed(1)} req/s, p99 ${r.p99.toFixed(0)} ms, ${r.cpuPerReq.toFixed(4)} CPU s/req, ${r.errors} errors\n`,
          );
        }
      }
    }
    process.stdout.write('\nmedians of the rounds\n| subject | req/s | p99 ms | CPU s/req | errors |\n|---|---|---|---|---|\n');
    for (const [key, rs] of results) {
      const errors = rs.reduce((s, r) => s + r.errors, 0);
      process.stdout.write(
        `| ${key} | ${median(rs.map((r) => r.rps)).toFixed(1)} | ${median(rs.map((r) => r.p99)).toFixed(0)} | ${median(rs.map((r) => r.cpuPerReq)).toFixed(4)} | ${errors} |\n`,
      );
    }
    process.stdout.write('\nthis checkout / ' + commit + ' (medians)\n');
    for (const subject of ['legacy', 'service']) {
      const a = results.get(`${subject} @ this checkout`)!;
      const b = results.get(`${subject} @ ${commit}`)!;
      const ratio = (f: (r: Round) => number) => (median(a.map(f)) / median(b.map(f))).toFixed(3);
      process.stdout.write(`  ${subject}: req/s x${ratio((r) => r.rps)}, p99 x${ratio((r) => r.p99)}, CPU s/req x${ratio((r) => r.cpuPerReq)}\n`);
    }
    return 0;
  } finally {
    for (const b of builds) await Promise.all([b.legacy.stop(), b.service.stop()]);
    execFileSync('git', ['worktree', 'remove', '--force', other], { cwd: projectRoot });
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:versus: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
