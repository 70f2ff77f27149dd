/**
 * Checks an original must pass before the pipeline decodes it, so that the new service refuses what
 * the legacy backend refuses (support/test/hostile-both.int.test.ts runs both on the same originals):
 * a JPEG that never reaches its end-of-image marker (jpeg-integrity.ts), and a GIF sized from its
 * logical screen (gif-screen.ts).
 */
import { open } from 'node:fs/promises';
import type { BufferPool } from './buffer-pool.ts';
import { ImageError } from './errors.ts';
import { SUPPORTED_FORMATS_TEXT, sniffFormat } from './formats.ts';
import { onGifScreen } from './gif-screen.ts';
import { isCompleteJpeg } from './jpeg-integrity.ts';
import type { LocalFile } from './storage/types.ts';

/** The original as the pipeline should see it, or an ImageError (415, 413) the legacy backend would give too. */
export async function checkSource(input: Buffer | LocalFile, maxPixels: number, pool: BufferPool): Promise<Buffer | LocalFile> {
  await checkComplete(input, pool);
  return onGifScreen(input, maxPixels);
}

/**
 * The part of checkSource that needs no decoder: a JPEG must reach its end-of-image marker (a 415
 * otherwise). A walk over bytes already in memory, so the service runs it while the original waits
 * for its slot, and the GIF screen (which may decode) in the slot.
 */
export async function checkComplete(input: Buffer | LocalFile, pool: BufferPool): Promise<void> {
  const head = Buffer.isBuffer(input) ? input : input.head;
  if (sniffFormat(head) !== 'jpeg') return;
  const complete = Buffer.isBuffer(input) ? isCompleteJpeg(input) : await withFileBytes(input.path, pool, isCompleteJpeg);
  if (!complete) {
    throw new ImageError(
      'unsupported_image',
      `unsupported image: the original JPEG is truncated or corrupt (its markers never reach end-of-image); expected a complete ${SUPPORTED_FORMATS_TEXT} image`,
    );
  }
}

/**
 * Reads a local original into a pooled buffer (no new external memory per request for V8 to
 * collect; libvips still reads the file itself) and gives `use` exactly its bytes.
 */
async function withFileBytes<T>(path: string, pool: BufferPool, use: (bytes: Buffer) => T): Promise<T> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageError('not_found', 'no original with this key any more', { cause: err });
    throw new ImageError('storage_unavailable', 'storage unavailable', { cause: err });
  }
  let buffer: Buffer | undefined;
  try {
    const { size } = await handle.stat();
    buffer = pool.acquire(size);
    let length = 0;
    while (length < size) {
      const { bytesRead } = await handle.read(buffer, length, size - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return use(buffer.subarray(0, length));
  } catch (err) {
    throw err instanceof ImageError ? err : new ImageError('storage_unavailable', 'storage unavailable', { cause: err });
  } finally {
    if (buffer) pool.release(buffer);
    await handle.close().catch(() => {});
  }
}
