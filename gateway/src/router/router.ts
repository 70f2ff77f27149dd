/**
 * The one thing a rollout needs from whatever routes traffic: set a route's share of the new
 * service, and read back the share it really runs. The way Flagger's routers split the job, so a
 * rollout can drive the front door's nginx (./nginx.ts: edit the cutover file, checked apply,
 * zero-drop reload) or write rendered manifests for a GitOps tool to apply (./manifests.ts).
 */

/** What a router reports about one route. */
export interface RouteWeights {
  /** Percent of variants (0..100) the route sends to the new service, as the router runs it. */
  readonly share: number;
  /** Where the figure was read from, for status and audit lines (e.g. "nginx workers, config 3f2a…"). */
  readonly source: string;
}

export interface Router {
  /** A short name for logs and audit lines: "nginx", "manifests:deploy/out". */
  readonly name: string;
  /**
   * Makes the route send `share` percent of variants to the new service. Resolves once the change
   * is in effect (nginx: the new workers serve it; manifests: the files are written). Throws a
   * GatewayError when the change was refused, leaving the previous share in effect.
   */
  setShare(route: string, share: number): Promise<void>;
  /** The share in effect for the route; undefined when the router does not know the route. */
  readShare(route: string): Promise<RouteWeights | undefined>;
}
