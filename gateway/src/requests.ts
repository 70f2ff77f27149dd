/**
 * `gateway requests`: the request list that the k6 scripts and the benchmark replay, as a JSON array
 * of request paths (`/image/files/<key>?<query>`), read by k6 into a SharedArray.
 *
 * Two sources:
 * - `--from-log <access.log>`: the front door's JSON access log (one object per line, fields
 *   `method` and `uri`), so that a load test replays the traffic that production really sees;
 * - `--from-originals [dir]`: every decodable original in a storage directory, at a mix of variants,
 *   for a checkout that has no recorded traffic yet.
 *
 * Only GET and HEAD requests of the hot endpoint are listed: the other endpoints change data
 * (POST, DELETE) and must never be replayed, and they exist on the legacy backend only.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_VARIANTS, HOT_PREFIX, MAX_INPUT_BYTES, MAX_INPUT_PIXELS, isValidKey } from '../../common/contract.ts';
import { GatewayError } from './errors.ts';

// The contract's limits (common/contract.ts): what the backends refuse, we do not list.
const IMAGE_EXTENSION = /\.(jpe?g|png|webp|gif)$/i;

// ---------------------------------------------------------------------------------------------
// PURE

export interface LogSelection {
  paths: string[];
  /** Lines that were not a JSON object with string `method` and `uri`. */
  unparseable: number;
  /** First unparseable line number (1-based), for the message. */
  firstUnparseableLine: number | undefined;
  /** Requests with another method than GET or HEAD. */
  otherMethod: number;
  /** Requests outside the hot endpoint. */
  otherPath: number;
  /** Requests left out by `okOnly` (status other than 200 or 304). */
  notOk: number;
}

export interface LogSelectionOptions {
  /** Keep only requests answered 200 or 304. Default false: errors are traffic too. */
  okOnly?: boolean;
}

/** One access-log line -> the request path to replay, or why it is left out. */
export function selectLogLine(
  line: string,
  options: LogSelectionOptions = {},
): { path: string } | { skip: 'blank' | 'unparseable' | 'otherMethod' | 'otherPath' | 'notOk' } {
  const text = line.trim();
  if (text === '') return { skip: 'blank' };
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return { skip: 'unparseable' };
  }
  if (typeof entry !== 'object' || entry === null) return { skip: 'unparseable' };
  const { method, uri, status } = entry as Record<string, unknown>;
  if (typeof method !== 'string' || typeof uri !== 'string') return { skip: 'unparseable' };
  if (method !== 'GET' && method !== 'HEAD') return { skip: 'otherMethod' };
  if (!uri.startsWith(HOT_PREFIX) || uri.length === HOT_PREFIX.length || uri[HOT_PREFIX.length] === '?') return { skip: 'otherPath' };
  if (options.okOnly && String(status) !== '200' && String(status) !== '304') return { skip: 'notOk' };
  return { path: uri };
}

/** Selects the replayable requests of a whole log, in order, counting what was left out. */
export function selectFromLog(lines: Iterable<string>, options: LogSelectionOptions = {}): LogSelection {
  const out: LogSelection = { paths: [], unparseable: 0, firstUnparseableLine: undefined, otherMethod: 0, otherPath: 0, notOk: 0 };
  let n = 0;
  for (const line of lines) {
    n++;
    const r = selectLogLine(line, options);
    if ('path' in r) out.paths.push(r.path);
    else if (r.skip === 'unparseable') {
      out.unparseable++;
      out.firstUnparseableLine ??= n;
    } else if (r.skip !== 'blank') out[r.skip]++;
  }
  return out;
}

/**
 * keys x variants -> request paths, variant by variant, so that consecutive requests hit
 * different originals (a replay that cycles the list never asks for the same variant twice in a
 * row, which would let the new service's request coalescing flatter it).
 */
