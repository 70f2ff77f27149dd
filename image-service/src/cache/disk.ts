/**
 * The result cache's optional disk tier (RESULT_CACHE_DIR, RESULT_CACHE_DISK_MB): one file per
 * variant, named by the hash of its cache key, with a small header (content type, ETag,
 * Last-Modified, the key itself) before the image bytes. The index lives in memory only, so the
 * files a previous process left are removed at start: without their index nothing could bound
 * or invalidate them.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { diskName } from './key.ts';
import { ByteLru } from './lru.ts';
import type { CachedVariant } from './types.ts';

/** Writes in flight at most: past it a variant is simply not written (the cache is an optimisation, never a queue). */
const MAX_PENDING_WRITES = 4;

export class DiskTier {
  readonly dir: string;
  readonly #index: ByteLru<string>;
  #pending = 0;

  private constructor(dir: string, budget: number, onEvict: (cacheKey: string) => void) {
    this.dir = dir;
    this.#index = new ByteLru<string>(budget, (cacheKey, name) => {
      onEvict(cacheKey);
      void rm(path.join(this.dir, name), { force: true }).catch(() => {});
    });
  }

  /** Creates the directory if needed and removes the entries an earlier process left in it (only its own *.res and *.tmp files). */
  static async open(dir: string, budget: number, onEvict: (cacheKey: string) => void = () => {}): Promise<DiskTier> {
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      if (/^[0-9a-f]{64}\.res(\.[0-9]+\.tmp)?$/.test(name)) await rm(path.join(dir, name), { force: true });
    }
    return new DiskTier(dir, budget, onEvict);
  }

  get bytes(): number {
    return this.#index.bytes;
  }

  has(cacheKey: string): boolean {
    return this.#index.has(cacheKey);
  }

  async get(cacheKey: string): Promise<CachedVariant | undefined> {
    const name = this.#index.get(cacheKey);
    if (!name) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(this.dir, name));
    } catch {
      this.#index.delete(cacheKey);
      return undefined;
    }
    const decoded = decode(bytes);
    // A file that is not what the index says (cut short, or someone else's) is a miss, never an answer.
    if (!decoded || decoded.key !== cacheKey) {
      this.delete(cacheKey);
      return undefined;
    }
    return decoded.value;
  }

  /** Writes the variant in the background; it is found once written. Skipped when the disk is already busy writing. */
  set(cacheKey: string, value: CachedVariant): void {
    if (this.#pending >= MAX_PENDING_WRITES || this.#index.has(cacheKey)) return;
    const encoded = encode(cacheKey, value);
    if (encoded.length > this.#index.budget) return;
    const name = diskName(cacheKey);
    const tmp = path.join(this.dir, `${name}.${process.pid}.tmp`);
    this.#pending++;
    writeFile(tmp, encoded)
      .then(() => rename(tmp, path.join(this.dir, name)))
      .then(
        () => void this.#index.set(cacheKey, name, encoded.length),
        () => rm(tmp, { force: true }).catch(() => {}),
      )
      .finally(() => this.#pending--);
  }

  delete(cacheKey: string): void {
    const name = this.#index.delete(cacheKey);
    if (name) void rm(path.join(this.dir, name), { force: true }).catch(() => {});
  }
}

function encode(cacheKey: string, v: CachedVariant): Buffer {
  const meta = Buffer.from(JSON.stringify({ key: cacheKey, contentType: v.contentType, etag: v.etag, lastModified: v.lastModified.getTime() }));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(meta.length);
  return Buffer.concat([head, meta, v.body]);
}

function decode(bytes: Buffer): { key: string; value: CachedVariant } | undefined {
  if (bytes.length < 4) return undefined;
  const n = bytes.readUInt32BE(0);
  if (4 + n > bytes.length) return undefined;
  try {
    const m = JSON.parse(bytes.subarray(4, 4 + n).toString()) as { key: string; contentType: string; etag: string; lastModified: number };
    return { key: m.key, value: { body: bytes.subarray(4 + n), contentType: m.contentType, etag: m.etag, lastModified: new Date(m.lastModified) } };
  } catch {
    return undefined;
  }
}
