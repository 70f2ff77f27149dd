/**
 * `npm run loadtest [-- shadow|canary|stress]`: runs a k6 script against the local stack, with
 * short defaults, and prints its markdown table.
 *
 * Targets, in order of preference:
 * 1. LEGACY_URL / NEW_URL / FRONT_URL from the environment (your own stack);
 * 2. the stack `npm start` runs, when the addresses in nginx/cutover.yaml (or the other ports it was
 *    started on, recorded in var/run/frontdoor/addresses.json) answer their health checks;
 * 3. otherwise a stack of its own (stack/stack.ts: legacy, image service, front door at
 *    SHARE, default 50) on temporary directories, seeded with the sample photographs, and stopped
 *    at the end.
 * The request list is REQUESTS when given, else `gateway requests --from-originals` over the
 * stack's originals, written to var/loadtest/requests.json. Summaries go to var/loadtest/.
 * Every other k6 setting (RATE, DURATION, P99_MS, ...) passes through from the environment; see
 * loadtest/README.md. The composition root of the load tests: the only module that reads the environment.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readAddressOverrides } from '../gateway/src/nginx/run-dir.ts';
import { requests as requestsCommand } from '../gateway/src/requests.ts';
import { projectRoot } from '../common/paths.ts';
import { benchPhotos } from '../support/fixtures.ts';
import { findTool } from '../stack/tools.ts';

const SCRIPTS = ['shadow', 'canary', 'stress'] as const;
type Script = (typeof SCRIPTS)[number];

/** Short defaults: a smoke-sized comparison that still has enough requests for a p95. */
const DEFAULTS: Record<Script, Record<string, string>> = {
  shadow: { RATE: '3', DURATION: '15s' },
  canary: { RATE: '10', DURATION: '15s' },
  stress: { START_RATE: '2', STEP_RATE: '4', STEPS: '5', STEP_DURATION: '6s' },
};

const log = (text: string) => process.stderr.write(`loadtest: ${text}\n`);

