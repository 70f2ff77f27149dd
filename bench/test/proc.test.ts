import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { clockTicksPerSecond, cpuSeconds, othersShare, parseKbField, parseProcStat, parseStatTicks, peakRssMb, ProcSampler } from '../lib/proc.ts';

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

describe('othersShare', () => {
  it.each([
    // [busy ticks, total ticks, our CPU s, ticks per second, share]
    [100, 400, 0.5, 100, 0.125], // 1 s busy of 4 s, 0.5 s ours
    [250, 1000, 0.5, 250, 0.125], // the same at 250 ticks a second
    [100, 400, 2, 100, 0], // never negative
    [0, 0, 0, 100, 0], // no time passed
  ])('busy %d of %d ticks, %d s ours, at %d Hz -> %d', (busy, total, ours, hz, want) => {
    expect(othersShare({ busy: 1000, total: 5000 }, { busy: 1000 + busy, total: 5000 + total }, ours, hz)).toBeCloseTo(want, 10);
  });
});

describe('the clock-tick rate and per-process figures', () => {
  it("is the kernel's (getconf CLK_TCK), not an assumed 100", () => {
    expect(clockTicksPerSecond()).toBe(Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()));
  });
  it("reads this process's CPU seconds and peak RSS, and nothing for a pid that does not exist", () => {
    const cpu = process.cpuUsage();
    expect(cpuSeconds(process.pid)).toBeGreaterThan(0);
    expect(cpuSeconds(process.pid)!).toBeLessThanOrEqual((cpu.user + cpu.system) / 1e6 + 1);
    expect(peakRssMb(process.pid)).toBeGreaterThan(10);
    expect(cpuSeconds(2 ** 30)).toBeUndefined();
    expect(peakRssMb(2 ** 30)).toBeUndefined();
  });
});
