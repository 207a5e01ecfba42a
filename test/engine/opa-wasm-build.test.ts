/**
 * `sark-authz build -t wasm`: the bundle's policy.wasm (our engine with the
 * policy embedded, OPA's Wasm ABI) loads in @open-policy-agent/opa-wasm from
 * a plain Node script and answers as the native engine does.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { encodeEnvoyCheckRequest, type EnvoyRequestSpec } from '../helpers/envoy-request';
import { ROOT } from '../helpers/server';

const POLICY = path.join(ROOT, 'envoy', 'policies', 'example.rego');

const REQUESTS: EnvoyRequestSpec[] = [
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/api/v1/items?page=2', headers: { 'x-role': 'viewer' } },
  { method: 'POST', path: '/api/v1/items', headers: { 'x-role': 'viewer', 'content-type': 'application/json' }, body: '{"name":"x"}' },
  { method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'editor' } },
  { method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'admin' } },
  { method: 'GET', path: '/admin/users', headers: { 'x-role': 'admin' }, sourceAddress: '10.0.0.7' },
  { method: 'GET', path: '/admin/users', headers: { 'x-role': 'admin' }, sourceAddress: '192.168.1.1' },
];

/** Evaluates `inputs` with opa-wasm in a separate, plain Node process. */
function opaWasmEvaluate(wasmFile: string, entrypoint: string, inputs: unknown[]): unknown[] {
  const script = `
    const { loadPolicy } = require('@open-policy-agent/opa-wasm');
    const fs = require('fs');
    (async () => {
      const policy = await loadPolicy(fs.readFileSync(process.argv[1]));
      policy.setData({});
      const inputs = JSON.parse(fs.readFileSync(0, 'utf8'));
      console.log(JSON.stringify(inputs.map((i) => policy.evaluate(i, process.argv[2]))));
    })().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script, wasmFile, entrypoint], { cwd: ROOT, input: JSON.stringify(inputs), encoding: 'utf8', timeout: 60000 });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as unknown[];
}

describe('build -t wasm: the bundle runs in opa-wasm', function () {
  this.timeout(120000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-build-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes an OPA bundle whose policy.wasm evaluates as the native engine does', async () => {
    const bundle = path.join(dir, 'bundle.tar.gz');
    const r = spawnSync(process.execPath, ['bin/sark-authz.js', 'build', '-t', 'wasm', '-e', 'envoy/authz/allow', '-o', bundle, POLICY], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(r.status, r.stderr).to.equal(0);
    await tar.x({ file: bundle, cwd: dir });
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, '.manifest'), 'utf8')) as { wasm: Array<{ entrypoint: string; module: string }> };
    expect(manifest.wasm).to.deep.equal([{ entrypoint: 'envoy/authz/allow', module: '/policy.wasm' }]);

    const native = createEngine().prepare(loadPolicyModules(POLICY), {}, 'data.envoy.authz.allow');
    const inputs = REQUESTS.map((spec) => native.inputDocument(encodeEnvoyCheckRequest(spec), 3));
    const expected = inputs.map((i) => {
      const d = native.evaluate(i);
      return d.value === undefined ? [] : [{ result: d.value }];
    });
    const got = opaWasmEvaluate(path.join(dir, 'policy.wasm'), 'envoy/authz/allow', inputs);
    expect(got).to.deep.equal(expected);
    expect(expected.some((e) => JSON.stringify(e).includes('true'))).to.equal(true);
    expect(expected.some((e) => JSON.stringify(e).includes('false'))).to.equal(true);
  });

  it('asks the host for time.now_ns as an OPA-built module does (no made-up clock)', async () => {
    const policy = path.join(dir, 'clock.rego');
    fs.writeFileSync(policy, 'package x\n\nt := time.now_ns()\n\nok := true\n');
    // Under opa-wasm: without a `time.now_ns` the evaluation fails ("not implemented"),
    // with one the policy sees its value, and the instance still answers afterwards.
    const script = `
      const { loadPolicy } = require('@open-policy-agent/opa-wasm');
      const fs = require('fs');
      const attempt = (f) => { try { return f(); } catch (e) { return { error: String(e && e.message || e) }; } };
      (async () => {
        const wasm = fs.readFileSync(process.argv[1]);
        const bare = await loadPolicy(wasm);
        const given = await loadPolicy(wasm, undefined, { 'time.now_ns': () => 42 });
        console.log(JSON.stringify([
          attempt(() => bare.evaluate({}, 'x/t')),
          attempt(() => bare.evaluate({}, 'x/ok')),
          attempt(() => given.evaluate({}, 'x/t')),
        ]));
      })().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });`;
    const outcomes: unknown[] = [];
    for (const builder of [[process.execPath, 'bin/sark-authz.js'], [path.join(ROOT, '.build/go/bin/opa')]]) {
      const out = path.join(dir, `clock-${outcomes.length}`);
      fs.mkdirSync(out);
      const b = spawnSync(builder[0]!, [...builder.slice(1), 'build', '-t', 'wasm', '-e', 'x/t', '-e', 'x/ok', '-o', path.join(out, 'b.tar.gz'), policy], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
      expect(b.status, b.stderr).to.equal(0);
      await tar.x({ file: path.join(out, 'b.tar.gz'), cwd: out });
      const r = spawnSync(process.execPath, ['-e', script, path.join(out, 'policy.wasm')], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
      expect(r.status, r.stderr).to.equal(0);
      outcomes.push(JSON.parse(r.stdout));
    }
    const [ours, opas] = outcomes as Array<[{ error?: string }, unknown, unknown]>;
    expect(ours[0].error).to.match(/not implemented: built-in function \d+: time\.now_ns/);
    expect(ours[1]).to.deep.equal([{ result: true }]);
    expect(ours[2]).to.deep.equal([{ result: 42 }]);
    expect(opas[0].error).to.match(/not implemented: built-in function \d+: time\.now_ns/);
    expect(opas.slice(1)).to.deep.equal(ours.slice(1));
  });

  it('reports a policy that does not compile, naming the file', () => {
    const bad = path.join(ROOT, 'test', 'fixtures', 'policies', 'broken.rego');
    const r = spawnSync(process.execPath, ['bin/sark-authz.js', 'build', '-t', 'wasm', '-e', 'x/allow', '-o', path.join(dir, 'bad.tar.gz'), bad], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('broken.rego:');
    expect(fs.existsSync(path.join(dir, 'bad.tar.gz'))).to.equal(false);
  });
});
