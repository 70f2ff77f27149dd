/**
 * PURE: the text form of the report's tables by likely cause and by original, for a terminal or
 * a CI log: one bad original is one line (its mismatched variants out of all, ALL when every one
 * is off, the likely cause, the original's metadata, the worst variant), then the originals whose
 * differences are all declared intended, apart.
 */
import { describeOriginal } from './causes.ts';
import type { Report } from './report.ts';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const padStart = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** @param limit mismatched originals listed at most (default 60); the rest are counted. */
export function renderOriginalsText(report: Report, limit = 60): string {
  const out: string[] = ['by likely cause (originals / mismatched requests):'];
  if (report.causes.length === 0) out.push('  none');
  for (const c of report.causes)
    out.push(`  ${pad(c.cause, 13)}${padStart(String(c.originals), 4)}${padStart(String(c.requests), 6)}  ${c.examples.slice(0, 3).join(' ')}`);
  const bad = report.byOriginal.filter((r) => r.mismatched > 0);
  const all = bad.filter((r) => r.allVariants).length;
  out.push(`by original (${bad.length} of ${report.byOriginal.length + report.originalsOmitted} mismatched, ${all} on every variant):`);
  if (bad.length === 0) out.push('  none');
  const width = Math.min(60, Math.max(10, ...bad.slice(0, limit).map((r) => r.path.length)));
  for (const r of bad.slice(0, limit)) {
    const worst = r.worst?.signals
      ? ` worst ${r.worst.target.slice(r.path.length)} SSIM ${r.worst.signals.ssim.toFixed(3)} dE ${r.worst.signals.deltaE.toFixed(1)}`
      : r.worst
        ? ` worst ${r.worst.target.slice(r.path.length)} ${r.worst.category ?? ''}`
        : '';
    out.push(
      `  ${pad(r.path, width)} ${padStart(`${r.mismatched}/${r.total}`, 5)}${r.allVariants ? ' ALL' : '    '} ${pad(r.cause ?? '-', 13)} ${describeOriginal(r.info)}${worst}`,
    );
  }
  if (bad.length > limit) out.push(`  ... ${bad.length - limit} more in report.json`);
  if (report.originalsUntracked > 0) out.push(`  (${report.originalsUntracked} requests to originals beyond the tracking cap are in the totals only)`);
  const intended = report.byOriginal.filter((r) => r.mismatched === 0 && r.intended > 0);
  if (intended.length > 0) {
    out.push('intended only:');
    for (const r of intended) out.push(`  ${pad(r.path, width)} ${padStart(`${r.intended}/${r.total}`, 5)}  ${r.intendedReasons.join('; ')}`);
  }
  return `${out.join('\n')}\n`;
}
