import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoRaw } from '../../support/fixtures.ts';
import { measureDecodeFloors } from '../lib/decode-floor.ts';

describe('measureDecodeFloors (real sharp)', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'floor-'));
    files = [path.join(dir, 'p.jpg'), path.join(dir, 'p.webp')];
    writeFileSync(files[0]!, await (await photoRaw(801, 601, 1)).jpeg({ progressive: true }).toBuffer());
    writeFileSync(files[1]!, await (await photoRaw(640, 480, 2)).webp().toBuffer());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives one floor per original, named by its key, with its format, size and a positive cost', async () => {
    const floors = await measureDecodeFloors(files, 2);
    expect(floors.map((f) => [f.key, f.format, f.width, f.height])).toEqual([
      ['p.jpg', 'jpeg', 801, 601],
      ['p.webp', 'webp', 640, 480],
    ]);
    for (const f of floors) {
      expect(['full', 'eighth']).toContain(f.method);
      expect(f.cpu_ms).toBeGreaterThan(0);
      expect(f.wall_ms).toBeGreaterThan(0);
    }
  });

  it("leaves sharp's concurrency as it found it", async () => {
    const before = sharp.concurrency();
    sharp.concurrency(3); // not 1, which the measurement sets
    try {
      await measureDecodeFloors(files.slice(0, 1), 1);
      expect(sharp.concurrency()).toBe(3);
    } finally {
      sharp.concurrency(before);
    }
  });

  it('refuses a file that is not an image', async () => {
    const bad = path.join(dir, 'bad.jpg');
    writeFileSync(bad, 'not an image');
    await expect(measureDecodeFloors([bad], 1)).rejects.toThrow();
  });
});
