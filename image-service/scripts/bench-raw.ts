/**
 * The raw in-process sharp rate (the library's own limit on this machine), as a child of bench.ts:
 * the very pipeline the service runs (renderImage) on the same workload, from memory, with the
 * service's concurrency and its sharp settings, and nothing else: no HTTP, no storage, no limiter.
 *
 * Protocol (IPC): the parent sends `{ items }` once, then `{ seconds }` per round; each round
 * replies `{ requests, seconds, cpuSeconds, errors }`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { loadConfig } from '../src/config.ts';
import type { ResizeRequest } from '../src/params.ts';
import { renderImage, type PipelineLimits } from '../src/pipeline.ts';

const dir = process.env.BENCH_RAW_DIR;
const concurrency = Number(process.env.BENCH_RAW_CONCURRENCY);
if (!dir || !(concurrency >= 1) || !process.send) {
  process.stderr.write('bench-raw: run it from image-service/scripts/bench.ts\n');
  process.exit(2);
}

// The service's own settings, read the service's own way (SHARP_CONCURRENCY, FAST_SHRINK_ON_LOAD, limits).
const config = loadConfig(process.env, { storageUrl: pathToFileURL(dir).href, cpus: concurrency });
sharp.concurrency(config.sharpConcurrency);
sharp.cache(false);
const limits: PipelineLimits = { maxInputPixels: config.maxInputPixels, fastShrinkOnLoad: config.fastShrinkOnLoad };

let items: Array<{ input: Buffer; resize: ResizeRequest }> = [];
let next = 0;

async function round(seconds: number): Promise<{ requests: number; seconds: number; cpuSeconds: number; errors: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const cpu0 = process.cpuUsage();
  let requests = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const item = items[next++ % items.length]!;
        try {
          await renderImage(item.input, item.resize, limits);
          requests++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { requests, seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, errors };
}

process.on('message', (m: { items?: Array<{ key: string; resize: ResizeRequest }>; seconds?: number }) => {
  if (m.items) {
    const cache = new Map<string, Buffer>();
    items = m.items.map(({ key, resize }) => {
      if (!cache.has(key)) cache.set(key, readFileSync(path.join(dir, key)));
      return { input: cache.get(key)!, resize };
    });
    process.send!({ ready: true });
  } else if (m.seconds !== undefined) {
    void round(m.seconds).then((r) => process.send!(r));
  }
});
// Exit with the parent, whatever happens to it.
process.on('disconnect', () => process.exit(0));
