/**
 * The front door's nginx as a Router: the same path as `gateway set` (edit the route's share in
 * the cutover file, comments kept; render, `nginx -t`, swap, zero-drop reload, verify on the
 * control socket; the file put back when that fails), without `set`'s printing and without
 * pausing a rollout: the rollout controller is the caller here.
 */
import type { AddressOverrides } from '../config.ts';
import { setRouteShare } from '../cutover/edit.ts';
import { applyCutover } from '../nginx/apply.ts';
import { queryRunningPlan } from '../nginx/control-socket.ts';
import { editCutoverFile } from '../nginx/cutover-file.ts';
import type { RouteWeights, Router } from './router.ts';

export interface NginxRouterOptions {
  cutoverFile: string;
  runDir: string;
  nginxBin: string;
  envOverrides?: AddressOverrides;
}

export function nginxRouter(options: NginxRouterOptions): Router {
  return {
    name: 'nginx',
    async setShare(route, share) {
      await editCutoverFile(
        options.cutoverFile,
        (text) => setRouteShare(text, route, share),
        (text) =>
          applyCutover({
            cutoverFile: options.cutoverFile,
            runDir: options.runDir,
            nginxBin: options.nginxBin,
            text,
            ...(options.envOverrides ? { envOverrides: options.envOverrides } : {}),
          }),
      );
    },
    async readShare(route): Promise<RouteWeights | undefined> {
      const running = await queryRunningPlan(options.runDir, 2000);
      const r = running?.plan.routes[route];
      return r ? { share: r.share, source: `nginx workers, config ${running!.digest}` } : undefined;
    },
  };
}
