/**
 * `npm run bench:shrink-parity`: what each FAST_SHRINK_ON_LOAD setting does to parity with the
 * legacy backend, judged by the comparison harness itself (`gateway compare`, its default
 * thresholds), on the benchmark's large phone-camera originals (bench/lib/large-originals.ts) and
 * the fixture photographs when ../shared is there, at 8 variants that move libjpeg's shrink
 * factor through 1/2, 1/4 and 1/8. Prints, per setting, the parity and the signal ranges; the
 * decision in image-service/src/pipeline.ts (fullShrinkOnLoad) quotes its figures.
 *
 * SHRINK_SETTINGS (default 'false,jpeg,true'), BENCH_LARGE_COUNT (default 20), SHRINK_OUT (default
 * var/shrink-parity).
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compare } from '../gateway/src/compare/command.ts';
import { startLegacy } from '../stack/legacy.ts';
import { startImageService } from '../stack/services.ts';
import { projectRoot } from '../common/paths.ts';
import { realFixturesDir } from '../support/fixtures.ts';
import { defaultLargeDir, ensureLargeOriginals } from './lib/large-originals.ts';

const VARIANTS = [
  'w=300&format=jpeg&q=85',
  'w=640&format=webp&q=85',
  'w=1280&format=jpeg&q=85',
  'w=200&h=200&fit=cover&format=jpeg&q=85',
  'w=164&format=jpeg',
  'w=172&format=webp',
  'w=480',
  'w=960&h=540&fit=cover',
];

const log = (text: string) => process.stderr.write(`shrink-parity: ${text}\n`);
const settings = (process.env.SHRINK_SETTINGS ?? 'false,jpeg,true').split(',').filter(Boolean);
const outRoot = path.resolve(process.env.SHRINK_OUT ?? path.join(projectRoot, 'var/shrink-parity'));
const dir = mkdtempSync(path.join(os.tmpdir(), 'shrink-parity-'));
try {
  const large = await ensureLargeOriginals(defaultLargeDir(), Number(process.env.BENCH_LARGE_COUNT ?? 20), log);
  const keys: string[] = [];
  // Copies: both backends refuse symbolic links.
  for (const o of large) {
    copyFileSync(o.file, path.join(dir, o.key));
    keys.push(o.key);
  }
  const fixtures = realFixturesDir();
  if (fixtures && existsSync(fixtures)) {
    for (const f of readdirSync(fixtures).filter((f) => /^(photo|exif)-.*\.(jpe?g|webp)$/.test(f))) {
      copyFileSync(path.join(fixtures, f), path.join(dir, f));
      keys.push(f);
    }
  }
  const list = path.join(dir, 'paths.txt');
  writeFileSync(list, keys.flatMap((k) => VARIANTS.map((v) => `/image/files/${encodeURIComponent(k)}?${v}`)).join('\n') + '\n');
  const legacy = await startLegacy({ storageDir: dir, children: os.availableParallelism() });
  const summaries: string[] = [];
  try {
    for (const setting of settings) {
      const service = await startImageService({ STORAGE_URL: pathToFileURL(dir).href, FAST_SHRINK_ON_LOAD: setting, REQUEST_TIMEOUT_MS: '60000' });
      try {
        const out = path.join(outRoot, setting);
        const code = await compare.run(
          ['--from', list, '--legacy', legacy.url, '--new', service.url, '--out', out, '--quiet', '--concurrency', '2', '--timeout', '120000'],
          process.env,
        );
        summaries.push(summarize(setting, code, path.join(out, 'results.jsonl')));
      } finally {
        await service.stop();
      }
    }
  } finally {
    await legacy.stop();
  }
  process.stdout.write(`${keys.length} originals x ${VARIANTS.length} variants; reports under ${outRoot}\n${summaries.join('\n')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

interface Signals {
  ssim: number;
  blockMaxDiff: number;
  deltaE: number;
}

function summarize(setting: string, exitCode: number, file: string): string {
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { verdict: string; target: string; signals?: Signals });
  const judged = rows.filter((r) => r.signals);
  const s = judged.map((r) => r.signals!);
  const worst = judged.reduce((a, b) => (b.signals!.ssim < a.signals!.ssim ? b : a), judged[0]!);
  const matched = rows.filter((r) => r.verdict === 'match').length;
  return (
    `FAST_SHRINK_ON_LOAD=${setting}: ${matched} of ${rows.length} matched (gate exit ${exitCode}); SSIM min ${Math.min(...s.map((x) => x.ssim)).toFixed(4)} ` +
    `(${worst?.target}), mean ${(s.reduce((a, x) => a + x.ssim, 0) / s.length).toFixed(4)}; block max diff <= ${Math.max(...s.map((x) => x.blockMaxDiff)).toFixed(2)}; ` +
    `ΔE max ${Math.max(...s.map((x) => x.deltaE)).toFixed(3)}`
  );
}
