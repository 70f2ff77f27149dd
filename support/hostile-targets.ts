/**
 * Hostile request targets for the front door, and the property they must not break: raw targets
 * (percent-encodings of '/', '.', '\', NUL and unreserved characters in both hex cases, dot
 * segments, '//', ';', backslashes, overlong paths, query tricks) sent byte for byte over a
 * socket (node's HTTP client and fetch would normalise or refuse some of them), and the oracle
 * that says what may reach the new service: a target in normal form under /image/files/, nothing
 * else, and never its /metrics, /readyz or /healthz.
 *
 * Shared by gateway/test/frontdoor-hostile-targets.int.test.ts (the property test) and the chaos
 * scenario `hostile-targets` (scripts/chaos/hostile-targets.ts).
 */
import fc from 'fast-check';
import net from 'node:net';
import { HOT_PREFIX } from '../common/contract.ts';

/**
 * PURE: whether a request target is in normal form on the hot route: an absolute path under
 * /image/files/ of unreserved and sub-delim characters (no percent-encoding, no ';' or '\'),
 * without empty (a trailing '/' aside), '.' or '..' segments: a path that means what it says,
 * with one reading for nginx and the service. (An empty or trailing-slash key is still normal form:
 * the service refuses it itself, 400 invalid_key.) The query string is not judged (it is not
 * routed on). Written independently of the front door's own rule, so that a slip there shows here.
 */
export function isNormalHotTarget(target: string): boolean {
  const q = target.indexOf('?');
  const pathPart = q < 0 ? target : target.slice(0, q);
  if (!pathPart.startsWith(HOT_PREFIX)) return false;
  if (!/^[A-Za-z0-9._~!$&'()*+,=:@/-]+$/.test(pathPart)) return false;
  const segments = pathPart.slice(1).split('/');
  return segments.every((s, i) => (s !== '' || i === segments.length - 1) && s !== '.' && s !== '..');
}

/**
 * PURE: what in a response body shows that the new service's internal endpoints answered:
 * Prometheus exposition text (/metrics), or its health JSON (/healthz carries its pid; /readyz
 * says ready / not_ready / shutting_down). Legacy's own health (`{"status":"ok"}`) is public.
 */
export function internalAnswer(body: string): 'metrics' | 'health' | undefined {
  if (/^# (?:HELP|TYPE) \w+/m.test(body) || /^process_cpu_seconds_total /m.test(body)) return 'metrics';
  try {
    const j = JSON.parse(body) as Record<string, unknown> | null;
    if (j && typeof j === 'object' && ('pid' in j || ['ready', 'not_ready', 'shutting_down'].includes(String(j.status)))) return 'health';
  } catch {
    /* not JSON */
  }
  return undefined;
}

const hex = (c: string) => c.charCodeAt(0).toString(16).padStart(2, '0');
/** One character percent-encoded, in lower or upper case hex. */
const encoded = (chars: string) => fc.tuple(fc.constantFrom(...chars.split('')), fc.boolean()).map(([c, upper]) => `%${upper ? hex(c).toUpperCase() : hex(c)}`);

const prefixes = [
  '/image/files/',
  '/image/files',
  '/image//files/',
  '//image/files/',
  '/IMAGE/files/',
  '/image/Files/',
  '/image/files//',
  '/image/files/./',
  '/image/files/../',
  '/image/',
  '/',
  '/image%2Ffiles%2F',
  '/image%2ffiles/',
  '/%69mage/files/',
  '/image/files%2F',
  '/image\\files\\',
  '\\image\\files\\',
  '/image;x=1/files/',
  '/image/files;/',
  '/metrics',
  '/healthz',
  '/readyz',
  '/image/health',
  '/_frontdoor/mirror/images',
  '/_frontdoor/',
  '',
  '*',
  'http://127.0.0.1/image/files/',
];

const tokens = [
  'tiny.png',
  'metrics',
  'healthz',
  'readyz',
  '..',
  '.',
  '%2e',
  '%2E',
  '%2e%2e',
  '%2E%2e',
  '.%2e',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  '%00',
  '%252e%252e',
  '%25',
  '%',
  '%zz',
  ';',
  ';jsessionid=1',
  '//',
  '/',
  'a',
  'image',
  'files',
  '_frontdoor',
  'mirror',
  '%3F',
  '%23',
  '%20',
  '~',
];

const queries = [
  '',
  '?w=8',
  '?w=8&w=9',
  '?w=%38',
  '?w=08',
  '?w=+8',
  '?/../metrics',
  '?../../healthz',
  '??w=8',
  '?w=8#frag',
  '#frag',
  '?w=8;h=8',
  '?s=abc',
  '?%2e%2e=1',
  '?w=8&format=webp',
  '?',
  '?&&&',
];

/** A raw request target: a prefix, up to 6 pieces (tokens, encoded characters, overlong runs), a query. */
const composedTarget: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(...prefixes),
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...tokens) },
        { weight: 2, arbitrary: encoded('/.\\\x00') },
        { weight: 2, arbitrary: encoded('AZaz09-._~') },
        { weight: 1, arbitrary: fc.integer({ min: 200, max: 9000 }).map((n) => 'a'.repeat(n)) },
      ),
      { maxLength: 6 },
    ),
    fc.array(fc.constantFrom('/', ''), { minLength: 6, maxLength: 6 }),
    fc.constantFrom(...queries),
  )
  .map(([prefix, pieces, joins, query]) => prefix + pieces.map((p, i) => (i === 0 ? p : joins[i] + p)).join('') + query);

