/**
 * `gateway shadow`: runs the live shadow sink until SIGINT/SIGTERM. Arguments are parsed with
 * node:util parseArgs and checked with zod; every bad flag is reported with what was expected
 * (exit 2).
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseIgnoreFile } from '../compare/ignore.ts';
import { DEFAULT_THRESHOLDS } from '../compare/thresholds.ts';
import { DEFAULT_RESULTS_MAX_BYTES } from './results-file.ts';
import { createShadowSink } from './sink.ts';

export const SHADOW_USAGE = `usage:
  gateway shadow --legacy URL --new URL --out results.jsonl [options]
      the sink nginx mirrors hot-path GETs to: answers 204 at once, then compares both backends
      in the background; metrics on /metrics; results appended to the JSONL file
      (render them with: gateway compare --report results.jsonl --out DIR)

options:
  --listen HOST:PORT   where to listen (default 127.0.0.1:8083)
  --queue N            comparisons waiting at most; more are dropped and counted (default 64)
  --concurrency N      comparisons in flight (default 2)
  --ignore FILE        intended differences (YAML or JSON; see docs/parity.md)
  --timeout MS         per backend request (default 10000)
  --max-images N       mismatches that get image files (default 200)
  --images DIR         where those go (default: <results>-images beside the results file)
  --results-max-mb N   rotate the results file at N MiB (default 64): it is renamed to
                       <results>.1, replacing the previous one, so at most ~2N MiB on disk and
                       the oldest comparisons are dropped
  --nice N             scheduling niceness of the sink, 0..19 (default 10): its comparisons are
                       best-effort and yield the CPU to serving where they share a machine
`;

const intIn = (flag: string, min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, `${flag}: expected an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${flag}: expected an integer from ${min} to ${max}`);

const baseUrl = (flag: string) =>
  z.string({ error: `${flag}: expected a URL such as http://127.0.0.1:8081` }).refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, `${flag}: expected an http(s) base URL such as http://127.0.0.1:8081`);

const schema = z
  .object({
    listen: z
      .string()
      .regex(/^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$/, '--listen: expected HOST:PORT such as 127.0.0.1:8083')
      .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, '--listen: expected a port from 0 to 65535')
      .default('127.0.0.1:8083'),
    legacy: baseUrl('--legacy'),
    new: baseUrl('--new'),
    out: z.string({ error: '--out: expected the results file (JSONL), e.g. var/shadow/results.jsonl' }).min(1, '--out: expected the results file (JSONL)'),
    queue: intIn('--queue', 1, 100_000).default(64),
    concurrency: intIn('--concurrency', 1, 64).default(2),
    ignore: z.string().min(1).optional(),
    timeout: intIn('--timeout', 1, 600_000).default(10_000),
    'max-images': intIn('--max-images', 0, 100_000).default(200),
    images: z.string().min(1).optional(),
    // No zod default: absent means DEFAULT_RESULTS_MAX_BYTES, applied where the sink is built.
    'results-max-mb': intIn('--results-max-mb', 1, 1_048_576).optional(),
    nice: intIn('--nice', 0, 19).default(10),
  })
  .strict();

export type ShadowArgs = z.infer<typeof schema>;

/** PURE: argv -> options, or every problem at once. */
export function parseShadowArgs(args: readonly string[]): { ok: true; value: ShadowArgs | 'help' } | { ok: false; errors: string[] } {
  let values: Record<string, unknown>;
  try {
    const parsed = parseArgs({
      args: [...args],
      options: {
        listen: { type: 'string' },
        legacy: { type: 'string' },
        new: { type: 'string' },
        out: { type: 'string' },
        queue: { type: 'string' },
        concurrency: { type: 'string' },
        ignore: { type: 'string' },
        timeout: { type: 'string' },
        'max-images': { type: 'string' },
        images: { type: 'string' },
        'results-max-mb': { type: 'string' },
        nice: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values;
  } catch (err) {
    return { ok: false, errors: [`${(err as Error).message}; see 'gateway shadow --help'`] };
  }
  if (values.help) return { ok: true, value: 'help' };
  const r = schema.safeParse(Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)));
  if (!r.success) {
    const msgs = r.error.issues.map((i) =>
      i.message.startsWith('--') ? i.message : `--${String(i.path[0] ?? '')}: ${i.code === 'invalid_type' ? 'is required' : i.message}`,
    );
    return { ok: false, errors: [...new Set(msgs)] };
  }
  return { ok: true, value: r.data };
}

export const shadow = {
  async run(args: string[], _env: NodeJS.ProcessEnv): Promise<number> {
    const parsed = parseShadowArgs(args);
    if (!parsed.ok) {
      process.stderr.write(`gateway shadow: ${parsed.errors.join('\n  ')}\n\n${SHADOW_USAGE}`);
      return 2;
    }
    if (parsed.value === 'help') {
      process.stdout.write(SHADOW_USAGE);
      return 0;
    }
    const a = parsed.value;
    const reniced = renice(a.nice);
    let ignore: ReturnType<typeof parseIgnoreFile> = [];
    if (a.ignore) {
      try {
        ignore = parseIgnoreFile(await readFile(a.ignore, 'utf8'), a.ignore);
      } catch (err) {
        process.stderr.write(`gateway shadow: --ignore: ${(err as Error).message}\n`);
        return 2;
      }
    }
    const sink = createShadowSink({
      legacyUrl: a.legacy,
      newUrl: a.new,
      outFile: a.out,
      resultsMaxBytes: a['results-max-mb'] === undefined ? DEFAULT_RESULTS_MAX_BYTES : a['results-max-mb'] * 1024 * 1024,
      imagesDir: a.images,
      maxImages: a['max-images'],
      queue: a.queue,
      concurrency: a.concurrency,
      timeoutMs: a.timeout,
      thresholds: DEFAULT_THRESHOLDS,
      ignore,
      onError: (err) => process.stderr.write(`gateway shadow: comparison failed: ${err instanceof Error ? err.message : String(err)}\n`),
    });
    const i = a.listen.lastIndexOf(':');
    const host = a.listen.slice(0, i).replace(/^\[|\]$/g, '');
    let address;
    try {
      address = await sink.listen(host, Number(a.listen.slice(i + 1)));
    } catch (err) {
      process.stderr.write(`gateway shadow: cannot listen on ${a.listen}: ${(err as Error).message}\n`);
      await sink.close(0);
      return 1;
    }
    process.stderr.write(
      `gateway shadow: listening on ${address.url} (queue ${a.queue}, concurrency ${a.concurrency}, nice ${reniced ? a.nice : 'unchanged'}); legacy ` +
        `${a.legacy}, new ${a.new}; results ${a.out}; metrics ${address.url}/metrics\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        process.stderr.write(`gateway shadow: ${signal}: finishing queued comparisons\n`);
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await sink.close();
    const c = sink.queue.counts();
    process.stderr.write(`gateway shadow: stopped; ${c.accepted} compared, ${c.dropped} dropped\n`);
    return 0;
  },
};

/**
 * Lowers the priority of every thread of this process. On Linux, niceness is per thread and a new
 * thread inherits its creator's: renicing the threads that exist now (the main thread, libuv's
 * pool, libvips' workers if started) also covers every thread created later. Returns false where
 * the system does not allow it (the sink then runs at normal priority and says so).
 */
function renice(nice: number): boolean {
  try {
    const tids = process.platform === 'linux' ? readdirSync('/proc/self/task').map(Number) : [0];
    for (const tid of tids) os.setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
