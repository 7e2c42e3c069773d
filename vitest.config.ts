import { defineConfig } from 'vitest/config'

// AK_TEST_REPORT=<file> adds a JSON report (CI turns it into "N passed, N failed, N skipped").
const report = process.env.AK_TEST_REPORT

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./bin/polyfill.mjs'],
    // Every `ak` a test spawns (bin/ak.mjs) runs the sources, never a build in dist/ that may be stale.
    env: { AK_FROM_SOURCE: '1' },
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    reporters: report ? ['default', ['json', { outputFile: report }]] : ['default'],
  },
})
