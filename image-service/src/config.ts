/**
 * env -> typed Config, validated once at start-up. Every problem is reported at once, each naming
 * the variable and what was expected. Nothing else in the service reads process.env.
 */
import { z } from 'zod';
import { MAX_INPUT_BYTES, MAX_INPUT_PIXELS } from '../../common/contract.ts';
import type { FastShrinkOnLoad } from './pipeline.ts';
import type { StorageConfig } from './storage/index.ts';

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, `expected an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected an integer from ${min} to ${max}`).max(max, `expected an integer from ${min} to ${max}`));

// Never z.coerce.boolean(): it turns "false" into true.
const flag = z.enum(['true', 'false', '1', '0'], { error: "expected 'true' or 'false'" }).transform((v) => v === 'true' || v === '1');
/** FAST_SHRINK_ON_LOAD: a flag, or 'jpeg' (JPEG originals only; see Config.fastShrinkOnLoad). */
const shrinkOnLoad = z
  .enum(['jpeg', 'true', 'false', '1', '0'], { error: "expected 'jpeg', 'true' or 'false'" })
  .transform((v): FastShrinkOnLoad => (v === 'jpeg' ? 'jpeg' : v === 'true' || v === '1'));

const storageUrl = z
  .string()
  .transform((s, ctx) => {
    try {
      return new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a URL such as file:///absolute/dir or s3://bucket/prefix' });
      return z.NEVER;
    }
  })
  .refine((u) => u.protocol === 'file:' || (u.protocol === 's3:' && u.hostname !== ''), {
    message: 'expected file:///absolute/dir or s3://bucket/optional/prefix',
  });

/**
 * The default deadline of a request: serviceDeadlineMs(2000), 2000 ms being the front door's
 * default timeout_ms (gateway/src/cutover/schema.ts). nginx gives up on the service at timeout_ms
 * and replays on legacy; the service gives up a little earlier, so its slot is already free when
 * that happens. support/test/deadlines.test.ts keeps the two equal (neither imports the other).
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 1600;
/** Default disk budget of the result cache when RESULT_CACHE_DIR is set without RESULT_CACHE_DISK_MB. */
export const DEFAULT_RESULT_CACHE_DISK_MB = 1024;
const MIB = 1024 * 1024;
/** Default queue places per resize slot (see Config.queueLimit). */
export const QUEUE_PER_SLOT = 4;

const schema = z
  .object({
    PORT: int(0, 65535).default(8082),
    HOST: z.string().min(1).default('127.0.0.1'),
    ADMIN_PORT: int(0, 65535).default(9082),
    ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
    STORAGE_URL: storageUrl,
    S3_ENDPOINT: z.url({ error: 'expected an http(s) URL such as http://127.0.0.1:7070' }).optional(),
    AWS_REGION: z.string().min(1).default('us-east-1'),
    S3_FORCE_PATH_STYLE: flag.optional(),
    CONCURRENCY: int(1, 256).optional(),
    QUEUE_LIMIT: int(0, 100000).optional(),
    REQUEST_TIMEOUT_MS: int(1, 600000).default(DEFAULT_REQUEST_TIMEOUT_MS),
    RENDER_TIMEOUT_MS: int(1, 600000).optional(),
    STORAGE_CONCURRENCY: int(1, 1024).optional(),
    STORAGE_TIMEOUT_MS: int(1, 600000).default(5000),
    SHUTDOWN_TIMEOUT_MS: int(0, 600000).default(10000),
    MAX_INPUT_BYTES: int(1, 2 ** 40).default(MAX_INPUT_BYTES),
    MAX_INPUT_PIXELS: int(1, 2 ** 40).default(MAX_INPUT_PIXELS),
    FAST_SHRINK_ON_LOAD: shrinkOnLoad.default('jpeg'),
    SHARP_CONCURRENCY: int(0, 64).default(1),
    RETRY_AFTER_SECONDS: int(1, 3600).default(1),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SIGNING_SECRET: z.string().min(16, 'expected at least 16 characters').optional(),
    RESULT_CACHE_MB: int(0, 1024 * 1024).default(0),
    RESULT_CACHE_DIR: z.string().startsWith('/', 'expected an absolute directory path').optional(),
    RESULT_CACHE_DISK_MB: int(1, 1024 * 1024 * 1024).optional(),
    ALLOWED_SIZES: z
      .string()
      .regex(/^\s*(\d*x\d*)(\s*,\s*\d*x\d*)*\s*$/, "expected a comma-separated list of WxH boxes such as '300x,640x,200x200'")
      .optional(),
  })
  .superRefine((e, ctx) => {
    // The disk tier sits behind the memory tier: alone, every hit would be a file read.
    if (e.RESULT_CACHE_DIR !== undefined && e.RESULT_CACHE_MB === 0) {
      ctx.addIssue({ code: 'custom', path: ['RESULT_CACHE_DIR'], message: 'expected RESULT_CACHE_MB above 0 as well: the disk tier backs the memory tier' });
    }
    if (e.RESULT_CACHE_DISK_MB !== undefined && e.RESULT_CACHE_DIR === undefined) {
      ctx.addIssue({ code: 'custom', path: ['RESULT_CACHE_DISK_MB'], message: 'expected RESULT_CACHE_DIR as well: a disk budget needs a directory' });
    }
    // Port 0 (any free port) on both is fine: they get different ones.
    if (e.ADMIN_PORT === e.PORT && e.PORT !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['ADMIN_PORT'],
        message: `expected a port other than PORT (${e.PORT}): /metrics, /readyz and /healthz must not be on the public port`,
      });
    }
  });

