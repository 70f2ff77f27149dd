/**
 * `storage-down`: storage refuses connections. Every answer must be an immediate 502
 * storage_unavailable, /readyz must say so, and both must recover once storage is back.
 */
import { percentileOrNaN } from '../../common/stats.ts';
import { runLoad } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { rigFor } from './storage-rig.ts';
import { adminUrl, Checks, fmt, poll, result, summarise, variant, type Context, type ScenarioResult } from './rig.ts';

export async function storageDown(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const rig = await rigFor(ctx);
  await rig.proxy.setMode({ kind: 'refuse' });
  const report = await runLoad({
    target: (i) => `${rig.service.url}/image/files/${i % 4 === 0 ? ctx.photos[i % ctx.photos.length] : variant(ctx, i)}`,
    connections: 8,
    durationMs: ctx.t.loadMs / 2,
    timeoutMs: 15_000,
    keepBodies: true,
  });
  const ready = await fetch(`${adminUrl(rig.service)}/readyz`);
  const readyBody = (await ready.json()) as { error?: string };
  const codes = new Set(report.results.map((r) => (r.body ? (JSON.parse(r.body.toString() || '{}') as { error?: string }).error : undefined)));
  const p99 = percentileOrNaN(
    report.results.map((r) => r.ms),
    0.99,
  );
  await rig.proxy.setMode({ kind: 'pass' });
  const readyAgain = await poll(async () => (await fetch(`${adminUrl(rig.service)}/readyz`)).status === 200, 5000);
  const servedAgain = (await fetch(`${rig.service.url}/image/files/${variant(ctx, 3)}`)).status === 200;

  checks.check(
    'every answer is 502 storage_unavailable',
    report.results.every((r) => r.status === 502) && codes.size === 1 && codes.has('storage_unavailable'),
  );
  checks.check('answered at once (p99 < 1 s), nothing lost', p99 < 1000 && report.lost === 0 && report.refused === 0);
  checks.check('/readyz 503 storage_unavailable while down', ready.status === 503 && readyBody.error === 'storage_unavailable');
  checks.check('/readyz 200 and images served once storage is back', readyAgain !== undefined && servedAgain);
  return result(
    'storage-down',
    report,
    checks,
    peakRssMb(rig.service.process.pid),
    `storage refuses connections; ${summarise(report.results)}; p99 ${fmt(p99)} ms; /readyz ${ready.status} then 200 after ${fmt(readyAgain ?? Number.NaN)} ms`,
  );
}
