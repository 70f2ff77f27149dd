/**
 * The request list every script replays: a JSON array of paths (`gateway requests` writes it),
 * from the file named in REQUESTS, loaded once into a SharedArray that all VUs share read-only.
 */
import { SharedArray } from 'k6/data';
import { resolvePath, text } from './env.js';
import { listProblem } from './list.js';

/** @param {Record<string, string | undefined>} env */
export function loadRequestList(env) {
  const given = text(env, 'REQUESTS', '');
  if (!given) {
    throw new Error(
      "REQUESTS: expected the path of a JSON request list; make one with 'npm run gateway -- requests --from-originals --out var/loadtest/requests.json'",
    );
  }
  const file = resolvePath(given, env.PWD);
  return new SharedArray('requests', () => {
    let list;
    try {
      list = JSON.parse(open(file));
    } catch (err) {
      throw new Error(`REQUESTS: cannot read '${file}' as JSON: ${err}`, { cause: err });
    }
    const problem = listProblem(list);
    if (problem) throw new Error(`REQUESTS: '${file}' ${problem}`);
    return list;
  });
}

export { pathAt } from './list.js';
