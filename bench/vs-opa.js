#!/usr/bin/env node
// `make bench-opa`: the engine against OPA itself, per evaluation, side by side.
// For each policy in envoy/policies/ and three Envoy-shaped requests (the input
// document the Check builds, 40 headers), `sark-authz bench` and the real
// `opa bench` (v1.22.4, installed by scripts/install-go-tools.sh) run the same
// query on the same input file, both pinned to the same core, interleaved
// round by round so that a noisy neighbour hits both alike. Both grow N until a
// run lasts --benchtime (Go's benchmark loop); OPA runs with --metrics=false
// --benchmem=false, its fastest setting. Prints each side's median ns/op over
// the rounds and the ratio opa/sark per round. Prints figures; asserts nothing.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { root, opt } = require('./common');
const { createEngine } = require(path.join(root, 'dist/src/engine/native-engine.js'));
const { loadPolicyModules } = require(path.join(root, 'dist/src/config/policy-files.js'));
const { encodeCheckRequest, envoyRequest } = require(path.join(root, 'dist/test/differential/corpus.js'));

const ROUNDS = Number(opt('rounds', 5));
const BENCHTIME_MS = Number(opt('benchtime', 1000));
const CORE = opt('core', String(Math.max(0, os.cpus().length - 1)));
const OPA = opt('opa', path.join(root, '.build/go/bin/opa'));

if (!fs.existsSync(OPA)) {
  console.error(`error: ${OPA} not found (scripts/install-go-tools.sh installs it)`);
  process.exit(2);
}
const pin = spawnSync('sh', ['-c', 'command -v taskset']).status === 0 ? ['taskset', '-c', CORE] : [];

/** An Envoy-shaped request with 40 headers. */
function request(method, p, role) {
  const headers = { 'x-role': role, authorization: 'Bearer abc.def.ghi', 'content-type': 'application/json' };
  for (let i = 0; Object.keys(headers).length < 34; i++) headers[`x-extra-header-${i}`] = `value-${i}-${'v'.repeat(i % 17)}`;
  return Buffer.from(encodeCheckRequest(envoyRequest(method, p, headers)));
}

const CASES = [
  ['GET /api/v1/items (viewer)', request('GET', '/api/v1/items?page=2', 'viewer')],
  ['DELETE /api/v1/items/42 (editor)', request('DELETE', '/api/v1/items/42', 'editor')],
  ['GET /admin/users (admin)', request('GET', '/admin/users', 'admin')],
];
const QUERY = 'data.envoy.authz.allow';

function bench(argv) {
  const [cmd, ...args] = [...pin, ...argv];
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root, maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  const { N, T } = JSON.parse(r.stdout);
  return T / N;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-vs-opa-'));
const rows = [];
for (const file of fs.readdirSync(path.join(root, 'envoy/policies')).filter((f) => f.endsWith('.rego')).sort()) {
  const policyFile = path.join(root, 'envoy/policies', file);
  const policy = createEngine().prepare(loadPolicyModules(policyFile), {}, QUERY);
  for (const [name, bytes] of CASES) {
    const inputFile = path.join(dir, 'input.json');
    fs.writeFileSync(inputFile, JSON.stringify(policy.inputDocument(bytes, 3)));
    const common = ['-d', policyFile, '-i', inputFile, '--format', 'json', '--fail=false'];
    const sark = [];
    const opa = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side runs first in a round.
      const runs = [
        () => sark.push(bench([process.execPath, 'bin/sark-authz.js', 'bench', ...common, '--benchtime', String(BENCHTIME_MS), QUERY])),
        () => opa.push(bench([OPA, 'bench', ...common, '--metrics=false', '--benchmem=false', QUERY])),
      ];
      if (r % 2) runs.reverse();
      runs.forEach((run) => run());
    }
    const ratios = sark.map((s, i) => opa[i] / s);
    rows.push({ policy: file, request: name, sark_ns: Math.round(median(sark)), opa_ns: Math.round(median(opa)), ratio: median(ratios), ratios });
    console.error(`${file} ${name}: sark ${Math.round(median(sark))} ns/op, opa ${Math.round(median(opa))} ns/op`);
  }
}
fs.rmSync(dir, { recursive: true, force: true });

console.log(`\nns per evaluation, median of ${ROUNDS} interleaved rounds (pinned to core ${CORE}; opa ${OPA.includes('.build') ? 'v1.22.4' : OPA})`);
console.log('policy         request                            sark ns/op   opa ns/op   opa/sark (median of per-round ratios; rounds)');
for (const r of rows) {
  console.log(`${r.policy.padEnd(14)} ${r.request.padEnd(34)} ${String(r.sark_ns).padStart(10)} ${String(r.opa_ns).padStart(11)}   ${r.ratio.toFixed(1).padStart(5)}× (${r.ratios.map((x) => x.toFixed(1)).join(' ')})`);
}
console.log(`\nmedian opa/sark over all cases: ${median(rows.map((r) => r.ratio)).toFixed(1)}×`);
