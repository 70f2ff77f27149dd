/**
 * `gateway apply | set | rollback | status | render`: argument parsing and output around the
 * pure planning/rendering and the nginx I/O in ../nginx/apply.ts.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadFrontDoorConfig, type FrontDoorConfig } from '../config.ts';
import { GatewayError } from '../errors.ts';
import { findNginx } from '../nginx/binary.ts';
import {
  applyCutover,
  frontDoorPaths,
  queryRunningPlan,
  readAddressOverrides,
  readCutoverText,
  renderCutover,
  runningMasterPid,
  writeFileAtomic,
  type ApplyResult,
} from '../nginx/apply.ts';
import { probeBackend } from '../backend-probe.ts';
import { listenUrl, planCutover, type FrontDoorPlan, type PlanSummary } from './plan.ts';
import { parseCutover } from './schema.ts';
import { setRouteShare } from './edit.ts';
import { backendTargets, formatBackends, formatStatus, parseAccessLine, summarizeTraffic, type AccessEntry, type RouteStatus } from './traffic.ts';

type Env = NodeJS.ProcessEnv;
export interface Command {
  run(args: string[], env: Env): Promise<number>;
}

const commonOptions = {
  file: { type: 'string', short: 'f' },
  'run-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const commonHelp = `  --file, -f <path>   the cutover file (default nginx/cutover.yaml; env GATEWAY_CUTOVER_FILE)
  --run-dir <path>    the front door's run directory (default var/run/frontdoor; env GATEWAY_RUN_DIR)`;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new GatewayError('usage', `${(err as Error).message}\n\n${usage}`, { exitCode: 2 });
  }
}

function configFrom(values: { file?: string | boolean | undefined; 'run-dir'?: string | boolean | undefined }, env: Env): FrontDoorConfig {
  return loadFrontDoorConfig(env, { file: values.file as string | undefined, runDir: values['run-dir'] as string | undefined });
}

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

function describeChange(result: ApplyResult): string {
  return result.plan.routes
    .map((r) => {
      const before = result.previous?.routes[r.name]?.share;
      const change = before === undefined ? `${r.share}%` : before === r.share ? `${r.share}% (unchanged)` : `${before}% -> ${r.share}%`;
      return `  ${r.name}: ${r.methods.join(',')} ${r.path} -> new ${change}${r.fallback ? ', fallback on' : ''}${r.overrideHeader ? ', override header on' : ''}${r.shadowSample ? `, shadow ${r.shadowSample}%` : ''}`;
    })
    .join('\n');
}

async function doApply(config: FrontDoorConfig, env: Env, text?: string): Promise<ApplyResult> {
  return applyCutover({
    cutoverFile: config.cutoverFile,
    runDir: config.runDir,
    nginxBin: findNginx(config.nginxBin, env.PATH),
    envOverrides: config.addressOverrides,
    ...(text === undefined ? {} : { text }),
  });
}

function reportApplied(result: ApplyResult, config: FrontDoorConfig): void {
  out(`applied ${config.cutoverFile}: nginx reloaded, new workers serve config ${result.digest}\n${describeChange(result)}\n`);
}

const applyUsage = `usage: gateway apply [options]

Render the nginx config from the cutover file, check it with nginx -t, swap it in atomically
and reload nginx. On any failure the running config stays as it was and the exit code is not 0
(2: invalid file, 3: nginx not running, 1: nginx refused the config or the reload).

${commonHelp}
`;

export const apply: Command = {
  async run(args, env) {
    const { values } = parse(args, commonOptions, applyUsage);
    if (values.help) return out(applyUsage), 0;
    const config = configFrom(values, env);
    reportApplied(await doApply(config, env), config);
    return 0;
  },
};

function parseShare(raw: string | undefined, usage: string): number {
  if (raw === undefined || !/^[0-9]{1,3}%?$/.test(raw) || Number(raw.replace('%', '')) > 100) {
    throw new GatewayError('usage', `share: expected an integer from 0 to 100, got ${raw === undefined ? 'nothing' : `'${raw}'`}\n\n${usage}`, { exitCode: 2 });
  }
  return Number(raw.replace('%', ''));
}

/**
 * Edit the share, validate the whole file, write it atomically, apply. When the apply fails for
 * any reason but "nginx is not running", the file is put back as it was, so that the file and
 * the running config never disagree after a failed command.
 */