export function pathsForKeys(keys: readonly string[], variants: readonly string[]): string[] {
  const out: string[] = [];
  for (const variant of variants) {
    for (const key of keys) {
      const encoded = key.split('/').map(encodeURIComponent).join('/');
      out.push(variant === '' ? `${HOT_PREFIX}${encoded}` : `${HOT_PREFIX}${encoded}?${variant}`);
    }
  }
  return out;
}

/** Keeps the first occurrence of each path. */
export function unique(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}

export interface RequestsArgs {
  source: { kind: 'log'; file: string } | { kind: 'originals'; dir: string | undefined };
  out: string | undefined;
  limit: number | undefined;
  unique: boolean;
  okOnly: boolean;
  variants: string[];
  probe: boolean;
}

export const USAGE = `usage:
  gateway requests --from-log <access.log> [--ok-only] [--unique] [--limit N] [--out FILE]
  gateway requests --from-originals [DIR] [--variants 'w=300;w=200&h=200&fit=cover'] [--no-probe] [--limit N] [--out FILE]

Writes a JSON array of request paths (GET/HEAD of /image/files/ only) for the k6 scripts
(loadtest/*.js read it with SharedArray from the file named in REQUESTS).

  --from-log FILE       the front door's JSON access log (fields method, uri, status)
  --ok-only             only requests that were answered 200 or 304
  --unique              each path once, in order of first appearance
  --from-originals DIR  every original in DIR (default: var/originals) at each variant
  --variants LIST       ';'-separated query strings (default: ${DEFAULT_VARIANTS.join(';')})
  --no-probe            list every original, without checking that it decodes
  --limit N             at most N paths
  --out FILE            write here (atomically) instead of stdout
`;

/** argv -> options, or a GatewayError (exit code 2) that says what was expected. */
export function parseRequestsArgs(args: readonly string[]): RequestsArgs {
  const bad = (message: string) => new GatewayError('usage', `requests: ${message}\n\n${USAGE}`, { exitCode: 2 });
  let source: RequestsArgs['source'] | undefined;
  const out: RequestsArgs = {
    source: { kind: 'originals', dir: undefined },
    out: undefined,
    limit: undefined,
    unique: false,
    okOnly: false,
    variants: [...DEFAULT_VARIANTS],
    probe: true,
  };
  const value = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw bad(`${flag} expects a value`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    switch (a) {
      case '--from-log':
        if (source) throw bad('give one source: --from-log or --from-originals');
        source = { kind: 'log', file: value(i, a) };
        i++;
        break;
      case '--from-originals': {
        if (source) throw bad('give one source: --from-log or --from-originals');
        const next = args[i + 1];
        source = { kind: 'originals', dir: next !== undefined && !next.startsWith('--') ? next : undefined };
        if (source.dir !== undefined) i++;
        break;
      }
      case '--out':
        out.out = value(i, a);
        i++;
        break;
      case '--limit': {
        const v = value(i, a);
        if (!/^[1-9][0-9]*$/.test(v)) throw bad(`--limit expects a positive integer, got '${v}'`);
        out.limit = Number(v);
        i++;
        break;
      }
      case '--variants': {
        const v = value(i, a);
        const list = v.split(';').map((s) => s.trim().replace(/^\?/, ''));
        if (list.some((s) => s.includes('#') || /\s/.test(s)))
          throw bad(`--variants expects ';'-separated query strings such as 'w=300;w=200&h=200&fit=cover', got '${v}'`);
        out.variants = list;
        i++;
        break;
      }
      case '--unique':
        out.unique = true;
        break;
      case '--ok-only':
        out.okOnly = true;
        break;
      case '--no-probe':
        out.probe = false;
        break;
      default:
        throw bad(`unknown option '${a}'`);
    }
  }
  if (!source) throw bad('give a source: --from-log <access.log> or --from-originals [dir]');
  out.source = source;
  if (source.kind === 'log' && (args.includes('--variants') || args.includes('--no-probe'))) throw bad('--variants and --no-probe go with --from-originals');
  if (source.kind === 'originals' && args.includes('--ok-only')) throw bad('--ok-only goes with --from-log');
  return out;
}

