import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, RUNTIME_ENV } from '../src/runtime-env.ts';

describe('RUNTIME_ENV', () => {
  it('is what `npm run start -w image-service` applies when the caller has not set it', () => {
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../package.json'), 'utf8')) as { scripts: { start: string } };
    for (const [name, value] of Object.entries(RUNTIME_ENV)) {
      expect(pkg.scripts.start).toContain(`${name}=\${${name}:-${value}}`);
    }
    expect(pkg.scripts.start).toMatch(new RegExp(`node ${NODE_FLAGS.join(' ')} --import tsx src/main\\.ts$`));
  });
});