/**
 * A real variant's target with at most one hostile piece spliced in somewhere: most of these are
 * one step from a target the new service serves, which is where a normalisation slip hides.
 */
const nearTarget: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('tiny.png', 'gen-exif-6.jpg', 'sub/../tiny.png', 'TINY.png', 'tiny.png/'),
    fc.integer({ min: 1, max: 40 }),
    fc.oneof(fc.constant(''), fc.constantFrom(...tokens), encoded('/.\\\x00'), encoded('AZaz09-._~')),
    fc.nat(),
  )
  .map(([key, w, piece, at]) => {
    const clean = `${HOT_PREFIX}${key}?w=${w}`;
    const i = at % (clean.length + 1);
    return clean.slice(0, i) + piece + clean.slice(i);
  });

export const hostileTarget: fc.Arbitrary<string> = fc.oneof({ weight: 3, arbitrary: composedTarget }, { weight: 2, arbitrary: nearTarget });

export interface RawAnswer {
  target: string;
  /** 0 when no status line came back. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** 'answered', or why not: 'timeout', 'reset', ... */
  outcome: string;
}

/**
 * Sends one GET with this exact request target (nothing normalised, nothing refused on the
 * client side) and reads the whole answer (`Connection: close`). Bounded by `timeoutMs`.
 */
