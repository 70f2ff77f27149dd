/**
 * The operating system's own accounting of a subject's processes (Linux /proc): CPU time
 * (utime + stime of every thread, from /proc/<pid>/stat) and resident memory (VmRSS from
 * /proc/<pid>/status, and PSS from /proc/<pid>/smaps_rollup), sampled while a phase runs.
 *
 * Summing RSS over several processes counts shared pages (PHP's opcache, libraries, nginx's
 * shared memory) once per process; PSS splits them fairly. Both are reported; the targets use RSS,
 * which is the conservative choice for the multi-process legacy backend's rival.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
/** The kernel's clock-tick rate (USER_HZ) that /proc counts CPU time in: `getconf CLK_TCK`, asked once. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** PURE: utime + stime (clock ticks) from the text of /proc/<pid>/stat. */
export function parseStatTicks(stat: string): number {
  // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** PURE: a `Name:  123 kB` field of /proc/<pid>/status or smaps_rollup, in kB. */
export function parseKbField(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** PURE: busy and total jiffies of all CPUs from the first line of /proc/stat. */
export function parseProcStat(text: string): { busy: number; total: number } {
  const cpu = text.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined; // the process has exited
  }
}

export interface ProcessSample {
  ticks: number;
  rssKb: number;
  pssKb: number;
}

export function sampleProcess(pid: number, withPss: boolean): ProcessSample | undefined {
  const stat = read(`/proc/${pid}/stat`);
  const status = read(`/proc/${pid}/status`);
  if (stat === undefined || status === undefined) return undefined;
  const rollup = withPss ? read(`/proc/${pid}/smaps_rollup`) : undefined;
  return { ticks: parseStatTicks(stat), rssKb: parseKbField(status, 'VmRSS') ?? 0, pssKb: rollup ? (parseKbField(rollup, 'Pss') ?? 0) : 0 };
}

/** Samples between two PSS readings (and two listings of the processes). */
const PSS_EVERY = 10;

export interface Usage {
  /** CPU seconds the processes used inside the window. */
  cpuS: number;
  /** Highest sum of the processes' RSS seen in a sample, MiB. */
  peakRssMb: number;
  peakPssMb: number;
  /** Busy CPU seconds of the whole machine inside the window (every core). */
  machineBusyS: number;
}

/**
 * Samples a set of processes (re-listed every second, since PHP-FPM and nginx may replace
 * children) every `intervalMs` until stop(). A process's CPU counts from its first sample to its
 * last (a process born in the window counts from zero); one that exits loses at most its last
 * interval.
 */
export class ProcSampler {
  readonly #pids: () => number[];
  readonly #first = new Map<number, number>();
  readonly #last = new Map<number, number>();
  #peakRss = 0;
  #peakPss = 0;
  #timer: NodeJS.Timeout | undefined;
  #machineStart: { busy: number; total: number };
  #machineEnd: { busy: number; total: number } | undefined;
  #initial = true;
  #samples = 0;
  #pidList: number[] = [];

  constructor(pids: () => number[], intervalMs = 100) {
    this.#pids = pids;
    this.#machineStart = parseProcStat(read('/proc/stat') ?? 'cpu 0 0 0 0');
    this.#sample();
    this.#initial = false;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#timer.unref();
  }

  #sample(final = false): void {
    let rss = 0;
    let pss = 0;
    // smaps_rollup walks every mapping (about 1 ms of CPU per Node process), so PSS is read once
    // a second; the cheap VmRSS every interval.
    const n = this.#samples++;
    const withPss = final || n % PSS_EVERY === 0;
    // Listing a process tree may scan /proc; the sets here (FPM's static pool, nginx's workers)
    // do not change within a phase, so they are listed once a second.
    if (final || n % PSS_EVERY === 0) this.#pidList = this.#pids();
    for (const pid of this.#pidList) {
      const s = sampleProcess(pid, withPss);
      if (!s) continue;
      if (!this.#first.has(pid)) this.#first.set(pid, this.#initial ? s.ticks : 0);
      this.#last.set(pid, s.ticks);
      rss += s.rssKb;
      pss += s.pssKb;
    }
    this.#peakRss = Math.max(this.#peakRss, rss);
    this.#peakPss = Math.max(this.#peakPss, pss);
  }

  /** Takes the final sample; the window ends now. Idempotent. */
  stop(): Usage {
    if (this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#sample(true);
      this.#machineEnd = parseProcStat(read('/proc/stat') ?? 'cpu 0 0 0 0');
    }
    let ticks = 0;
    for (const [pid, last] of this.#last) ticks += last - (this.#first.get(pid) ?? 0);
    const hz = clockTicksPerSecond();
    return {
      cpuS: ticks / hz,
      peakRssMb: this.#peakRss / 1024,
      peakPssMb: this.#peakPss / 1024,
      machineBusyS: ((this.#machineEnd?.busy ?? 0) - this.#machineStart.busy) / hz,
    };
  }
}

/** CPU time (utime + stime) `pid` has used so far, seconds; undefined once it has exited. */
export function cpuSeconds(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  return stat === undefined ? undefined : parseStatTicks(stat) / clockTicksPerSecond();
}

/**
 * Peak resident set of `pid` since it started (VmHWM, the kernel's own high-water mark, so no
 * spike between two samples is missed), MiB; undefined once it has exited.
 */
export function peakRssMb(pid: number): number | undefined {
  const status = read(`/proc/${pid}/status`);
  const kb = status === undefined ? undefined : parseKbField(status, 'VmHWM');
  return kb === undefined ? undefined : kb / 1024;
}

/** Busy and total CPU time of the whole machine so far (all cores), clock ticks. */
export function machineTicks(): { busy: number; total: number } {
  return parseProcStat(read('/proc/stat') ?? 'cpu 0 0 0 0');
}

/**
 * PURE: the share of the machine's CPU time between two machineTicks() readings that was not
 * spent by the processes measured (`ourCpuS` seconds of them): the noise of a shared machine.
 */
export function othersShare(before: { busy: number; total: number }, after: { busy: number; total: number }, ourCpuS: number, hz: number): number {
  const total = (after.total - before.total) / hz;
  const busy = (after.busy - before.busy) / hz;
  return total > 0 ? Math.max(0, busy - ourCpuS) / total : 0;
}

/** `pid` and all its descendants (thumbor's forked processes), from each task's children list, else the parent pids in /proc. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 10_000) {
    const p = queue.shift()!;
    if (read(`/proc/${p}/stat`) === undefined) continue;
    out.push(p);
    queue.push(...childrenOf(p));
  }
  return out;
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => (read(`/proc/${pid}/task/${tid}/children`) ?? '').split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((e) => {
        const stat = read(`/proc/${e}/stat`);
        // Field 4 is the parent pid; field 2 (the name) may contain spaces and is in parentheses.
        return stat !== undefined && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      })
      .map(Number);
  }
}
