/**
 * `npm start` (after scripts/bootstrap.sh): seeds the sample originals, starts legacy (:8081),
 * the image service (:8082) and the front door (:8080) on nginx/cutover.yaml, waits until each
 * is healthy, prints where everything is, and then supervises them (stack/supervisor.ts): a part
 * that exits, or an image service that stops answering its health check, is restarted with
 * backoff while the others keep serving. It stops everything it started on Ctrl-C / SIGTERM
 * (exit 0); it exits 1 when a part cannot start at all, or cannot be brought back.
 *
 * When the cutover file mirrors (`shadow_sink` set and a route with shadow_sample > 0), it also runs
 * the shadow sink there (stack/shadow-sink.ts), writing where the rollout controllers read; a sink
 * that cannot be brought back is logged and the stack keeps serving. Only with all parts.
 *
 * The image service's REQUEST_TIMEOUT_MS comes from the cutover file (serviceDeadlineMs of the
 * route's timeout_ms); a larger value set by hand is refused.
 *
 * Environment:
 *   CUTOVER_FILE     the cutover file to run (default nginx/cutover.yaml)
 *   FRONT_PORT, LEGACY_PORT, SERVICE_PORT  ports (defaults: the cutover file's, 8080/8081/8082)
 *   IMAGE_SERVICE_REPLICAS  image-service processes behind the front door, 1..16 (default: as many
 *                    as the route lists, 1 in the shipped file); replica i on SERVICE_PORT + 100 i
 *                    (8082, 8182, 8282; admin 9082, 9182, 9282), each supervised on its own, each
 *                    with CONCURRENCY floor(cores / replicas) unless CONCURRENCY is set
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
import { parseCutover, type CutoverFile } from '../gateway/src/cutover/schema.ts';
import { frontDoorPart, legacyParts, servicePart } from '../stack/parts.ts';
import { parseReplicaCount, replicaName } from '../stack/replicas.ts';
import { serviceDeadline } from '../stack/service-deadline.ts';
import { Supervisor } from '../stack/supervisor.ts';
import { projectRoot } from '../common/paths.ts';
import { startFrontDoor, type RunningFrontDoor } from '../stack/frontdoor.ts';
import { startLegacy, type RunningLegacy } from '../stack/legacy.ts';
import { SHARED_HOST_SERVICE_NICE, startImageService, type RunningService } from '../stack/services.ts';
import { replicaStartOptions, shippedCutoverFile, stackAddresses, startStack } from '../stack/stack.ts';
import { planShadowSink, type RunningShadowSink } from '../stack/shadow-sink.ts';
import { busyPorts, plannedPorts, portsInUseMessage } from '../stack/ports.ts';
import { stopChildrenWithThisProcess } from '../stack/process.ts';
import { availableParallelism } from 'node:os';

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
// Another file than the shipped one: tests and chaos runs set their own shares without touching the repository's.
const cutoverFile = process.env.CUTOVER_FILE ? path.resolve(process.env.CUTOVER_FILE) : shippedCutoverFile;
const cutover = ((): CutoverFile => {
  try {
    return parseCutover(readFileSync(cutoverFile, 'utf8'), cutoverFile);
  } catch (err) {
    return fail(`${process.env.CUTOVER_FILE ? 'CUTOVER_FILE: ' : ''}${err instanceof Error ? err.message : String(err)}`);
  }
})();
const replicaCount = parseReplicaCount(process.env.IMAGE_SERVICE_REPLICAS, cutover.routes[0]?.backend.length ?? 1);
const replicas = replicaCount.ok ? replicaCount.value : fail(replicaCount.error);
const varDir = path.resolve(process.env.STACK_VAR_DIR || path.join(projectRoot, 'var'));
const storageDir = path.join(varDir, 'originals');
const runDir = path.join(varDir, 'run');
// The sink's results file when no rollout names one: where `gateway compare --report` finds it.
const shadowResults = path.join(varDir, 'shadow/results.jsonl');
// With all parts: a shadow sink when the file mirrors (refused here, before anything starts, when rollouts disagree on its file).
const sinkPlan = ((): ReturnType<typeof planShadowSink> => {
  try {
    return planShadowSink(cutover, cutoverFile, shadowResults);
  } catch (err) {
    return fail(`${process.env.CUTOVER_FILE ? 'CUTOVER_FILE: ' : ''}${err instanceof Error ? err.message : String(err)}`);
  }
})();
const rel = (p: string) => (path.isAbsolute(p) && !p.startsWith(`${process.cwd()}/`) ? p : path.relative(process.cwd(), p) || '.');
const say = (s: string) => process.stdout.write(`${s}\n`);

// Only these variables reach the image service: the rest of the shell stays out of its config.
const serviceEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (kv): kv is [string, string] =>
      kv[1] !== undefined &&
      kv[1] !== '' &&
      (/^(ADMIN_PORT|ADMIN_HOST|STORAGE_URL|S3_ENDPOINT|AWS_[A-Z_]+|S3_FORCE_PATH_STYLE|CONCURRENCY|QUEUE_LIMIT|STORAGE_TIMEOUT_MS)$/.test(kv[0]) ||
        /^(MAX_INPUT_BYTES|MAX_INPUT_PIXELS|SIGNING_SECRET|ALLOWED_SIZES|LOG_LEVEL|FAST_SHRINK_ON_LOAD)$/.test(kv[0])),
  ),
);
// One deadline source: the route's timeout_ms, so that the service gives up before the front door does.
const deadline = serviceDeadline(cutover.routes, process.env.REQUEST_TIMEOUT_MS);
if (!deadline.ok) fail(deadline.error);
else if (deadline.ms !== undefined) serviceEnv.REQUEST_TIMEOUT_MS = String(deadline.ms);
const serviceStartEnv = { STORAGE_URL: pathToFileURL(storageDir).href, ...serviceEnv };

// Before anything starts: a port another program holds is one clear line, not nginx's bind()
// errors after the other parts have been started and stopped again.
// Where each part listens: the cutover file's addresses, moved by the *_PORT variables.
const addressPlan = stackAddresses(cutover, { ...requested, replicas }, listenHost);
const planned = addressPlan.ports;
const busy = await busyPorts(
  plannedPorts({
    parts,
    listenHost,
    front: planned.front,
    legacy: planned.legacy,
    services: replicaStartOptions(serviceStartEnv, planned.services, availableParallelism()),
  }),
);
if (busy.length > 0) fail(portsInUseMessage(busy));

// A supervisor killed outright (SIGKILL, the OOM killer) must not leave its parts running.
stopChildrenWithThisProcess();

if (seed) {
  say('stack: seeding the sample originals');
  execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/seed-samples.ts'), storageDir], { stdio: 'inherit', cwd: projectRoot });
}

interface Started {
  frontDoor?: RunningFrontDoor;
  legacy?: RunningLegacy;
  service?: RunningService;
  /** Every image-service replica (service is the first). */
  services: RunningService[];
  /** The shadow sink (all parts, a cutover file that mirrors): supervised on its own, stopped first. */
  shadowSink?: RunningShadowSink;
  /** Stops what was started (only until the supervisor takes over). */
  stop(): Promise<void>;
}

