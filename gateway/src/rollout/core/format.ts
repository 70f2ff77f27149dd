/** A rollout's state as text, for `gateway status` and `gateway rollout status`. PURE. */
import { describeGate, type AuditRecord, type RolloutState } from './machine.ts';
import { formatDuration, type RolloutSpec } from './spec.ts';

function inTime(ms: number): string {
  if (ms <= 0) return 'due now';
  const s = Math.round(ms / 1000);
  return s < 60 ? `in ${s}s` : s < 3600 ? `in ${Math.floor(s / 60)}m ${s % 60}s` : `in ${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function describeEvidence(r: AuditRecord): string | undefined {
  const e = r.evidence;
  if (!e) return undefined;
  const parts = [`${e.newRequests} requests on new (${e.fallbacks} fallbacks, ${e.newErrors} 5xx, ${e.shed} shed)`, `${e.legacyRequests} on legacy`];
  if (e.pairs > 0 || r.gates?.some((g) => g.gate === 'parity' || g.gate === 'p99_ratio')) parts.push(`${e.pairs} mirrored pairs (${e.mismatches} mismatched)`);
  return `${parts.join(', ')}; window ${new Date(e.from).toISOString()} .. ${new Date(e.to).toISOString()}`;
}

/** The rollout block of one route: status, step, next decision, the last decision with its figures. */
export function formatRollout(route: string, spec: RolloutSpec | undefined, state: RolloutState | undefined, now: number, indent = ''): string {
  const lines: string[] = [];
  if (!state) {
    lines.push(`${route}: not started${spec ? ` (steps ${spec.steps.join(', ')}% every ${formatDuration(spec.interval)}; gateway rollout run ${route})` : ''}`);
    return lines.map((l) => indent + l).join('\n');
  }
  const total = spec?.steps.length ?? state.step + 1;
  const where = `step ${state.step + 1} of ${total} (${state.share}%)`;
  const next = state.status === 'running' ? `, next decision ${new Date(state.nextDecisionAt).toISOString()} (${inTime(state.nextDecisionAt - now)})` : '';
  lines.push(`${route}: ${state.status.replace('_', ' ')}, ${where}${next}${state.failures ? `, ${state.failures} failed check(s) in a row` : ''}`);
  if (state.reason && state.status !== 'running') lines.push(`  ${state.reason}`);
  const r = state.last;
  if (r) {
    lines.push(`  last decision: ${r.decision} at ${r.time} (by ${r.by}): ${r.reason}`);
    for (const g of r.gates ?? []) lines.push(`    ${g.ok ? 'pass' : 'FAIL'}  ${describeGate(g)}`);
    const e = describeEvidence(r);
    if (e) lines.push(`    evidence: ${e}`);
  }
  return lines.map((l) => indent + l).join('\n');
}
