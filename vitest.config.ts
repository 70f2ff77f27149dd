import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure functions, in-process fakes, app.request(); fast, parallel) and
// `integration` (*.int.test.ts: real nginx, PHP-FPM, versitygw, k6, Chromium; started by the tests
// themselves, one file at a time because they share two cores and measure behaviour under load).
export default defineConfig({
  test: {
    reporters: ['default', './support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{image-service,gateway,support,scripts,bench,loadtest,stack,parity,common}/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['{image-service,gateway,support,scripts,bench,loadtest,stack,parity,common}/test/**/*.int.test.ts'],
          exclude: ['**/node_modules/**'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
