/**
 * What the cutover commands (apply, set, rollback, status, render) share: the common options,
 * argument parsing, the config they resolve, and the report of an apply.
 */
import { parseArgs } from 'node:util';
import { loadFrontDoorConfig, type FrontDoorConfig } from '../config.ts';
import { setRouteShare } from '../cutover/edit.ts';
import { GatewayError } from '../errors.ts';
import { applyCutover, type ApplyResult } from '../nginx/apply.ts';
import { findNginx } from '../nginx/binary.ts';
import { editCutoverFile } from '../nginx/cutover-file.ts';
import { pauseForManualSet } from '../rollout/manual.ts';

export type Env = NodeJS.ProcessEnv;

/** One `gateway` subcommand: arguments and environment in, exit code out. */
export interface Command {
  run(args: string[], env: Env): Promise<number>;
}

export const commonOptions = {
  file: { type: 'string', short: 'f' },
  'run-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const commonHelp = `  --file, -f <path>   the cutover file (default nginx/cutover.yaml; env GATEWAY_CUTOVER_FILE)
  --run-dir <path>    the front door's run directory (default var/run/frontdoor; env GATEWAY_RUN_DIR)`;

/** parseArgs, with a usage error (exit 2) that shows the command's usage. */
export function parseCommandArgs<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new GatewayError('usage', `${(err as Error).message}\n\n${usage}`, { exitCode: 2 });
  }
}

export function configFrom(values: { file?: string | boolean | undefined; 'run-dir'?: string | boolean | undefined }, env: Env): FrontDoorConfig {
  return loadFrontDoorConfig(env, { file: values.file as string | undefined, runDir: values['run-dir'] as string | undefined });
}

export const out = (s: string) => process.stdout.write(s);
export const err = (s: string) => process.stderr.write(s);

function describeChange(result: ApplyResult): string {
  return result.plan.routes
    .map((r) => {
      const before = result.previous?.routes[r.name]?.share;
      const change = before === undefined ? `${r.share}%` : before === r.share ? `${r.share}% (unchanged)` : `${before}% -> ${r.share}%`;
      return (
        `  ${r.name}: ${r.methods.join(',')} ${r.path} -> new ` +
        `${change}${r.fallback ? ', fallback on' : ''}${r.overrideHeader ? ', override header on' : ''}${r.shadowSample ? `, shadow ${r.shadowSample}%` : ''}`
      );
    })
    .join('\n');
}

/** Applies the cutover file (or `text` in its place) and prints what changed. */
export async function applyAndReport(config: FrontDoorConfig, env: Env, text?: string): Promise<void> {
  const result = await applyCutover({
    cutoverFile: config.cutoverFile,
    runDir: config.runDir,
    nginxBin: findNginx(config.nginxBin, env.PATH),
    envOverrides: config.addressOverrides,
    ...(text === undefined ? {} : { text }),
  });
  out(`applied ${config.cutoverFile}: nginx reloaded, new workers serve config ${result.digest}\n${describeChange(result)}\n`);
}

/** `set` and `rollback`: edit one route's share in the file, then apply (the file is restored when that fails). */
export async function setShare(config: FrontDoorConfig, env: Env, route: string, share: number): Promise<number> {
  // A rollout of the route would move the share back at its next decision: the operator wins, and is told.
  const paused = await pauseForManualSet(config.runDir, route, share);
  if (paused) err(`gateway: ${paused}\n`);
  try {
    await editCutoverFile(
      config.cutoverFile,
      (text) => setRouteShare(text, route, share),
      (text) => applyAndReport(config, env, text),
    );
    return 0;
  } catch (e) {
    // Not running: the edit stays in the file and takes effect at start; say so before the error.
    if (e instanceof GatewayError && e.code === 'not_running') err(`gateway: ${config.cutoverFile}: ${route} share set to ${share}%\n`);
    throw e;
  }
}
