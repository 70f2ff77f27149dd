/** PURE: checks on and access to a loaded request list. */

/** Why a parsed request list is unusable, or undefined. @param {unknown} list */
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
