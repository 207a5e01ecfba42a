/**
 * `sark-authz test-suite DIR... [--v0-compatible] [--report FILE] [--baseline FILE] [--write-baseline]`
 *
 * Prints pass counts per folder and ends with one line `N passed, N failed`
 * (the known gaps are counted as skipped on the line before).
 * With a baseline (the committed list of cases that pass), a listed case
 * that fails now is a failure (exit code 1); cases not passing yet are
 * counted as skipped, known gaps. The list only grows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CaseResult, findCaseFiles, runFile, tallyByFolder } from './suite';

export interface Baseline {
  /** Number of passing cases when the baseline was written. */
  passed: number;
  /** Total cases when the baseline was written, for context. */
  total: number;
  /** Every case that passed (`folder/file.yaml :: note`): each must keep passing. */
  cases: string[];
}

/** A case's stable id: its folder, file name and note. */
export function caseId(r: CaseResult): string {
  return `${path.basename(path.dirname(r.file))}/${path.basename(r.file)} :: ${r.note}`;
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
        '`N passed, N failed` line. With --baseline FILE, a case the baseline lists as passing that\n' +
        'fails now is a failure; cases not yet passing are skipped. --write-baseline records the passing cases.\n',
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
    const passing = results.filter((r) => r.pass).map(caseId).sort();
    if (values['write-baseline']) {
      const b: Baseline = { passed, total, cases: passing };
      fs.writeFileSync(values.baseline, JSON.stringify(b, null, 1) + '\n');
      process.stdout.write(`baseline written: ${passed} of ${total}\n`);
    } else {
      const b = JSON.parse(fs.readFileSync(values.baseline, 'utf8')) as Baseline;
      const now = new Set(passing);
      const lost = (b.cases ?? []).filter((id) => !now.has(id));
      for (const id of lost) process.stdout.write(`REGRESSION: ${id} passed in the baseline and fails now\n`);
      failed = lost.length;
      const gained = passing.length - (b.cases ?? []).length + lost.length;
      if (gained > 0) process.stdout.write(`${gained} cases pass beyond the baseline: record them with --write-baseline\n`);
    }
  } else {
    failed = total - passed;
  }
  const skipped = total - passed - failed;
  process.stdout.write(`conformance: ${passed} of ${total} cases pass (${((100 * passed) / Math.max(total, 1)).toFixed(1)}%)\n`);
  process.stdout.write(`${Math.max(skipped, 0)} skipped: known gaps (cases that do not pass yet)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}
