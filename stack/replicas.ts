/**
 * Several image-service replicas on one machine (npm start with IMAGE_SERVICE_REPLICAS): how
 * many, on which ports, and how much work each may take at once. PURE.
 */
import { MAX_REPLICAS } from '../gateway/src/cutover/schema.ts';

/**
 * Replica i listens `i * REPLICA_PORT_STEP` above the first one, public and admin alike: 8082,
 * 8182, 8282 ... (admin 9082, 9182, 9282 ...). A fixed step keeps every replica's address
 * predictable for operators (curl, /metrics) and leaves the ports between free for other tools.
 */
export const REPLICA_PORT_STEP = 100;

/** The documented pair of the first replica under npm start: public 8082, admin 9082 (then 8182/9182, ...). */
export const DOCUMENTED_SERVICE_PORT = 8082;
export const DOCUMENTED_ADMIN_OFFSET = 1000;

/** `IMAGE_SERVICE_REPLICAS` -> a count, or the message that says what was expected. Unset or empty: `fallback`. */
export function parseReplicaCount(raw: string | undefined, fallback = 1): { ok: true; value: number } | { ok: false; error: string } {
  if (raw === undefined || raw === '') return { ok: true, value: fallback };
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw.trim()) || n < 1 || n > MAX_REPLICAS) {
    return {
      ok: false,
      error: `IMAGE_SERVICE_REPLICAS: expected an integer from 1 to ${MAX_REPLICAS} (image-service processes behind the front door), got '${raw}'`,
    };
  }
  return { ok: true, value: n };
}

/** The ports of `replicas` replicas whose first listens on `first`; throws when the last would pass 65535. */
export function replicaPorts(first: number, replicas: number): number[] {
  const ports = Array.from({ length: replicas }, (_, i) => first + i * REPLICA_PORT_STEP);
  if (ports.at(-1)! > 65535) {
    throw new Error(`${replicas} replicas from port ${first} need ports up to ${ports.at(-1)} (step ${REPLICA_PORT_STEP}): expected a lower first port`);
  }
  return ports;
}

/**
 * The admin port of the replica on `port`: ADMIN_PORT (the first replica's) stepped like the
 * public ports when it is set; the documented pair (public + 1000) on the documented ports;
 * otherwise undefined (any free port).
 */
export function replicaAdminPort(index: number, port: number, adminPortOfFirst: number | undefined): number | undefined {
  if (adminPortOfFirst !== undefined) return adminPortOfFirst + index * REPLICA_PORT_STEP;
  return port === DOCUMENTED_SERVICE_PORT + index * REPLICA_PORT_STEP ? port + DOCUMENTED_ADMIN_OFFSET : undefined;
}

/**
 * Resizes each replica may run at once (its CONCURRENCY) when several share one machine. A
 * service alone takes one per core; N replicas on the same cores would take N per core, and
 * libvips' threads would fight over them (every p99 up, throughput no better). So the cores are
 * divided: floor(cpus / replicas), at least 1 (3 replicas on 2 cores: 1 each, 3 resizes at once,
 * the least that keeps every replica serving). Replicas on a machine of their own would not
 * want this: CONCURRENCY set by hand wins.
 */
export function replicaConcurrency(cpus: number, replicas: number): number {
  return Math.max(1, Math.floor(cpus / Math.max(1, replicas)));
}

/** Name of a replica in the supervisor's log lines: 'image service' alone, 'image service 2/3 (:8182)' among several. */
export function replicaName(index: number, replicas: number, port: number): string {
  return replicas === 1 ? 'image service' : `image service ${index + 1}/${replicas} (:${port})`;
}
