/**
 * Memory figures of live processes, read from /proc (Linux only): what the hostile-input suite and
 * the chaos table report as "peak RSS". VmHWM is the kernel's own high-water mark of the resident
 * set, so a short spike between two samples is never missed.
 */
import { readFileSync } from 'node:fs';

function statusField(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // the process has exited
  }
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) / 1024 : undefined;
}

/** Peak resident set size of `pid` since it started, in MiB; undefined once it has exited. */
export function peakRssMb(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

/** Current resident set size of `pid`, in MiB; undefined once it has exited. */
export function rssMb(pid: number): number | undefined {
  return statusField(pid, 'VmRSS');
}
