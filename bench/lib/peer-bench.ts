/**
 * The peer comparison (issue 16): legacy, the image service, ipx and thumbor on the same originals
 * and the same four variants (peer-urls.ts), each subject spelled in its own URL syntax. Every
 * subject's answer to every path is checked first (status, format, contract dimensions), which is
 * also the warm-up and the speed estimate that sizes each phase in whole passes; then closed-loop
 * rounds, interleaved over workloads and rotated over subjects.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { startLegacy } from '../../stack/legacy.ts';
import { startImageService } from '../../stack/services.ts';
import { measureDecodeFloors } from './decode-floor.ts';
import { closedLoop } from './drive.ts';
import { floorBounds } from './floor.ts';
import { httpExec } from './http-exec.ts';
import { measurePhase } from './measure.ts';
import { expectedSize, ipxPath, PEER_VARIANTS, thumborPath } from './peer-urls.ts';
import { peerChecks, summarizePeerRow, type PeerFloor, type PeerWorkloadResult } from './peer-report.ts';
import { BENCH_REQUEST_TIMEOUT_MS, IPX_VERSION, startIpx, startThumbor, THUMBOR_VERSION } from './peers.ts';
import type { PhaseMeasurement } from './report.ts';
import { rotation, wholeCycles } from './stats.ts';
import { buildWorkload, contentTypeOfPath, splitPath } from './workload.ts';

export interface PeerWorkloadInput {
  name: string;
  description: string;
  /** Storage keys (file names in storageDir). */
  keys: readonly string[];
}

export interface PeerBenchOptions {
  storageDir: string;
  workloads: readonly PeerWorkloadInput[];
  rounds: number;
  seconds: number;
  concurrency: number;
  cores: number;
  thumborProcesses: number;
  stops: Array<() => Promise<void>>;
  log: (text: string) => void;
}

interface PeerSubject {
  name: string;
  description: string;
  url: string;
  pids(): number[];
  /** The subject's own spelling of a contract path. */
  spell(contractPath: string): string;
  /** Connections kept open between requests (http-exec.ts; default true). */
  keepAlive?: boolean;
}

