/**
 * The image API contract (section 1) against both backends, each on its own storage directory:
 * the new sharp service (file:// storage) and the legacy PHP-FPM + Imagick backend behind its nginx.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { imageApiContract } from '../contract/suite.ts';
import { startLegacy } from '../../stack/legacy.ts';
import { startImageService } from '../../stack/services.ts';

function tempStorage(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `contract-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

imageApiContract('new image service', async () => {
  const storage = tempStorage('new');
  // The contract is about answers, not speed: the default deadline (1600 ms, tied to the front
  // door's timeout) is too tight for a full-size upscale on a loaded test machine.
  const service = await startImageService({ STORAGE_URL: pathToFileURL(storage.dir).href, REQUEST_TIMEOUT_MS: '30000' });
  return {
    url: service.url,
    storageDir: storage.dir,
    stop: async () => {
      await service.stop();
      storage.remove();
    },
  };
});

imageApiContract('legacy PHP-FPM + Imagick', async () => {
  const storage = tempStorage('legacy');
  const legacy = await startLegacy({ storageDir: storage.dir });
  return {
    url: legacy.url,
    storageDir: storage.dir,
    stop: async () => {
      await legacy.stop();
      storage.remove();
    },
  };
});
