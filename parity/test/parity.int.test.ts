/**
 * `npm run parity` end to end on a small slice of the real corpus: packages fetched with apt-get
 * and pip (cached in ~/.cache/image-gateway/parity), the real legacy backend (nginx + PHP-FPM +
 * Imagick) and the real image service. Nothing is skipped: without the packages the run fails,
 * loudly, with the command that failed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrokenCandidate } from '../../support/broken-candidate.ts';
import { runParity, type ParityOptions } from '../src/run.ts';
import { VARIANTS } from '../src/requests.ts';

const cacheDir = path.join(os.homedir(), '.cache/image-gateway/parity');
let work: string;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'parity-int-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function sink(): NodeJS.WritableStream & { text: string } {
  const s = { text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WritableStream & { text: string };
}

function options(name: string, over: Partial<ParityOptions>): ParityOptions & { stdout: ReturnType<typeof sink> } {
  return {
    cacheDir,
    outDir: path.join(work, name),
    concurrency: 2,
    minParity: 0.995,
    quiet: true,
    stdout: sink(),
    stderr: sink(),
    ...over,
  } as ParityOptions & { stdout: ReturnType<typeof sink> };
}

describe('npm run parity on a slice of the corpus', () => {
  it('one row per original with its metadata, causes for the mismatched ones, the exit code from the gate', async () => {
    const o = options('slice', { slice: 2, sliceDerived: ['exif-6.jpg', 'cmyk-noprofile.jpg', 'alpha-lossless.webp'] });
    const r = await runParity(o);
    process.stdout.write(o.stdout.text);
    // The corpus as a whole: at least 150 originals from packages, all four formats, sources recorded.
    const fromPackages = r.corpus.entries.filter((e) => e.origin.kind === 'package');
    expect(fromPackages.length).toBeGreaterThanOrEqual(150);
    for (const f of ['jpeg', 'png', 'webp', 'gif'])
      expect(
        fromPackages.some((e) => e.format === f),
        f,
      ).toBe(true);
    expect(o.stdout.text).toMatch(/pillow 11\.3\.0 \(pypi, MIT-CMU/);
    expect(o.stdout.text).toMatch(/imagemagick-6-doc \S+ \(debian, ImageMagick/);

    // The slice: 2 per format + 3 derived, every variant compared, one row per original.
    expect(r.entries).toHaveLength(11);
    expect(r.report.total).toBe(11 * VARIANTS.length);
    expect(r.report.byOriginal.map((x) => x.path).sort()).toEqual(r.entries.map((e) => `/image/files/${e.key}`).sort());
    for (const row of r.report.byOriginal) {
      const entry = r.entries.find((e) => `/image/files/${e.key}` === row.path)!;
      expect(row.total).toBe(VARIANTS.length);
      expect(row.info).toMatchObject({ format: entry.format, width: entry.info.width, height: entry.info.height });
      expect(row.cause === null).toBe(row.mismatched === 0);
    }
    const row = (key: string) => r.report.byOriginal.find((x) => x.path === `/image/files/derived/${key}`)!;
    expect(row('exif-6.jpg').info).toMatchObject({ orientation: 6 });
    expect(row('cmyk-noprofile.jpg').info).toMatchObject({ space: 'cmyk', icc: false });
    expect(row('alpha-lossless.webp').info).toMatchObject({ format: 'webp', hasAlpha: true });
    // Text: each mismatched original is one line, with its metadata.
    for (const bad of r.report.byOriginal.filter((x) => x.mismatched > 0))
      expect(o.stdout.text).toMatch(new RegExp(`\\n  ${bad.path.replace(/[.]/g, '\\.')} +${bad.mismatched}/${bad.total}`));
    const gateFails = r.report.parity < 0.995 || r.report.statusMismatches > 0 || r.report.byOriginal.some((x) => x.allVariants);
    expect(r.code).toBe(gateFails ? 1 : 0);
    expect(readFileSync(path.join(o.outDir, 'index.html'), 'utf8')).toContain('id="by-original"');
  });

  it('an original off on every variant fails the run; declared intended, the run passes and lists it apart', async () => {
    const broken = options('broken', {
      slice: 1,
      // Every output 1 px smaller: every variant of every original is off.
      candidate: async (upstream) => startBrokenCandidate({ upstream, defect: 'off-by-one' }),
    });
    const r = await runParity(broken);
    process.stdout.write(broken.stdout.text);
    expect(r.code).toBe(1);
    expect(r.report.byOriginal).toHaveLength(4);
    // A 1x1 original has no smaller output: only its enlarging variant can be off.
    const shrinkable = r.report.byOriginal.filter((x) => Math.min(x.info!.width, x.info!.height) > 1);
    expect(shrinkable.length).toBeGreaterThanOrEqual(3);
    for (const x of shrinkable) expect(x, x.path).toMatchObject({ allVariants: true, cause: 'geometry', mismatched: VARIANTS.length });
    expect(r.reasons.join('\n')).toContain(`${shrinkable.length} original(s) mismatch on every variant without a declared intended category`);
    expect(r.report.causes[0]).toMatchObject({ cause: 'geometry', originals: 4 });
    expect(broken.stdout.text).toContain(`by original (4 of 4 mismatched, ${shrinkable.length} on every variant)`);

    const ignore = path.join(work, 'intended.yaml');
    writeFileSync(ignore, 'ignore:\n  - path: /image/files/**\n    category: dimensions_off_by_one\n    reason: intended_test_smaller_outputs\n');
    const declared = options('declared', {
      slice: 1,
      ignoreFile: ignore,
      candidate: async (upstream) => startBrokenCandidate({ upstream, defect: 'off-by-one' }),
    });
    const d = await runParity(declared);
    expect(d.code).toBe(0);
    expect(d.report).toMatchObject({ mismatched: 0, intended: r.report.mismatched, parity: 1, causes: [] });
    expect(declared.stdout.text).toMatch(/intended only:\n {2}\/image\/files\/\S+ +[1-5]\/5 {2}intended_test_smaller_outputs/);
    expect(readFileSync(path.join(declared.outDir, 'index.html'), 'utf8')).toMatch(/id="intended-originals"[\s\S]*intended_test_smaller_outputs/);
  });
});
