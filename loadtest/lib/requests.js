/**
 * The request list every script replays: a JSON array of paths (`gateway requests` writes it),
 * from the file named in REQUESTS, loaded once into a SharedArray that all VUs share read-only.
 */
import { SharedArray } from 'k6/data';
import { resolvePath, text } from './env.js';

/** @param {Record<string, string | undefined>} env */
export function loadRequestList(env) {
  const given = text(env, 'REQUESTS', '');
  if (!given) {
    throw new Error("REQUESTS: expected the path of a JSON request list; make one with 'npm run gateway -- requests --from-originals --out var/loadtest/requests.json'");
  }
  const file = resolvePath(given, env.PWD);
  return new SharedArray('requests', () => {
    let list;
    try {
      list = JSON.parse(open(file));
    } catch (err) {
      throw new Error(`REQUESTS: cannot read '${file}' as JSON: ${err}`);
    }
    const problem = listProblem(list);
    if (problem) throw new Error(`REQUESTS: '${file}' ${problem}`);
    return list;
  });
}

/** PURE: why a parsed request list is unusable, or undefined. @param {unknown} list */
export function listProblem(list) {
  if (!Array.isArray(list)) return 'is not a JSON array of request paths';
  if (list.length === 0) return 'is an empty list';
  const bad = list.findIndex((p) => typeof p !== 'string' || !p.startsWith('/'));
  if (bad >= 0) return `has an entry that is not a path starting with '/' at index ${bad}`;
  return undefined;
}

/**
 * The i-th request of the list, cycling. Scripts pass the iteration's index in the whole test, so
 * consecutive iterations walk the list in order (the list puts different originals next to each other).
 * @param {ArrayLike<string>} list @param {number} i
 */
export function pathAt(list, i) {
  return list[i % list.length];
}
