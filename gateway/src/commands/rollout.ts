/**
 * `gateway rollout run|status|pause|resume|promote|abort|restart <route>`: the evidence-gated
 * rollout of a route's share (docs/rollout.md). `run` is the controller (until SIGINT/SIGTERM);
 * the others act once, under the same lock, and are recorded in the same audit log.
 */
import { GatewayError } from '../errors.ts';
import { findNginx } from '../nginx/binary.ts';
import { frontDoorPaths } from '../nginx/run-dir.ts';
import { formatRollout } from '../rollout/core/format.ts';
import { OPERATOR_ACTIONS, type OperatorAction } from '../rollout/core/machine.ts';
import { describeRecord, loadRolloutSpec, runController } from '../rollout/controller.ts';
import { operateRollout } from '../rollout/manual.ts';
import { createRolloutMetrics, serveMetrics } from '../rollout/metrics.ts';
import { readStateFile, rolloutPaths } from '../rollout/store.ts';
import { K8S_TARGET_NAMES, type K8sTargetName } from '../k8s/render.ts';
import { ManifestsRouter } from '../router/manifests.ts';
import { nginxRouter } from '../router/nginx.ts';
import type { Router } from '../router/router.ts';
import { commonHelp, commonOptions, configFrom, err, out, parseCommandArgs, type Command, type Env } from './common.ts';

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9084';

const rolloutUsage = `usage: gateway rollout <action> <route> [options]

The evidence-gated rollout of a route's share, declared in the route's rollout: block of the
cutover file (docs/rollout.md). State and audit log: <run dir>/rollout/<route>.state.json and
<route>.audit.jsonl.

actions:
  run       the controller: at each interval, gather the evidence, then advance, hold or roll
            back; runs until SIGINT/SIGTERM (npm start runs it for every route with a rollout)
  status    state, current step, next decision time, the last decision with its figures
  pause     no more decisions until resume (a manual 'gateway set' pauses too)
  resume    back to the current step's share; the next decision one interval later
  promote   skip to the next step now (at the last step: complete)
  abort     share 0 at once (a rollback by hand)
  restart   begin again from the first step, after a rollback or an abort

${commonHelp}
  --metrics-listen <host:port|off>   run: where GET /metrics answers (default ${DEFAULT_METRICS_LISTEN})
  --router <name>     how a share is applied: nginx (default: the front door, checked and reloaded
                      like 'gateway set'), or ${K8S_TARGET_NAMES.join(', ')} (GitOps: the cutover
                      file is edited and the target's manifests written to --out, for Argo CD or Flux)
  --out <dir>         with a Kubernetes --router: where the manifests go, such as
                      deploy/kubernetes/overlays/istio
  --json              status: machine-readable output
`;

const ACTIONS = ['run', 'status', ...OPERATOR_ACTIONS] as const;

function parseListen(raw: string): { host: string; port: number } | undefined {
  if (raw === 'off') return undefined;
  const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})$/.exec(raw);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new GatewayError('usage', `--metrics-listen: expected host:port such as 127.0.0.1:9084, or off; got '${raw}'`, { exitCode: 2 });
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

const ROUTERS = ['nginx', ...K8S_TARGET_NAMES] as const;

/** The Router the options ask for: the front door's nginx, or manifests written for a GitOps tool. */
function routerFor(config: ReturnType<typeof configFrom>, env: Env, choice: { router?: string | undefined; out?: string | undefined }): Router {
  const name = choice.router ?? 'nginx';
  if (!(ROUTERS as readonly string[]).includes(name))
    throw new GatewayError('usage', `--router: expected one of ${ROUTERS.join(', ')}; got '${name}'`, { exitCode: 2 });
  if (name !== 'nginx') {
    if (!choice.out) throw new GatewayError('usage', `--router ${name}: expected --out <dir>, where the manifests are written`, { exitCode: 2 });
    return new ManifestsRouter({ target: name as K8sTargetName, outDir: choice.out, cutoverFile: config.cutoverFile });
  }
  if (choice.out !== undefined)
    throw new GatewayError('usage', '--out: only with a Kubernetes --router (the nginx router applies to the front door)', { exitCode: 2 });
  const inner = nginxRouter({
    cutoverFile: config.cutoverFile,
    runDir: config.runDir,
    nginxBin: findNginx(config.nginxBin, env.PATH),
    envOverrides: config.addressOverrides,
  });
  return {
    ...inner,
    async setShare(route, share) {
      try {
        await inner.setShare(route, share);
      } catch (e) {
        // The front door is down: the file holds the share, which takes effect when it starts.
        if (e instanceof GatewayError && e.code === 'not_running')
          err(`gateway: the front door is not running; ${route} is set to ${share}% in ${config.cutoverFile} for its start\n`);
        else throw e;
      }
    },
  };
}

export const rollout: Command = {
  async run(args, env) {
    const { values, positionals } = parseCommandArgs(
      args,
      { ...commonOptions, 'metrics-listen': { type: 'string' }, json: { type: 'boolean' }, router: { type: 'string' }, out: { type: 'string' } },
      rolloutUsage,
    );
    const routerChoice = { router: values.router as string | undefined, out: values.out as string | undefined };
    if (values.help) return (out(rolloutUsage), 0);
    const [action, route, ...extra] = positionals;
    if (!action || !(ACTIONS as readonly string[]).includes(action) || !route || extra.length > 0)
      throw new GatewayError('usage', `expected an action (${ACTIONS.join('|')}) and a route, such as: gateway rollout status images\n\n${rolloutUsage}`, {
        exitCode: 2,
      });
    const config = configFrom(values, env);

    if (action === 'status') {
      const spec = loadRolloutSpec(config.cutoverFile, route);
      const paths = rolloutPaths(config.runDir, route);
      const file = readStateFile(paths);
      const state = file?.pending?.state ?? file?.state;
      if (values.json)
        out(`${JSON.stringify({ route, spec, state, pending: file?.pending !== undefined, stateFile: paths.state, auditLog: paths.audit }, null, 2)}\n`);
      else out(`${formatRollout(route, spec, state, Date.now())}\n  audit log: ${paths.audit}\n`);
      return 0;
    }

    if (action === 'run') {
      loadRolloutSpec(config.cutoverFile, route); // a missing rollout block is a usage error at once, not a retry loop
      const listen = parseListen((values['metrics-listen'] as string | undefined) ?? DEFAULT_METRICS_LISTEN);
      const metrics = createRolloutMetrics();
      const server = listen ? await serveMetrics(metrics.registry, listen.host, listen.port) : undefined;
      const log = (line: string) => out(`${new Date().toISOString()} rollout ${line}\n`);
      const paths = rolloutPaths(config.runDir, route);
      log(
        `${route}: controller ${process.pid} on ${config.cutoverFile}; state ${paths.state}${listen ? `; metrics http://${listen.host}:${listen.port}/metrics` : ''}`,
      );
      const controller = runController({
        route,
        cutoverFile: config.cutoverFile,
        runDir: config.runDir,
        accessLog: frontDoorPaths(config.runDir).accessLog,
        router: routerFor(config, env, routerChoice),
        metrics,
        log,
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await controller.stop();
      server?.close();
      log(`${route}: controller stopped; the state stays in ${paths.state}`);
      return 0;
    }

    const spec = loadRolloutSpec(config.cutoverFile, route);
    const record = await operateRollout({ runDir: config.runDir, route, spec, action: action as OperatorAction, router: routerFor(config, env, routerChoice) });
    out(`${describeRecord(record)}\n`);
    return 0;
  },
};
