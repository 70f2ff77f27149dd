/** PURE: ETags and If-None-Match. */
import { createHash } from 'node:crypto';

/**
 * Bumped whenever the pipeline's output for the same inputs changes, so that caches holding
 * the old bytes under the old ETag revalidate.
 */
export const PIPELINE_VERSION = '1';

/** A strong ETag, stable for the same original version and the same canonical variant. */
export function computeEtag(sourceVersion: string, variant: string): string {
  const digest = createHash('sha256').update(`${PIPELINE_VERSION}\0${sourceVersion}\0${variant}`).digest('base64url');
  return `"${digest.slice(0, 32)}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored; '*' matches any. */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  const want = bare(etag);
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === want);
}