// Niced when legacy runs beside it (see SHARED_HOST_SERVICE_NICE); a restart gets the same.
const serviceNice = parts.has('legacy') ? SHARED_HOST_SERVICE_NICE : 0;
const startService = (r: { env?: Record<string, string>; port: number; adminPort?: number | undefined }) =>
  startImageService(r.env ?? serviceStartEnv, { port: r.port, ...(r.adminPort ? { adminPort: r.adminPort } : {}), nice: serviceNice });

async function start(): Promise<Started> {
  if (parts.size === ALL_PARTS.length) {
    // serviceStartEnv carries STORAGE_URL: the same environment as a supervised restart gets.
    return startStack({
      storageDir,
      runDir,
      cutoverFile,
      ports: requested,
      replicas,
      listenHost,
      serviceEnv: serviceStartEnv,
      echo: true,
      runShadowSink: true,
      shadowResults,
    });
  }
  // One part per container (compose.yaml): each is started on its own, on the file's addresses.
  const { ports, addresses } = addressPlan;
  const s: Started = { services: [], stop: async () => undefined };
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
      for (const r of replicaStartOptions(serviceStartEnv, ports.services, availableParallelism())) {
        const started = await startService(r);
        s.services.push(started);
        stops.push(() => started.stop());
      }
      s.service = s.services[0];
    }
    if (parts.has('frontdoor')) {
      s.frontDoor = await startFrontDoor({ cutoverFile, runDir: path.join(runDir, 'frontdoor'), addresses, echo: true });
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

// From here on the supervisor owns the processes: it restarts what exits, and stops what runs now.
const supervisor = new Supervisor({ log: say });
if (stack.legacy) for (const p of legacyParts(stack.legacy)) supervisor.watch(p.part, p.instance);
let frontDoor = stack.frontDoor;
// Each replica is its own part: restarted on its own two ports, with its own environment
// (the addresses printed below, and nginx's upstream, stay right); its siblings keep serving.
// Once it is healthy again, the front door reloads (same config; a reload is graceful, no request
// is dropped: gateway/test/frontdoor-reload.int.test.ts): fresh workers forget the failures that
// marked it down (passive health), so it gets its share back at once instead of after the route's
// fail_timeout. That also forgets a sibling's marks: a sibling that hangs meanwhile costs up to
// max_fails more timeouts (each served by the fallback), until the supervisor kills it.
const restartOptions = replicaStartOptions(
  serviceStartEnv,
  stack.services.map((r) => r.port),
  availableParallelism(),
);
stack.services.forEach((first, i) => {
  const p = servicePart(
    first,
    () => startService({ ...restartOptions[i]!, adminPort: first.adminPort }),
    () => {
      if (!frontDoor) return;
      try {
        process.kill(frontDoor.master.pid, 'SIGHUP');
        say(`stack: the front door's nginx reloaded: the ${replicaName(i, stack.services.length, first.port)} gets its share again`);
      } catch {
        // The front door is down too: its own restart starts with fresh workers anyway.
      }
    },
    replicaName(i, stack.services.length, first.port),
  );
  supervisor.watch(p.part, p.instance);
});
if (stack.frontDoor) {
  const p = frontDoorPart(stack.frontDoor, (restarted) => (frontDoor = restarted));
  supervisor.watch(p.part, p.instance);
}

let stopping = false;
async function shutdown(reason: string, code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say(`\nstack: ${reason}; stopping ${[...parts].reverse().join(', ')}${stack.shadowSink ? ', shadow sink' : ''}`);
    // The sink first: it finishes its queued comparisons while both backends still answer (after
    // them it would record their refusals as differences). Mirrors to it meanwhile are dropped by nginx.
    await stack.shadowSink?.stop();
    // Front door first: it stops taking traffic before the backends go.
    await supervisor.stop([
      "front door's nginx",
      ...stack.services.map((r, i, all) => replicaName(i, all.length, r.port)),
      "legacy's nginx",
      "legacy's PHP-FPM",
    ]);
    say('stack: stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
// The terminal closed: without a handler Node would exit at once and leave the parts to the kernel.
process.on('SIGHUP', () => void shutdown('SIGHUP', 0));
void supervisor.gaveUp.then((reason) => {
  process.stderr.write(`stack: ${reason}\n`);
  void shutdown('giving up', 1);
});

const lines: string[] = [''];
if (stack.frontDoor)
  lines.push(`  front door     ${stack.frontDoor.url}        (nginx, ${rel(stack.frontDoor.runDir)}; access log ${rel(stack.frontDoor.accessLog)})`);
if (stack.legacy) lines.push(`  legacy         ${stack.legacy.url}        (nginx + PHP-FPM + Imagick)`);
for (const [i, r] of stack.services.entries()) {
  const which = stack.services.length > 1 ? `, replica ${i + 1}/${stack.services.length}` : '';
  lines.push(`  image service  ${r.url}        (Node + sharp${which}; request deadline ${serviceEnv.REQUEST_TIMEOUT_MS ?? 'its default'} ms)`);
  lines.push(`    admin        ${r.adminUrl}        (/healthz, /readyz, /metrics)`);
}
if (stack.shadowSink)
  lines.push(
    `  shadow sink    ${stack.shadowSink.url}        (legacy vs new on mirrored GETs; results ${rel(stack.shadowSink.plan.results)}` +
      `${stack.shadowSink.plan.readBy.length ? `, read by the rollout of ${stack.shadowSink.plan.readBy.join(', ')}` : ''}; /metrics)`,
  );
else if (sinkPlan === undefined && cutover.shadow_sink && parts.size === ALL_PARTS.length)
  lines.push(`  shadow sink    off        (no route has shadow_sample > 0)`);
lines.push(`  originals      ${rel(storageDir)}`);
if (stack.frontDoor) {
  const front = stack.frontDoor.url;
  const sample = 'gen-photo-1920x1280.jpg';
  // Other ports need no flags (the run dir records them); another run dir or cutover file does.
  const flags =
    `${cutoverFile === shippedCutoverFile ? '' : ` --file ${rel(cutoverFile)}`}` +
    `${stack.frontDoor.runDir === path.join(projectRoot, 'var/run/frontdoor') ? '' : ` --run-dir ${rel(stack.frontDoor.runDir)}`}`;
  lines.push(
    '',
    `  cutover file   ${rel(cutoverFile)}`,
    ...cutover.routes.map(
      (r) =>
        `    ${r.name}: ${r.methods.join(',')} ${r.path} -> ${r.share}% to the new service${r.fallback ? ', fallback to legacy' : ''}${r.override_header ? ', X-Image-Backend override on' : ''}`,
    ),
    '    everything else -> legacy',
    '',
    '  try:',
    `    curl -sI '${front}/image/files/${sample}?w=400'`,
    `    tail -1 ${rel(stack.frontDoor.accessLog)}        # "backend": who served it ("fallback": "1" when legacy stood in)`,
    `    curl -s -F file=@some.jpg -F key=mine.jpg ${front}/image/files           # upload (legacy)`,
    `    npx gateway set images 10${flags}      # 10% of variants to the new service`,
    `    npx gateway rollback images${flags}    # all back to legacy`,
    `    npx gateway status${flags}                # shares, traffic, and whether each backend is up`,
  );
}
lines.push('', 'stack: ready (a part that exits or hangs is restarted; Ctrl-C stops everything)');
say(lines.join('\n'));
