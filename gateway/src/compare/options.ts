/**
 * PURE parsing of `gateway compare` arguments: node:util parseArgs for the shape, zod for the
 * values. Every problem is reported at once, each naming the flag and what was expected; the
 * command prints them and exits 2.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { MAX_BOX_SIDE } from '../../../common/contract.ts';
import { DEFAULT_THRESHOLDS, type Thresholds } from './thresholds.ts';

export const COMPARE_USAGE = `usage:
  gateway compare --from FILE --legacy URL --new URL --out DIR [options]
      replay recorded traffic (the front door's JSON access log, or request paths one per line)
      against both backends; write DIR/report.json, DIR/index.html, DIR/results.jsonl, DIR/images/
  gateway compare --report RESULTS.jsonl --out DIR [--min-parity N] [--ignore FILE]
      render the same report from results written by 'gateway shadow' (or an earlier replay)
  gateway compare calibrate --legacy URL --new URL (--from FILE | --originals DIR) [--out FILE.json]
      measure the noise floor and synthetic defects; print the signal distributions

options (replay):
  --min-parity N     fail (exit 1) when parity is below N, 0..1 (default 0.99); any status mismatch also fails
  --ignore FILE      intended differences (YAML or JSON; see docs/parity.md)
  --rate N           at most N requests per second to each backend (default: no cap)
  --concurrency N    requests in flight at most, 1..256 (default 4)
  --sample N         replay N requests chosen at random (seeded) instead of all
  --dedupe           replay each method + target once
  --seed N           seed for sampling and the order coin flips (default 1)
  --order MODE       'random' (default: one backend then the other, a coin flip says which first)
                     or 'parallel' (both at the same time)
  --timeout MS       per request, 1..600000 (default 30000)
  --max-images N     mismatches that get image files (default 200)
  --ssim-min N       structure threshold (default ${DEFAULT_THRESHOLDS.ssimMin})
  --block-max N      colour threshold: largest 16x16 block-mean channel difference (default ${DEFAULT_THRESHOLDS.blockMaxDiff})
  --delta-e-max N    colour threshold: mean block deltaE (default ${DEFAULT_THRESHOLDS.deltaEMax})
  --quiet            no progress output
`;

const url = (flag: string) =>
  z.string({ error: `${flag}: expected a URL such as http://127.0.0.1:8081` }).refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, `${flag}: expected an http(s) base URL such as http://127.0.0.1:8081 (no query)`);

const num = (flag: string, min: number, max: number, int: boolean) =>
  z
    .string()
    .refine(
      (s) => /^-?[0-9]+(\.[0-9]+)?$/.test(s.trim()) && (!int || /^-?[0-9]+$/.test(s.trim())),
      `${flag}: expected ${int ? 'an integer' : 'a number'} from ${min} to ${max}`,
    )
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${flag}: expected ${int ? 'an integer' : 'a number'} from ${min} to ${max}`);

const path = (flag: string, what: string) => z.string({ error: `${flag}: expected ${what}` }).min(1, `${flag}: expected ${what}`);

const replaySchema = z.object({
  from: path('--from', 'the file of recorded requests (JSON access log or paths, one per line)'),
  legacy: url('--legacy'),
  new: url('--new'),
  out: path('--out', 'the report folder'),
  'min-parity': num('--min-parity', 0, 1, false).default(0.99),
  ignore: z.string().min(1).optional(),
  rate: num('--rate', 0.01, 100000, false).optional(),
  concurrency: num('--concurrency', 1, 256, true).default(4),
  sample: num('--sample', 1, 100_000_000, true).optional(),
  dedupe: z.boolean().default(false),
  seed: num('--seed', 0, 2 ** 31 - 1, true).default(1),
  order: z.enum(['random', 'parallel'], { error: "--order: expected 'random' or 'parallel'" }).default('random'),
  timeout: num('--timeout', 1, 600_000, true).default(30_000),
  'max-images': num('--max-images', 0, 100_000, true).default(200),
  'ssim-min': num('--ssim-min', -1, 1, false).optional(),
  'block-max': num('--block-max', 0, 255, false).optional(),
  'delta-e-max': num('--delta-e-max', 0, 200, false).optional(),
  quiet: z.boolean().default(false),
});

const reportSchema = z.object({
  report: path('--report', 'a results.jsonl file'),
  out: path('--out', 'the report folder'),
  'min-parity': num('--min-parity', 0, 1, false).default(0.99),
  ignore: z.string().min(1).optional(),
});

const calibrateSchema = z
  .object({
    legacy: url('--legacy'),
    new: url('--new'),
    from: z.string().min(1).optional(),
    originals: z.string().min(1).optional(),
    out: z.string().min(1).optional(),
    sizes: z
      .string()
      .regex(/^[0-9]+(,[0-9]+)*$/, '--sizes: expected comma-separated widths such as 320,640')
      .transform((s) => s.split(',').map(Number))
      .refine((a) => a.every((n) => n >= 1 && n <= MAX_BOX_SIDE), `--sizes: expected widths from 1 to ${MAX_BOX_SIDE}`)
      .default([160, 320, 480, 640, 800, 1024]),
    concurrency: num('--concurrency', 1, 64, true).default(2),
    timeout: num('--timeout', 1, 600_000, true).default(30_000),
  })
  .refine((o) => (o.from === undefined) !== (o.originals === undefined), {
    message: 'expected exactly one of --from FILE (request paths) or --originals DIR (every image in it, at --sizes widths)',
  });

export type ReplayArgs = {
  mode: 'replay';
  from: string;
  legacy: string;
  new: string;
  out: string;
  minParity: number;
  ignore?: string;
  rate?: number;
  concurrency: number;
  sample?: number;
  dedupe: boolean;
  seed: number;
  order: 'random' | 'parallel';
  timeoutMs: number;
  maxImages: number;
  thresholds: Thresholds;
  quiet: boolean;
};
export type ReportArgs = { mode: 'report'; report: string; out: string; minParity: number; ignore?: string };
export type CalibrateArgs = {
  mode: 'calibrate';
  legacy: string;
  new: string;
  from?: string;
  originals?: string;
  out?: string;
  sizes: number[];
  concurrency: number;
  timeoutMs: number;
};
export type CompareArgs = ReplayArgs | ReportArgs | CalibrateArgs | { mode: 'help' };

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const stringFlags = [
  'from',
  'legacy',
  'new',
  'out',
  'min-parity',
  'ignore',
  'rate',
  'concurrency',
  'sample',
  'seed',
  'order',
  'timeout',
  'max-images',
  'report',
  'ssim-min',
  'block-max',
  'delta-e-max',
  'originals',
  'sizes',
] as const;

function issues(err: z.ZodError): string[] {
  const out = err.issues.map((i) => {
    const key = typeof i.path[0] === 'string' ? `--${i.path[0]}` : undefined;
    if (i.message.startsWith('--')) return i.message;
    if (key && i.code === 'invalid_type') return `${key}: is required`;
    return key ? `${key}: ${i.message}` : i.message;
  });
  return [...new Set(out)];
}

export function parseCompareArgs(args: readonly string[]): Parsed<CompareArgs> {
  const sub = args[0] === 'calibrate' ? 'calibrate' : undefined;
  const rest = sub ? args.slice(1) : args;
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: {
        ...Object.fromEntries(stringFlags.map((f) => [f, { type: 'string' as const }])),
        dedupe: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        calibrate: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: true,
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
    positionals = parsed.positionals;
  } catch (err) {
    return { ok: false, errors: [`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}; see 'gateway compare --help'`] };
  }
  if (values.help) return { ok: true, value: { mode: 'help' } };
  if (positionals.length > 0)
    return { ok: false, errors: [`unexpected argument ${JSON.stringify(positionals[0])}: expected only --flags (or the 'calibrate' subcommand first)`] };

  const present = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
  if (sub === 'calibrate' || values.calibrate) {
    delete present.calibrate;
    const allowed = ['legacy', 'new', 'from', 'originals', 'out', 'sizes', 'concurrency', 'timeout'];
    const extra = Object.keys(present).filter((k) => !allowed.includes(k));
    if (extra.length)
      return {
        ok: false,
        errors: extra.map((k) => `--${k}: not an option of 'gateway compare calibrate' (expected ${allowed.map((a) => `--${a}`).join(', ')})`),
      };
    const r = calibrateSchema.safeParse(present);
    if (!r.success) return { ok: false, errors: issues(r.error) };
    const v = r.data;
    return {
      ok: true,
      value: {
        mode: 'calibrate',
        legacy: v.legacy,
        new: v.new,
        from: v.from,
        originals: v.originals,
        out: v.out,
        sizes: v.sizes,
        concurrency: v.concurrency,
        timeoutMs: v.timeout,
      },
    };
  }
  if (present.report !== undefined) {
    const allowed = ['report', 'out', 'min-parity', 'ignore'];
    const extra = Object.keys(present).filter((k) => !allowed.includes(k));
    if (extra.length)
      return { ok: false, errors: extra.map((k) => `--${k}: not an option with --report (expected ${allowed.map((a) => `--${a}`).join(', ')})`) };
    const r = reportSchema.safeParse(present);
    if (!r.success) return { ok: false, errors: issues(r.error) };
    return { ok: true, value: { mode: 'report', report: r.data.report, out: r.data.out, minParity: r.data['min-parity'], ignore: r.data.ignore } };
  }
  const allowed = Object.keys(replaySchema.shape);
  const extra = Object.keys(present).filter((k) => !allowed.includes(k));
  if (extra.length) return { ok: false, errors: extra.map((k) => `--${k}: not an option of a replay (expected ${allowed.map((a) => `--${a}`).join(', ')})`) };
  const r = replaySchema.safeParse(present);
  if (!r.success) return { ok: false, errors: issues(r.error) };
  const v = r.data;
  return {
    ok: true,
    value: {
      mode: 'replay',
      from: v.from,
      legacy: v.legacy,
      new: v.new,
      out: v.out,
      minParity: v['min-parity'],
      ignore: v.ignore,
      rate: v.rate,
      concurrency: v.concurrency,
      sample: v.sample,
      dedupe: v.dedupe,
      seed: v.seed,
      order: v.order,
      timeoutMs: v.timeout,
      maxImages: v['max-images'],
      thresholds: {
        ...DEFAULT_THRESHOLDS,
        ...(v['ssim-min'] !== undefined ? { ssimMin: v['ssim-min'] } : {}),
        ...(v['block-max'] !== undefined ? { blockMaxDiff: v['block-max'] } : {}),
        ...(v['delta-e-max'] !== undefined ? { deltaEMax: v['delta-e-max'] } : {}),
      },
      quiet: v.quiet,
    },
  };
}
