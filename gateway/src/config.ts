/**
 * The gateway's one config module: env (+ command-line flags) -> typed config, validated once.
 * Only cli.ts reads process.env; it hands the environment to the subcommands, which call this.
 * Error messages name the variable or flag and what was expected.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MAX_REPLICAS } from './cutover/schema.ts';
import { GatewayError } from './errors.ts';

/** The repository root (gateway/src/config.ts -> ../..): defaults are relative to it, not to the cwd. */
export const gatewayProjectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const address = z
  .string()
  .regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$/, { error: 'expected host:port, such as 127.0.0.1:8082 or image-service:8082' });

const envSchema = z.object({
  GATEWAY_CUTOVER_FILE: z.string().min(1).optional(),
  GATEWAY_RUN_DIR: z.string().min(1).optional(),
  /** The nginx binary; default: found on PATH, /usr/sbin or the tools cache. */
  NGINX_BIN: z.string().min(1).optional(),
  // Address overrides for containers (compose.yaml): the cutover file says 127.0.0.1, the
  // containers reach each other by service name. Routing policy (shares etc.) stays in the file.
  FRONTDOOR_LISTEN: z
    .string()
    .regex(/^(?:(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):)?[0-9]{1,5}$/, { error: 'expected [host:]port, such as 0.0.0.0:8080' })
    .optional(),
  FRONTDOOR_LEGACY: address.optional(),
  // A comma list for several replicas: 'image-service-1:8082,image-service-2:8082'.
  FRONTDOOR_BACKEND: z
    .string()
    .transform((s) => s.split(',').map((a) => a.trim()))
    .pipe(
      z
        .array(address)
        .refine((list) => new Set(list).size === list.length, { error: 'expected each address once' })
        .refine((list) => list.length <= MAX_REPLICAS, { error: `expected at most ${MAX_REPLICAS} addresses` }),
    )
    .optional(),
  FRONTDOOR_SHADOW_SINK: address.optional(),
});

/** Where the cutover file and the front door's run directory are, and how to reach nginx. */
export interface FrontDoorConfig {
  /** Absolute path of the cutover file. Default: <repo>/nginx/cutover.yaml (flag --file, env GATEWAY_CUTOVER_FILE). */
  cutoverFile: string;
  /** Absolute path of the nginx prefix: config, pid, logs, temp files. Default: <repo>/var/run/frontdoor (flag --run-dir, env GATEWAY_RUN_DIR). */
  runDir: string;
  /** Explicit nginx binary, or undefined to search for it. */
  nginxBin: string | undefined;
  /** Address overrides from the environment (compose); each replaces the file's value when set. */
  addressOverrides: AddressOverrides;
}

/** Deployment addresses that may differ from the cutover file's (other ports, container names). */
export interface AddressOverrides {
  listen?: string;
  legacy?: string;
  /** Replaces every route's `backend`: the stack runs one set of image-service replicas. */
  backend?: string[];
  shadow_sink?: string;
}

export function loadFrontDoorConfig(
  env: Record<string, string | undefined>,
  flags: { file?: string | undefined; runDir?: string | undefined } = {},
  cwd: string = process.cwd(),
): FrontDoorConfig {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (!parsed.success) {
    throw new GatewayError('invalid_config', `invalid environment:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`, {
      exitCode: 2,
    });
  }
  const e = parsed.data;
  // A flag is typed relative to where the user stands; the defaults belong to the repository.
  const cutoverFile = flags.file
    ? path.resolve(cwd, flags.file)
    : e.GATEWAY_CUTOVER_FILE
      ? path.resolve(cwd, e.GATEWAY_CUTOVER_FILE)
      : path.join(gatewayProjectRoot, 'nginx/cutover.yaml');
  const runDir = flags.runDir
    ? path.resolve(cwd, flags.runDir)
    : e.GATEWAY_RUN_DIR
      ? path.resolve(cwd, e.GATEWAY_RUN_DIR)
      : path.join(gatewayProjectRoot, 'var/run/frontdoor');
  const addressOverrides: AddressOverrides = {};
  if (e.FRONTDOOR_LISTEN) addressOverrides.listen = e.FRONTDOOR_LISTEN;
  if (e.FRONTDOOR_LEGACY) addressOverrides.legacy = e.FRONTDOOR_LEGACY;
  if (e.FRONTDOOR_BACKEND) addressOverrides.backend = e.FRONTDOOR_BACKEND;
  if (e.FRONTDOOR_SHADOW_SINK) addressOverrides.shadow_sink = e.FRONTDOOR_SHADOW_SINK;
  return { cutoverFile, runDir, nginxBin: e.NGINX_BIN, addressOverrides };
}
