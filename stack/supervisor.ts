/**
 * Keeps `npm start`'s parts running: a part that exits (or hangs, for a part with a liveness
 * probe) is restarted after a backoff, with one log line naming the part and how it ended. The
 * decisions (delays, when to give up) are stack/restart-policy.ts's; this file only waits,
 * probes, kills and restarts.
 */
import {
  afterExit,
  afterFailedStart,
  afterHealthy,
  afterProbe,
  defaultLiveness,
  defaultRestartPolicy,
  describeExit,
  freshRecord,
  type LivenessPolicy,
  type PartRecord,
  type RestartDecision,
  type RestartPolicy,
} from './restart-policy.ts';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running process of a part, as the supervisor sees it. */
export interface PartInstance {
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<ExitInfo>;
  /** Stops it for good (SIGTERM, then SIGKILL); resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once: a hung part does not answer SIGTERM. */
  kill(): void;
}

export interface SupervisedPart {
  /** Named in the log lines, e.g. 'image service'. */
  name: string;
  /** Starts the part again on the same address; resolves once it is healthy, rejects if it does not become healthy. */
  restart(): Promise<PartInstance>;
  /** Liveness: resolves true when the part answers within `timeoutMs`. Without it only exits are watched. */
  probe?(timeoutMs: number): Promise<boolean>;
}

export interface SupervisorOptions {
  /** Default defaultRestartPolicy (0.5 s doubling up to 10 s, reset after 30 s up, give up after 5 failed restarts). */
  policy?: RestartPolicy;
  /** Default defaultLiveness (every 1 s, 800 ms timeout, SIGKILL after 3 misses in a row). */
  liveness?: LivenessPolicy;
  /** One line per event. */
  log(line: string): void;
}

interface Watched {
  part: SupervisedPart;
  instance: PartInstance;
  /** A restart under way: stop() waits for it, then stops what it started. */
  restarting: Promise<unknown> | undefined;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

export class Supervisor {
  private readonly watched: Watched[] = [];
  private readonly policy: RestartPolicy;
  private readonly liveness: LivenessPolicy;
  private stopping = false;
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private giveUp!: (reason: string) => void;
  /** Resolves, with the part and why, when a part cannot be brought back: the stack should stop and exit non-zero. */
  readonly gaveUp: Promise<string>;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? defaultRestartPolicy;
    this.liveness = options.liveness ?? defaultLiveness;
    this.gaveUp = new Promise((resolve) => (this.giveUp = resolve));
  }

  /** Watches a part that has started (and is healthy) as `instance`, from now until stop(). */
  watch(part: SupervisedPart, instance: PartInstance): void {
    const w: Watched = { part, instance, restarting: undefined };
    this.watched.push(w);
    void this.keep(w);
  }

  /** The pid each part runs as now. */
  pids(): Record<string, number> {
    return Object.fromEntries(this.watched.map((w) => [w.part.name, w.instance.pid]));
  }

  /**
   * Stops watching, then stops every part in `order` (names; the rest after them, last watched
   * first), waiting for restarts under way first.
   */
  async stop(order: string[] = []): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) {
      clearTimeout(t.timer);
      t.resolve();
    }
    await Promise.all(this.watched.map((w) => w.restarting?.catch(() => undefined)));
    const rank = (w: Watched) => {
      const i = order.indexOf(w.part.name);
      return i < 0 ? order.length + (this.watched.length - this.watched.indexOf(w)) : i;
    };
    for (const w of [...this.watched].sort((a, b) => rank(a) - rank(b))) await w.instance.stop().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = { timer: setTimeout(() => (this.timers.delete(t), resolve()), ms), resolve };
      this.timers.add(t);
    });
  }

  /** Watches one part for its whole life: exits, hangs, restarts. */
  private async keep(w: Watched): Promise<void> {
    let record: PartRecord = freshRecord;
    let upSince = Date.now();
    while (!this.stopping) {
      const hung = { killed: false };
      const exit = await Promise.race([w.instance.exited, this.probeUntilHung(w, hung)]).then(() => w.instance.exited);
      if (this.stopping) return;
      const upMs = Date.now() - upSince;
      const first = afterExit(this.policy, record, upMs);
      this.options.log(
        `stack: the ${w.part.name} (pid ${w.instance.pid}) ${hung.killed ? 'hung and was killed' : describeExit(exit)} after ${seconds(upMs)} up; restarting it in ${seconds(first.delayMs)}`,
      );
      let decision: RestartDecision = first;
      for (;;) {
        if (decision.action === 'give-up') {
          this.giveUp(`the ${w.part.name} cannot be restarted: ${decision.reason}`);
          return;
        }
        record = decision.record;
        await this.sleep(decision.delayMs);
        if (this.stopping) return;
        const attempt = w.part.restart();
        w.restarting = attempt;
        try {
          const started = Date.now();
          w.instance = await attempt;
          w.restarting = undefined;
          record = afterHealthy(record);
          upSince = Date.now();
          this.options.log(`stack: the ${w.part.name} is up again (pid ${w.instance.pid}, ${seconds(upSince - started)} to start)`);
          break;
        } catch (err) {
          w.restarting = undefined;
          if (this.stopping) return;
          decision = afterFailedStart(this.policy, record);
          const next = decision.action === 'restart' ? `; retrying in ${seconds(decision.delayMs)}` : '';
          this.options.log(`stack: the ${w.part.name} did not come back: ${firstLine(err)}${next}`);
        }
      }
    }
  }

  /**
   * Probes the part until it exits, or until it has missed enough probes in a row: then SIGKILLs
   * it (a hung process answers no signal it handles) and resolves. Never resolves for a part
   * without a probe.
   */
  private async probeUntilHung(w: Watched, hung: { killed: boolean }): Promise<void> {
    const probe = w.part.probe?.bind(w.part);
    if (!probe) return new Promise(() => undefined);
    const instance = w.instance;
    let gone = false;
    void instance.exited.then(() => (gone = true));
    let misses = 0;
    for (;;) {
      await this.sleep(this.liveness.intervalMs);
      if (gone || this.stopping) return new Promise(() => undefined);
      const answered = await probe(this.liveness.timeoutMs).catch(() => false);
      if (gone || this.stopping) return new Promise(() => undefined);
      const verdict = afterProbe(this.liveness, misses, answered);
      misses = verdict.misses;
      if (verdict.kill) {
        this.options.log(
          `stack: the ${w.part.name} (pid ${instance.pid}) did not answer its health check ${misses} times in a row (${this.liveness.timeoutMs} ms each); killing it (SIGKILL)`,
        );
        hung.killed = true;
        instance.kill();
        return;
      }
    }
  }
}
