/**
 * `php-fpm-down`: legacy's PHP-FPM is stopped at share 100. Legacy routes must answer a JSON 502
 * from nginx, the hot route (all on new) must not notice, and legacy must answer again once
 * PHP-FPM is back.
 */
import path from 'node:path';
import { runLoad } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startStack } from '../../stack/stack.ts';
import { Checks, fmt, poll, result, summarise, variant, type Context, type ScenarioResult } from './rig.ts';

export async function phpFpmDown(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-fpm'),
    share: 100,
    cutover: { debug_headers: true },
    serviceEnv: { CONCURRENCY: '2' },
  });
  try {
    const front = stack.frontDoor.url;
    await stack.legacy.stopFpm();
    const legacyProbes = await Promise.all([
      fetch(`${front}/image/health`),
      fetch(`${front}/image/files`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ files: ['x.jpg'] }) }),
      (() => {
        const form = new FormData();
        form.append('file', new Blob([Buffer.from('not really an image')]), 'x.jpg');
        return fetch(`${front}/image/files`, { method: 'POST', body: form });
      })(),
      fetch(`${front}/no/such/path`),
    ]);
    const probeAnswers = await Promise.all(
      legacyProbes.map(async (r) => {
        const text = await r.text();
        let json: boolean;
        try {
          JSON.parse(text);
          json = true;
        } catch {
          json = false;
        }
        return { status: r.status, json: json && (r.headers.get('content-type') ?? '').includes('application/json'), text: text.slice(0, 100) };
      }),
    );
    const report = await runLoad({ target: (i) => `${front}/image/files/${variant(ctx, i)}`, connections: 6, durationMs: ctx.t.loadMs, timeoutMs: 15_000 });
    const fromNew = report.results.filter((r) => r.status === 200 && r.headers['x-image-backend'] === 'new').length;
    await stack.legacy.startFpm();
    const back = await poll(async () => (await fetch(`${front}/image/health`)).status === 200, 10_000);

    checks.check(
      'legacy routes answer a JSON 502 from nginx',
      probeAnswers.every((a) => a.status === 502 && a.json),
    );
    checks.check('the hot route at share 100 is unaffected (all 200 from new)', fromNew === report.sent && report.sent > 0);
    checks.check('legacy answers again once PHP-FPM is back', back !== undefined);
    return result(
      'php-fpm-down',
      report,
      checks,
      peakRssMb(stack.service.process.pid),
      `legacy routes while down: ` +
        `${probeAnswers.map((a) => `${a.status}${a.json ? ' JSON' : ' not JSON'}${a.status === 502 ? '' : ` ${a.text}`}`).join(', ')}; hot route: ` +
        `${summarise(report.results)}, ${fromNew} from new; legacy back after ${fmt(back ?? Number.NaN)} ms`,
    );
  } finally {
    await stack.stop();
  }
}
