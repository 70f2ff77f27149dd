import { constants, createReadStream } from 'node:fs';
import { lstat, stat, open as openFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ImageError } from '../errors.ts';
import { contentTypeOf } from '../formats.ts';
import type { SourceHead, SourceObject, SourceStore } from './types.ts';

/**
 * Originals in a local directory: the embedded default, so the service runs with no S3 at all.
 * Keys are already validated (no '..', no leading '/'), and we still check that the resolved
 * path stays inside the root, because a store must not trust its callers with its boundary.
 */
export class FsSourceStore implements SourceStore {
  readonly description: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = path.resolve(root);
    this.description = `file://${this.#root}`;
  }

  async open(key: string, signal: AbortSignal): Promise<SourceObject> {
    const { file, handle } = await this.#openFile(key, signal);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new ImageError('not_found', `no original with key ${JSON.stringify(key)}`);
      // The directory keeps no content type, so it is read from the magic bytes, as the legacy backend does.
      const head = Buffer.alloc(16);
      const { bytesRead } = await handle.read(head, 0, 16, 0);
      // No `signal` here: an aborted stream destroys itself with an 'error' that, on a body nobody
      // reads (libvips reads the file by path), would be unhandled and take the process down. The
      // reader applies the deadline itself (service.ts readAll); the no-op listener covers any
      // error after the body was handed over and left unread.
      const body = createReadStream('', { fd: handle, start: 0, autoClose: true, highWaterMark: 256 * 1024 });
      body.on('error', () => {});
      return {
        info: {
          size: st.size,
          lastModified: st.mtime,
          version: `${st.ino.toString(36)}-${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}`,
          contentType: contentTypeOf(head.subarray(0, bytesRead)),
        },
        body,
        discard: () => body.destroy(),
        // Never a fresh JS buffer per original (measured: a full GC every few requests and ~5 ms
        // CPU per request): a decoder may read the file by its path, or the caller reads it whole
        // into a buffer it reuses (readInto: the service's pooled buffers, read before the slot).
        localFile: { path: file, head: head.subarray(0, bytesRead), readInto: (into) => readWhole(handle, into) },
      };
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  async stat(key: string, signal: AbortSignal, options: { headBytes?: number } = {}): Promise<SourceHead> {
    const { handle } = await this.#openFile(key, signal);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new ImageError('not_found', `no original with key ${JSON.stringify(key)}`);
      const head = Buffer.alloc(Math.max(options.headBytes ?? 0, 0));
      const { bytesRead } = head.length > 0 ? await handle.read(head, 0, head.length, 0) : { bytesRead: 0 };
      return {
        info: {
          size: st.size,
          lastModified: st.mtime,
          version: `${st.ino.toString(36)}-${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}`,
          contentType: bytesRead > 0 ? contentTypeOf(head.subarray(0, bytesRead)) : undefined,
        },
        head: head.subarray(0, bytesRead),
      };
    } catch (err) {
      throw err instanceof ImageError ? err : mapFsError(err, key);
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /**
   * Opens the file of a key, refusing symlinks: every directory on the way must be a real
   * directory (lstat), and the file itself is opened with O_NOFOLLOW. A link, wherever it points,
   * answers not_found, as if the key had no original: the store serves files that were stored in
   * it, never what a link makes reachable (a file outside the directory, or another key's bytes).
   */
  async #openFile(key: string, signal: AbortSignal): Promise<{ file: string; handle: FileHandle }> {
    const file = path.resolve(this.#root, key);
    if (!file.startsWith(this.#root + path.sep)) throw new ImageError('invalid_key', 'invalid key: it resolves outside the store');
    signal.throwIfAborted();
    const segments = path.relative(this.#root, file).split(path.sep);
    let dir = this.#root;
    try {
      for (const segment of segments.slice(0, -1)) {
        dir = path.join(dir, segment);
        const st = await lstat(dir);
        if (!st.isDirectory()) throw new ImageError('not_found', `no original with key ${JSON.stringify(key)}`);
      }
      return { file, handle: await openFile(file, constants.O_RDONLY | constants.O_NOFOLLOW) };
    } catch (err) {
      throw err instanceof ImageError ? err : mapFsError(err, key);
    }
  }

  async ping(_signal?: AbortSignal): Promise<void> {
    try {
      const st = await stat(this.#root);
      if (!st.isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new ImageError('storage_unavailable', 'storage unavailable', { cause: err });
    }
  }
}

/** Positional reads of the whole file into `into` (no stream: one read for most originals). */
async function readWhole(handle: FileHandle, into: Buffer): Promise<number> {
  let length = 0;
  while (length < into.length) {
    const { bytesRead } = await handle.read(into, length, into.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return length;
}

function mapFsError(err: unknown, key: string): ImageError {
  const code = (err as NodeJS.ErrnoException).code;
  // ENAMETOOLONG: a valid key (up to 512 characters) with a segment longer than the file system's
  // 255 bytes cannot name a stored original, so it is missing, as on S3 and in the legacy backend.
  // ELOOP: O_NOFOLLOW met a symlink as the last component (see #openFile).
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENAMETOOLONG' || code === 'ELOOP') {
    return new ImageError('not_found', `no original with key ${JSON.stringify(key)}`, { cause: err });
  }
  return new ImageError('storage_unavailable', 'storage unavailable', { cause: err });
}
