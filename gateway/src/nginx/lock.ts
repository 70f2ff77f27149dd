/** One apply at a time per run directory: two interleaved swaps could each restore the other's file. */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { GatewayError } from '../errors.ts';
import type { FrontDoorPaths } from './run-dir.ts';

/** Takes the run directory's apply lock (a stale one, whose holder is gone, is taken over); returns its release. */
export function acquireApplyLock(paths: FrontDoorPaths): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(paths.lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(paths.lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(paths.lockFile, 'utf8').trim());
      let alive = false;
      try {
        if (holder > 0) {
          process.kill(holder, 0);
          alive = true;
        }
      } catch {
        /* stale */
      }
      if (alive) throw new GatewayError('apply_in_progress', `another apply is running on ${paths.runDir} (pid ${holder}); try again when it has finished`);
      rmSync(paths.lockFile, { force: true });
    }
  }
  throw new GatewayError('apply_in_progress', `could not take the lock ${paths.lockFile}`);
}