export function sendRawGet(
  host: string,
  port: number,
  target: string,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const socket = net.connect(port, host);
    const finish = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ target, outcome, ...parseAnswer(Buffer.concat(chunks)) });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 10_000);
    const extra = Object.entries(options.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`));
    socket.on('data', (c: Buffer) => {
      // Enough to judge any answer; nothing the front door should send is larger.
      if (size < 4 * 1024 * 1024) chunks.push(c);
      size += c.length;
    });
    socket.on('end', () => finish('answered'));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(chunks.length > 0 ? 'answered' : (err.code ?? 'error')));
  });
}

/** PURE: status, headers and (de-chunked) body of a raw HTTP/1.1 answer. */
export function parseAnswer(raw: Buffer): { status: number; headers: Record<string, string>; body: string } {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = end < 0 ? '' : text.slice(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const n = nl < 0 ? 0 : parseInt(rest.slice(0, nl), 16);
      if (!n) break;
      out += rest.slice(nl + 2, nl + 2 + n);
      rest = rest.slice(nl + 2 + n + 2);
    }
    body = out;
  }
  return { status: m ? Number(m[1]) : 0, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

/**
 * The `url` of every request line in the new service's pino log (JSON lines, msg "request"), from
 * its stdout as it arrives.
 */
export function collectAccessLog(stream: NodeJS.ReadableStream): { urls: () => string[] } {
  const urls: string[] = [];
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const j = JSON.parse(line) as { msg?: string; url?: unknown };
        if (j.msg === 'request' && typeof j.url === 'string') urls.push(j.url);
      } catch {
        /* not a log line */
      }
    }
  });
  return { urls: () => [...urls] };
}

/** Targets that reached internal endpoints through front doors like this one. */
export const KNOWN_ATTACKS: readonly string[] = [
  '/image%2Ffiles%2Fz/../metrics',
  '/image/files/%2e%2e/%2e%2e/metrics',
  '/image/files/..%2f..%2fhealthz',
  '/image/files/../../readyz',
  '/image/files/a/..%5c..%5cmetrics',
  '/image/files/tiny.png;/../../../metrics',
  '/image/files//../../healthz',
  '/image/files/tiny.png%00/../../../readyz',
  '/image/files/%2E%2E%2F%2E%2E%2Fmetrics',
  '/image/files/tiny.png?w=8',
];

export interface HostileRun {
  runs: number;
  seed: number;
  /** Every answer, in the order sent (shrinking's retries included). */
  answers: RawAnswer[];
  /** fast-check's counterexample for a per-answer failure (an internal endpoint answered, no answer). */
  counterexample?: string;
  failure?: string;
  /** Targets the new service logged that are not normal-form hot targets. */
  offending: string[];
  /** Everything the new service logged during the run. */
  reached: string[];
  /** Answers with a 5xx: a hostile target is the client's mistake, a 4xx. */
  serverErrors: RawAnswer[];
}

/**
 * The property run: `runs` seeded hostile targets through the front door at `front`, each checked
 * at once (an answer came; it is not the new service's metrics or health), then the new service's
 * access log checked as a whole (only normal-form hot targets). `headers` go on every request
 * (the override header, to pin hot requests on the new service).
 */
export async function runHostileTargets(options: {
  front: { host: string; port: number };
  accessLog: { urls: () => string[] };
  runs: number;
  seed: number;
  headers?: Record<string, string>;
  /** Targets tried first, whatever the seed (known attacks). Default KNOWN_ATTACKS. */
  examples?: readonly string[];
}): Promise<HostileRun> {
  const answers: RawAnswer[] = [];
  const before = options.accessLog.urls().length;
  const details = await fc.check(
    fc.asyncProperty(hostileTarget, async (target) => {
      const a = await sendRawGet(options.front.host, options.front.port, target, { headers: options.headers ?? {}, timeoutMs: 10_000 });
      answers.push(a);
      if (a.outcome !== 'answered' || a.status === 0) throw new Error(`no HTTP answer (${a.outcome}) for ${JSON.stringify(target)}`);
      const internal = internalAnswer(a.body);
      if (internal) throw new Error(`the new service's ${internal} endpoint answered ${JSON.stringify(target)} with ${a.status}: ${a.body.slice(0, 80)}`);
    }),
    { numRuns: options.runs, seed: options.seed, endOnFailure: false, examples: (options.examples ?? KNOWN_ATTACKS).map((t) => [t] as [string]) },
  );
  // The service logs a request before it answers it; give the pipe a moment to deliver the last lines.
  await new Promise((r) => setTimeout(r, 300));
  const reached = options.accessLog.urls().slice(before);
  return {
    runs: options.runs,
    seed: options.seed,
    answers,
    ...(details.failed ? { counterexample: JSON.stringify(details.counterexample?.[0]), failure: String(details.errorInstance ?? 'property failed') } : {}),
    offending: reached.filter((u) => !isNormalHotTarget(u)),
    reached,
    serverErrors: answers.filter((a) => a.status >= 500),
  };
}
