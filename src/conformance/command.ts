/**
 * `sark-authz test-suite DIR... [--v0-compatible] [--report FILE] [--baseline FILE] [--write-baseline]`
 *
 * Prints pass counts per folder and ends with `N passed, N failed, N skipped`.
 * Cases the engine does not pass yet count as skipped ("known gaps") while
 * the number of passing cases stays at or above the committed baseline;
 * below it, the shortfall counts as failed and the exit code is 1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CaseResult, findCaseFiles, runFile, tallyByFolder } from './suite';

export interface Baseline {
  /** Minimum number of passing cases. */
  passed: number;
  /** Total cases when the baseline was written, for context. */
  total: number;
}

export function testSuiteCommand(argv: string[], runCase: (caseJson: string, v0: boolean) => { pass: boolean; reason?: string }): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'v0-compatible': { type: 'boolean', default: false },
      report: { type: 'string' },
      baseline: { type: 'string' },
      'write-baseline': { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(
      'usage: sark-authz test-suite DIR... [--v0-compatible] [--report FILE] [--baseline FILE] [--write-baseline] [-v]\n' +
        'Runs YAML cases in OPA conformance format; prints counts per folder and a final\n' +
        '`N passed, N failed, N skipped` line. With --baseline, fails when fewer cases pass than the baseline.\n',
    );
    return positionals.length === 0 && !values.help ? 2 : 0;
  }

  const results: CaseResult[] = [];
  for (const dir of positionals) {
    if (!fs.existsSync(dir)) {
      process.stderr.write(`error: ${dir}: no such file or directory\n`);
      return 2;
    }
    for (const file of findCaseFiles(dir)) {
      results.push(...runFile(file, { v0Compatible: values['v0-compatible'] ?? false, runCase }));
    }
  }

  for (const t of tallyByFolder(results)) {
    process.stdout.write(`${t.passed === t.total ? 'ok  ' : 'gap '} ${t.folder.padEnd(36)} ${t.passed}/${t.total}\n`);
  }
  if (values.verbose) {
    for (const r of results.filter((x) => !x.pass)) process.stdout.write(`FAIL ${r.file} :: ${r.note}: ${r.reason ?? ''}\n`);
  }

  const passed = results.filter((r) => r.pass).length;
  const total = results.length;
  if (values.report) {
    fs.mkdirSync(path.dirname(path.resolve(values.report)), { recursive: true });
    fs.writeFileSync(values.report, JSON.stringify({ passed, total, cases: results }, null, 1));
  }

  let failed = 0;
  if (values.baseline) {
    if (values['write-baseline']) {
      const b: Baseline = { passed, total };
      fs.writeFileSync(values.baseline, JSON.stringify(b, null, 2) + '\n');
      process.stdout.write(`baseline written: ${passed} of ${total}\n`);
    } else {
      const b = JSON.parse(fs.readFileSync(values.baseline, 'utf8')) as Baseline;
      if (passed < b.passed) {
        failed = b.passed - passed;
        process.stdout.write(`REGRESSION: ${passed} cases pass, baseline is ${b.passed}\n`);
      } else if (passed > b.passed) {
        process.stdout.write(`${passed - b.passed} more cases pass than the baseline (${b.passed}): raise it with --write-baseline\n`);
      }
    }
  } else {
    failed = total - passed;
  }
  const skipped = total - passed - failed;
  process.stdout.write(`conformance: ${passed} of ${total} cases pass (${((100 * passed) / Math.max(total, 1)).toFixed(1)}%)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed, ${Math.max(skipped, 0)} skipped\n`);
  return failed > 0 ? 1 : 0;
}
