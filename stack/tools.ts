/** Finds the external programs the tests and scripts drive; fails loudly when one is missing. */
import { accessSync, constants, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const searchDirs = (): string[] => [
  ...(process.env.PATH ?? '').split(path.delimiter),
  process.env.GATEWAY_TOOLS_BIN ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'image-gateway/bin'),
  path.join(os.homedir(), 'go/bin'),
  '/usr/sbin',
  '/sbin',
];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of `name`, or a thrown error that says how to get it (scripts/bootstrap.sh installs them all). */
export function findTool(name: string): string {
  for (const dir of searchDirs()) {
    if (!dir) continue;
    if (name === 'php-fpm') {
      // Debian names the binary after its PHP version: php-fpm8.2.
      try {
        const hit = readdirSync(dir)
          .filter((f) => /^php-fpm[0-9.]*$/.test(f))
          .sort()
          .pop();
        if (hit && isExecutable(path.join(dir, hit))) return path.join(dir, hit);
      } catch {
        continue;
      }
      continue;
    }
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  throw new Error(
    `${name} not found on PATH or in the tools cache; run 'bash scripts/bootstrap.sh test' (it installs nginx, php-fpm, php-imagick, chromium, k6 and versitygw)`,
  );
}