async function setShare(config: FrontDoorConfig, env: Env, route: string, share: number): Promise<number> {
  const before = readCutoverText(config.cutoverFile);
  const after = setRouteShare(before, route, share);
  parseCutover(after, config.cutoverFile); // the edited file must still be valid
  if (after !== before) writeFileAtomic(config.cutoverFile, after);
  try {
    reportApplied(await doApply(config, env, after), config);
    return 0;
  } catch (e) {
    if (e instanceof GatewayError && e.code === 'not_running') {
      err(`gateway: ${config.cutoverFile}: ${route} share set to ${share}%\n`);
      throw e;
    }
    if (after !== before) writeFileAtomic(config.cutoverFile, before);
    if (e instanceof GatewayError) throw new GatewayError(e.code, `${e.message}\n(${config.cutoverFile} was left as it was)`, { cause: e, exitCode: e.exitCode });
    throw e;
  }
}

const setUsage = `usage: gateway set <route> <share> [options]

Set a route's share (0..100, percent of variants sent to the new service) in the cutover file,
keeping its comments and layout, then apply it.

${commonHelp}
`;

export const set: Command = {
  async run(args, env) {
    const { values, positionals } = parse(args, commonOptions, setUsage);
    if (values.help) return out(setUsage), 0;
    if (positionals.length !== 2) throw new GatewayError('usage', `expected a route and a share, such as: gateway set images 10\n\n${setUsage}`, { exitCode: 2 });
    return setShare(configFrom(values, env), env, positionals[0]!, parseShare(positionals[1], setUsage));
  },
};

const rollbackUsage = `usage: gateway rollback <route> [options]

Send all of a route's traffic back to legacy at once: share 0 in the cutover file, applied.

${commonHelp}
`;

export const rollback: Command = {
  async run(args, env) {
    const { values, positionals } = parse(args, commonOptions, rollbackUsage);
    if (values.help) return out(rollbackUsage), 0;
    if (positionals.length !== 1) throw new GatewayError('usage', `expected a route, such as: gateway rollback images\n\n${rollbackUsage}`, { exitCode: 2 });
    return setShare(configFrom(values, env), env, positionals[0]!, 0);
  },
};

/** The access-log lines of the last `seconds`, reading at most the file's last 64 MiB. */
export function readRecentAccess(file: string, since: number, maxBytes = 64 * 1024 * 1024): AccessEntry[] {
  if (!existsSync(file)) return [];
  const size = statSync(file).size;
  const start = Math.max(0, size - maxBytes);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString('utf8').split('\n');
  if (start > 0) lines.shift(); // a partial first line
  const entries: AccessEntry[] = [];
  for (const line of lines) {
    const e = parseAccessLine(line);
    if (e && e.at >= since) entries.push(e);
  }
  return entries;
}

/** How long `gateway status` waits for a backend's answer: a status that hangs on a hung backend would tell nothing. */
const PROBE_TIMEOUT_MS = 1000;

const statusUsage = `usage: gateway status [options]

Whether each backend (legacy, each route's new service) is up: one request each, answered
within ${PROBE_TIMEOUT_MS / 1000} s or not. Per route: the share in the cutover file, the share nginx runs
(asked from the running workers), and from the access log of the last minutes: requests per
backend, error rate (status >= 500), fallbacks, p50 and p99 of the time clients waited.

${commonHelp}
  --minutes <n>       the window of the access log (default 5)
  --json              machine-readable output
`;

