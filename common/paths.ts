/**
 * Project paths, computed once from where this file sits (common/ is one level below the root),
 * so that no caller depends on its own depth or on the working directory it was started from.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory (where package.json, nginx/ and legacy/ are). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
