/**
 * `npm run parity [-- --out DIR] [--slice N] [--ignore FILE] [--concurrency N] [--min-parity N] [--quiet]`
 * The composition root: reads the arguments and the environment (the cache folder), runs, exits
 * with the run's code (2 for bad arguments, saying what was expected).
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { projectRoot } from '../common/paths.ts';
import { runParity } from './src/run.ts';

const USAGE = `usage: npm run parity -- [--out DIR] [--slice N] [--ignore FILE] [--concurrency N] [--min-parity N] [--quiet]
  --out DIR          report folder (default var/parity)
  --slice N          only N package originals per format, plus a few derived ones (default: the whole corpus)
  --ignore FILE      declared intended differences (docs/parity.md, "The ignore file")
  --concurrency N    pairs in flight, 1..16 (default 2)
  --min-parity N     0..1 (default 0.995)
`;

const int = (flag: string, min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, `${flag}: expected an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${flag}: expected an integer from ${min} to ${max}`);

const schema = z.object({
  out: z.string().min(1).default(path.join(projectRoot, 'var/parity')),
  slice: int('--slice', 1, 100).optional(),
  ignore: z.string().min(1).optional(),
  concurrency: int('--concurrency', 1, 16).default(2),
  'min-parity': z
    .string()
    .regex(/^(0(\.[0-9]+)?|1(\.0+)?)$/, '--min-parity: expected a number from 0 to 1')
    .transform(Number)
    .default(0.995),
  quiet: z.boolean().default(false),
  help: z.boolean().default(false),
});

async function main(): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        out: { type: 'string' },
        slice: { type: 'string' },
        ignore: { type: 'string' },
        concurrency: { type: 'string' },
        'min-parity': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    process.stderr.write(`parity: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`parity: ${parsed.error.issues.map((i) => i.message).join('\n  ')}\n\n${USAGE}`);
    return 2;
  }
  const a = parsed.data;
  if (a.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const cacheDir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'image-gateway/parity');
  const r = await runParity({
    cacheDir,
    outDir: path.resolve(a.out),
    ...(a.slice !== undefined
      ? { slice: a.slice, sliceDerived: ['exif-6.jpg', 'cmyk-noprofile.jpg', 'alpha-lossless.webp'] }
      : { sourcesFile: path.join(projectRoot, 'parity/SOURCES.md') }),
    concurrency: a.concurrency,
    minParity: a['min-parity'],
    ...(a.ignore ? { ignoreFile: path.resolve(a.ignore) } : {}),
    quiet: a.quiet,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  return r.code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`parity: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
