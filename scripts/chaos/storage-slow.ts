/**
 * `storage-slow`: storage answers, but 3 s late per chunk. Every answer must be a 504 timeout or a
 * 503 overloaded within its deadline, nothing may hang, slots, queue and storage connections stay
 * bounded, and the service serves again once storage is fast.
 */
import { runLoad } from './keepalive-load.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { rigFor } from './storage-rig.ts';
import { Checks, fmt, gauge, poll, result, sampleMax, summarise, variant, type Context, type ScenarioResult } from './rig.ts';

export async function storageSlow(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const rig = await rigFor(ctx);
  await rig.proxy.setMode({ kind: 'delay', ms: 3000 });
  rig.proxy.resetStats();
  const inFlight = sampleMax(() => gauge(rig.service, 'image_resizes_in_flight'));
  const queued = sampleMax(() => gauge(rig.service, 'image_resize_queue_depth'));
  const connections = 24;
  const report = await runLoad({
    // One in four a plain download (no slot, straight to storage), the rest resizes.
    target: (i) => `${rig.service.url}/image/files/${i % 4 === 0 ? ctx.photos[i % ctx.photos.length] : variant(ctx, i)}`,
    connections,
    durationMs: ctx.t.loadMs,
    timeoutMs: 15_000,
  });
  const maxInFlight = await inFlight.stop();
  const maxQueued = await queued.stop();
  const storageConnections = rig.proxy.stats().maxOpen;
  const answered = report.results.filter((r) => r.outcome === 'answered');
  const worst = Math.max(...report.results.map((r) => r.ms));
  const downloads = report.results.filter((r) => !r.url.includes('?'));
  const worstDownload = Math.max(...downloads.map((r) => r.ms));

  await rig.proxy.setMode({ kind: 'pass' });
  const recovered = await poll(async () => (await fetch(`${rig.service.url}/image/files/${variant(ctx, 7)}`)).status === 200, 5000);

  checks.check(
    'every answer is 504 timeout or 503 overloaded',
    answered.every((r) => r.status === 504 || r.status === 503),
  );
  checks.check('no request hung or was cut (lost 0, refused 0)', report.lost === 0 && report.refused === 0);
  checks.check(`every answer within the request deadline (${rig.requestTimeoutMs} ms + 1 s)`, worst < rig.requestTimeoutMs + 1000);
  checks.check(`downloads answered within the storage deadline (${rig.storageTimeoutMs} ms + 1 s)`, worstDownload < rig.storageTimeoutMs + 1000);
  checks.check(`resizes in flight <= ${rig.concurrency}, queue <= ${rig.queueLimit}`, maxInFlight <= rig.concurrency && maxQueued <= rig.queueLimit);
  checks.check(`storage connections <= client connections + slots (${connections + rig.concurrency})`, storageConnections <= connections + rig.concurrency);
  checks.check('serves again once storage is fast', recovered !== undefined);
  return result(
    'storage-slow',
    report,
    checks,
    peakRssMb(rig.service.process.pid),
    `storage +3 s per chunk; ${summarise(report.results)}; worst ${fmt(worst)} ms (downloads ${fmt(worstDownload)} ms); ` +
      `max ${maxInFlight} resizes in flight, ${maxQueued} queued, ${storageConnections} storage connections; recovered in ${fmt(recovered ?? Number.NaN)} ms`,
  );
}
