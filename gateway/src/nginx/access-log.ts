/** Reads the front door's access log for `gateway status`; parsing and summing are in ../cutover/traffic.ts (pure). */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { parseAccessLine, type AccessEntry } from '../cutover/traffic.ts';

/** The access-log entries at or after `since` (epoch seconds), reading at most the file's last `maxBytes` (64 MiB). */
export function readRecentAccess(file: string, since: number, maxBytes = 64 * 1024 * 1024): AccessEntry[] {
  if (!existsSync(file)) return [];
  const size = statSync(file).size;
  const start = Math.max(0, size - maxBytes);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString('utf8').split('\n');
  if (start > 0) lines.shift(); // a partial first line
  const entries: AccessEntry[] = [];
  for (const line of lines) {
    const e = parseAccessLine(line);
    if (e && e.at >= since) entries.push(e);
  }
  return entries;
}
