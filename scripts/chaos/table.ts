/**
 * The chaos table: one row per scenario (the columns are described in scripts/chaos.ts), then each
 * scenario's notes, the figures behind its verdict.
 */
import type { ScenarioResult } from './rig.ts';

export function renderTable(results: ScenarioResult[]): string {
  const head = ['scenario', 'requests', 'client-visible errors', 'lost', 'peak RSS', 'verdict'];
  const rows = results.map((r) => [
    r.name,
    String(r.requests),
    String(r.clientErrors),
    String(r.lost),
    r.peakRssMb === undefined ? '-' : `${r.peakRssMb.toFixed(0)} MB`,
    r.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const out = [line(head), `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line), ''];
  for (const r of results) out.push(`- ${r.name}: ${r.notes}`);
  return out.join('\n');
}
