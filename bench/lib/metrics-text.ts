/** PURE: reading the Prometheus text format the service's /metrics answers with (admin listener). */

/** The sum of every sample of `name` (all label sets); undefined when the metric is absent. */
export function metricSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    // `name 12` or `name{labels} 12`, not `name_bucket...` of a longer metric.
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** Names of the counters whose name mentions a cache and hits or misses (the result cache's, whatever it calls them). */
export function cacheCounterNames(text: string): { hits: string[]; misses: string[] } {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) counter$/.exec(line);
    if (m && /cache/.test(m[1]!)) names.add(m[1]!);
  }
  return { hits: [...names].filter((n) => /hit/.test(n)), misses: [...names].filter((n) => /miss/.test(n)) };
}
