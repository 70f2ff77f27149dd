/**
 * PURE: what identifies a rendered variant in the result cache. The original's version (file
 * inode+size+mtime, S3 ETag) is part of the key, so a replaced original can never match an entry
 * rendered from its old bytes: a request that stat'ed the new version looks up a key nobody wrote.
 */
import { createHash } from 'node:crypto';

/** The cache key of `variant` (params.ts canonicalVariant) of the original `key` at `version`. */
export function resultKey(key: string, version: string, variant: string): string {
  // NUL cannot occur in a key (params.ts KEY_RULE), a version or a canonical variant: no two triples join to the same string.
  return `${key}\0${version}\0${variant}`;
}

/** The original's key inside a cache key. */
export function originalOf(cacheKey: string): string {
  return cacheKey.slice(0, cacheKey.indexOf('\0'));
}

/** The disk tier's file name for a cache key: fixed length, no characters a file system minds. */
export function diskName(cacheKey: string): string {
  return `${createHash('sha256').update(cacheKey).digest('hex')}.res`;
}
