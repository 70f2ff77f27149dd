import { describe, expect, it } from 'vitest';
import { parseKbField, parseProcStat, parseStatTicks, ProcSampler } from '../lib/proc.ts';

describe('/proc parsers', () => {
  it('reads utime + stime even when the command name has spaces and parentheses', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    const stat = '4242 (php-fpm: pool (www)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 1 0 100 0 0';
    expect(parseStatTicks(stat)).toBe(1290);
  });
  it('reads kB fields of /proc/<pid>/status and smaps_rollup', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(parseKbField(status, 'VmRSS')).toBe(102400);
    expect(parseKbField(status, 'VmHWM')).toBe(204800);
    expect(parseKbField(status, 'VmSwap')).toBeUndefined();
    expect(parseKbField('Rss:   10 kB\nPss:   7 kB\nPss_Anon:   3 kB\n', 'Pss')).toBe(7);
  });
  it('reads busy and total jiffies of /proc/stat', () => {
    expect(parseProcStat('cpu  100 5 50 1000 10 1 2 3 0 0\ncpu0 1 2 3\n')).toEqual({ busy: 161, total: 1171 });
  });
});

describe('ProcSampler on this very process', () => {
  it('accounts CPU burnt inside the window and a plausible RSS', () => {
    const sampler = new ProcSampler(() => [process.pid]);
    const until = process.cpuUsage().user + 200_000; // 0.2 s of user CPU
    let x = 0;
    while (process.cpuUsage().user < until) x += Math.sqrt(x + 1);
    const usage = sampler.stop();
    expect(x).toBeGreaterThan(0);
    expect(usage.cpuS).toBeGreaterThanOrEqual(0.1);
    expect(usage.peakRssMb).toBeGreaterThan(10);
    expect(usage.peakPssMb).toBeGreaterThan(0);
    expect(usage.machineBusyS).toBeGreaterThanOrEqual(usage.cpuS * 0.5);
    // stop() is idempotent.
    expect(sampler.stop().cpuS).toBe(usage.cpuS);
  });
});
