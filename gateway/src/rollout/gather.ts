/**
 * Reads a step's evidence from disk: the front door's access log and the shadow sink's results
 * file (and its rotated generation `<file>.1`), from the window's start on. The sums are
 * ./core/evidence.ts's (pure).
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { gatewayProjectRoot } from '../config.ts';
import { readRecentAccess } from '../nginx/access-log.ts';
import type { AccessFacts, PairFacts } from './core/evidence.ts';
import type { RolloutSpec } from './core/spec.ts';

/** The results file a rollout reads: its `shadow_results`, relative to the cutover file's folder; default <repo>/var/shadow/results.jsonl. */
export function shadowResultsFile(spec: RolloutSpec, cutoverFile: string): string {
  return spec.shadow_results ? path.resolve(path.dirname(cutoverFile), spec.shadow_results) : path.join(gatewayProjectRoot, 'var/shadow/results.jsonl');
}

export function readAccessSince(accessLog: string, sinceMs: number): AccessFacts[] {
  return readRecentAccess(accessLog, sinceMs / 1000);
}

function tail(file: string, maxBytes: number): string {
  if (!existsSync(file)) return '';
  const size = statSync(file).size;
  const start = Math.max(0, size - maxBytes);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString('utf8');
  return start > 0 ? text.slice(text.indexOf('\n') + 1) : text;
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
    for (const line of tail(file, maxBytes).split('\n')) {
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
