/**
 * Reads a step's evidence from disk: the front door's access log and the shadow sink's results
 * file (and its rotated generation `<file>.1`), from the window's start on. The sums are
 * ./core/evidence.ts's (pure).
 */
import path from 'node:path';
import { gatewayProjectRoot } from '../config.ts';
import { readLogTail, readRecentAccess } from '../nginx/access-log.ts';
import type { AccessFacts, PairFacts } from './core/evidence.ts';
import type { RolloutSpec } from './core/spec.ts';

/** The results file a rollout reads: its `shadow_results`, relative to the cutover file's folder; default <repo>/var/shadow/results.jsonl. */
export function shadowResultsFile(spec: RolloutSpec, cutoverFile: string): string {
  return spec.shadow_results ? path.resolve(path.dirname(cutoverFile), spec.shadow_results) : path.join(gatewayProjectRoot, 'var/shadow/results.jsonl');
}

export function readAccessSince(accessLog: string, sinceMs: number): AccessFacts[] {
  return readRecentAccess(accessLog, sinceMs / 1000);
}

function isPair(o: unknown): o is PairFacts {
  const p = o as Partial<PairFacts> | null;
  return (
    typeof p?.time === 'string' && typeof p.route === 'string' && typeof p.verdict === 'string' && typeof p.new === 'object' && typeof p.legacy === 'object'
  );
}

/** The route's compared pairs that finished at or after `sinceMs`, from the results file and its previous generation. */
export function readPairsSince(resultsFile: string, route: string, sinceMs: number, maxBytes = 64 * 1024 * 1024): PairFacts[] {
  const out: PairFacts[] = [];
  for (const file of [`${resultsFile}.1`, resultsFile]) {
    for (const line of readLogTail(file, maxBytes).split('\n')) {
      if (!line.startsWith('{')) continue;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        continue; // a line being written
      }
      if (isPair(o) && o.route === route && Date.parse(o.time) >= sinceMs) out.push(o);
    }
  }
  return out;
}
