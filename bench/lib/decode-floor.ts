/**
 * Measures each original's decode floor (see floor.ts): the cheapest decode libvips does of it,
 * best of `reps` runs, one at a time with sharp.concurrency(1), in this process. Run it while
 * nothing else of the benchmark is busy: it reads this process's CPU time.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { OriginalFloor } from './floor.ts';

export async function measureDecodeFloors(files: readonly string[], reps = 5): Promise<OriginalFloor[]> {
  const previous = sharp.concurrency();
  sharp.concurrency(1);
  sharp.cache(false);
  try {
    const out: OriginalFloor[] = [];
    for (const file of files) {
      const input = readFileSync(file);
      // The service's input options, so the decoder does what the service's does.
      const open = () => sharp(input, { failOn: 'error', pages: 1, sequentialRead: true });
      const meta = await open().metadata();
      if (!meta.width || !meta.height || !meta.format) throw new Error(`decode floor: ${file} has no dimensions or format`);
      const width = meta.width;
      const decoders = {
        full: () => open().raw().toBuffer(),
        eighth: () =>
          open()
            .resize({ width: Math.max(1, Math.floor(width / 8)), kernel: 'nearest', fastShrinkOnLoad: true })
            .raw()
            .toBuffer(),
      } as const;
      let best: Pick<OriginalFloor, 'method' | 'cpu_ms' | 'wall_ms'> | undefined;
      for (const method of ['full', 'eighth'] as const) {
        await decoders[method](); // warm: file cache, code paths
        let cpu = Number.POSITIVE_INFINITY;
        let wall = Number.POSITIVE_INFINITY;
        for (let i = 0; i < reps; i++) {
          const c0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          await decoders[method]();
          const t1 = process.hrtime.bigint();
          const c = process.cpuUsage(c0);
          cpu = Math.min(cpu, (c.user + c.system) / 1000);
          wall = Math.min(wall, Number(t1 - t0) / 1e6);
        }
        if (!best || cpu < best.cpu_ms) best = { method, cpu_ms: round1(cpu), wall_ms: round1(wall) };
      }
      out.push({ key: path.basename(file), format: meta.format, width, height: meta.height, ...best! });
    }
    return out;
  } finally {
    sharp.concurrency(previous);
  }
}

const round1 = (v: number) => Math.round(v * 10) / 10;