interface Targets {
  legacy: string;
  new: string;
  front: string | undefined;
  /** The new service's /healthz (on its admin listener), when known. */
  newHealth?: string;
  /** The share the front door runs (for canary). */
  share: number | undefined;
  /** The originals the backends serve, for the request list. */
  storageDir: string | undefined;
  stop(): Promise<void>;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** The addresses of the stack `npm start` runs, from nginx/cutover.yaml, when they answer. */
async function runningStack(): Promise<Omit<Targets, 'stop'> | undefined> {
  const file = path.join(projectRoot, 'nginx/cutover.yaml');
  if (!existsSync(file)) return undefined;
  let doc: { listen?: unknown; legacy?: unknown; routes?: Array<{ backend?: unknown; share?: unknown; path?: unknown }> };
  try {
    doc = parseYaml(readFileSync(file, 'utf8')) as typeof doc;
  } catch {
    return undefined;
  }
  const route = doc.routes?.find((r) => r.path === '/image/files/') ?? doc.routes?.[0];
  if (typeof doc.legacy !== 'string' || typeof route?.backend !== 'string') return undefined;
  // `npm start` on other ports (FRONT_PORT, ...) records them beside the front door's config.
  const overrides = readAddressOverrides(path.join(projectRoot, 'var/run/frontdoor'));
  const legacy = `http://${overrides.legacy ?? doc.legacy}`;
  const fresh = `http://${overrides.backend ?? route.backend}`;
  const listen = String(overrides.listen ?? doc.listen ?? '127.0.0.1:8080');
  const front = `http://${listen.includes(':') ? listen : `127.0.0.1:${listen}`}`;
  // The service's /healthz is on its admin listener (9082 beside the documented 8082); its public
  // port answers the JSON 404 anywhere but the hot endpoint.
  const freshHealth = `http://127.0.0.1:${process.env.ADMIN_PORT ?? 9082}/healthz`;
  if (!(await healthy(`${legacy}/image/health`)) || !(await healthy(freshHealth))) return undefined;
  const frontUp = await healthy(`${front}/image/health`);
  return {
    legacy,
    new: fresh,
    newHealth: freshHealth,
    front: frontUp ? front : undefined,
    share: typeof route.share === 'number' ? route.share : undefined,
    storageDir: path.join(projectRoot, 'var/originals'),
  };
}

async function startOwnStack(share: number): Promise<Targets> {
  const { startStack } = await import('../stack/stack.ts');
  const work = mkdtempSync(path.join(os.tmpdir(), 'loadtest-'));
  const storageDir = path.join(work, 'originals');
  mkdirSync(storageDir, { recursive: true });
  for (const file of await benchPhotos(path.join(work, 'generated'))) copyFileSync(file, path.join(storageDir, path.basename(file)));
  log(`starting a local stack (legacy, image service, front door at share ${share}) in ${work}`);
  let stack;
  try {
    stack = await startStack({ storageDir, runDir: path.join(work, 'run'), share });
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const running = stack;
  return {
    legacy: running.legacy.url,
    new: running.service.url,
    newHealth: `${running.service.adminUrl}/healthz`,
    front: running.frontDoor.url,
    share,
    storageDir,
    async stop() {
      await running.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

function runK6(script: Script, env: Record<string, string>): Promise<number> {
  const k6 = findTool('k6');
  const args = [
    'run',
    '--quiet',
    '--no-usage-report',
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    path.join(projectRoot, 'loadtest', `${script}.js`),
  ];
  return new Promise((resolve, reject) => {
    // --no-usage-report (and the variable): k6 would otherwise phone home at the end of a run.
    // k6 gets the terminal's Ctrl-C itself (same process group), stops and writes its summary.
    const child = spawn(k6, args, { stdio: 'inherit', env: { ...process.env, K6_NO_USAGE_REPORT: 'true' } });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1)));
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const script = (argv[0] ?? 'shadow') as Script;
  if (!SCRIPTS.includes(script)) {
    process.stderr.write(`usage: npm run loadtest [-- ${SCRIPTS.join('|')}]\n`);
    return 2;
  }
  const share = env.SHARE ? Number(env.SHARE) : 50;
  if (!Number.isInteger(share) || share < 0 || share > 100) {
    process.stderr.write(`SHARE: expected an integer from 0 to 100, got '${env.SHARE}'\n`);
    return 2;
  }

  let targets: Targets | undefined;
  // Ctrl-C: k6 stops on its own; what this command started must stop too, before it exits.
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    log('interrupted; stopping what this command started');
    void (targets?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  if (env.LEGACY_URL || env.NEW_URL || env.FRONT_URL) {
    targets = {
      legacy: env.LEGACY_URL ?? '',
      new: env.NEW_URL ?? '',
      newHealth: env.NEW_HEALTH,
      front: env.FRONT_URL,
      share: env.SHARE ? share : undefined,
      storageDir: undefined,
      stop: async () => {},
    };
    log('using the URLs from the environment');
  } else {
    const running = await runningStack();
    if (running) {
      log(`using the running stack: legacy ${running.legacy}, new ${running.new}${running.front ? `, front door ${running.front}` : ''}`);
      targets = { ...running, stop: async () => {} };
    } else {
      targets = await startOwnStack(share);
    }
  }

  if (interrupted) return 130;
  const outDir = path.join(projectRoot, 'var/loadtest');
  mkdirSync(outDir, { recursive: true });
  try {
    let requestList = env.REQUESTS ? path.resolve(env.REQUESTS) : undefined;
    if (!requestList) {
      const originals = targets.storageDir ?? path.join(projectRoot, 'var/originals');
      requestList = path.join(outDir, 'requests.json');
      log(`request list: gateway requests --from-originals ${originals} --out ${requestList}`);
      const code = await requestsCommand.run(['--from-originals', originals, '--out', requestList], env);
      if (code !== 0) return code;
    }

    // k6 sees this process's environment too (P99_MS, SHADOW_MODE, ...); what is set there wins over
    // the short defaults.
    const k6env: Record<string, string> = { ...DEFAULTS[script] };
    for (const name of Object.keys(k6env)) if (env[name]) k6env[name] = env[name]!;
    k6env.REQUESTS = requestList;
    k6env.SUMMARY_JSON = path.join(outDir, `${script}-summary.json`);
    k6env.SUMMARY_MD = path.join(outDir, `${script}-summary.md`);
    if (script === 'canary') {
      if (!targets.front) throw new Error('canary needs the front door: set FRONT_URL (and SHARE), or let this command start its own stack');
      k6env.FRONT_URL = targets.front;
      k6env.SHARE = String(targets.share ?? share);
    } else {
      if (targets.legacy) k6env.LEGACY_URL = targets.legacy;
      if (targets.new) k6env.NEW_URL = targets.new;
      if (targets.newHealth && !k6env.NEW_HEALTH) k6env.NEW_HEALTH = targets.newHealth;
    }
    log(
      `k6 run loadtest/${script}.js (${Object.entries(DEFAULTS[script])
        .map(([k]) => `${k}=${k6env[k]}`)
        .join(' ')})`,
    );
    const code = await runK6(script, k6env);
    if (existsSync(k6env.SUMMARY_MD))
      log(`summary: ${k6env.SUMMARY_MD} and ${k6env.SUMMARY_JSON}${code === 99 ? ' (some thresholds failed: see the table)' : ''}`);
    return code;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    if (!interrupted) await targets.stop();
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`loadtest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
