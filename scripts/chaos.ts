/**
 * `npm run chaos`: faults and overload against the real stack, each measured as requests sent,
 * client-visible errors and requests lost, printed as a table with a verdict per scenario.
 *
 *   CHAOS_SHORT=1        a few seconds per scenario (what support/test/chaos.int.test.ts runs)
 *   CHAOS_ONLY=a,b       run only these scenarios (names as in the table)
 *   CHAOS_JSON=file      also write the results as JSON (the test reads it)
 *
 * Exit code 0 when every verdict is PASS, 1 otherwise. Loopback only; every load is bounded in
 * time and count. Columns:
 * - requests: requests the load generator sent (retries on a reused keep-alive connection are
 *   the same request and are counted once, in the notes);
 * - client-visible errors: answers a client would take as a failure (any 5xx, a refused
 *   connection, or no answer), including the ones a scenario provokes on purpose (a 503 when
 *   shedding load, a 504 when storage is slow): the verdict says whether they were the right ones;
 * - lost: requests that went out and got no complete answer at all (reset, cut, or hung);
 * - peak RSS: the image service's VmHWM (kernel high-water mark of its resident memory).
 *
 * One scenario per file under scripts/chaos/, sharing scripts/chaos/rig.ts (result record, checks,
 * helpers) and scripts/chaos/storage-rig.ts (versitygw behind a delaying proxy); this file holds the
 * options, the list of scenarios, the run loop and the table (scripts/chaos/table.ts renders it).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../common/paths.ts';
import { prepare } from './chaos/prepare.ts';
import { RSS_BUDGET_MB, type Scenario, type ScenarioResult } from './chaos/rig.ts';
import { stopStorageRig } from './chaos/storage-rig.ts';
import { renderTable } from './chaos/table.ts';

import { connectionFlood } from './chaos/connection-flood.ts';
import { hostileTargets } from './chaos/hostile-targets.ts';
import { killedUnderStart } from './chaos/killed-under-start.ts';
import { newHung } from './chaos/new-hung.ts';
import { overload5x } from './chaos/overload-5x.ts';
import { overloadShare100 } from './chaos/overload-share-100.ts';
import { phpFpmDown } from './chaos/php-fpm-down.ts';
import { reloads20 } from './chaos/reloads-20.ts';
import { replicas } from './chaos/replicas.ts';
import { sigkillShare50 } from './chaos/sigkill-share-50.ts';
import { sigtermUnderLoad } from './chaos/sigterm-under-load.ts';
import { storageDown } from './chaos/storage-down.ts';
import { storageSlow } from './chaos/storage-slow.ts';

export { RSS_BUDGET_MB, type ScenarioResult };

// In this order (the table's). Several scenarios read X-Image-Backend / X-Image-Fallback to tell
// who served a request: their stacks set the route's debug_headers (off by default, so that
// clients do not see inside).
const scenarios: Scenario[] = [
  { name: 'sigkill-share-50', run: sigkillShare50 },
  { name: 'storage-slow', run: storageSlow },
  { name: 'storage-down', run: storageDown },
  { name: 'overload-5x', run: overload5x },
  { name: 'reloads-20', run: reloads20 },
  { name: 'php-fpm-down', run: phpFpmDown },
  { name: 'sigterm-under-load', run: sigtermUnderLoad },
  { name: 'new-hung', run: newHung },
  { name: 'overload-share-100', run: overloadShare100 },
  { name: 'hostile-targets', run: hostileTargets },
  { name: 'connection-flood', run: connectionFlood },
  { name: 'new-killed-under-start', run: killedUnderStart },
  { name: 'replicas-3', run: replicas },
];

// --- running and printing ------------------------------------------------------------------------------

export async function runChaos(env: Record<string, string | undefined> = process.env): Promise<ScenarioResult[]> {
  const short = env.CHAOS_SHORT === '1' || env.CHAOS_SHORT === 'true';
  const only = env.CHAOS_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only?.filter((n) => !scenarios.some((s) => s.name === n)) ?? [];
  if (unknown.length) throw new Error(`CHAOS_ONLY: unknown scenario(s) ${unknown.join(', ')}; expected some of ${scenarios.map((s) => s.name).join(', ')}`);
  mkdirSync(path.join(projectRoot, 'var', 'run'), { recursive: true });
  const ctx = await prepare(short);
  const results: ScenarioResult[] = [];
  try {
    for (const s of scenarios) {
      if (only && !only.includes(s.name)) continue;
      process.stderr.write(`chaos: ${s.name} ...\n`);
      const started = performance.now();
      try {
        results.push(await s.run(ctx));
      } catch (err) {
        results.push({
          name: s.name,
          requests: 0,
          clientErrors: 0,
          lost: 0,
          peakRssMb: undefined,
          verdict: 'FAIL',
          notes: `the scenario itself failed: ${err instanceof Error ? err.message : String(err)}`,
          checks: [],
        });
      }
      process.stderr.write(`chaos: ${s.name} ${results.at(-1)!.verdict} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await stopStorageRig();
    rmSync(ctx.workDir, { recursive: true, force: true });
  }
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const results = await runChaos();
  process.stdout.write(`${renderTable(results)}\n`);
  if (process.env.CHAOS_JSON) writeFileSync(process.env.CHAOS_JSON, JSON.stringify(results, null, 2));
  process.exit(results.every((r) => r.verdict === 'PASS') ? 0 : 1);
}
