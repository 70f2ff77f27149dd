/** Reads the front door's access log for `gateway status`; parsing and summing are in ../cutover/traffic.ts (pure). */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { parseAccessLine, type AccessEntry } from '../cutover/traffic.ts';

/** The last `maxBytes` of a log file, from its first whole line on ('' when the file is missing). */
export function readLogTail(file: string, maxBytes: number): string {
  if (!existsSync(file)) return '';
  const size = statSync(file).size;
  const start = Math.max(0, size - maxBytes);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString('utf8');
  return start > 0 ? text.slice(text.indexOf('\n') + 1) : text; // a partial first line
}

/** The access-log entries at or after `since` (epoch seconds), reading at most the file's last `maxBytes` (64 MiB). */
export function readRecentAccess(file: string, since: number, maxBytes = 64 * 1024 * 1024): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const line of readLogTail(file, maxBytes).split('\n')) {
    const e = parseAccessLine(line);
    if (e && e.at >= since) entries.push(e);
  }
  return entries;
}
