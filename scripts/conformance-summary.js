#!/usr/bin/env node
// Summarizes a `sark-authz test-suite --report FILE` report as markdown:
// pass counts for the language folders (everything not about one builtin
// family) and for the builtin folders, with the failing cases' reasons.
// usage: node scripts/conformance-summary.js REPORT.json
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** Folders about the language itself; every other folder is about one builtin family. */
const LANGUAGE = new Set([
  'arithmetic', 'assignments', 'baseandvirtualdocs', 'comparisonexpr', 'completedoc', 'compositebasedereference',
  'compositereferences', 'comprehensions', 'dataderef', 'defaultkeyword', 'disjunction', 'elsekeyword', 'eqexpr',
  'evaltermexpr', 'example', 'functionerrors', 'functions', 'helloworld', 'indexing', 'indirectreferences',
  'inputvalues', 'invalidkeyerror', 'negation', 'nestedreferences', 'partialdocconstants', 'partialobjectdoc',
  'partialsetdoc', 'planner-ir', 'refheads', 'type', 'undos', 'varreferences', 'virtualdocs', 'withkeyword',
  // Further language folders of OPA v1.22's suite.
  'containskeyword', 'embeddedvirtualdoc', 'every', 'fix1863', 'keywordrefs', 'logic_operators', 'partialiter',
  'rego_v2_import', 'stringinterpolation', 'topdowndynamicdispatch',
]);

const report = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const folders = new Map();
for (const c of report.cases) {
  const f = path.basename(path.dirname(c.file));
  const t = folders.get(f) ?? { passed: 0, total: 0, failing: [] };
  t.total++;
  if (c.pass) t.passed++;
  else t.failing.push(c);
  folders.set(f, t);
}

function table(title, pick) {
  const rows = [...folders.entries()].filter(([f]) => pick(f)).sort(([a], [b]) => a.localeCompare(b));
  const passed = rows.reduce((n, [, t]) => n + t.passed, 0);
  const total = rows.reduce((n, [, t]) => n + t.total, 0);
  const out = [`### ${title}: ${passed} of ${total} (${((100 * passed) / Math.max(total, 1)).toFixed(1)}%)`, '', '| folder | passing |', '|---|---|'];
  for (const [f, t] of rows) out.push(`| ${f} | ${t.passed}/${t.total}${t.passed === t.total ? '' : ' ◦'} |`);
  return out.join('\n');
}

console.log(table('Language folders', (f) => LANGUAGE.has(f)));
console.log('');
console.log(table('Builtin folders', (f) => !LANGUAGE.has(f)));
console.log('');
console.log('### Failing cases');
console.log('');
for (const [f, t] of [...folders.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  for (const c of t.failing) console.log(`- \`${f}\` — ${c.note}: ${String(c.reason ?? '').split('\n')[0].slice(0, 160)}`);
}
