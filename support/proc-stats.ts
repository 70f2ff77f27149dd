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

/** CPU time (user + system) `pid` has used so far, in seconds; undefined once it has exited. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may contain spaces) start at field 3; utime and stime
  // are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The whole machine's CPU time so far (all cores, from /proc/stat), in clock ticks: idle and total. */
export function machineCpuTicks(): { idle: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!; // "cpu  user nice system idle iowait irq softirq steal ..."
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { idle, total: ticks.reduce((a, b) => a + b, 0) };
}
