/**
 * `npm start` (after scripts/bootstrap.sh): seeds the sample originals, starts legacy (:8081),
 * the image service (:8082) and the front door (:8080) on nginx/cutover.yaml, waits until each
 * is healthy, prints where everything is, and stops everything it started on Ctrl-C / SIGTERM.
 *
 * Environment:
 *   FRONT_PORT, LEGACY_PORT, SERVICE_PORT  ports (defaults: the cutover file's, 8080/8081/8082)
 *   FRONT_HOST       where the front door listens (default 127.0.0.1; 0.0.0.0 in a container)
 *   STACK_VAR_DIR    runtime directory: originals/ and run/ (default <repo>/var)
 *   STACK_PARTS      which parts to run, comma-separated: legacy,service,frontdoor (default all;
 *                    compose.yaml runs one per container)
 *   STACK_SEED       'false' skips seeding the sample originals (default true)
 *   and what the image service reads (CONCURRENCY, STORAGE_URL, ...: image-service/src/config.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCutover } from '../gateway/src/cutover/schema.ts';
import { projectRoot } from '../support/fixtures.ts';
import { startFrontDoor, type RunningFrontDoor } from '../support/frontdoor.ts';
import { startLegacy, type RunningLegacy } from '../support/legacy.ts';
import { startImageService, type RunningService } from '../support/services.ts';
import { shippedCutoverFile, stackAddresses, startStack } from '../support/stack.ts';

const fail = (message: string): never => {
  process.stderr.write(`stack: ${message}\n`);
  process.exit(2);
};

function port(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > 65535) fail(`${name}: expected a port from 1 to 65535, got '${raw}'`);
  return n;
}

const ALL_PARTS = ['legacy', 'service', 'frontdoor'] as const;
type Part = (typeof ALL_PARTS)[number];
const parts = new Set<Part>(
  (process.env.STACK_PARTS || ALL_PARTS.join(','))
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => (ALL_PARTS.includes(p as Part) ? (p as Part) : fail(`STACK_PARTS: expected a comma-separated list of ${ALL_PARTS.join(', ')}, got '${p}'`))),
);
const seed = !['false', '0'].includes(process.env.STACK_SEED ?? '');
const listenHost = process.env.FRONT_HOST || '127.0.0.1';
if (!/^[A-Za-z0-9.:[\]-]+$/.test(listenHost)) fail(`FRONT_HOST: expected a host such as 127.0.0.1 or 0.0.0.0, got '${listenHost}'`);
const requested = { front: port('FRONT_PORT'), legacy: port('LEGACY_PORT'), service: port('SERVICE_PORT') };
const varDir = path.resolve(process.env.STACK_VAR_DIR || path.join(projectRoot, 'var'));
const storageDir = path.join(varDir, 'originals');
const runDir = path.join(varDir, 'run');
const rel = (p: string) => (path.isAbsolute(p) && !p.startsWith(`${process.cwd()}/`) ? p : path.relative(process.cwd(), p) || '.');
const say = (s: string) => process.stdout.write(`${s}\n`);

if (seed) {
  say('stack: seeding the sample originals');
  execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/seed-samples.ts'), storageDir], { stdio: 'inherit', cwd: projectRoot });
}

// Only these variables reach the image service: the rest of the shell stays out of its config.
const serviceEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (kv): kv is [string, string] =>
      kv[1] !== undefined &&
      kv[1] !== '' &&
      /^(STORAGE_URL|S3_ENDPOINT|AWS_[A-Z_]+|S3_FORCE_PATH_STYLE|CONCURRENCY|QUEUE_LIMIT|REQUEST_TIMEOUT_MS|STORAGE_TIMEOUT_MS|MAX_INPUT_BYTES|MAX_INPUT_PIXELS|SIGNING_SECRET|ALLOWED_SIZES|LOG_LEVEL|FAST_SHRINK_ON_LOAD)$/.test(kv[0]),
  ),
);

interface Started {
  frontDoor?: RunningFrontDoor;
  legacy?: RunningLegacy;
  service?: RunningService;
  cutoverFile: string;
  stop(): Promise<void>;
}

async function start(): Promise<Started> {
  if (parts.size === ALL_PARTS.length) {
    return startStack({ storageDir, runDir, cutoverFile: shippedCutoverFile, ports: requested, listenHost, serviceEnv, echo: true });
  }
  // One part per container (compose.yaml): each is started on its own, on the file's addresses.
  const file = parseCutover(readFileSync(shippedCutoverFile, 'utf8'), shippedCutoverFile);
  const { ports, addresses } = stackAddresses(file, requested, listenHost);
  const s: Started = { cutoverFile: shippedCutoverFile, stop: async () => undefined };
  const stops: Array<() => Promise<void>> = [];
  s.stop = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    if (parts.has('legacy')) {
      s.legacy = await startLegacy({ storageDir, port: ports.legacy, runDir: path.join(runDir, 'legacy') });
      stops.push(() => s.legacy!.stop());
    }
    if (parts.has('service')) {
      s.service = await startImageService({ STORAGE_URL: pathToFileURL(storageDir).href, ...serviceEnv }, { port: ports.service });
      stops.push(() => s.service!.stop());
    }
    if (parts.has('frontdoor')) {
      s.frontDoor = await startFrontDoor({ cutoverFile: shippedCutoverFile, runDir: path.join(runDir, 'frontdoor'), addresses, echo: true });
      stops.push(() => s.frontDoor!.stop());
    }
    return s;
  } catch (err) {
    await s.stop();
    throw err;
  }
}

say(`stack: starting ${[...parts].join(', ')} (runtime in ${rel(runDir)})`);
let stack: Started;
try {
  stack = await start();
} catch (err) {
  process.stderr.write(`stack: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

let stopping = false;
async function shutdown(reason: string, code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say(`\nstack: ${reason}; stopping ${[...parts].reverse().join(', ')}`);
    await stack.stop();
    say('stack: stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
stack.service?.process.exited.then((code) => {
  if (!stopping) void shutdown(`the image service exited (${code})`, 1);
});
stack.frontDoor?.exited.then((code) => {
  if (!stopping) void shutdown(`the front door's nginx exited (${code})`, 1);
});

const file = parseCutover(readFileSync(stack.cutoverFile, 'utf8'), stack.cutoverFile);
const lines: string[] = [''];
if (stack.frontDoor) lines.push(`  front door     ${stack.frontDoor.url}        (nginx, ${rel(stack.frontDoor.runDir)}; access log ${rel(stack.frontDoor.accessLog)})`);
if (stack.legacy) lines.push(`  legacy         ${stack.legacy.url}        (nginx + PHP-FPM + Imagick)`);
if (stack.service) lines.push(`  image service  ${stack.service.url}        (Node + sharp; /metrics, /readyz)`);
lines.push(`  originals      ${rel(storageDir)}`);
if (stack.frontDoor) {
  const front = stack.frontDoor.url;
  const sample = 'gen-photo-1920x1280.jpg';
  // Other ports need no flags (the run dir records them); another run dir does.
  const flags = stack.frontDoor.runDir === path.join(projectRoot, 'var/run/frontdoor') ? '' : ` --run-dir ${rel(stack.frontDoor.runDir)}`;
  lines.push(
    '',
    `  cutover file   ${rel(stack.cutoverFile)}`,
    ...file.routes.map(
      (r) => `    ${r.name}: ${r.methods.join(',')} ${r.path} -> ${r.share}% to the new service${r.fallback ? ', fallback to legacy' : ''}${r.override_header ? ', X-Image-Backend override on' : ''}`,
    ),
    '    everything else -> legacy',
    '',
    '  try:',
    `    curl -sI '${front}/image/files/${sample}?w=400'                 # X-Image-Backend: who served it`,
    `    curl -s -o /dev/null -D - -H 'X-Image-Backend: new' '${front}/image/files/${sample}?w=400&format=webp'`,
    `    curl -s -F file=@some.jpg -F key=mine.jpg ${front}/image/files           # upload (legacy)`,
    `    npx gateway set images 10${flags}      # 10% of variants to the new service`,
    `    npx gateway rollback images${flags}    # all back to legacy`,
    `    npx gateway status${flags}`,
  );
}
lines.push('', 'stack: ready (Ctrl-C stops everything)');
say(lines.join('\n'));
