/**
 * Test helper: nginx's split_clients, simulated. ngx_murmur_hash2 (src/core/ngx_murmurhash.c,
 * seed = length) and the bucket walk of ngx_http_split_clients_module.c: each bucket's bound is
 * the running percentage sum scaled to 2^32 - 1 (percent with two decimals, as 1/10000ths);
 * `*` (percent 0) catches the rest.
 */
export function murmurHash2(input: string | Buffer): number {
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const m = 0x5bd1e995;
  let len = data.length;
  let h = len >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
    i += 4;
    len -= 4;
  }
  // The C original falls through 3 -> 2 -> 1.
  if (len >= 3) h ^= data[i + 2]! << 16;
  if (len >= 2) h ^= data[i + 1]! << 8;
  if (len >= 1) {
    h ^= data[i]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h >>> 0;
}

/** The value split_clients picks for `key`, given buckets in config order (percent undefined = `*`). */
export function splitClients<T>(key: string, buckets: ReadonlyArray<{ percent: number | undefined; value: T }>): T | undefined {
  const hash = murmurHash2(key);
  let sum = 0;
  for (const b of buckets) {
    if (b.percent === undefined) return b.value;
    sum += Math.round(b.percent * 100);
    const bound = Math.floor((4294967295 * sum) / 10000);
    if (hash < bound) return b.value;
  }
  return undefined;
}
