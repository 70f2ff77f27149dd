/**
 * Progress of a long replay: a cli-progress bar on a terminal, plain periodic lines otherwise
 * (CI logs do not want a redrawn bar, and do want a line now and then to show life).
 */
import cliProgress from 'cli-progress';

export interface ProgressStats {
  done: number;
  mismatched: number;
  parity: number;
}

export interface Progress {
  update(stats: ProgressStats): void;
  stop(stats: ProgressStats): void;
}

/** PURE: the plain progress line. */
export function progressLine(total: number, s: ProgressStats, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (s.done * 1000) / elapsedMs : 0;
  return `compare: ${s.done}/${total} (${rate.toFixed(1)}/s) parity ${(s.parity * 100).toFixed(2)}% mismatches ${s.mismatched}`;
}

export function createProgress(
  total: number,
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  options: { intervalMs?: number; quiet?: boolean } = {},
): Progress {
  if (options.quiet) return { update() {}, stop() {} };
  const started = performance.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'compare [{bar}] {value}/{total} {percentage}% | {rate}/s | parity {parity} | mismatches {mismatched} | eta {eta_formatted}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { parity: '100.00%', mismatched: 0, rate: '0.0' });
    const payload = (s: ProgressStats) => ({
      parity: `${(s.parity * 100).toFixed(2)}%`,
      mismatched: s.mismatched,
      rate: ((s.done * 1000) / Math.max(1, performance.now() - started)).toFixed(1),
    });
    return {
      update: (s) => bar.update(s.done, payload(s)),
      stop: (s) => {
        bar.update(s.done, payload(s));
        bar.stop();
      },
    };
  }
  const interval = options.intervalMs ?? 5000;
  let last = started;
  return {
    update(s) {
      const now = performance.now();
      if (now - last >= interval) {
        last = now;
        stream.write(`${progressLine(total, s, now - started)}\n`);
      }
    },
    stop(s) {
      stream.write(`${progressLine(total, s, performance.now() - started)}\n`);
    },
  };
}