export interface Config {
  port: number;
  host: string;
  /** The admin listener (/metrics, /readyz, /healthz), never the public port. Default 127.0.0.1:9082. */
  adminPort: number;
  adminHost: string;
  storage: StorageConfig;
  /** Resizes in flight. Default: the CPUs this process may really use (cgroup quota honoured). */
  concurrency: number;
  /**
   * Resizes waiting for a slot before new ones get 503. Default: 4 per slot. The queue should hold
   * no more than the slots can clear within the request deadline (1600 ms by default; a large
   * photo takes ~300 ms of CPU): a longer one only turns quick 503s into slow ones.
   */
  queueLimit: number;
  /** Deadline of a request, time in the queue included. Default 1 600 ms (see DEFAULT_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /**
   * Bound on one render's processing (sharp's `timeout`, whole seconds, rounded up). Default
   * REQUEST_TIMEOUT_MS: past it nobody waits for the result, so the CPU is better spent elsewhere.
   */
  renderTimeoutMs: number;
  /** Storage opens and downloads in flight at once (S3 requests). Default 4 per resize slot. */
  storageConcurrency: number;
  /** Deadline of one storage read. Default 5 000 ms. */
  storageTimeoutMs: number;
  /** How long SIGTERM waits for in-flight requests. Default 10 000 ms. */
  shutdownTimeoutMs: number;
  /** Originals above this size are refused before download. Default 50 MiB. */
  maxInputBytes: number;
  /** Originals above this many pixels are refused from the header. Default 50 000 000. */
  maxInputPixels: number;
  /**
   * sharp's full shrink-on-load: 'jpeg' (default) for JPEG originals only, true for JPEG and WebP,
   * false for neither (each then keeps a factor of two for Lanczos). See pipeline.ts, PipelineLimits.
   */
  fastShrinkOnLoad: FastShrinkOnLoad;
  /** libvips threads per image (sharp.concurrency); 0 = one per CPU core. Default 1 (see README: measured). */
  sharpConcurrency: number;
  /** Retry-After of a 503 overloaded, in seconds. Default 1. */
  retryAfterSeconds: number;
  logLevel: string;
  /** When set, every hot-path URL must carry a valid HMAC `s` parameter. Default: off. */
  signingSecret: string | undefined;
  /** When set, only these boxes are served ('300x' = w=300 only). Default: any box. */
  allowedSizes: string[] | undefined;
  /**
   * The result cache of rendered variants (cache/index.ts): a memory budget (RESULT_CACHE_MB) and an
   * optional disk tier (RESULT_CACHE_DIR, RESULT_CACHE_DISK_MB, default 1024). Default: off.
   */
  resultCache: { memoryBytes: number; disk: { dir: string; bytes: number } | undefined } | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined>, defaults: { storageUrl: string; cpus: number }): Config {
  const parsed = schema.safeParse({ STORAGE_URL: defaults.storageUrl, ...withoutEmpty(env) });
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const e = parsed.data;
  const concurrency = e.CONCURRENCY ?? defaults.cpus;
  return {
    port: e.PORT,
    host: e.HOST,
    adminPort: e.ADMIN_PORT,
    adminHost: e.ADMIN_HOST,
    storage: {
      url: e.STORAGE_URL,
      s3Endpoint: e.S3_ENDPOINT,
      s3Region: e.AWS_REGION,
      s3ForcePathStyle: e.S3_FORCE_PATH_STYLE ?? e.S3_ENDPOINT !== undefined,
      maxConcurrent: e.STORAGE_CONCURRENCY ?? concurrency * 4,
    },
    concurrency,
    queueLimit: e.QUEUE_LIMIT ?? concurrency * QUEUE_PER_SLOT,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    renderTimeoutMs: e.RENDER_TIMEOUT_MS ?? e.REQUEST_TIMEOUT_MS,
    storageConcurrency: e.STORAGE_CONCURRENCY ?? concurrency * 4,
    storageTimeoutMs: e.STORAGE_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    maxInputBytes: e.MAX_INPUT_BYTES,
    maxInputPixels: e.MAX_INPUT_PIXELS,
    fastShrinkOnLoad: e.FAST_SHRINK_ON_LOAD,
    sharpConcurrency: e.SHARP_CONCURRENCY,
    retryAfterSeconds: e.RETRY_AFTER_SECONDS,
    logLevel: e.LOG_LEVEL,
    signingSecret: e.SIGNING_SECRET,
    allowedSizes: e.ALLOWED_SIZES?.split(',').map((s) => s.trim()),
    resultCache:
      e.RESULT_CACHE_MB > 0
        ? {
            memoryBytes: e.RESULT_CACHE_MB * MIB,
            disk:
              e.RESULT_CACHE_DIR !== undefined ? { dir: e.RESULT_CACHE_DIR, bytes: (e.RESULT_CACHE_DISK_MB ?? DEFAULT_RESULT_CACHE_DISK_MB) * MIB } : undefined,
          }
        : undefined,
  };
}

/** An empty variable means "not set", as in most shells' `${VAR:-default}`. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((kv): kv is [string, string] => kv[1] !== undefined && kv[1] !== ''));
}
