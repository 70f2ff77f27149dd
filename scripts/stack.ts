/**
 * `npm start` (after scripts/bootstrap.sh): seeds the sample originals, starts legacy (:8081),
 * the image service (:8082) and the front door (:8080) on nginx/cutover.yaml, waits until each
 * is healthy, prints where everything is, and stops everything it started on Ctrl-C / SIGTERM.
 *
 * Environment: FRONT_PORT, LEGACY_PORT, SERVICE_PORT (ports on 127.0.0.1; defaults: the cutover
 * file's, 8080/8081/8082), STACK_VAR_DIR (runtime directory; default <repo>/var), plus anything
 * the image service reads (CONCURRENCY, STORAGE_URL, ...: see image-service/src/config.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { listenUrl } from '../gateway/src/cutover/plan.ts';
import { parseCutover } from '../gateway/src/cutover/schema.ts';
import { projectRoot } from '../support/fixtures.ts';
import { shippedCutoverFile, startStack, type RunningStack } from '../support/stack.ts';

function port(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > 65535) {
    process.stderr.write(`stack: ${name}: expected a port from 1 to 65535, got '${raw}'\n`);
    process.exit(2);
  }
  return n;
}

const ports = { front: port('FRONT_PORT'), legacy: port('LEGACY_PORT'), service: port('SERVICE_PORT') };
const varDir = path.resolve(process.env.STACK_VAR_DIR || path.join(projectRoot, 'var'));
const storageDir = path.join(varDir, 'originals');
const runDir = path.join(varDir, 'run');
const rel = (p: string) => path.relative(process.cwd(), p) || '.';
const say = (s: string) => process.stdout.write(`${s}\n`);

say('stack: seeding the sample originals');
execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/seed-samples.ts'), storageDir], { stdio: 'inherit', cwd: projectRoot });

// Only these env vars reach the image service: the rest of the shell stays out of its config.
const serviceEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (kv): kv is [string, string] =>
      kv[1] !== undefined &&
      /^(STORAGE_URL|S3_ENDPOINT|AWS_[A-Z_]+|S3_FORCE_PATH_STYLE|CONCURRENCY|QUEUE_LIMIT|REQUEST_TIMEOUT_MS|STORAGE_TIMEOUT_MS|MAX_INPUT_BYTES|MAX_INPUT_PIXELS|SIGNING_SECRET|ALLOWED_SIZES|LOG_LEVEL|FAST_SHRINK_ON_LOAD)$/.test(kv[0]),
  ),
);

say(`stack: starting legacy, the image service and the front door (runtime in ${rel(runDir)})`);
let stack: RunningStack;
try {
  stack = await startStack({
    storageDir,
    runDir,
    cutoverFile: shippedCutoverFile,
    ports: Object.fromEntries(Object.entries(ports).filter(([, v]) => v !== undefined)),
    serviceEnv,
    echo: true,
  });
} catch (err) {
  process.stderr.write(`stack: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

let stopping = false;
async function shutdown(reason: string, code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say(`\nstack: ${reason}; stopping the front door, the image service and legacy`);
    await stack.stop();
    say('stack: stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
stack.service.process.exited.then((code) => {
  if (!stopping) void shutdown(`the image service exited (${code})`, 1);
});

const file = parseCutover(readFileSync(stack.cutoverFile, 'utf8'), stack.cutoverFile);
const front = stack.frontDoor.url;
const sample = 'gen-photo-1920x1280.jpg';
// Other ports need no flags (the run dir records them); another run dir does.
const fileFlags = stack.frontDoor.runDir === path.join(projectRoot, 'var/run/frontdoor') ? '' : ` --run-dir ${rel(stack.frontDoor.runDir)}`;
say(`
  front door     ${front}        (nginx, ${rel(stack.frontDoor.runDir)}; access log ${rel(stack.frontDoor.accessLog)})
  legacy         ${stack.legacy.url}        (nginx + PHP-FPM + Imagick)
  image service  ${stack.service.url}        (Node + sharp; /metrics, /readyz)
  originals      ${rel(storageDir)}

  cutover file   ${rel(stack.cutoverFile)}
${file.routes.map((r) => `    ${r.name}: ${r.methods.join(',')} ${r.path} -> ${r.share}% to the new service${r.fallback ? ', fallback to legacy' : ''}${r.override_header ? ', X-Image-Backend override on' : ''}`).join('\n')}
    everything else -> legacy

  try:
    curl -sI '${front}/image/files/${sample}?w=400'                      # X-Image-Backend: who served it
    curl -s -o /dev/null -D - -H 'X-Image-Backend: new' '${front}/image/files/${sample}?w=400&format=webp'
    curl -s -F file=@some.jpg -F key=mine.jpg ${front}/image/files                # upload (legacy)
    npx gateway set images 10${fileFlags}      # 10% of variants to the new service; rollback: npx gateway rollback images${fileFlags}
    npx gateway status${fileFlags}

stack: ready (Ctrl-C stops everything)`);
