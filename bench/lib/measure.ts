/** One phase of load with the operating system's accounting around it (proc.ts): every subject's figures come from here. */
import type { PhaseResult } from './drive.ts';
import { ProcSampler } from './proc.ts';
import type { PhaseMeasurement } from './report.ts';

export interface Accounted {
  pids(): number[];
  /** Processes also reported on their own (included in pids()'s figures). */
  part?: { pids(): number[] };
}

/** Runs `phase` with the subject's processes sampled; `close` ends the accounting window (the last counted request returned). */
export async function measurePhase(s: Accounted, round: number, phase: (close: () => void) => Promise<PhaseResult>): Promise<PhaseMeasurement> {
  const sampler = new ProcSampler(() => s.pids());
  const partSampler = s.part ? new ProcSampler(() => s.part!.pids()) : undefined;
  const cpu0 = process.cpuUsage();
  let closed: Pick<PhaseMeasurement, 'usage' | 'partUsage' | 'generatorCpuS'> | undefined;
  const close = () => {
    if (closed) return;
    const usage = sampler.stop();
    const partUsage = partSampler?.stop();
    const d = process.cpuUsage(cpu0);
    closed = { usage, partUsage, generatorCpuS: (d.user + d.system) / 1e6 };
  };
  const result = await phase(close);
  close();
  return { round, result, ...closed! };
}
