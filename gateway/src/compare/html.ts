/**
 * PURE rendering of the static HTML report (DIR/index.html) from report.json's data. No network
 * assets: CSS and the little script are inline, histograms are inline SVG, images are files
 * beside the page (relative links), so the folder can be zipped, attached to a ticket, or opened
 * from disk in any browser.
 */
import { describeOriginal } from './causes.ts';
import type { OriginalRow, Report } from './report.ts';
import type { PairResult, SideRecord } from './result.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Grouped bar chart of the two latency histograms, inline SVG. */
export function latencyHistogramSvg(h: Report['latency']['histogram']): string {
  const buckets = h.legacy.length;
  const max = Math.max(1, ...h.legacy, ...h.new);
  const W = 640;
  const H = 200;
  const padL = 40;
  const padB = 36;
  const bw = (W - padL - 10) / buckets;
  const bar = (bw - 6) / 2;
  const y = (v: number) => H - padB - ((H - padB - 10) * v) / max;
  const labels = h.edgesMs.map((e) => `≤${e >= 1000 ? `${e / 1000}s` : `${e}`}`).concat(`>${h.edgesMs[h.edgesMs.length - 1]! / 1000}s`);
  const parts: string[] = [];
  for (let i = 0; i < buckets; i++) {
    const x = padL + i * bw + 3;
    const l = h.legacy[i]!;
    const n = h.new[i]!;
    parts.push(
      `<rect class="legacy" x="${x.toFixed(1)}" y="${y(l).toFixed(1)}" width="${bar.toFixed(1)}" height="${(H - padB - y(l)).toFixed(1)}"><title>legacy ${labels[i]} ms: ${l}</title></rect>`,
    );
    parts.push(
      `<rect class="new" x="${(x + bar).toFixed(1)}" y="${y(n).toFixed(1)}" width="${bar.toFixed(1)}" height="${(H - padB - y(n)).toFixed(1)}"><title>new ${labels[i]} ms: ${n}</title></rect>`,
    );
    parts.push(`<text x="${(x + bar).toFixed(1)}" y="${H - padB + 14}" text-anchor="middle">${escapeHtml(labels[i]!)}</text>`);
  }
  return `<svg class="hist" role="img" aria-label="latency histogram, legacy and new" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">
<line x1="${padL}" y1="${H - padB}" x2="${W - 5}" y2="${H - padB}" stroke="#888"/>
<text x="${padL - 4}" y="14" text-anchor="end">${max}</text><text x="${padL - 4}" y="${H - padB}" text-anchor="end">0</text>
${parts.join('\n')}
<text x="${W / 2}" y="${H - 4}" text-anchor="middle">total time, ms (bucket upper edge)</text>
<rect class="legacy" x="${W - 150}" y="6" width="10" height="10"/><text x="${W - 136}" y="15">legacy</text>
<rect class="new" x="${W - 80}" y="6" width="10" height="10"/><text x="${W - 66}" y="15">new</text>
</svg>`;
}

function sideCell(s: SideRecord): string {
  if (s.status === null) return `<span class="bad">no answer: ${escapeHtml(s.error ?? '')}</span>`;
  const bits = [
    `${s.status}${s.errorCode ? ` ${escapeHtml(s.errorCode)}` : ''}`,
    s.contentType ? escapeHtml(s.contentType) : '',
    s.width ? `${s.width}×${s.height} ${escapeHtml(s.format ?? '')}` : '',
    `${s.bytes} B`,
    `ttfb ${ms(s.ttfbMs)}, total ${ms(s.totalMs)}`,
    `Cache-Control: ${escapeHtml(s.cacheControl ?? '(none)')}`,
  ];
  return bits.filter(Boolean).join('<br>');
}

function signalsLine(r: PairResult, thresholds: Report['thresholds']): string {
  if (!r.signals) return '<span class="muted">signals: n/a (no two images of equal size)</span>';
  const s = r.signals;
  const cls = (bad: boolean) => (bad ? 'bad' : 'ok');
  return (
    `<span class="${cls(s.ssim < thresholds.ssimMin)}">structure: SSIM ${s.ssim.toFixed(4)} (min ${thresholds.ssimMin})</span> · <span ` +
    `class="${cls(s.blockMaxDiff > thresholds.blockMaxDiff)}">colour: block max diff ${s.blockMaxDiff.toFixed(1)} (max ` +
    `${thresholds.blockMaxDiff})</span> · <span class="${cls(s.deltaE > thresholds.deltaEMax)}">mean ΔE ${s.deltaE.toFixed(2)} (max ` +
    `${thresholds.deltaEMax})</span> · <span class="${cls(s.blockiness > thresholds.blockinessMax)}">compression: blockiness ` +
    `${s.blockiness.toFixed(2)}× (max ${thresholds.blockinessMax})</span>`
  );
}

