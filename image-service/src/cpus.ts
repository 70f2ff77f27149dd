import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';

/**
 * PURE: CPUs allowed by a cgroup quota, as Go's automaxprocs computes it: floor(quota / period),
 * at least 1; undefined when there is no quota. Accepts cgroup v2 `cpu.max` ("max 100000" or
 * "200000 100000") or cgroup v1 quota and period values.
 */
export function cpusFromQuota(quotaUs: number, periodUs: number): number | undefined {
  if (!(quotaUs > 0) || !(periodUs > 0)) return undefined;
  return Math.max(1, Math.floor(quotaUs / periodUs));
}

export function parseCgroupV2CpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || period === undefined) return undefined;
  return cpusFromQuota(Number(quota), Number(period));
}

/**
 * The CPUs this process may really use: the affinity mask (availableParallelism) capped by the
 * cgroup CPU quota. A runtime that sizes itself to the host's cores inside a CPU-limited container
 * gets throttled by the CFS scheduler, and its p99 pays for it.
 */
export function usableCpus(readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): number {
  const affinity = availableParallelism();
  let quota: number | undefined;
  try {
    quota = parseCgroupV2CpuMax(readFile('/sys/fs/cgroup/cpu.max'));
  } catch {
    try {
      quota = cpusFromQuota(
        Number(readFile('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')),
        Number(readFile('/sys/fs/cgroup/cpu/cpu.cfs_period_us')),
      );
    } catch {
      quota = undefined;
    }
  }
  return quota === undefined ? affinity : Math.min(affinity, quota);
}