export async function runPeerBench(o: PeerBenchOptions): Promise<PeerWorkloadResult[]> {
  // Before any subject runs (it reads this process's CPU time on an otherwise quiet machine).
  const floors = new Map<string, PeerFloor>();
  for (const w of o.workloads) {
    o.log(`peers ${w.name}: measuring the decode floor of ${w.keys.length} originals`);
    const measured = await measureDecodeFloors(
      w.keys.map((k) => path.join(o.storageDir, k)),
      3,
    );
    const pathKeys = buildWorkload(
      w.keys.map((k) => path.join(o.storageDir, k)),
      PEER_VARIANTS,
    ).paths.map((p) => splitPath(p).key);
    const bounds = floorBounds(measured, pathKeys, o.cores, { rps: null, p99_ms: null });
    floors.set(w.name, { cpu_s_per_req: bounds.cpu_s_per_req, ceiling_rps: bounds.ceiling_rps });
  }
  const subjects = await startPeerSubjects(o);
  const lists = o.workloads.map((w) => ({
    ...w,
    paths: buildWorkload(
      w.keys.map((k) => `${o.storageDir}/${k}`),
      PEER_VARIANTS,
    ).paths,
  }));
  const sizes = await orientedSizes(
    o.storageDir,
    lists.flatMap((w) => w.keys),
  );

  // Validation, warm-up and speed estimate in one pass per subject and workload.
  const estimates = new Map<string, number>();
  for (const w of lists) {
    for (const s of subjects) {
      const t0 = performance.now();
      const problems = await validate(s, w.paths, sizes, o.concurrency);
      if (problems.length > 0) {
        throw new Error(
          `${s.name} does not answer the ${w.name} workload as asked (${problems.length} of ${w.paths.length} paths):\n  ${problems.slice(0, 8).join('\n  ')}`,
        );
      }
      const rps = w.paths.length / ((performance.now() - t0) / 1000);
      estimates.set(`${w.name}/${s.name}`, rps);
      o.log(`peers ${w.name}: ${s.name} answered all ${w.paths.length} paths as asked (${rps.toFixed(1)} req/s warm-up)`);
    }
  }

  const phases = new Map<string, PhaseMeasurement[]>();
  for (let round = 0; round < o.rounds; round++) {
    for (const w of lists) {
      for (const s of rotation(subjects, round)) {
        const id = `${w.name}/${s.name}`;
        const count = wholeCycles(w.paths.length, estimates.get(id)!, o.seconds);
        const paths = w.paths.map((p) => s.spell(p));
        const client = httpExec({ baseUrl: s.url, paths, contentTypes: w.paths.map(contentTypeOfPath), keepAlive: s.keepAlive }, o.concurrency);
        try {
          const m = await measurePhase(s, round, (close) => closedLoop(client.exec, { first: 0, count, concurrency: o.concurrency, onWindowClose: close }));
          phases.set(id, [...(phases.get(id) ?? []), m]);
          o.log(
            `peers round ${round + 1}/${o.rounds} ${w.name} ${s.name}: ${(m.result.ok / m.result.elapsedS).toFixed(1)} req/s (${m.result.ok} ok, ` +
              `${m.result.errors} errors, ${m.result.elapsedS.toFixed(1)}s)`,
          );
        } finally {
          client.close();
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  return lists.map((w) => {
    const rows = subjects.map((s) => summarizePeerRow(s.name, s.description, phases.get(`${w.name}/${s.name}`) ?? []));
    return {
      name: w.name,
      description: w.description,
      originals: w.keys.length,
      variants: PEER_VARIANTS,
      paths: w.paths.length,
      rows,
      checks: peerChecks(rows, floors.get(w.name) ?? null),
      floor: floors.get(w.name) ?? null,
    };
  });
}

async function startPeerSubjects(o: PeerBenchOptions): Promise<PeerSubject[]> {
  const same = (p: string) => p;
  o.log(`peers: starting legacy (PHP-FPM children = ${o.cores}), the image service, ipx ${IPX_VERSION}, thumbor ${THUMBOR_VERSION}`);
  const legacy = await startLegacy({ storageDir: o.storageDir, children: o.cores });
  o.stops.push(() => legacy.stop());
  // The same deadline as the peers' (none, up to the load generator's timeout): see BENCH_REQUEST_TIMEOUT_MS.
  const service = await startImageService({
    STORAGE_URL: pathToFileURL(o.storageDir).href,
    LOG_LEVEL: 'warn',
    REQUEST_TIMEOUT_MS: String(BENCH_REQUEST_TIMEOUT_MS),
  });
  o.stops.push(() => service.stop());
  const ipx = await startIpx(o.storageDir);
  o.stops.push(() => ipx.stop());
  const thumbor = await startThumbor(o.storageDir, o.thumborProcesses);
  o.stops.push(() => thumbor.stop());
  return [
    { name: 'legacy', description: `PHP-FPM + Imagick behind its own nginx, ${o.cores} children`, url: legacy.url, pids: () => legacy.pids(), spell: same },
    {
      name: 'new',
      description: `the image service (Node + Hono + sharp 0.35), as \`npm start\` runs it but REQUEST_TIMEOUT_MS=${BENCH_REQUEST_TIMEOUT_MS} (see below), result cache off`,
      url: service.url,
      pids: () => [service.process.pid],
      spell: same,
    },
    { name: 'ipx', description: `ipx ${IPX_VERSION} (its Node server, its own sharp 0.34)`, url: ipx.url, pids: () => ipx.pids(), spell: ipxPath },
    {
      name: 'thumbor',
      description: `thumbor ${THUMBOR_VERSION} (Pillow, ${o.thumborProcesses} processes)`,
      url: thumbor.url,
      pids: () => thumbor.pids(),
      spell: thumborPath,
      // Its processes share one listening socket: see HttpTarget.keepAlive.
      keepAlive: false,
    },
  ];
}

/** Each original's size after EXIF orientation, by key. */
async function orientedSizes(dir: string, keys: readonly string[]): Promise<Map<string, { width: number; height: number }>> {
  const out = new Map<string, { width: number; height: number }>();
  for (const key of new Set(keys)) {
    const m = await sharp(`${dir}/${key}`).metadata();
    // Orientations 5-8 turn the picture a quarter: width and height swap.
    const turned = (m.orientation ?? 1) >= 5;
    out.set(key, { width: turned ? m.height : m.width, height: turned ? m.width : m.height });
  }
  return out;
}

/**
 * Every path once, `concurrency` at a time; the problems found. A cover crop must match exactly; a
 * fit may be one pixel off on either side (thumbor's fit-in rounds 640 down to 639 on some originals:
 * the same work, not less).
 */
export async function validate(
  s: { name: string; url: string; spell(p: string): string },
  paths: readonly string[],
  sizes: ReadonlyMap<string, { width: number; height: number }>,
  concurrency: number,
): Promise<string[]> {
  const problems: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const p = paths[next++]!;
      const { key, query } = splitPath(p);
      const size = sizes.get(key)!;
      const want = expectedSize(query, size.width, size.height);
      const url = `${s.url}${s.spell(p)}`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200) {
          problems.push(`${url}: status ${res.status} ${body.toString('utf8', 0, 200)}`);
          continue;
        }
        const m = await sharp(body).metadata();
        const slack = query.includes('fit=cover') ? 0 : 1;
        const wOk = Math.abs(m.width - want.width) <= slack;
        const hOk = Math.abs(m.height - want.height) <= slack;
        if (m.format !== want.format || res.headers.get('content-type') !== `image/${want.format}` || !wOk || !hOk) {
          problems.push(
            `${url}: ${res.headers.get('content-type')} ${m.format} ${m.width}x${m.height}, expected image/${want.format} ${want.width}x${want.height}`,
          );
        }
      } catch (err) {
        problems.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return problems;
}
