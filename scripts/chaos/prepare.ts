/**
 * The run's working directory and the originals every scenario reads: a few sample photos and a
 * tiny image, in a file store directory under var/run.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { projectRoot } from '../../common/paths.ts';
import { benchPhotos } from '../../support/fixtures.ts';
import type { Context } from './rig.ts';

export async function prepare(short: boolean): Promise<Context> {
  const workDir = mkdtempSync(path.join(projectRoot, 'var', 'run', 'chaos-'));
  // mkdtemp makes it 0700; legacy's workers run as an unprivileged user and must pass through it
  // to the originals and the stacks' run directories (search only, nothing listed).
  chmodSync(workDir, 0o711);
  const storageDir = path.join(workDir, 'originals');
  mkdirSync(storageDir, { recursive: true });
  const cache = path.join(projectRoot, 'var', 'cache', 'photos');
  // Four photos, leaving out the largest file: each resize should cost far more than the HTTP
  // around it (so shedding's own cost shows as what it is), yet short runs still need a few dozen
  // requests per second for steady figures.
  const bySize = (await benchPhotos(cache)).sort((a, b) => statSync(a).size - statSync(b).size);
  const sources = bySize.slice(0, Math.max(1, bySize.length - 1)).slice(-4);
  const photos: string[] = [];
  for (const [i, file] of sources.entries()) {
    const name = `chaos-${i}${path.extname(file)}`;
    copyFileSync(file, path.join(storageDir, name));
    photos.push(name);
  }
  // A tiny original for the front-door scenarios: many cheap requests per second, so that a
  // reload or a kill meets requests on every connection.
  await sharp({ create: { width: 32, height: 24, channels: 3, background: '#2c3e50' } })
    .png()
    .toFile(path.join(storageDir, 'tiny.png'));
  return { short, t: { loadMs: short ? 4000 : 20_000 }, workDir, storageDir, photos };
}