function caseCard(r: PairResult, thresholds: Report['thresholds']): string {
  const img = (src: string | undefined, label: string) =>
    src
      ? `<figure><img src="${escapeHtml(src)}" alt="${label}" decoding="async"><figcaption>${label}</figcaption></figure>`
      : `<figure class="none"><div>no image</div><figcaption>${label}</figcaption></figure>`;
  const findings = r.findings.map((f) => `<li><b>${f.category}</b> <code>${escapeHtml(f.rule)}</code> ${escapeHtml(f.detail)}</li>`).join('');
  const intended = r.intended
    .map((f) => `<li class="muted"><b>${f.category}</b> <code>${escapeHtml(f.rule)}</code> ${escapeHtml(f.detail)} — intended: ${escapeHtml(f.reason)}</li>`)
    .join('');
  return `<article class="case" id="case-${escapeHtml(r.id)}" data-category="${r.category ?? ''}">
<h3><span class="tag">${r.category ?? ''}</span> <code>${r.method} ${escapeHtml(r.target)}</code></h3>
<ul>${findings}${intended}</ul>
<p>${signalsLine(r, thresholds)}</p>
<div class="images">${img(r.images?.legacy, 'legacy')}${img(r.images?.new, 'new')}${img(r.images?.diff, 'diff heat map')}</div>
<table class="sides"><tr><th>legacy</th><th>new</th></tr><tr><td>${sideCell(r.legacy)}</td><td>${sideCell(r.new)}</td></tr></table>
</article>`;
}

const counts = (m: Record<string, number | undefined>) =>
  Object.entries(m)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

function originalRow(r: OriginalRow): string {
  const worst = r.worst
    ? `<code>${escapeHtml(r.worst.target.slice(r.path.length) || '(plain)')}</code>` +
      `${
        r.worst.signals
          ? ` SSIM ${r.worst.signals.ssim.toFixed(3)}, ΔE ${r.worst.signals.deltaE.toFixed(1)}, block ${r.worst.signals.blockMaxDiff.toFixed(0)}`
          : ''
      }`
    : '';
  return (
    `<tr class="${r.mismatched ? 'badrow' : ''}" data-cause="${r.cause ?? ''}"><td><code>${escapeHtml(r.path)}</code>` +
    `${r.info?.source ? `<br><span class="muted">${escapeHtml(r.info.source)}</span>` : ''}</td><td>${escapeHtml(describeOriginal(r.info))}</td><td>` +
    `${r.total}</td><td>${r.matched}</td><td>${r.intended}</td><td>${r.mismatched}${r.allVariants ? ' <b class="bad">all</b>' : ''}</td><td>` +
    `${r.cause ? `<b>${r.cause}</b>: ${escapeHtml(r.why)}` : ''}</td><td>${escapeHtml(counts(r.categories))}</td><td>${worst}</td></tr>`
  );
}

/** The table by original (worst first, at most `limit` rows), the clustering by likely cause, and the originals whose differences are intended. */
export function renderOriginalsHtml(report: Report, limit = 300): string {
  const bad = report.byOriginal.filter((r) => r.mismatched > 0);
  const intended = report.byOriginal.filter((r) => r.mismatched === 0 && r.intended > 0);
  const causeRows = report.causes
    .map(
      (c) =>
        `<tr><td><b>${c.cause}</b></td><td>${c.originals}</td><td>${c.requests}</td><td>${c.examples.map((e) => `<code>${escapeHtml(e)}</code>`).join('<br>')}</td></tr>`,
    )
    .join('');
  const head =
    '<tr><th>original</th><th>metadata</th><th>variants</th><th>matched</th><th>intended</th><th>mismatched</th><th>likely cause</th><th>categories</th><th>worst variant</th></tr>';
  const shown = report.byOriginal.slice(0, limit);
  return (
    `<h2 id="by-cause">Mismatched originals by likely cause</h2>
<p class="muted">A heuristic from each original's findings and metadata (colour space, ICC profile, alpha, bit depth, EXIF orientation); see gateway/src/compare/causes.ts.</p>
<table><tr><th>likely cause</th><th>originals</th><th>mismatched requests</th><th>examples</th></tr>${causeRows || '<tr><td colspan="4" class="ok">no mismatched original</td></tr>'}</table>
<h2 id="by-original">By original (${bad.length} of ${report.byOriginal.length + report.originalsOmitted} with ` +
    `mismatches${report.byOriginal.some((r) => r.allVariants) ? `, ${report.byOriginal.filter((r) => r.allVariants).length} on every variant` : ''})</h2>
<table id="originals">${head}${shown.map(originalRow).join('')}</table>` +
    `${
      report.byOriginal.length > limit || report.originalsOmitted
        ? `<p class="muted">${report.byOriginal.length - shown.length + report.originalsOmitted} more originals in report.json</p>`
        : ''
    }
<h3 id="intended-originals">Originals with intended differences only (${intended.length})</h3>
${
  intended.length
    ? `<table><tr><th>original</th><th>metadata</th><th>intended ` +
      `variants</th><th>reasons</th></tr>` +
      `${intended
        .map(
          (r) =>
            `<tr><td><code>${escapeHtml(r.path)}</code></td><td>${escapeHtml(describeOriginal(r.info))}</td><td>${r.intended} of ` +
            `${r.total}</td><td>${r.intendedReasons.map(escapeHtml).join('<br>')}</td></tr>`,
        )
        .join('')}</table>`
    : '<p class="muted">none</p>'
}`
  );
}

