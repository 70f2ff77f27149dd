/**
 * Seeds the embedded storage (var/originals, or the directory given as the first argument) with
 * sample originals: the real test images when ../shared/fixtures/images is present, plus the
 * generated set, so the service has something to serve on a fresh clone. Idempotent.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../common/paths.ts';
import { generateImages, realFixturesDir } from '../support/fixtures.ts';

const target = path.resolve(process.argv[2] ?? path.join(projectRoot, 'var/originals'));
mkdirSync(target, { recursive: true });
let copied = 0;
const real = realFixturesDir();
if (real) {
  for (const name of readdirSync(real)) {
    const dest = path.join(target, name);
    if (!existsSync(dest)) {
      copyFileSync(path.join(real, name), dest);
      copied++;
    }
  }
}
const generated = await generateImages(target);
process.stdout.write(`sample originals in ${target}: ${copied} copied from ${real ?? '(no fixtures folder)'}, ${generated.length} generated\n`);
