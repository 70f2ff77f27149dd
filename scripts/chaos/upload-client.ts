/**
 * A client of legacy's uploads in a process of its own, for `overload-share-100`: the scenario's
 * own process also drives the overload, and a shared event loop would add its queueing to every
 * upload's latency (measured: a p99 twice the quiet one with nothing but the load generator busy).
 *
 *   node --import tsx scripts/chaos/upload-client.ts <front door URL> <key prefix> <body file>
 *
 * Uploads one at a time until SIGTERM (or 10,000 uploads), then prints one JSON line:
 * [{ "ms": 3.1, "status": 201 }, ...].
 */
import { readFileSync } from 'node:fs';

const [front, prefix, bodyFile] = process.argv.slice(2);
if (!front || !prefix || !bodyFile) {
  process.stderr.write('usage: upload-client.ts <front door URL> <key prefix> <body file>\n');
  process.exit(2);
}
const body = readFileSync(bodyFile);
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

const out: Array<{ ms: number; status: number }> = [];
for (let i = 0; !stopping && i < 10_000; i++) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(body)], { type: 'image/jpeg' }), 'up.jpg');
  form.append('key', `chaos-upload/${prefix}-${i}.jpg`);
  const t0 = performance.now();
  try {
    const res = await fetch(`${front}/image/files`, { method: 'POST', body: form, signal: AbortSignal.timeout(15_000) });
    await res.arrayBuffer();
    out.push({ ms: performance.now() - t0, status: res.status });
  } catch {
    out.push({ ms: performance.now() - t0, status: 0 });
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
