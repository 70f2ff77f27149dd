import { Readable } from 'node:stream';

/**
 * Reads the first `n` bytes of a stream without consuming them: returns them and a stream that
 * still yields every byte from the start (the same stream with the bytes put back, or a new one
 * when the original ended within those bytes, since nothing can be put back after its end).
 */
export async function peekHead(body: Readable, n: number, signal?: AbortSignal): Promise<{ head: Buffer; body: Readable }> {
  signal?.throwIfAborted();
  const chunks: Buffer[] = [];
  let total = 0;
  let ended = false;
  while (total < n && !ended) {
    const chunk = body.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      total += chunk.length;
      continue;
    }
    ended = await new Promise<boolean>((resolve, reject) => {
      const cleanup = () => {
        body.off('readable', onReadable);
        body.off('end', onEnd);
        body.off('error', onError);
        body.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const onReadable = () => {
        cleanup();
        resolve(false);
      };
      const onEnd = () => {
        cleanup();
        resolve(true);
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      // Closed without its end: cut off, not a short original.
      const onClose = () => {
        cleanup();
        if (body.readableEnded) resolve(true);
        else reject(new Error('the stream closed before its end'));
      };
      body.on('readable', onReadable);
      body.on('end', onEnd);
      body.on('error', onError);
      body.on('close', onClose);
    });
  }
  const all = Buffer.concat(chunks);
  if (ended) return { head: all.subarray(0, n), body: Readable.from(all.length > 0 ? [all] : []) };
  body.unshift(all);
  return { head: all.subarray(0, n), body };
}
