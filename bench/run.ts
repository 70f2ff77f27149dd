/**
 * `npm run bench`: one command, one run, the subjects side by side on the same workload.
 *
 *   legacy         PHP-FPM + Imagick behind its nginx, children = cores
 *   legacy-2x      the same with twice the children
 *   new            the image service, directly
 *   new-via-nginx  the image service through the front door at share 100
 *   sharp-limit    the service's pipeline in a bare in-process loop: the library's own limit
 *
 * For each: saturation throughput (closed loop), latency at one fixed offered load that the legacy
 * can sustain (open loop, the same rate for everyone), CPU seconds per request and peak RSS from
 * /proc. Rounds are interleaved and rotated, and figures are medians, because the machine is shared.
 * Before the subjects start, it measures each original's decode floor (lib/floor.ts): the bounds
 * that no implementation can beat on this workload, so a missed target reads as either "not yet" or
 * "out of reach".
 * Writes bench/results.json and bench/results.md and prints the table.
 *
 * Then two more parts (issue 16):
 *   peers  legacy, new, ipx and thumbor (bench/lib/peer-bench.ts) on the fixture photos and on 20
 *          generated phone-camera originals, four variants at q=85, closed loop, interleaved rounds
 *   cache  the result cache off and on (bench/lib/cache-bench.ts): a Zipf replay and a CDN expiry
 *
 * Settings (env): BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_CONCURRENCY (2 x cores),
 * BENCH_FIXED_FRACTION (0.7), BENCH_FIXED_RPS, BENCH_SUBJECTS (all), BENCH_OUT_DIR (bench/),
 * BENCH_PARTS (main,peers,cache), BENCH_PEER_ROUNDS (3), BENCH_PEER_SECONDS (8), BENCH_LARGE_COUNT (20),
 * BENCH_THUMBOR_PROCESSES (cores), BENCH_CACHE_MB (256), BENCH_ZIPF_REQUESTS (20000), BENCH_ZIPF_VARIANTS
 * (2000), BENCH_ZIPF_EXPONENT (1), BENCH_ZIPF_NOCACHE_REQUESTS (2000), BENCH_STAMPEDE_REQUESTS (1000),
 * BENCH_STAMPEDE_VARIANTS (50). A quick look: BENCH_PARTS=peers BENCH_PEER_ROUNDS=1 BENCH_PEER_SECONDS=2
 * BENCH_OUT_DIR=/tmp/bench (a partial run should not overwrite bench/results.*).
 * This is the composition root: the only module of the benchmark that reads the environment.
 */
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { usableCpus } from '../image-service/src/cpus.ts';
import { projectRoot } from '../common/paths.ts';
import { benchPhotos, realFixturesDir } from '../support/fixtures.ts';
import { startLegacy, type RunningLegacy } from '../stack/legacy.ts';
import { freePort } from '../stack/process.ts';
import { startImageService, type RunningService } from '../stack/services.ts';
import type { PhaseResult } from './lib/drive.ts';
import { describeMachine } from './lib/machine.ts';
import { runCacheBench } from './lib/cache-bench.ts';
import { defaultLargeDir, ensureLargeOriginals } from './lib/large-originals.ts';
import { measurePhase } from './lib/measure.ts';
import { runPeerBench } from './lib/peer-bench.ts';
import { BENCH_REQUEST_TIMEOUT_MS, PEER_DEFAULTS, SUBJECT_DEFAULTS } from './lib/peers.ts';
import { measureDecodeFloors } from './lib/decode-floor.ts';
import { floorBounds, floorVerdicts } from './lib/floor.ts';
import {
  bestLegacy,
  evaluate,
  renderMarkdown,
  summarizeHop,
  summarizeSubject,
  TARGET_P99_RATIO,
  TARGET_RPS_RATIO,
  type BenchResults,
  type HopResult,
  type PhaseMeasurement,
  type SubjectMeasurements,
} from './lib/report.ts';
import { readBenchSettings, SettingsError, type BenchSettings, type SubjectName } from './lib/settings.ts';
import { median, roundSlices, rotation, wholeCycles } from './lib/stats.ts';
import { httpSubject, startSharpLimit, type Subject } from './lib/subjects.ts';
import { buildWorkload, splitPath, type Workload } from './lib/workload.ts';

