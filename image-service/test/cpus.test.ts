import { describe, expect, it } from 'vitest';
import { cgroupCpuQuota, cpusFromQuota, parseCgroupV1Quota, parseCgroupV2CpuMax, quotaFiles, usableCpus } from '../src/cpus.ts';

describe('cpusFromQuota: floor(quota / period), at least 1, as automaxprocs', () => {
  it.each([
    [100000, 100000, 1],
    [200000, 100000, 2],
    [150000, 100000, 1],
    [250000, 100000, 2],
    [50000, 100000, 1],
    [1000, 100000, 1],
    [400000, 50000, 8],
    [-1, 100000, undefined],
    [0, 100000, undefined],
    [100000, 0, undefined],
    [Number.NaN, 100000, undefined],
  ])('%s / %s -> %s', (quota, period, cpus) => {
    expect(cpusFromQuota(quota, period)).toBe(cpus);
  });
});

describe('cgroup v2 cpu.max', () => {
  it.each([
    ['max 100000\n', undefined],
    ['max', undefined],
    ['200000 100000\n', 2],
    ['  150000   100000  ', 1],
    ['50000 100000', 1],
    ['300000 100000', 3],
    ['', undefined],
    ['garbage', undefined],
    ['1e5 100000', undefined],
  ])('%j -> %s', (text, cpus) => {
    expect(parseCgroupV2CpuMax(text)).toBe(cpus);
  });
});

describe('cgroup v1 cfs quota and period', () => {
  it.each([
    ['-1\n', '100000\n', undefined],
    ['200000\n', '100000\n', 2],
    ['350000', '100000', 3],
    ['50000', '100000', 1],
    ['x', '100000', undefined],
    ['100000', '', undefined],
  ])('quota %j period %j -> %s', (quota, period, cpus) => {
    expect(parseCgroupV1Quota(quota, period)).toBe(cpus);
  });
});

const MOUNTS_V2 = '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
const MOUNTS_V1 = [
  '31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct',
  '33 31 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:12 - cgroup2 cgroup2 rw',
].join('\n');
// Docker without a cgroup namespace: the mount's root is the container's own cgroup.
const MOUNTS_V1_DOCKER = '1069 1063 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:10 - cgroup cgroup rw,cpu,cpuacct\n';

describe('quotaFiles: the quota files of this process own cgroup', () => {
  it.each([
    ['v2, a systemd service', '0::/system.slice/images.service\n', MOUNTS_V2, [{ version: 2, cpuMax: '/sys/fs/cgroup/system.slice/images.service/cpu.max' }]],
    ['v2, a container with its own cgroup namespace', '0::/\n', MOUNTS_V2, [{ version: 2, cpuMax: '/sys/fs/cgroup/cpu.max' }]],
    [
      'v1, a nested cgroup',
      '12:memory:/user.slice\n4:cpu,cpuacct:/user.slice/job\n0::/user.slice/job\n',
      MOUNTS_V1,
      [
        {
          version: 1,
          quota: '/sys/fs/cgroup/cpu,cpuacct/user.slice/job/cpu.cfs_quota_us',
          period: '/sys/fs/cgroup/cpu,cpuacct/user.slice/job/cpu.cfs_period_us',
        },
        { version: 2, cpuMax: '/sys/fs/cgroup/unified/user.slice/job/cpu.max' },
      ],
    ],
    [
      'v1 in Docker (mount root = the container cgroup)',
      '4:cpu,cpuacct:/docker/abc\n',
      MOUNTS_V1_DOCKER,
      [{ version: 1, quota: '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us', period: '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us' }],
    ],
    ['no cgroup lines', '', MOUNTS_V2, []],
    ['a controller other than cpu', '3:memory:/x\n', MOUNTS_V1, []],
  ])('%s', (_name, cgroup, mountinfo, files) => {
    expect(quotaFiles(cgroup, mountinfo)).toEqual(files);
  });
});

/** A fake /proc and /sys: missing files throw like readFileSync does. */
const reader = (files: Record<string, string>) => (file: string) => {
  const text = files[file];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
  return text;
};

describe('cgroupCpuQuota and usableCpus', () => {
  it.each<[string, Record<string, string>, number, number]>([
    [
      'v2 quota of 1.5 CPUs on a 4-CPU host: 1',
      { '/proc/self/cgroup': '0::/svc\n', '/proc/self/mountinfo': MOUNTS_V2, '/sys/fs/cgroup/svc/cpu.max': '150000 100000\n' },
      4,
      1,
    ],
    [
      'v2 without a quota: the affinity',
      { '/proc/self/cgroup': '0::/svc\n', '/proc/self/mountinfo': MOUNTS_V2, '/sys/fs/cgroup/svc/cpu.max': 'max 100000\n' },
      4,
      4,
    ],
    [
      'v2 quota above the affinity: the affinity',
      { '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': MOUNTS_V2, '/sys/fs/cgroup/cpu.max': '800000 100000\n' },
      2,
      2,
    ],
    [
      'v1 quota of 3 CPUs',
      {
        '/proc/self/cgroup': '4:cpu,cpuacct:/job\n0::/job\n',
        '/proc/self/mountinfo': MOUNTS_V1,
        '/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us': '300000\n',
        '/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us': '100000\n',
      },
      8,
      3,
    ],
    [
      'v1 hybrid host without a quota (-1); the unified tree has no cpu.max',
      {
        '/proc/self/cgroup': '1:cpu:/\n0::/\n',
        '/proc/self/mountinfo': MOUNTS_V1.replace('cpu,cpuacct rw', 'cpu rw').replace('/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu'),
        '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
        '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
      },
      2,
      2,
    ],
    ['no /proc at all: the fixed container paths', { '/sys/fs/cgroup/cpu.max': '100000 100000' }, 16, 1],
    ['nothing readable: the affinity', {}, 6, 6],
  ])('%s', (_name, files, affinity, cpus) => {
    expect(usableCpus(reader(files), affinity)).toBe(cpus);
  });

  it('reads the real machine without throwing', () => {
    const n = usableCpus();
    expect(Number.isInteger(n) && n >= 1).toBe(true);
    expect(cgroupCpuQuota(reader({}))).toBeUndefined();
  });
});
