/** Finds the nginx binary: NGINX_BIN (via config.ts), else PATH, /usr/sbin, /sbin (Debian puts it in /usr/sbin, often not on a user's PATH). */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.ts';

export function findNginx(explicit: string | undefined, pathEnv: string | undefined): string {
  if (explicit) return explicit;
  for (const dir of [...(pathEnv ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']) {
    if (!dir) continue;
    const file = path.join(dir, 'nginx');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  throw new GatewayError(
    'nginx_missing',
    "nginx not found on PATH or in /usr/sbin: install it (Debian: 'apt-get install nginx'; scripts/bootstrap.sh does it) or set NGINX_BIN",
    { exitCode: 2 },
  );
}
