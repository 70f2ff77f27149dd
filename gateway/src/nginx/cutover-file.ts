/**
 * The cutover file on disk -> the rendered nginx config, with the addresses this deployment
 * uses. The I/O (the file, the run directory's address overrides, the templates, the uid) sits
 * here around the pure schema, plan and render.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressOverrides } from '../config.ts';
import { planCutover, type FrontDoorPlan } from '../cutover/plan.ts';
import { parseCutover, type CutoverFile } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import { renderNginxConfig, type RenderedConfig } from './render.ts';
import { readAddressOverrides, writeFileAtomic } from './run-dir.ts';
import { loadTemplates } from './templates.ts';

export function readCutoverText(cutoverFile: string): string {
  try {
    return readFileSync(cutoverFile, 'utf8');
  } catch (err) {
    throw new GatewayError('cutover_unreadable', `cannot read the cutover file ${cutoverFile}: ${(err as Error).message}`, { cause: err, exitCode: 2 });
  }
}

export interface RenderedCutover {
  file: CutoverFile;
  plan: FrontDoorPlan;
  rendered: RenderedConfig;
}

/**
 * Cutover text -> validated plan -> rendered config. Address overrides: the environment's
 * (compose) win over the run directory's (npm start with other ports), which win over the file's.
 */
export function renderCutover(text: string, options: { source: string; runDir: string; envOverrides?: AddressOverrides }): RenderedCutover {
  const file = parseCutover(text, options.source);
  const overrides = { ...readAddressOverrides(options.runDir), ...(options.envOverrides ?? {}) };
  const plan = planCutover(file, overrides);
  // Under root, workers stay root: nginx would make them `nobody`, who cannot reach a run dir
  // inside a 0700 directory (see RenderOptions.user).
  const user = process.getuid?.() === 0 ? 'root' : undefined;
  const rendered = renderNginxConfig(plan, { templates: loadTemplates(), runDir: path.resolve(options.runDir), source: options.source, user });
  return { file, plan, rendered };
}

/**
 * Edit the cutover file, validate the whole file, write it atomically, then `apply` the edited
 * text. When the apply fails for any reason but "nginx is not running" (the edit then takes
 * effect at start), the file is put back as it was, so that the file and the running config
 * never disagree after a failed command.
 */
export async function editCutoverFile<T>(cutoverFile: string, edit: (text: string) => string, apply: (text: string) => Promise<T>): Promise<T> {
  const before = readCutoverText(cutoverFile);
  const after = edit(before);
  parseCutover(after, cutoverFile); // the edited file must still be valid
  if (after !== before) writeFileAtomic(cutoverFile, after);
  try {
    return await apply(after);
  } catch (e) {
    if (e instanceof GatewayError && e.code === 'not_running') throw e;
    if (after !== before) writeFileAtomic(cutoverFile, before);
    if (e instanceof GatewayError) throw new GatewayError(e.code, `${e.message}\n(${cutoverFile} was left as it was)`, { cause: e, exitCode: e.exitCode });
    throw e;
  }
}
