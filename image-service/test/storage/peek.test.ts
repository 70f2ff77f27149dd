import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { peekHead } from '../../src/storage/peek.ts';

const all = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

describe('peekHead', () => {
  it('gives the first bytes and a stream that still yields every byte, across small chunks', async () => {
    const bytes = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    const { head, body } = await peekHead(Readable.from([bytes.subarray(0, 3), bytes.subarray(3, 10), bytes.subarray(10)]), 16);
    expect(head.toString()).toBe('0123456789abcdef');
    expect((await all(body)).equals(bytes)).toBe(true);
  });

  it('handles an original shorter than the peek, and an empty one', async () => {
    const short = await peekHead(Readable.from([Buffer.from('abc')]), 16);
    expect(short.head.toString()).toBe('abc');
    expect((await all(short.body)).toString()).toBe('abc');
    const empty = await peekHead(Readable.from([]), 16);
    expect(empty.head.length).toBe(0);
    expect((await all(empty.body)).length).toBe(0);
  });

  it('rejects when the stream fails, is cut off, or the signal aborts first', async () => {
    const failing = new PassThrough();
    const p1 = peekHead(failing, 16);
    failing.destroy(new Error('boom'));
    await expect(p1).rejects.toThrow('boom');
    const cut = new PassThrough();
    const p2 = peekHead(cut, 16);
    cut.write(Buffer.from('ab'));
    cut.destroy();
    await expect(p2).rejects.toThrow(/closed before its end/);
    const stalled = new PassThrough();
    const controller = new AbortController();
    const p3 = peekHead(stalled, 16, controller.signal);
    controller.abort(new Error('deadline'));
    await expect(p3).rejects.toThrow('deadline');
  });
});
