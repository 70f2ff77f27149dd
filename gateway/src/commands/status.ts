/**
 * `gateway status`: the backends (one probe each), and per route the share in the file, the share
 * nginx runs and the traffic of the last minutes from the access log. The tables are drawn by
 * ../cutover/traffic.ts (pure); this file gathers the facts and prints.
 */
import { existsSync } from 'node:fs';
import { probeBackend } from '../backend-probe.ts';
import { listenUrl, planCutover, type FrontDoorPlan, type PlanSummary } from '../cutover/plan.ts';
import { parseCutover } from '../cutover/schema.ts';
import { backendTargets, formatBackends, formatStatus, summarizeTraffic, type RouteStatus } from '../cutover/traffic.ts';
import { GatewayError } from '../errors.ts';
import { readRecentAccess } from '../nginx/access-log.ts';
import { queryRunningPlan } from '../nginx/control-socket.ts';
import { readCutoverText } from '../nginx/cutover-file.ts';
import { runningMasterPid } from '../nginx/master.ts';
import { frontDoorPaths, readAddressOverrides } from '../nginx/run-dir.ts';
import { formatRollout } from '../rollout/core/format.ts';
import type { RolloutSpec } from '../rollout/core/spec.ts';
import { readStateFile, rolloutPaths } from '../rollout/store.ts';
import { commonHelp, commonOptions, configFrom, err, out, parseCommandArgs, type Command } from './common.ts';

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
    const { values } = parseCommandArgs(args, { ...commonOptions, minutes: { type: 'string' }, json: { type: 'boolean' } }, statusUsage);
    if (values.help) return (out(statusUsage), 0);
    const minutes = values.minutes === undefined ? 5 : Number(values.minutes);
    if (!Number.isFinite(minutes) || minutes <= 0)
      throw new GatewayError('usage', `--minutes: expected a positive number, got '${values.minutes}'`, { exitCode: 2 });
    const config = configFrom(values, env);
    const paths = frontDoorPaths(config.runDir);

    let fileShares: Record<string, number> = {};
    let fileProblem: string | undefined;
    let filePlan: FrontDoorPlan | undefined;
    let rolloutSpecs: Record<string, RolloutSpec> = {};
    try {
      const file = parseCutover(readCutoverText(config.cutoverFile), config.cutoverFile);
      fileShares = Object.fromEntries(file.routes.map((r) => [r.name, r.share]));
      rolloutSpecs = Object.fromEntries(file.routes.flatMap((r) => (r.rollout ? [[r.name, r.rollout] as const] : [])));
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

    // Each route with a rollout block or a rollout state on disk: its state, step, next decision and last decision.
    const rolloutRoutes = [...new Set([...Object.keys(rolloutSpecs), ...names.filter((n) => existsSync(rolloutPaths(config.runDir, n).state))])];
    const rollouts = rolloutRoutes.map((name) => {
      const file = readStateFile(rolloutPaths(config.runDir, name));
      return { route: name, spec: rolloutSpecs[name], state: file?.pending?.state ?? file?.state };
    });
    if (values.json) {
      out(
        JSON.stringify(
          {
            cutoverFile: config.cutoverFile,
            runDir: config.runDir,
            running: master !== undefined,
            pid: master,
            digest: running?.digest,
            listen: running?.plan.listen,
            fileProblem,
            backends,
            minutes,
            routes: rows,
            rollouts,
          },
          null,
          2,
        ) + '\n',
      );
      return fileProblem ? 2 : 0;
    }
    const runningLine =
      master === undefined
        ? `front door: not running (${paths.runDir})`
        : running
          ? `front door: ${listenUrl(running.plan.listen)} (nginx master ${master}, config ${running.digest}), legacy ${running.plan.legacy}`
          : `front door: nginx master ${master} runs, but its control socket does not answer (${paths.controlSocket})`;
    out(formatStatus(rows, { minutes, running: `cutover file: ${config.cutoverFile}\n${runningLine}\n\n${formatBackends(backends)}` }));
    if (rollouts.length) out(`\nrollouts:\n${rollouts.map((r) => formatRollout(r.route, r.spec, r.state, Date.now(), '  ')).join('\n')}\n`);
    const mismatched = rows.filter((r) => r.fileShare !== undefined && r.runningShare !== undefined && r.fileShare !== r.runningShare);
    if (mismatched.length) out(`\nthe file and nginx disagree on ${mismatched.map((r) => r.name).join(', ')}: run 'npx gateway apply'\n`);
    if (fileProblem) {
      err(`gateway: ${fileProblem}\n`);
      return 2;
    }
    return 0;
  },
};
