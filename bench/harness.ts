/**
 * How fast the harness judges image pairs: decode and normalise both sides, the header rules,
 * and all signals, i.e. everything replay and the sink do per request except waiting for the
 * backends. Prints pairs per second at 640 px. The target: at least 50/s on two cores, so the
 * harness is never what slows a cutover down.
 *
 *   npm run bench:harness -- [--legacy URL --new URL] [--seconds 10] [--concurrency 4]
 *   node --import tsx bench/harness.ts [--legacy URL --new URL] [--seconds 10] [--concurrency 4]
 *
 * With --legacy/--new it fetches real 640 px outputs of both backends (every photo-* original
 * they serve); without, it makes pairs with sharp itself (lanczos3 vs mitchell, q85) from the
 * sample photos (support/fixtures.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { projectRoot } from '../common/paths.ts';
import { benchPhotos } from '../support/fixtures.ts';
import { runPool } from '../gateway/src/compare/pacing.ts';
import { judgePair } from '../gateway/src/compare/pair.ts';
import { createSender, type SendOutcome } from '../gateway/src/compare/send.ts';
import { DEFAULT_THRESHOLDS } from '../gateway/src/compare/thresholds.ts';

const { values } = parseArgs({
  options: {
    legacy: { type: 'string' },
    new: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '4' },
    width: { type: 'string', default: '640' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const width = Number(values.width);

const answer = (body: Buffer, type: string): SendOutcome => ({
  ok: true,
  status: 200,
  headers: { 'content-type': type, 'content-length': String(body.length), 'cache-control': 'public, max-age=31536000', etag: '"x"' },
  body,
  ttfbMs: 1,
  totalMs: 1,
});

const photos = await benchPhotos(path.join(projectRoot, 'var/cache/bench-photos'));
const pairs: Array<{ target: string; legacy: SendOutcome; next: SendOutcome }> = [];
if (values.legacy && values.new) {
  const sender = createSender();
  for (const file of photos) {
    const target = `/image/files/${path.basename(file)}?w=${width}`;
    const [l, n] = [await sender.send(values.legacy, 'GET', target), await sender.send(values.new, 'GET', target)];
    if (l.ok && n.ok && l.status === 200 && n.status === 200) pairs.push({ target, legacy: l, next: n });
    else process.stderr.write(`bench: skipping ${target} (not 200 on both)\n`);
  }
  sender.close();
} else {
  for (const file of photos) {
    const [a, b] = await Promise.all(
      (['lanczos3', 'mitchell'] as const).map((kernel) => sharp(file).resize(width, null, { kernel }).jpeg({ quality: 85 }).toBuffer()),
    );
    pairs.push({ target: `/image/files/${path.basename(file)}?w=${width}`, legacy: answer(a!, 'image/jpeg'), next: answer(b!, 'image/jpeg') });
  }
}
if (pairs.length === 0) throw new Error('bench: no image pairs to compare');

const ctx = { thresholds: DEFAULT_THRESHOLDS, ignore: [] };
// Warm up (JIT, libvips caches) before the clock starts.
for (const p of pairs) await judgePair({ method: 'GET', target: p.target, route: 'images' }, p.legacy, p.next, ctx);

let done = 0;
let mismatches = 0;
const cpuBefore = process.cpuUsage();
const started = performance.now();
const deadline = started + seconds * 1000;
const jobs = Array.from({ length: 1_000_000 }, (_, i) => pairs[i % pairs.length]!);
await runPool(jobs, concurrency, async (p) => {
  if (performance.now() > deadline) return;
  const { result } = await judgePair({ method: 'GET', target: p.target, route: 'images' }, p.legacy, p.next, ctx);
  done++;
  if (result.verdict !== 'match') mismatches++;
});
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
// Pairs per CPU-second does not depend on what else runs on the machine (wall-clock pairs/s does).
process.stdout.write(
  `bench: ${done} pairs at ${width} px in ${elapsed.toFixed(1)} s = ${(done / elapsed).toFixed(1)} pairs/s, ${(done / cpuSeconds).toFixed(1)} pairs per CPU-second ` +
    `(concurrency ${concurrency}, ${os.availableParallelism()} cores, this process kept ${(cpuSeconds / elapsed).toFixed(2)} cores busy; load average ${os.loadavg()[0]!.toFixed(1)}; ` +
    `${pairs.length} distinct pairs from ${values.legacy ? 'the real backends' : 'sharp lanczos3 vs mitchell'}; ${mismatches} judged mismatches)\n`,
);