const log = (text: string) => process.stderr.write(`bench: ${text}\n`);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  let settings: BenchSettings;
  const cores = usableCpus();
  try {
    settings = readBenchSettings(process.env, cores);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const started = Date.now();
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const stops: Array<() => Promise<void>> = [];
  const stopSubjects = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log(`stopping: ${String(err)}`));
    stops.length = 0;
  };
  const stopAll = async () => {
    await stopSubjects();
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => {
    log('interrupted; stopping what the benchmark started');
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const machine = describeMachine(cores, projectRoot);
    // Originals: the real photographs when the fixtures folder is there, generated ones otherwise.
    const storageDir = path.join(work, 'originals');
    mkdirSync(storageDir, { recursive: true });
    const photos = await benchPhotos(path.join(work, 'generated'));
    if (photos.length === 0) throw new Error('no photographs to benchmark: the fixtures folder has no photo-*.jpg/webp');
    const files: Record<string, string> = {};
    for (const file of photos) {
      copyFileSync(file, path.join(storageDir, path.basename(file)));
      files[path.basename(file)] = path.join(storageDir, path.basename(file));
    }
    const workload = buildWorkload(photos);
    log(
      `${photos.length} originals x ${workload.variants.length} variants = ${workload.paths.length} request paths; ${settings.rounds} rounds of ` +
        `~${settings.seconds}s; subjects: ${settings.subjects.join(', ')}`,
    );

    const results: BenchResults = settings.parts.includes('main')
      ? await runMain(settings, { photos, workload, storageDir, files, stops, machine, started })
      : emptyMain(settings, machine);
    await stopSubjects();
    if (settings.parts.includes('peers')) {
      // The large originals sit beside the photographs, so one process of each subject serves both workloads.
      const large = await ensureLargeOriginals(defaultLargeDir(), settings.peers.largeCount, log);
      for (const o of large) linkOrCopy(o.file, path.join(storageDir, o.key));
      const workloads = await runPeerBench({
        storageDir,
        workloads: [
          { name: 'fixture photos', description: `the ${photos.length} photographs of the main table`, keys: workload.keys },
          {
            name: 'large originals',
            description:
              `${large.length} generated phone-camera JPEGs (baseline, q90, ${Math.min(...large.map((o) => (o.width * o.height) / 1e6)).toFixed(0)}-` +
              `${Math.max(...large.map((o) => (o.width * o.height) / 1e6)).toFixed(0)} MP, 4:3 and 16:9, ${large.filter((o) => o.orientation !== 1).length} stored sideways with EXIF orientation 6)`,
            keys: large.map((o) => o.key),
          },
        ],
        rounds: settings.peers.rounds,
        seconds: settings.peers.seconds,
        concurrency: settings.concurrency,
        cores,
        thumborProcesses: settings.peers.thumborProcesses,
        stops,
        log,
      });
      results.peers = {
        rounds: settings.peers.rounds,
        seconds: settings.peers.seconds,
        concurrency: settings.concurrency,
        large_originals: large.map(({ key, width, height, orientation, bytes }) => ({ key, width, height, orientation, bytes })),
        defaults: { ...SUBJECT_DEFAULTS, ...PEER_DEFAULTS },
        workloads,
      };
      await stopSubjects();
    }
    if (settings.parts.includes('cache')) {
      results.cache = await runCacheBench(
        {
          storageDir,
          keys: workload.keys,
          concurrency: settings.concurrency,
          cacheMb: settings.cache.mb,
          zipf: settings.cache.zipf,
          stampede: settings.cache.stampede,
        },
        log,
      );
    }
    results.config.duration_s = Math.round((Date.now() - started) / 1000);
    results.config.parts = settings.parts;

    const outDir = settings.outDir ? path.resolve(settings.outDir) : path.join(projectRoot, 'bench');
    mkdirSync(outDir, { recursive: true });
    const markdown = renderMarkdown(results);
    writeAtomically(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeAtomically(path.join(outDir, 'results.md'), markdown);
    process.stdout.write(`\n${markdown}\nwritten: ${path.join(outDir, 'results.json')}, ${path.join(outDir, 'results.md')} (${results.config.duration_s}s)\n`);
    return 0;
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The main table: legacy, legacy-2x, new, new via nginx and sharp-limit on the fixture photographs at the 8 default variants. */
async function runMain(
  settings: BenchSettings,
  c: {
    photos: string[];
    workload: Workload;
    storageDir: string;
    files: Record<string, string>;
    stops: Array<() => Promise<void>>;
    machine: Record<string, unknown>;
    started: number;
  },
): Promise<BenchResults> {
  const { photos, workload, storageDir, files, stops, machine, started } = c;
  const cores = settings.cores;
  // Before any subject runs: the decode floors are read from this process's CPU time.
  const floors = await measureDecodeFloors(photos);
  log(`decode floors (ms CPU): ${floors.map((o) => `${o.key} ${o.cpu_ms}`).join(', ')}`);

  const subjects = await startSubjects(settings, workload, storageDir, files, stops);

  // Warm-up and validation: every path once through every subject (opcache, JIT, page cache),
  // which also estimates each subject's speed so a phase can be sized in whole passes.
  const estimates = new Map<SubjectName, number>();
  for (const s of subjects) {
    const r = await s.closed(0, workload.paths.length, () => {});
    if (r.errors > 0) throw new Error(`${s.name} failed ${r.errors} of ${workload.paths.length} warm-up requests: ${r.errorSamples.join('; ')}`);
    estimates.set(s.name, r.ok / r.elapsedS);
    log(`warm-up ${s.name}: ${(r.ok / r.elapsedS).toFixed(1)} req/s`);
  }

  const measurements = new Map<SubjectName, SubjectMeasurements>(
    subjects.map((s) => [s.name, { name: s.name, description: s.description, processes: s.processes, part: s.part?.name, saturation: [], fixed: [] }]),
  );

  // Saturation: closed loop, whole passes, interleaved rounds.
  for (let round = 0; round < settings.rounds; round++) {
    for (const s of rotation(subjects, round)) {
      const count = wholeCycles(workload.paths.length, estimates.get(s.name)!, settings.seconds);
      const m = await measure(s, round, (close) => s.closed(0, count, close));
      measurements.get(s.name)!.saturation.push(m);
      log(
        `round ${round + 1}/${settings.rounds} saturation ${s.name}: ${(m.result.ok / m.result.elapsedS).toFixed(1)} req/s (${m.result.ok} ok, ` +
          `${m.result.errors} errors, ${m.result.elapsedS.toFixed(1)}s)`,
      );
      await pause(500);
    }
  }

  // The fixed offered load: a share of the slower legacy row's saturation, so every subject can
  // be compared at a load the legacy sustains.
  const satRps = (n: SubjectName) => {
    const m = measurements.get(n);
    return m ? median(m.saturation.map((p) => p.result.ok / p.result.elapsedS)) : undefined;
  };
  const legacyRows = (['legacy', 'legacy-2x'] as const).map(satRps).filter((v): v is number => v !== undefined);
  const basisRows = legacyRows.length > 0 ? legacyRows : subjects.map((s) => satRps(s.name)!).filter((v) => v > 0);
  const fixedRate = settings.fixedRps ?? settings.fixedFraction * Math.min(...basisRows);
  const fixedBasis =
    settings.fixedRps !== undefined
      ? 'BENCH_FIXED_RPS'
      : `${Math.round(settings.fixedFraction * 100)}% of the ${legacyRows.length > 0 ? 'slower legacy row' : 'slowest subject'}'s saturation throughput`;
  const L = workload.paths.length;
  // Whole passes over the list again (the same mix for everyone), as many as fit the rounds.
  const fixedTotal = Math.max(1, Math.round((settings.rounds * fixedRate * settings.seconds) / L)) * L;
  const slices = roundSlices(fixedTotal, settings.rounds);
  log(`fixed load: ${fixedRate.toFixed(2)} req/s (${fixedBasis}), ${fixedTotal} requests per subject over ${settings.rounds} rounds`);

  for (let round = 0; round < settings.rounds; round++) {
    const slice = slices[round]!;
    for (const s of rotation(subjects, round)) {
      const m = await measure(s, round, async (close) => {
        const r = await s.open(slice.from, slice.to - slice.from, fixedRate);
        close();
        return r;
      });
      measurements.get(s.name)!.fixed.push(m);
      const lat = [...m.result.latenciesMs].sort((a, b) => a - b);
      log(
        `round ${round + 1}/${settings.rounds} fixed ${s.name}: ${m.result.ok} ok, ${m.result.errors} errors, p50 ${(lat[lat.length >> 1] ?? NaN).toFixed(1)} ms`,
      );
      await pause(500);
    }
  }

  // The front door's own cost: too small to see in two phases' p50s, so measured pairwise.
  const direct = subjects.find((s) => s.name === 'new');
  const via = subjects.find((s) => s.name === 'new-via-nginx');
  const hop = direct && via ? await measureHop(direct, via, L, HOP_PAIRS_PER_PATH * L) : undefined;
  if (hop) log(`front door hop: ${hop.pairs} pairs, added ${hop.added_ms} ms (p50 ${hop.direct_p50_ms} direct, ${hop.via_p50_ms} through nginx)`);

  return (() => {
    const variantOf = (i: number) => workload.paths[i % L]!.split('?')[1] ?? '';
    const summaries = subjects.map((s) => summarizeSubject(measurements.get(s.name)!, fixedRate, s.inProcess, variantOf));
    const { ratios, targets } = evaluate(summaries, hop ?? null);
    const bounds = floorBounds(
      floors,
      workload.paths.map((p) => splitPath(p).key),
      cores,
      bestLegacy(summaries),
    );
    return {
      machine: { ...machine, loadavg_end: os.loadavg().map((v) => Math.round(v * 100) / 100) },
      config: {
        command: commandLine(process.env),
        seconds: settings.seconds,
        rounds: settings.rounds,
        concurrency: settings.concurrency,
        sharp_limit_concurrency: cores,
        fixed_rate_rps: Math.round(fixedRate * 100) / 100,
        fixed_rate_basis: fixedBasis,
        originals: photos.length,
        source: realFixturesDir() ? 'the photographs of ../shared/fixtures/images' : 'generated photographs (no fixtures folder)',
        originals_files: workload.keys,
        variants: [...workload.variants],
        paths: L,
        generator:
          'one Node keep-alive HTTP client (bench/lib/http-exec.ts + drive.ts) drives every HTTP subject, in the benchmark process, on the same ' +
          "cores as the subjects (its CPU per request is listed; it is not counted in the subjects' CPU). sharp-limit runs the same driver in " +
          'its own process, without HTTP.',
        duration_s: Math.round((Date.now() - started) / 1000),
      },
      subjects: summaries,
      ratios,
      targets,
      ...(hop ? { hop } : {}),
      decode_floor: { originals: floors, bounds, verdicts: floorVerdicts(bounds, TARGET_RPS_RATIO, TARGET_P99_RATIO) },
    };
  })();
}

/** The results when the main table is not run (BENCH_PARTS without main): the machine and the command only. */
function emptyMain(settings: BenchSettings, machine: Record<string, unknown>): BenchResults {
  return { machine, config: { command: commandLine(process.env), concurrency: settings.concurrency }, subjects: [], ratios: evaluate([]).ratios, targets: [] };
}

/** A hard link when the cache and the work directory share a file system, else a copy. */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

async function startSubjects(
  settings: BenchSettings,
  workload: Workload,
  storageDir: string,
  files: Record<string, string>,
  stops: Array<() => Promise<void>>,
): Promise<Subject[]> {
  const want = new Set(settings.subjects);
  const cores = settings.cores;
  const out: Subject[] = [];
  let legacy: RunningLegacy | undefined;
  let service: RunningService | undefined;

  // The front door needs a legacy upstream even at share 100 (fallback and the other endpoints).
  if (want.has('legacy') || want.has('new-via-nginx')) {
    log(`starting legacy (PHP-FPM children = ${cores})`);
    const l = await startLegacy({ storageDir, children: cores });
    stops.push(() => l.stop());
    legacy = l;
    if (want.has('legacy')) {
      out.push(
        httpSubject({
          name: 'legacy',
          description: `PHP-FPM + Imagick behind its own nginx, ${cores} children (= cores)`,
          processes: 'PHP-FPM master + children + its nginx master + worker',
          baseUrl: l.url,
          workload,
          concurrency: settings.concurrency,
          pids: () => l.pids(),
        }),
      );
    }
  }
  if (want.has('legacy-2x')) {
    log(`starting legacy-2x (PHP-FPM children = ${2 * cores})`);
    const l2 = await startLegacy({ storageDir, children: 2 * cores });
    stops.push(() => l2.stop());
    out.push(
      httpSubject({
        name: 'legacy-2x',
        description: `PHP-FPM + Imagick behind its own nginx, ${2 * cores} children (2 x cores)`,
        processes: 'PHP-FPM master + children + its nginx master + worker',
        baseUrl: l2.url,
        workload,
        concurrency: settings.concurrency,
        pids: () => l2.pids(),
      }),
    );
  }
  if (want.has('new') || want.has('new-via-nginx')) {
    log('starting the image service');
    // The other subjects have no deadline: they queue as long as it takes. The service's default
    // (1600 ms, just under the front door's timeout) makes it shed with 503 when a busy machine
    // slows its renders, which fails the run; here it waits as long as the load generator (60 s).
    const s = await startImageService({ STORAGE_URL: pathToFileURL(storageDir).href, LOG_LEVEL: 'warn', REQUEST_TIMEOUT_MS: String(BENCH_REQUEST_TIMEOUT_MS) });
    stops.push(() => s.stop());
    service = s;
    if (want.has('new')) {
      out.push(
        httpSubject({
          name: 'new',
          description: `the image service (Node + Hono + sharp), CONCURRENCY = ${cores} (default: usable cores), REQUEST_TIMEOUT_MS = ${BENCH_REQUEST_TIMEOUT_MS}`,
          processes: 'the one Node process',
          baseUrl: s.url,
          workload,
          concurrency: settings.concurrency,
          pids: () => [s.process.pid],
        }),
      );
    }
  }
  if (want.has('new-via-nginx') && service && legacy) {
    log('starting the front door at share 100');
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'bench-frontdoor-'));
    const port = await freePort();
    const cutoverFile = path.join(runDir, 'cutover.yaml');
    writeFileSync(
      cutoverFile,
      [
        `listen: 127.0.0.1:${port}`,
        `legacy: 127.0.0.1:${legacy.port}`,
        'routes:',
        '  - name: images',
        '    methods: [GET, HEAD]',
        '    path: /image/files/',
        `    backend: 127.0.0.1:${service.port}`,
        '    share: 100',
        '    sticky: request_uri',
        '    fallback: true',
        '    override_header: true',
        // The answer's X-Image-Backend is how this subject checks that new served it (off by default).
        '    debug_headers: true',
        // The timeout these figures were measured with (the route default is now 2000 ms).
        '    timeout_ms: 5000',
        '    shadow_sample: 0',
        '',
      ].join('\n'),
    );
    // Loaded here: only this subject needs the gateway's nginx rendering.
    const { startFrontDoor } = await import('../stack/frontdoor.ts');
    const fd = await startFrontDoor({ cutoverFile, runDir });
    stops.push(async () => {
      await fd.stop();
      rmSync(runDir, { recursive: true, force: true });
    });
    const svc = service;
    out.push(
      httpSubject({
        name: 'new-via-nginx',
        description: 'the same image service process behind the front door (nginx, share 100, fallback on)',
        processes: 'the Node process + the front door nginx master + workers',
        baseUrl: fd.url,
        workload,
        concurrency: settings.concurrency,
        pids: () => [svc.process.pid, ...fd.pids()],
        part: { name: 'front-door nginx', pids: () => fd.pids() },
        // A fallback to legacy would be measured as "new"; every answer must come from new.
        header: { name: 'x-image-backend', value: 'new' },
      }),
    );
  }
  if (want.has('sharp-limit')) {
    log(`starting sharp-limit (concurrency ${cores})`);
    const sl = await startSharpLimit({ workload, files, concurrency: cores, limits: { maxInputPixels: 50_000_000, fastShrinkOnLoad: 'jpeg' } });
    stops.push(() => sl.stop());
    out.push(sl);
  }
  return out;
}

/** Runs one phase with the OS accounting around it; `close` ends the accounting window. */
function measure(s: Subject, round: number, phase: (close: () => void) => Promise<PhaseResult>): Promise<PhaseMeasurement> {
  return measurePhase(s, round, phase);
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The command as the user ran it, with the settings that differ from the defaults. */
function commandLine(env: NodeJS.ProcessEnv): string {
  const set = Object.keys(env)
    .filter((k) => k.startsWith('BENCH_') && env[k])
    .sort()
    .map((k) => `${k}=${env[k]}`);
  return [...set, 'npm run bench'].join(' ');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

/** Pairs per path of the front door's hop measurement (48 paths: 192 pairs, about 20 s); even, so each path runs in both orders equally. */
const HOP_PAIRS_PER_PATH = 4;

/**
 * The front door's hop: path i % paths asked of `direct` and of `via` back to back, one request at
 * a time (summarizeHop), each over one kept-alive connection as a CDN or browser would hold it (a
 * fresh connection per request charged nginx's accept and connection setup to every request: 1.3-1.5
 * ms where the hop itself is ~0.3). The order alternates from pair to pair and flips with each pass
 * over the paths, so every path runs direct-first and via-first equally: the second request of a
 * pair can be faster (the original just read), and with a fixed order per path that would be
 * charged to one side (neighbouring paths are JPEG and WebP variants).
 */
async function measureHop(direct: Subject, via: Subject, paths: number, pairs: number): Promise<HopResult | undefined> {
  if (!direct.client || !via.client) return undefined;
  const clients = new Map([
    [direct, direct.client()],
    [via, via.client()],
  ]);
  const one = async (s: Subject, i: number): Promise<number> => {
    const t0 = performance.now();
    const out = await clients.get(s)!.exec(i);
    if (!out.ok) throw new Error(`${s.name} failed request ${i} while measuring the front door's hop: ${out.error ?? ''}`);
    return performance.now() - t0;
  };
  const d: number[] = [];
  const v: number[] = [];
  try {
    for (const s of [direct, via]) await one(s, 0); // open each connection before the first pair
    for (let k = 0; k < pairs; k++) {
      const i = k % paths;
      if ((k + Math.floor(k / paths)) % 2 === 0) {
        d.push(await one(direct, i));
        v.push(await one(via, i));
      } else {
        v.push(await one(via, i));
        d.push(await one(direct, i));
      }
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
  return summarizeHop(d, v);
}
