/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own summary,
 * so that tools which read only the last line of a run (CI dashboards, our own CI) see the counts.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    let failedFiles = 0;
    for (const mod of testModules) {
      let failedHere = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
      }
      failed += failedHere;
      // A file can fail with no failed test: an error in beforeAll or at import leaves its tests
      // skipped. It counts as one failure, so that the line never reads "0 failed" for a failed run.
      if (mod.state() === 'failed' && failedHere === 0) {
        failed++;
        failedFiles++;
      }
    }
    const files = failedFiles ? ` (${failedFiles} of them a whole file that failed before its tests ran)` : '';
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${files}${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
