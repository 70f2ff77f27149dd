/**
 * `connection-flood`: one client opens thousands of connections to the front door that each send
 * half a request header (slowloris: nginx cannot reclaim them as idle), and holds them (support/connection-flood.ts), while real
 * clients keep a steady load on the hot route (share 100) and on legacy, and new clients
 * arrive. The real clients must not notice: no client error, nothing lost, p99 within 2x (+ 20 ms)
 * of the same load without the flood (measured first, in the same run), every new client served.
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import path from 'node:path';
import { percentileOrNaN } from '../../common/stats.ts';
import { openFlood } from '../../support/connection-flood.ts';
import { peakRssMb } from '../../support/proc-stats.ts';
import { startStack } from '../../stack/stack.ts';
import { runLoad } from './keepalive-load.ts';
import { Checks, fmt, isClientError, result, summarise, tiny, type Context, type ScenarioResult } from './rig.ts';

/** Connections held by the flood: more than twice the 4096 slots the front door once had. */
const FLOOD = 10_000;
/** Requests per second of the real clients: cheap thumbnails, one in 4 to legacy's own path. */
const RATE = 40;
/**
 * The load's length, calm and flooded: within the front door's client_header_timeout (10 s), after
 * which it cuts the flood's connections off (the flood would have to open them again).
 */
const FLOODED_MS = 8000;
/** Clients that connect while the flood holds its connections, one request each. */
const FRESH_CLIENTS = 20;

/** The status of one GET on a new connection (0: refused, reset or no answer within 10 s). */
function freshClientStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export async function connectionFlood(ctx: Context): Promise<ScenarioResult> {
  const checks = new Checks();
  const stack = await startStack({
    storageDir: ctx.storageDir,
    runDir: path.join(ctx.workDir, 'stack-flood'),
    share: 100,
    cutover: { debug_headers: true },
    serviceEnv: { CONCURRENCY: '2' },
  });
  try {
    const front = new URL(stack.frontDoor.url);
    const load = (offset: number) =>
      runLoad({
        target: (i) => (i % 4 === 3 ? `${stack.frontDoor.url}/image/health` : `${stack.frontDoor.url}/image/files/${tiny(offset + i)}`),
        connections: 32,
        rate: RATE,
        durationMs: Math.min(ctx.t.loadMs, FLOODED_MS),
        timeoutMs: 30_000,
      });
    await load(1_000_000); // warm-up
    const calm = await load(0);
    const calmP99 = percentileOrNaN(
      calm.results.map((r) => r.ms),
      0.99,
    );

    const opened = performance.now();
    const flood = await openFlood(front.hostname, Number(front.port), FLOOD, 'half-header');
    const openMs = performance.now() - opened;
    let flooded;
    let stillOpen;
    const fresh: number[] = [];
    try {
      // The load's clients keep the connections they had before the flood; a client arriving
      // now needs a slot of its own.
      for (let i = 0; i < FRESH_CLIENTS; i++) fresh.push(await freshClientStatus(`${stack.frontDoor.url}/image/files/${tiny(3_000_000 + i)}`));
      flooded = await load(2_000_000);
      stillOpen = flood.open();
    } finally {
      flood.close();
    }
    const floodedP99 = percentileOrNaN(
      flooded.results.map((r) => r.ms),
      0.99,
    );
    const errors = flooded.results.filter(isClientError).length;
    const log = readFileSync(path.join(stack.frontDoor.runDir, 'logs/error.log'), 'utf8');

    checks.check('without the flood: every answer 200', calm.results.length > 0 && calm.results.every((r) => r.status === 200));
    checks.check(`the flood's ${FLOOD} connections stayed open through the load`, stillOpen === FLOOD);
    checks.check('under the flood: zero client errors, nothing lost', flooded.results.length > 0 && errors === 0 && flooded.lost === 0);
    checks.check(`under the flood: p99 <= 2x the calm p99 + 20 ms (${fmt(calmP99)} ms)`, floodedP99 <= 2 * calmP99 + 20);
    checks.check(
      `under the flood: ${FRESH_CLIENTS} new clients, each on a connection of its own, all answered 200`,
      fresh.every((st) => st === 200),
    );
    checks.check("the front door never ran out of connection slots ('worker_connections are not enough')", !log.includes('worker_connections are not enough'));
    return result(
      'connection-flood',
      flooded,
      checks,
      peakRssMb(stack.service.process.pid),
      `${FLOOD} connections from one client (each sending half a request header, slowloris) opened in ${fmt(openMs)} ms and held, ${stillOpen} still open at the end; ` +
        `${RATE} rps of real clients (3 in 4 hot, 1 in 4 legacy): p99 ${fmt(calmP99)} ms without the flood, ${fmt(floodedP99)} ms with it; ${summarise(flooded.results)}; ` +
        `${FRESH_CLIENTS} new clients during the flood: ${fresh.filter((st) => st === 200).length} answered 200`,
    );
  } finally {
    await stack.stop();
  }
}
