import type { Readable } from 'node:stream';

/** What the store knows about an original without reading its bytes. */
export interface SourceInfo {
  /** Size in bytes, from the store's metadata (stat, S3 Content-Length). */
  size: number;
  lastModified: Date;
  /** A value that changes whenever the original's bytes change (S3 ETag, or mtime+size+inode). */
  version: string;
  /** Stored content type, if the store keeps one. */
  contentType: string | undefined;
}

/** A local file the decoder reads itself, and its first bytes. */
export interface LocalFile {
  path: string;
  head: Buffer;
  /**
   * Reads the opened file (the one `info` describes, not whatever the path names by now) from its
   * start into `into`, up to its length, in as few reads as the OS allows; resolves to the bytes read.
   */
  readInto?(into: Buffer): Promise<number>;
}

/** An opened original: metadata first, the body only read if the caller decides to. */
export interface SourceObject {
  info: SourceInfo;
  /** The bytes as a stream. Call `discard()` instead when the body is not needed. */
  body: Readable;
  /** Releases the body without reading it (a 304, or a refusal on size). */
  discard(): void;
  /**
   * Set when the original is a local file that the decoder may read itself instead of `body`
   * (the directory store): `head` holds its first bytes, for recognising the format before any
   * decoder sees it. Call `discard()` once the decoder is done with it.
   */
  localFile?: LocalFile;
}

/** An original's metadata and (when asked for) its first bytes, without its body. */
export interface SourceHead {
  info: SourceInfo;
  /** Up to `headBytes` first bytes (fewer for a shorter original); empty when none were asked for. */
  head: Buffer;
}

/**
 * Where originals live. Adapters translate their own failures into ImageError:
 * missing key -> not_found, store unreachable -> storage_unavailable, too slow -> timeout.
 */
export interface SourceStore {
  /** A short description for logs and /readyz, never containing credentials. */
  readonly description: string;
  open(key: string, signal: AbortSignal): Promise<SourceObject>;
  /**
   * Metadata (and optionally the first bytes) without the body: revalidation and HEAD need no
   * more. Optional: a store without it is opened and its body discarded.
   */
  stat?(key: string, signal: AbortSignal, options?: { headBytes?: number }): Promise<SourceHead>;
  /** Resolves when the store is reachable; rejects with an ImageError otherwise. */
  ping(signal: AbortSignal): Promise<void>;
}
