/**
 * `npm run bench:profile`: where a render's CPU goes, and where the service's CPU goes at
 * saturation. The flame graph issue 16 asks for, in the form this stack allows: the prebuilt
 * libvips sharp ships is stripped (libjpeg-turbo, libwebp and the resamplers are linked into it),
 * so a perf profile cannot name the functions inside it; what it can tell apart is the libraries.
 *
 *   stages  each variant of the large originals (bench/lib/large-originals.ts), one render at a
 *           time with sharp.concurrency(1) in this process: header only; decode (at the
 *           shrink-on-load the service uses, nearest-neighbour to the planned size); decode +
 *           Lanczos 3; the service's whole render (pipeline.ts: orientation, colour, encoding).
 *           Encoding and the rest = whole render - decode + Lanczos.
 *   perf    the image service (as npm start runs it, REQUEST_TIMEOUT_MS=60000) saturated with 4
 *           connections on the same variants, `perf record` of its process for PROFILE_SECONDS
 *           (12): the share of samples per library, the busiest symbols outside libvips, and the
 *           cores it kept busy. Skipped with a note when perf is not installed (PROFILE_PERF=0 skips it).
 *
 * BENCH_LARGE_COUNT (20), PROFILE_ROUNDS (2).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { planResize, orientedSize } from '../image-service/src/geometry.ts';
import { parseImageRequest } from '../image-service/src/params.ts';
import { fullShrinkOnLoad, renderImage } from '../image-service/src/pipeline.ts';
import { startImageService } from '../stack/services.ts';
import { closedLoop } from './lib/drive.ts';
import { httpExec } from './lib/http-exec.ts';
import { defaultLargeDir, ensureLargeOriginals } from './lib/large-originals.ts';
import { PEER_VARIANTS } from './lib/peer-urls.ts';
import { cpuSeconds } from './lib/proc.ts';
import { buildWorkload, contentTypeOfPath } from './lib/workload.ts';

const log = (text: string) => process.stderr.write(`profile: ${text}\n`);
const count = Number(process.env.BENCH_LARGE_COUNT ?? 20);
const rounds = Number(process.env.PROFILE_ROUNDS ?? 2);
const seconds = Number(process.env.PROFILE_SECONDS ?? 12);
const STAGES = ['header', 'decode', 'decode + Lanczos', 'whole render'] as const;

const large = await ensureLargeOriginals(defaultLargeDir(), count, log);
await stages(large.map((o) => o.file));
if (process.env.PROFILE_PERF !== '0')
  await perfProfile(
    path.dirname(large[0]!.file),
    large.map((o) => o.file),
  );

async function stages(files: readonly string[]): Promise<void> {
  sharp.concurrency(1);
  sharp.cache(false);
  const cpuMs = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  const totals = new Map<string, number[]>(PEER_VARIANTS.map((v) => [v, STAGES.map(() => 0)]));
  for (let round = 0; round < rounds; round++) {
    for (const file of files) {
      const input = readFileSync(file);
      const meta = await sharp(input).metadata();
      const oriented = orientedSize({ width: meta.width, height: meta.height }, meta.orientation);
      for (const variant of PEER_VARIANTS) {
        const parsed = parseImageRequest([...new URLSearchParams(variant).entries()]);
        if (!parsed.ok || parsed.value.kind !== 'resize') throw new Error(`profile: ${variant} is not a resize`);
        const req = parsed.value.resize;
        const plan = planResize(oriented, { width: req.width, height: req.height, fit: req.fit });
        const fast = fullShrinkOnLoad('jpeg', 'jpeg', Math.min(oriented.width / plan.resize.width, oriented.height / plan.resize.height));
        const decodeTo = (kernel: 'nearest' | 'lanczos3') =>
          sharp(input, { failOn: 'error', sequentialRead: true })
            .rotate()
            .resize(plan.resize.width, plan.resize.height, { fit: 'fill', kernel, fastShrinkOnLoad: fast })
            .raw()
            .toBuffer();
        const steps = [
          () => sharp(input).metadata(),
          () => decodeTo('nearest'),
          () => decodeTo('lanczos3'),
          () => renderImage(input, req, { maxInputPixels: 50_000_000, fastShrinkOnLoad: 'jpeg' }),
        ];
        const t = totals.get(variant)!;
        for (let i = 0; i < steps.length; i++) {
          const c0 = cpuMs();
          await steps[i]!();
          t[i]! += cpuMs() - c0;
        }
      }
    }
  }
  const n = files.length * rounds;
  const lines = [
    `stages: ms of CPU per render, one at a time, ${files.length} large originals x ${rounds} rounds`,
    '| variant | header | decode | Lanczos | encode and the rest | whole render | decode share |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const all = STAGES.map(() => 0);
  for (const [variant, t] of totals) {
    const [h, d, dl, whole] = t.map((x) => x / n) as [number, number, number, number];
    t.forEach((x, i) => (all[i]! += x / n / totals.size));
    lines.push(
      `| ${variant} | ${h.toFixed(1)} | ${d.toFixed(1)} | ${(dl - d).toFixed(1)} | ${(whole - dl).toFixed(1)} | ${whole.toFixed(1)} | ${((100 * d) / whole).toFixed(0)}% |`,
    );
  }
  const [h, d, dl, whole] = all as [number, number, number, number];
  lines.push(
    `| mean | ${h.toFixed(1)} | ${d.toFixed(1)} | ${(dl - d).toFixed(1)} | ${(whole - dl).toFixed(1)} | ${whole.toFixed(1)} | ${((100 * d) / whole).toFixed(0)}% |`,
  );
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

async function perfProfile(dir: string, files: readonly string[]): Promise<void> {
  if (spawnSync('perf', ['--version']).status !== 0) {
    process.stdout.write('perf: not installed (apt-get install linux-perf); the library split is skipped\n');
    return;
  }
  const paths = buildWorkload(files, PEER_VARIANTS).paths;
  const service = await startImageService({ STORAGE_URL: pathToFileURL(dir).href, LOG_LEVEL: 'warn', REQUEST_TIMEOUT_MS: '60000' });
  const data = path.join(os.tmpdir(), `profile-${process.pid}.perf.data`);
  try {
    const client = httpExec({ baseUrl: service.url, paths, contentTypes: paths.map(contentTypeOfPath) }, 4);
    // Warm-up, and the rate that sizes one closed loop long enough to outlast the recording.
    const w0 = performance.now();
    await closedLoop(client.exec, { first: 0, count: paths.length, concurrency: 4 });
    const rate = paths.length / ((performance.now() - w0) / 1000);
    const pid = service.process.pid;
    const perf = spawn('perf', ['record', '-q', '-F', '499', '-p', String(pid), '-o', data, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => perf.on('exit', () => resolve()));
    const cpu0 = cpuSeconds(pid) ?? 0;
    const t0 = performance.now();
    let recorded = { cpuS: 0, wallS: 0 };
    void exited.then(() => (recorded = { cpuS: (cpuSeconds(pid) ?? 0) - cpu0, wallS: (performance.now() - t0) / 1000 }));
    const load = await closedLoop(client.exec, { first: 0, count: Math.ceil(rate * (seconds + 4)), concurrency: 4 });
    await exited;
    const done = load.ok;
    const wallS = load.elapsedS;
    const cores = recorded.cpuS / recorded.wallS;
    client.close();
    const report = (sort: string) =>
      spawnSync('perf', ['report', '-i', data, '--no-children', '--sort', sort, '--stdio', '-g', 'none'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.trim() && !l.startsWith('#'));
    const byDso = report('dso').slice(0, 8);
    const outside = report('dso,sym')
      .filter((l) => !l.includes('libvips'))
      .slice(0, 10);
    process.stdout.write(
      `perf: the image service saturated (4 connections) for ${wallS.toFixed(1)} s: ${(done / wallS).toFixed(1)} req/s; ` +
        `while recorded, ${cores.toFixed(2)} cores busy of ${os.availableParallelism()}\n` +
        `samples by library:\n${byDso.map((l) => `  ${l.trim()}`).join('\n')}\n` +
        `busiest symbols outside libvips:\n${outside.map((l) => `  ${l.trim()}`).join('\n')}\n`,
    );
  } finally {
    await service.stop();
    spawnSync('rm', ['-f', data]);
  }
}