export const status: Command = {
  async run(args, env) {
    const { values } = parse(args, { ...commonOptions, minutes: { type: 'string' }, json: { type: 'boolean' } }, statusUsage);
    if (values.help) return out(statusUsage), 0;
    const minutes = values.minutes === undefined ? 5 : Number(values.minutes);
    if (!Number.isFinite(minutes) || minutes <= 0) throw new GatewayError('usage', `--minutes: expected a positive number, got '${values.minutes}'`, { exitCode: 2 });
    const config = configFrom(values, env);
    const paths = frontDoorPaths(config.runDir);

    let fileShares: Record<string, number> = {};
    let fileProblem: string | undefined;
    let filePlan: FrontDoorPlan | undefined;
    try {
      const file = parseCutover(readCutoverText(config.cutoverFile), config.cutoverFile);
      fileShares = Object.fromEntries(file.routes.map((r) => [r.name, r.share]));
      // The addresses apply would render with: the run dir's (npm start on other ports), then the environment's.
      filePlan = planCutover(file, { ...readAddressOverrides(config.runDir), ...config.addressOverrides });
    } catch (e) {
      fileProblem = e instanceof Error ? e.message : String(e);
    }
    const master = runningMasterPid(config.runDir);
    const running: { digest: string; plan: PlanSummary } | undefined = master === undefined ? undefined : await queryRunningPlan(config.runDir, 2000);
    const targets = backendTargets(filePlan, running?.plan);
    const backends = await Promise.all(targets.map(async (t) => ({ ...t, probe: await probeBackend(t.address, t.path, PROBE_TIMEOUT_MS) })));
    const since = Date.now() / 1000 - minutes * 60;
    const traffic = summarizeTraffic(readRecentAccess(paths.accessLog, since), since);

    const names = [...new Set([...Object.keys(fileShares), ...Object.keys(running?.plan.routes ?? {}), ...traffic.map((t) => t.route).filter(Boolean)])];
    const rows: RouteStatus[] = names.map((name) => ({
      name,
      fileShare: fileShares[name],
      runningShare: running?.plan.routes[name]?.share,
      traffic: traffic.find((t) => t.route === name),
    }));
    const other = traffic.find((t) => t.route === '');
    if (other) rows.push({ name: '', fileShare: undefined, runningShare: undefined, traffic: other });

    if (values.json) {
      out(`${JSON.stringify({ cutoverFile: config.cutoverFile, runDir: config.runDir, running: master !== undefined, pid: master, digest: running?.digest, listen: running?.plan.listen, fileProblem, backends, minutes, routes: rows }, null, 2)}\n`);
      return fileProblem ? 2 : 0;
    }
    const runningLine =
      master === undefined
        ? `front door: not running (${paths.runDir})`
        : running
          ? `front door: ${listenUrl(running.plan.listen)} (nginx master ${master}, config ${running.digest}), legacy ${running.plan.legacy}`
          : `front door: nginx master ${master} runs, but its control socket does not answer (${paths.controlSocket})`;
    out(formatStatus(rows, { minutes, running: `cutover file: ${config.cutoverFile}\n${runningLine}\n\n${formatBackends(backends)}` }));
    const mismatched = rows.filter((r) => r.fileShare !== undefined && r.runningShare !== undefined && r.fileShare !== r.runningShare);
    if (mismatched.length) out(`\nthe file and nginx disagree on ${mismatched.map((r) => r.name).join(', ')}: run 'npx gateway apply'\n`);
    if (fileProblem) {
      err(`gateway: ${fileProblem}\n`);
      return 2;
    }
    return 0;
  },
};

const renderUsage = `usage: gateway render [options]

Print the nginx config the cutover file renders to (or write it with --out). Nothing is
checked with nginx or reloaded: see 'gateway apply'.

${commonHelp}
  --out <path>        write the config there (atomically) instead of printing it
`;

export const render: Command = {
  async run(args, env) {
    const { values } = parse(args, { ...commonOptions, out: { type: 'string', short: 'o' } }, renderUsage);
    if (values.help) return out(renderUsage), 0;
    const config = configFrom(values, env);
    const { rendered } = renderCutover(readCutoverText(config.cutoverFile), { source: config.cutoverFile, runDir: config.runDir, envOverrides: config.addressOverrides });
    if (values.out) {
      writeFileAtomic(values.out, rendered.text);
      err(`wrote ${values.out} (config ${rendered.digest})\n`);
    } else {
      out(rendered.text);
    }
    return 0;
  },
};