/** The JSON text of a request list: one path per line, so that diffs and `head` stay readable. */
export function renderRequestList(paths: readonly string[]): string {
  return `[\n${paths.map((p) => `  ${JSON.stringify(p)}`).join(',\n')}\n]\n`;
}

// ---------------------------------------------------------------------------------------------
// I/O

const defaultOriginalsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../var/originals');

async function readLog(file: string, okOnly: boolean): Promise<LogSelection> {
  try {
    await stat(file);
  } catch (err) {
    throw new GatewayError('not_found', `requests: cannot read the access log '${file}': ${(err as Error).message}`, { cause: err });
  }
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const collected: string[] = [];
  // Collect, then select with the pure function: logs of a load test are small enough, and one
  // code path keeps the counting honest.
  for await (const line of lines) collected.push(line);
  return selectFromLog(collected, { okOnly });
}

async function listOriginals(dir: string): Promise<string[]> {
  const keys: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(key);
      else if (e.isFile() && IMAGE_EXTENSION.test(e.name)) keys.push(key);
    }
  };
  try {
    await walk('');
  } catch (err) {
    throw new GatewayError('not_found', `requests: cannot list the originals directory '${dir}': ${(err as Error).message}`, { cause: err });
  }
  return keys;
}

/**
 * Whether both backends can serve this original: within the size limits and fully decodable.
 * A truncated or oversized sample would turn every one of its requests into a failed check.
 */
async function decodes(file: string): Promise<boolean> {
  const { default: sharp } = await import('sharp');
  try {
    if ((await stat(file)).size > MAX_INPUT_BYTES) return false;
    await sharp(file, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, pages: 1 }).resize(16, 16, { fit: 'inside' }).raw().toBuffer();
    return true;
  } catch {
    return false;
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export const requests = {
  async run(args: string[], _env: NodeJS.ProcessEnv): Promise<number> {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    const opts = parseRequestsArgs(args);
    let paths: string[];
    const notes: string[] = [];
    if (opts.source.kind === 'log') {
      const sel = await readLog(opts.source.file, opts.okOnly);
      paths = sel.paths;
      if (sel.unparseable) notes.push(`${sel.unparseable} line(s) were not JSON objects with 'method' and 'uri' (first: line ${sel.firstUnparseableLine})`);
      if (sel.otherMethod) notes.push(`${sel.otherMethod} request(s) with another method than GET/HEAD left out`);
      if (sel.otherPath) notes.push(`${sel.otherPath} request(s) outside ${HOT_PREFIX} left out`);
      if (sel.notOk) notes.push(`${sel.notOk} request(s) not answered 200/304 left out (--ok-only)`);
    } else {
      const dir = path.resolve(opts.source.dir ?? defaultOriginalsDir);
      const all = await listOriginals(dir);
      const valid = all.filter(isValidKey);
      if (valid.length < all.length) notes.push(`${all.length - valid.length} file(s) whose names are not valid keys left out`);
      let keys = valid;
      if (opts.probe) {
        keys = [];
        for (const key of valid) if (await decodes(path.join(dir, key))) keys.push(key);
        if (keys.length < valid.length)
          notes.push(
            `${valid.length - keys.length} original(s) that do not decode or exceed the limits left out: ${valid.filter((k) => !keys.includes(k)).join(', ')}`,
          );
      }
      paths = pathsForKeys(keys, opts.variants);
    }
    if (opts.unique) paths = unique(paths);
    if (opts.limit !== undefined) paths = paths.slice(0, opts.limit);
    for (const n of notes) process.stderr.write(`requests: ${n}\n`);
    if (paths.length === 0) {
      throw new GatewayError('empty', `requests: no replayable request found (GET/HEAD of ${HOT_PREFIX}<key>); nothing written`);
    }
    const text = renderRequestList(paths);
    if (opts.out) {
      await writeAtomically(opts.out, text);
      process.stderr.write(`requests: ${paths.length} request path(s) written to ${opts.out}\n`);
    } else {
      process.stdout.write(text);
    }
    return 0;
  },
};
