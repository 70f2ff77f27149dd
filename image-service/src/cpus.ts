import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The CPUs this process may really use, the way Go's automaxprocs computes it: the CPU quota of
 * the process's own cgroup (v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), found
 * through /proc/self/cgroup and /proc/self/mountinfo, as floor(quota / period) and at least 1,
 * capped by the affinity mask. A runtime that sizes itself to the host's cores inside a
 * CPU-limited container gets throttled by the CFS scheduler, and its p99 pays for it.
 */

/** PURE: CPUs allowed by a quota; undefined when there is none (v1 writes -1, v2 writes "max"). */
export function cpusFromQuota(quotaUs: number, periodUs: number): number | undefined {
  if (!(quotaUs > 0) || !(periodUs > 0)) return undefined;
  return Math.max(1, Math.floor(quotaUs / periodUs));
}

/** PURE: cgroup v2 `cpu.max`: "max 100000" (no quota), "200000 100000", or "max". */
export function parseCgroupV2CpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || period === undefined) return undefined;
  if (!/^[0-9]+$/.test(quota) || !/^[0-9]+$/.test(period)) return undefined;
  return cpusFromQuota(Number(quota), Number(period));
}

/** PURE: cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` ("-1" quota: none). */
export function parseCgroupV1Quota(quotaText: string, periodText: string): number | undefined {
  const quota = quotaText.trim();
  const period = periodText.trim();
  if (!/^-?[0-9]+$/.test(quota) || !/^[0-9]+$/.test(period)) return undefined;
  return cpusFromQuota(Number(quota), Number(period));
}

/** Where a quota may be read, most specific first. */
export type QuotaFile = { version: 2; cpuMax: string } | { version: 1; quota: string; period: string };

/**
 * PURE: the quota files of this process's own cgroup, from /proc/self/cgroup and
 * /proc/self/mountinfo. Without a cgroup namespace the root of /sys/fs/cgroup is the host's, and
 * a quota set on a systemd unit or a container's cgroup lives further down the tree.
 */
export function quotaFiles(procSelfCgroup: string, mountInfo: string): QuotaFile[] {
  const mounts = mountInfo
    .split('\n')
    .map((line) => {
      // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
      const [left, right] = line.split(' - ');
      if (!left || !right) return undefined;
      const l = left.split(' ');
      const r = right.split(' ');
      const root = l[3];
      const mountPoint = l[4];
      const fsType = r[0];
      if (!root || !mountPoint || (fsType !== 'cgroup' && fsType !== 'cgroup2')) return undefined;
      return { root, mountPoint, fsType, superOptions: (r[2] ?? '').split(',') };
    })
    .filter((m) => m !== undefined);

  const inMount = (mount: { root: string; mountPoint: string }, cgroupPath: string): string => {
    const rel = path.posix.relative(mount.root, cgroupPath);
    // With a cgroup namespace the process sees its own cgroup as '/', outside the mount's root.
    return rel.startsWith('..') ? mount.mountPoint : path.posix.join(mount.mountPoint, rel);
  };

  const files: QuotaFile[] = [];
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers, cgroupPath] = m as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') {
      for (const mount of mounts.filter((x) => x.fsType === 'cgroup2')) {
        files.push({ version: 2, cpuMax: path.posix.join(inMount(mount, cgroupPath), 'cpu.max') });
      }
    } else if (controllers.split(',').includes('cpu')) {
      for (const mount of mounts.filter((x) => x.fsType === 'cgroup' && x.superOptions.includes('cpu'))) {
        const dir = inMount(mount, cgroupPath);
        files.push({ version: 1, quota: path.posix.join(dir, 'cpu.cfs_quota_us'), period: path.posix.join(dir, 'cpu.cfs_period_us') });
      }
    }
  }
  return files;
}

/** Used when /proc cannot be read: the usual places of a container's own cgroup. */
const FALLBACK_FILES: QuotaFile[] = [
  { version: 2, cpuMax: '/sys/fs/cgroup/cpu.max' },
  { version: 1, quota: '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', period: '/sys/fs/cgroup/cpu/cpu.cfs_period_us' },
];

/** PURE given `readFile`: the CPU quota of this process's cgroup, or undefined when it has none. */
export function cgroupCpuQuota(readFile: (file: string) => string): number | undefined {
  let candidates: QuotaFile[];
  try {
    candidates = [...quotaFiles(readFile('/proc/self/cgroup'), readFile('/proc/self/mountinfo')), ...FALLBACK_FILES];
  } catch {
    candidates = FALLBACK_FILES;
  }
  for (const file of candidates) {
    try {
      // The first file that exists decides, quota or not: it is this process's own cgroup.
      return file.version === 2 ? parseCgroupV2CpuMax(readFile(file.cpuMax)) : parseCgroupV1Quota(readFile(file.quota), readFile(file.period));
    } catch {
      continue;
    }
  }
  return undefined;
}

/** The CPUs this process may really use: the affinity mask capped by the cgroup CPU quota. */
export function usableCpus(readFile: (file: string) => string = (f) => readFileSync(f, 'utf8'), affinity: number = availableParallelism()): number {
  const quota = cgroupCpuQuota(readFile);
  return quota === undefined ? affinity : Math.min(affinity, quota);
}
