/**
 * `node dist/test/fuzz-opa/fuzz.js [--seed S] [--count N] [--start K] [--save DIR] [--report FILE]
 *    [--baseline FILE [--write-baseline]] [--via-eval] [--no-known-gaps] [-v]`
 *
 * Generates programs `start … start+count-1` of seed `S`, evaluates each with
 * `opa` and with our engine, and compares the outcomes. Mismatches are
 * counted per class; with `--save DIR` each is minimised and written there as
 * a regression case (OPA's outcome stored with it). Ends with
 * `N skipped …` and `N passed, N failed` (the line `scripts/run-tests.js` reads);
 * exits 1 on any mismatch. Without `opa` it says so and exits 0 with nothing run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { generate, type GeneratedProgram } from './generator';
import { minimise } from './minimise';
import { evaluateWithOpaEval, findOpa, OpaServer } from './opa';
import { evaluateOurs, nativeAvailable } from './ours';
import { difference, type Outcome } from './outcome';
import { saveCase } from './cases';
import { knownGap, loadKnownGaps } from './known-gaps';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: 'ci' },
      count: { type: 'string', default: '2000' },
      start: { type: 'string', default: '0' },
      save: { type: 'string' },
      report: { type: 'string' },
      'via-eval': { type: 'boolean', default: false },
      progress: { type: 'string', default: '0' },
      verbose: { type: 'boolean', short: 'v', default: false },
      'no-known-gaps': { type: 'boolean', default: false },
      baseline: { type: 'string' },
      'write-baseline': { type: 'boolean', default: false },
    },
  });
  const seed = values.seed ?? 'ci';
  const count = Number(values.count);
  const start = Number(values.start);
  const progressEvery = Number(values.progress);
  const opaBin = findOpa();
  if (!opaBin) {
    process.stdout.write('fuzz-opa: opa not found ($OPA or .build/go/bin/opa; `make test-deps` installs it): nothing run\n0 passed, 0 failed\n');
    return 0;
  }
  if (!nativeAvailable()) {
    process.stdout.write('fuzz-opa: native addon not loaded\n0 passed, 1 failed\n');
    return 1;
  }
  const server = new OpaServer(opaBin);
  // Stopped from outside (Ctrl-C, kill): take the opa child along.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      server.stop();
      process.exit(130);
    });
  }
  if (!values['via-eval']) await server.start();
  const opa = async (p: GeneratedProgram): Promise<Outcome> => (values['via-eval'] ? evaluateWithOpaEval(opaBin, p) : server.evaluate(p));

  const gaps = values['no-known-gaps'] ? [] : loadKnownGaps();
  // `--baseline FILE`: programs of this seed known to mismatch (`index class` lines); they count
  // as skipped, any other mismatch fails. `--write-baseline` rewrites it from this run.
  const baselineFile = values.baseline;
  const baseline = new Set(
    baselineFile && !values['write-baseline'] && fs.existsSync(baselineFile)
      ? fs.readFileSync(baselineFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
      : [],
  );
  const mismatching: string[] = [];
  let baselined = 0;
  const gapCounts = new Map<string, number>();
  const classes = new Map<string, { count: number; first: number }>();
  const outcomes = new Map<string, number>();
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const began = Date.now();
  try {
    for (let i = start; i < start + count; i++) {
      const p = generate(seed, i);
      let want: Outcome;
      let got: Outcome;
      try {
        want = await opa(p);
        got = evaluateOurs(p);
      } catch (e) {
        // A harness failure on one program is a failure of that program, never the end of the run.
        failed++;
        const k = `harness: ${(e as Error).message.slice(0, 80)}`;
        classes.set(k, { count: (classes.get(k)?.count ?? 0) + 1, first: classes.get(k)?.first ?? i });
        continue;
      }
      outcomes.set(`opa ${want.kind === 'error' ? 'error ' + want.codes.join(',') : want.kind}`, (outcomes.get(`opa ${want.kind === 'error' ? 'error ' + want.codes.join(',') : want.kind}`) ?? 0) + 1);
      if (want.kind === 'limit' || got.kind === 'limit') {
        skipped++;
        continue;
      }
      const diff = difference(want, got);
      const gap = diff === undefined ? undefined : knownGap(gaps, want, got);
      if (diff !== undefined && !gap) mismatching.push(`${i} ${diff}`);
      if (diff === undefined) {
        passed++;
      } else if (gap) {
        skipped++;
        gapCounts.set(gap.id, (gapCounts.get(gap.id) ?? 0) + 1);
      } else if (baseline.has(`${i} ${diff}`)) {
        // Listed in the baseline: a known open mismatch of this very program.
        skipped++;
        baselined++;
      } else {
        failed++;
        const c = classes.get(diff) ?? { count: 0, first: i };
        c.count++;
        classes.set(diff, c);
        if (values.verbose) process.stdout.write(`MISMATCH ${seed}/${i}: ${diff}\n`);
        if (values.save && c.count <= 3) {
          const small = await minimise(p, diff, opa);
          const file = saveCase(values.save, seed, i, small.program, small.opa, small.ours, diff);
          if (values.verbose) process.stdout.write(`  saved ${file}\n`);
        }
      }
      if (progressEvery > 0 && (i - start + 1) % progressEvery === 0) {
        process.stdout.write(`progress ${i - start + 1}/${count}: ${passed} passed, ${failed} failed, ${skipped} skipped (${((Date.now() - began) / 1000).toFixed(0)} s)\n`);
      }
    }
  } finally {
    server.stop();
  }
  const secs = (Date.now() - began) / 1000;
  process.stdout.write(`fuzz-opa seed ${seed}, programs ${start}..${start + count - 1} in ${secs.toFixed(1)} s\n`);
  process.stdout.write('OPA outcomes:\n');
  for (const [k, n] of [...outcomes.entries()].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${String(n).padStart(6)}  ${k}\n`);
  if (classes.size > 0) {
    process.stdout.write('mismatch classes:\n');
    for (const [k, c] of [...classes.entries()].sort((a, b) => b[1].count - a[1].count)) process.stdout.write(`  ${String(c.count).padStart(6)}  ${k}  (first: ${seed}/${c.first})\n`);
  }
  if (gapCounts.size > 0) {
    process.stdout.write('known gaps (skipped; test/fuzz-opa/known-gaps.json):\n');
    for (const [k, n] of [...gapCounts.entries()].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${String(n).padStart(6)}  ${k}\n`);
  }
  if (baselined > 0) process.stdout.write(`${baselined} mismatches listed in ${baselineFile} (skipped)\n`);
  if (baselineFile && values['write-baseline']) {
    fs.writeFileSync(
      baselineFile,
      `# fuzz-opa: programs of seed ${seed} (${start}..${start + count - 1}) that mismatch OPA today, as \`index class\`.\n` +
        '# They count as skipped in the CI batch; the list only shrinks (docs/conformance.md).\n' +
        mismatching.join('\n') +
        '\n',
    );
    process.stdout.write(`wrote ${mismatching.length} entries to ${baselineFile}\n`);
  }
  if (values.report) {
    fs.mkdirSync(path.dirname(path.resolve(values.report)), { recursive: true });
    fs.writeFileSync(
      values.report,
      JSON.stringify({ seed, start, count, passed, failed, skipped, seconds: secs, outcomes: Object.fromEntries(outcomes), knownGaps: Object.fromEntries(gapCounts), classes: Object.fromEntries(classes) }, null, 1),
    );
  }
  process.stdout.write(`${skipped} skipped (known gaps, OPA timed out, or our evaluation budget ran out)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  if (values['write-baseline']) return 0;
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fuzz-opa: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
