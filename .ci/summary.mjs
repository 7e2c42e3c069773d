// Prints vitest's JSON report as the closing line CI reads: "N passed, N failed, N skipped".
import { readFileSync } from 'node:fs'

const file = process.argv[2]
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.log(`no test report at ${file}: ${err.message}`)
  console.log('0 passed, 1 failed, 0 skipped')
  process.exit(1)
}
const failedSuites = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0).length
const passed = report.numPassedTests ?? 0
const failed = (report.numFailedTests ?? 0) + failedSuites
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 ? 1 : 0)
