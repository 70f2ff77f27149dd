/**
 * ipx 3.1.1 as its users run it: createIPX over its file-system storage, served by its own Node
 * server (h3), with ipx's own sharp (0.34, a dependency of ipx, not the service's 0.35). No options
 * beyond the storage directory, so it runs with ipx's defaults (see bench/lib/peers.ts for what
 * those are). Env: IPX_BENCH_DIR (the originals), IPX_BENCH_PORT; listens on 127.0.0.1 only.
 */
import { createServer } from 'node:http';
import { createIPX, createIPXNodeServer, ipxFSStorage } from 'ipx';

const dir = process.env.IPX_BENCH_DIR;
const port = Number(process.env.IPX_BENCH_PORT);
if (!dir || !Number.isInteger(port) || port <= 0) {
  process.stderr.write('ipx-server: expected IPX_BENCH_DIR (the originals) and IPX_BENCH_PORT (a port number)\n');
  process.exit(2);
}
// autoOrient: ipx's default leaves EXIF orientation unapplied (its URL API has no way to ask for it), which
// renders portrait phone photos sideways and smaller; the contract, the service and thumbor (RESPECT_ORIENTATION) apply it.
const ipx = createIPX({ storage: ipxFSStorage({ dir }), sharpOptions: { autoOrient: true } });
createServer(createIPXNodeServer(ipx)).listen(port, '127.0.0.1', () => process.stderr.write(`ipx-server: listening on 127.0.0.1:${port}\n`));