export function renderHtml(report: Report): string {
  const gate = report.gate.passed
    ? '<p class="gate ok">PASS: parity at or above the minimum, no status mismatch</p>'
    : `<p class="gate bad">FAIL: ${report.gate.reasons.map(escapeHtml).join('; ')}</p>`;
  const catRows = Object.entries(report.categories)
    .map(
      ([c, n]) =>
        `<tr><td>${c}</td><td>${n}</td><td>${report.intendedCategories[c as keyof Report['categories']]}</td><td>${report.findings[c as keyof Report['findings']]}</td></tr>`,
    )
    .join('');
  const lat = (name: 'legacy' | 'new') => {
    const l = report.latency[name];
    return `<tr><td>${name}</td><td>${l.count}</td><td>${ms(l.p50)}</td><td>${ms(l.p95)}</td><td>${ms(l.p99)}</td><td>${ms(l.max)}</td><td>${ms(l.ttfb.p50)}</td><td>${ms(l.ttfb.p95)}</td></tr>`;
  };
  const ratio = report.latency.ratio;
  const breakdown = report.breakdown
    .slice(0, 200)
    .map(
      (b) =>
        `<tr class="${b.mismatched ? 'badrow' : ''}"><td>${escapeHtml(b.route)}</td><td>${escapeHtml(b.w)}</td><td>${escapeHtml(b.h)}</td><td>` +
        `${escapeHtml(b.fit)}</td><td>${escapeHtml(b.format)}</td><td>${b.total}</td><td>${b.matched}</td><td>${b.intended}</td><td>` +
        `${b.mismatched}</td><td>${pct(b.parity)}</td><td>${escapeHtml(
          Object.entries(b.categories)
            .map(([c, n]) => `${c} ${n}`)
            .join(', '),
        )}</td><td>${ms(b.latency.legacy.p50)} / ${ms(b.latency.new.p50)}</td></tr>`,
    )
    .join('');
  const sig = report.signals;
  const input = report.input
    ? `<p>Input: ${report.input.lines} lines, ${report.input.accepted} replayable, refused ${report.input.refused.method} by method (${escapeHtml(
        Object.entries(report.input.refusedMethods)
          .map(([m, n]) => `${m} ${n}`)
          .join(', ') || 'none',
      )}), ${report.input.refused.route} by route, ${report.input.refused.unparseable} unparseable; ${report.input.duplicates} duplicates dropped, ` +
      `${report.input.sampledOut} sampled out; ${report.input.planned} replayed.</p>`
    : '';
  const mismatches = report.mismatches.map((r) => caseCard(r, report.thresholds)).join('\n');
  const intended = report.intendedCases.map((r) => caseCard(r, report.thresholds)).join('\n');
  const filterButtons = Object.entries(report.categories)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `<button type="button" data-filter="${c}">${c} (${n})</button>`)
    .join(' ');

  return (
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parity report: ${pct(report.parity)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222;max-width:1400px}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.ok{color:#176b2c}.bad{color:#b00020}.muted{color:#777}.badrow{background:#fff4f4}
.gate{font-weight:bold;font-size:1.1rem}.big{font-size:2rem;font-weight:bold}
.summary{display:flex;gap:2rem;flex-wrap:wrap}.summary div{min-width:8rem}
svg.hist text{font-size:10px;fill:#444}svg.hist rect.legacy{fill:#8c6bb1}svg.hist rect.new{fill:#2b8cbe}
.case{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.case h3{font-size:1rem;margin:.25rem 0}.tag{background:#b00020;color:#fff;border-radius:3px;padding:0 .4rem;font-size:.85rem}
.images{display:flex;gap:.75rem;flex-wrap:wrap}.images figure{margin:0;max-width:32%}
.images img{max-width:100%;max-height:360px;border:1px solid #ccc;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}
.images figure.none div{width:200px;height:120px;display:flex;align-items:center;justify-content:center;border:1px dashed #ccc;color:#999}
figcaption{text-align:center;color:#555}.sides td{width:50%}
button{margin:.1rem;cursor:pointer}button.active{background:#222;color:#fff}
</style></head>
<body>
<h1>Parity report</h1>
<p class="muted">generated ${escapeHtml(report.generatedAt)} · legacy ${escapeHtml(report.source.legacy ?? '?')} · new ` +
    `${escapeHtml(report.source.new ?? '?')}${report.source.from ? ` · from ${escapeHtml(report.source.from)}` : ''}${
      report.source.report ? ` · results ${escapeHtml(report.source.report)}` : ''
    }</p>
${gate}
<section id="summary" class="summary">
<div><div class="big" id="parity">${pct(report.parity)}</div>parity (min ${pct(report.minParity)})</div>
<div><div class="big">${report.total}</div>compared</div>
<div><div class="big ok">${report.matched}</div>matched</div>
<div><div class="big">${report.intended}</div>intended</div>
<div><div class="big bad">${report.mismatched}</div>mismatched</div>
<div><div class="big">${ratio.p50.toFixed(2)}×</div>p50 latency new/legacy</div>
</section>
${input}
<h2>Mismatches by category</h2>
<table><tr><th>category</th><th>mismatched requests</th><th>intended</th><th>all findings</th></tr>${catRows}</table>
<h2>Latency</h2>
<table><tr><th>backend</th><th>answers</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>ttfb p50</th><th>ttfb p95</th></tr>${lat('legacy')}${lat('new')}
<tr><td>new/legacy</td><td></td><td>${ratio.p50}×</td><td>${ratio.p95}×</td><td>${ratio.p99}×</td><td>${ratio.max}×</td><td></td><td></td></tr></table>
${latencyHistogramSvg(report.latency.histogram)}
<h2>Signals</h2>
<p>Over ${sig.ssim.count} image pairs of equal size. Thresholds: SSIM ≥ ${report.thresholds.ssimMin}, block max diff ≤ ` +
    `${report.thresholds.blockMaxDiff}, mean ΔE ≤ ${report.thresholds.deltaEMax}, blockiness ≤ ${report.thresholds.blockinessMax}×.</p>
<table><tr><th>signal</th><th>min</th><th>p01</th><th>p05</th><th>p50</th><th>max</th></tr>
<tr><td>structure: luma SSIM</td><td>${sig.ssim.min}</td><td>${sig.ssim.p01}</td><td>${sig.ssim.p05}</td><td>${sig.ssim.p50}</td><td>${sig.ssim.max}</td></tr>
<tr><td>colour: block max diff</td><td>${sig.blockMaxDiff.min}</td><td>${sig.blockMaxDiff.p01}</td><td>${sig.blockMaxDiff.p05}</td><td>${sig.blockMaxDiff.p50}</td><td>${sig.blockMaxDiff.max}</td></tr>
<tr><td>colour: mean ΔE</td><td>${sig.deltaE.min}</td><td>${sig.deltaE.p01}</td><td>${sig.deltaE.p05}</td><td>${sig.deltaE.p50}</td><td>${sig.deltaE.max}</td></tr>
<tr><td>compression: blockiness</td><td>${sig.blockiness.min}</td><td>${sig.blockiness.p01}</td><td>${sig.blockiness.p05}</td><td>${sig.blockiness.p50}</td><td>${sig.blockiness.max}</td></tr></table>
${report.byOriginal ? renderOriginalsHtml(report) : ''}
<h2>By parameter combination</h2>
<table><tr><th>route</th><th>w</th><th>h</th><th>fit</th><th>format</th><th>total</th><th>matched</th><th>intended</th><th>mismatched</th><th>parity` +
    `</th><th>categories</th><th>p50 legacy / new</th></tr>${breakdown}</table>
<h2 id="mismatches">Mismatches (${report.mismatched}${report.mismatchesOmitted ? `, ${report.mismatchesOmitted} not listed` : ''})</h2>
<p>${filterButtons}${filterButtons ? ' <button type="button" data-filter="">all</button>' : ''}</p>
<section id="mismatch-list">${mismatches || '<p class="ok">none</p>'}</section>
<h2 id="intended">Intended differences (${report.intended}${report.intendedOmitted ? `, ${report.intendedOmitted} not listed` : ''})</h2>
<section id="intended-list">${intended || '<p class="muted">none</p>'}</section>
<script>
document.querySelectorAll('button[data-filter]').forEach(function (b) {
  b.addEventListener('click', function () {
    var f = b.getAttribute('data-filter');
    document.querySelectorAll('button[data-filter]').forEach(function (o) { o.classList.toggle('active', o === b && f !== ''); });
    document.querySelectorAll('#mismatch-list .case').forEach(function (c) {
      c.style.display = !f || c.getAttribute('data-category') === f ? '' : 'none';
    });
  });
});
</script>
</body></html>
`
  );
}
