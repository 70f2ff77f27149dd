/**
 * Each subject of the peer comparison answers the four variants as asked (status, format, the
 * contract's dimensions after EXIF orientation), on the fixture photographs and on two large
 * originals (one stored sideways): so no peer is measured doing less work than the service.
 * Real processes: the image service, ipx's Node server, thumbor from its virtual environment.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageService, type RunningService } from '../../stack/services.ts';
import { benchPhotos } from '../../support/fixtures.ts';
import { defaultLargeDir, ensureLargeOriginals } from '../lib/large-originals.ts';
import { validate } from '../lib/peer-bench.ts';
import { ipxPath, PEER_VARIANTS, thumborPath } from '../lib/peer-urls.ts';
import { startIpx, startThumbor, thumborVenv, type RunningPeer } from '../lib/peers.ts';
import { buildWorkload } from '../lib/workload.ts';

const haveThumbor = existsSync(path.join(thumborVenv(), 'bin', 'thumbor'));
// Outside CI a checkout that never ran `npm run bench` has no thumbor venv: say so instead of failing.
const thumborTest = haveThumbor || process.env.CI === 'true' ? it : it.skip;

describe('peer subjects answer the four variants as asked', () => {
  let dir: string;
  let paths: string[];
  const sizes = new Map<string, { width: number; height: number }>();
  let service: RunningService | undefined;
  let ipx: RunningPeer | undefined;
  let thumbor: RunningPeer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'peers-int-'));
    const originals = path.join(dir, 'originals');
    mkdirSync(originals);
    const photos = await benchPhotos(path.join(dir, 'generated'));
    const large = await ensureLargeOriginals(defaultLargeDir(), 2);
    expect(large[1]!.orientation).toBe(6);
    // Hard links or copies: the service does not follow symbolic links out of its storage directory.
    for (const f of [...photos, ...large.map((o) => o.file)]) {
      try {
        linkSync(f, path.join(originals, path.basename(f)));
      } catch {
        copyFileSync(f, path.join(originals, path.basename(f)));
      }
    }
    paths = buildWorkload([...photos, ...large.map((o) => o.file)], PEER_VARIANTS).paths;
    for (const f of [...photos, ...large.map((o) => o.file)]) {
      const m = await sharp(f).metadata();
      const turned = (m.orientation ?? 1) >= 5;
      sizes.set(path.basename(f), { width: turned ? m.height : m.width, height: turned ? m.width : m.height });
    }
    service = await startImageService({ STORAGE_URL: pathToFileURL(originals).href, REQUEST_TIMEOUT_MS: '60000' });
    ipx = await startIpx(originals);
    if (haveThumbor) thumbor = await startThumbor(originals, 1);
  });

  afterAll(async () => {
    await Promise.all([service?.stop(), ipx?.stop(), thumbor?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the image service', async () => {
    expect(await validate({ name: 'new', url: service!.url, spell: (p) => p }, paths, sizes, 2)).toEqual([]);
  });

  it('ipx (auto-orient on: a portrait original comes out upright)', async () => {
    expect(await validate({ name: 'ipx', url: ipx!.url, spell: ipxPath }, paths, sizes, 2)).toEqual([]);
  });

  thumborTest('thumbor (RESPECT_ORIENTATION on)', async () => {
    expect(thumbor, `thumbor is not installed at ${thumborVenv()}: run \`bash scripts/bootstrap.sh bench\``).toBeDefined();
    expect(await validate({ name: 'thumbor', url: thumbor!.url, spell: thumborPath }, paths, sizes, 2)).toEqual([]);
  });

  it('the check catches a subject that renders less than asked', async () => {
    // The large portrait original at half the width asked for, and a crop that is not 200x200.
    const smaller = (p: string) => ipxPath(p).replace('w_1280', 'w_640').replace('s_200x200', 's_200x150');
    const problems = await validate({ name: 'ipx', url: ipx!.url, spell: smaller }, paths, sizes, 2);
    expect(problems.length).toBe(2 * (paths.length / PEER_VARIANTS.length));
    expect(problems.some((p) => /expected image\/jpeg 1280x/.test(p))).toBe(true);
  });
});
