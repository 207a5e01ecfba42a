/** The opa-style tools: eval, bench, capabilities and test-suite, run as a user runs them. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FIXTURES, ROOT } from '../helpers/server';

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/sark-authz.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const EVAL = path.join(FIXTURES, 'eval');

describe('cli: sark-authz eval', function () {
  this.timeout(60000);

  it('prints results shaped like opa eval --format json, data placed by directory', () => {
    const r = cli(['eval', '-d', EVAL, '-i', path.join(EVAL, 'input.json'), 'data.authz.allow']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal(
      JSON.stringify({ result: [{ expressions: [{ value: true, text: 'data.authz.allow', location: { row: 1, col: 1 } }] }] }, null, 2) + '\n',
    );
  });

  it('binds query variables, one result per solution', () => {
    const r = cli(['eval', '-d', EVAL, 'data.authz.names[n]']);
    const out = JSON.parse(r.stdout) as { result: Array<{ bindings: { n: string } }> };
    expect(out.result.map((x) => x.bindings.n)).to.deep.equal(['a', 'b']);
  });

  it('prints {} for an undefined query and exits 0', () => {
    const r = cli(['eval', '-d', EVAL, 'data.authz.nothing']);
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({});
  });

  it('prints {"errors":[...]} with code and location and exits 2 on a parse error, as opa eval', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-eval-'));
    const bad = path.join(dir, 'bad.rego');
    fs.writeFileSync(bad, 'package x\n\np if {\n');
    const r = cli(['eval', '-d', bad, 'data.x.p']);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).to.equal(2);
    const out = JSON.parse(r.stdout) as { errors: Array<{ code: string; location: { file: string; row: number } }> };
    expect(out.errors[0].code).to.equal('rego_parse_error');
    expect(out.errors[0].location.file).to.equal(bad);
    expect(out.errors[0].location.row).to.be.greaterThan(0);
  });

  it('writes print() output to stderr as the real opa eval does, not into the JSON', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-eval-'));
    const policy = path.join(dir, 'p.rego');
    fs.writeFileSync(policy, 'package x\n\np if {\n  some n in [1, 2]\n  print("n is", n, input.missing)\n}\n');
    const ours = cli(['eval', '-d', policy, 'data.x.p']);
    const opa = spawnSync(path.join(ROOT, '.build/go/bin/opa'), ['eval', '-f', 'json', '-d', policy, 'data.x.p'], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(ours.code).to.equal(0);
    expect(ours.stderr).to.equal('n is 1 <undefined>\n'); // both stop at the first solution (early exit)
    expect(ours.stderr).to.equal(opa.stderr);
    expect(JSON.parse(ours.stdout)).to.deep.equal(JSON.parse(opa.stdout));
  });

  it('prints a one-expression false query as false, as the real opa eval does', () => {
    const opaBin = path.join(ROOT, '.build/go/bin/opa');
    const queries = ['1 == 2', 'false', 'startswith("a", "b")', '1 == 2; 2 == 2', 'x := 1; x == 2', '[1, 2][_] == 1', 'input.x == 1', 'not true'];
    for (const q of queries) {
      const ours = cli(['eval', q]);
      expect(ours.code, q).to.equal(0);
      if (fs.existsSync(opaBin)) {
        const opa = spawnSync(opaBin, ['eval', '--format', 'json', q], { encoding: 'utf8' });
        expect(JSON.parse(ours.stdout), q).to.deep.equal(JSON.parse(opa.stdout));
      }
    }
    expect(JSON.parse(cli(['eval', '1 == 2']).stdout).result[0].expressions[0].value).to.equal(false);
    expect(JSON.parse(cli(['eval', '1 == 2; 2 == 2']).stdout)).to.deep.equal({});
    expect(cli(['eval', '--format', 'pretty', '1 == 2']).stdout).to.equal('false\n');
  });

  it('writes what printed before an evaluation error to stderr, as the real opa eval does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-eval-'));
    const policy = path.join(dir, 'p.rego');
    fs.writeFileSync(policy, 'package t\n\np := x if {\n  print("before")\n  x := 1 / 0\n}\n');
    const ours = cli(['eval', '--strict-builtin-errors', '-d', policy, 'data.t.p']);
    const opaBin = path.join(ROOT, '.build/go/bin/opa');
    const opa = fs.existsSync(opaBin) ? spawnSync(opaBin, ['eval', '--strict-builtin-errors', '-d', policy, 'data.t.p'], { encoding: 'utf8' }) : null;
    fs.rmSync(dir, { recursive: true, force: true });
    expect(ours.code).to.equal(2);
    expect(ours.stderr).to.equal('before\n');
    if (opa) expect([ours.stderr, ours.code]).to.deep.equal([opa.stderr, opa.status]);
    expect((JSON.parse(ours.stdout) as { errors: Array<{ code: string }> }).errors[0].code).to.equal('eval_builtin_error');
  });

  it('reports evaluation errors, strict builtin errors included', () => {
    const r = cli(['eval', '--strict-builtin-errors', 'x := 1 / 0']);
    expect(r.code).to.equal(2);
    expect((JSON.parse(r.stdout) as { errors: Array<{ code: string }> }).errors[0].code).to.equal('eval_builtin_error');
    const lenient = cli(['eval', 'x := 1 / 0']);
    expect(lenient.code).to.equal(0);
    expect(JSON.parse(lenient.stdout)).to.deep.equal({});
  });

  it('evaluates v0 modules with --v0-compatible', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-eval-'));
    fs.writeFileSync(path.join(dir, 'v0.rego'), 'package v0\n\nallow { input.x == 1 }\n');
    const v0 = cli(['eval', '--v0-compatible', '-d', dir, 'data.v0.allow', '-i', path.join(EVAL, 'input.json')]);
    const v1 = cli(['eval', '-d', dir, 'data.v0.allow']);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(v0.code).to.equal(0);
    expect(v1.code).to.equal(2);
  });

  it('exits as the real opa eval does: errors 2, --fail on undefined and --fail-defined on defined 1', function () {
    this.timeout(300000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-eval-'));
    const policy = path.join(dir, 'p.rego');
    fs.writeFileSync(policy, 'package p\n\na := 1\n\nf := false\n\nc := 1\n\nc := 2 if true\n');
    const cases = [
      ['-d', policy, 'data.p.a'],
      ['-d', policy, 'data.p.c'], // conflict: an evaluation error
      ['-d', path.join(dir, 'missing.rego'), 'data'],
      ['-d', policy, 'data.p.a['], // a query that does not parse
      ['--fail', '-d', policy, 'data.p.a'],
      ['--fail', '-d', policy, 'data.p.f'], // false is defined
      ['--fail', '-d', policy, 'data.p.zz'],
      ['--fail=false', '-d', policy, 'data.p.zz'],
      ['--fail', '-d', policy, 'data.p.c'],
      ['--fail-defined', '-d', policy, 'data.p.a'],
      ['--fail-defined', '-d', policy, 'data.p.zz'],
      ['--fail-defined', '-d', policy, 'data.p.c'],
    ];
    const opaBin = path.join(ROOT, '.build/go/bin/opa');
    const codes = cases.map((args) => {
      const opa = spawnSync(opaBin, ['eval', ...args], { encoding: 'utf8' });
      return [args.join(' ').replaceAll(dir, 'DIR'), cli(['eval', ...args]).code, opa.status];
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(codes.map(([args, ours]) => [args, ours])).to.deep.equal(codes.map(([args, , opa]) => [args, opa]));
    expect(new Set(codes.map(([, ours]) => ours))).to.deep.equal(new Set([0, 1, 2]));
  });

  it('prints numbers as the real opa eval does: literals and input numbers as written', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-eval-'));
    const input = path.join(dir, 'input.json');
    fs.writeFileSync(input, '{"big": 1e400, "float": 1.0, "neg": -1e9, "fine": 0.1234567890123456789}');
    const args = ['-i', input, 'x := [1e2, 2e308, 1e400, 0.1234567890123456789, 3, -1e9, input]'];
    const ours = cli(['eval', ...args]);
    const opa = spawnSync(path.join(ROOT, '.build/go/bin/opa'), ['eval', '--format', 'json', ...args], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(ours.code, ours.stderr).to.equal(0);
    const squeeze = (s: string) => s.replace(/\s+/g, '');
    expect(squeeze(ours.stdout)).to.equal(squeeze(opa.stdout));
    expect(squeeze(ours.stdout)).to.contain('[1e2,2e308,1e400,');
  });

  it('prints the bare value with --format pretty', () => {
    const r = cli(['eval', '--format', 'pretty', '-d', EVAL, 'data.authz.names']);
    expect(JSON.parse(r.stdout)).to.deep.equal(['a', 'b']);
  });
});

describe('cli: sark-authz bench, capabilities, test-suite', function () {
  this.timeout(120000);

  const opaBench = (args: string[]) => {
    const r = spawnSync(path.join(ROOT, '.build/go/bin/opa'), ['bench', ...args], { encoding: 'utf8', timeout: 60000 });
    return { code: r.status, stdout: r.stdout };
  };

  it('bench prints Go benchmark results (N, T) as opa bench does, once per --count', () => {
    const args = ['-d', EVAL, '-i', path.join(EVAL, 'input.json'), '--count', '2', '--format', 'json', 'data.authz.allow'];
    const r = cli(['bench', '--benchtime', '50ms', ...args]);
    expect(r.code, r.stderr).to.equal(0);
    const ours = r.stdout.trim().split(/\n(?=\{)/).map((doc) => JSON.parse(doc) as { N: number; T: number });
    expect(ours).to.have.length(2);
    for (const b of ours) {
      expect(b.N).to.be.a('number').greaterThan(1);
      expect(b.T).to.be.at.least(50e6); // Go's loop: N grows until one run lasts --benchtime
    }
    const opa = opaBench(['--metrics=false', '--benchmem=false', ...args]);
    expect(opa.code).to.equal(0);
    const theirs = opa.stdout.trim().split(/\n(?=\{)/).map((doc) => JSON.parse(doc) as Record<string, unknown>);
    expect(theirs).to.have.length(2);
    for (const key of Object.keys(ours[0])) expect(typeof theirs[0][key], key).to.equal(typeof ours[0][key as 'N']);
  });

  it('bench fails an undefined result and a broken policy as opa bench does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-bench-'));
    fs.writeFileSync(path.join(dir, 'bad.rego'), 'package x\np := 1 +\n');
    for (const args of [['-d', EVAL, '--format', 'json', 'data.authz.nothing'], ['-d', path.join(dir, 'bad.rego'), '--format', 'json', 'data.x.p']]) {
      const ours = cli(['bench', ...args]);
      const opa = opaBench(args);
      expect(ours.code, args.join(' ')).to.equal(opa.code).and.equal(1);
      const strip = (out: string) => JSON.parse(out.replaceAll(dir, 'DIR')) as { errors: Array<{ message: string; code?: string }> };
      expect(strip(ours.stdout).errors.map((e) => [e.message, e.code])).to.deep.equal(strip(opa.stdout).errors.map((e) => [e.message, e.code]));
    }
    const lenient = cli(['bench', '--benchtime', '10', '--fail=false', '-d', EVAL, 'data.authz.nothing']);
    // opa bench has no --benchtime (it runs Go's default second): ours only.
    for (const [fail, code] of [['--fail=false', 0], ['--fail', 1], ['--fail=true', 1]] as const) {
      const args = ['--count', '1', fail, '-d', EVAL, 'data.authz.nothing'];
      expect([cli(['bench', '--benchtime', '10ms', ...args]).code, opaBench(args).code], fail).to.deep.equal([code, code]);
    }
    expect(lenient.code, lenient.stderr).to.equal(0);
    expect(lenient.stdout).to.match(/│ ns\/op +│ +\d+ │/);
  });

  it('capabilities prints OPA-format JSON with declared types', () => {
    const r = cli(['capabilities']);
    const caps = JSON.parse(r.stdout) as { builtins: Array<{ name: string; decl: { type: string } }> };
    const count = caps.builtins.find((b) => b.name === 'count');
    expect(count?.decl.type).to.equal('function');
    expect(caps.builtins.some((b) => b.name === 'http.send')).to.equal(false);
  });

  it('test-suite counts per folder, ends with the totals line and writes a report', () => {
    const report = path.join(os.tmpdir(), `sark-suite-${process.pid}.json`);
    const r = cli(['test-suite', path.join(FIXTURES, 'suite'), '--report', report]);
    expect(r.code).to.equal(1);
    expect(r.stdout.trim().split('\n').pop()).to.equal('2 passed, 1 failed');
    const rep = JSON.parse(fs.readFileSync(report, 'utf8')) as { cases: Array<{ note: string; pass: boolean; reason?: string }> };
    fs.rmSync(report, { force: true });
    expect(rep.cases.map((c) => [c.note, c.pass])).to.deep.equal([
      ['suite/passes', true],
      ['suite/wrong answer', false],
      ['suite/expected error', true],
    ]);
  });
});

describe('cli: sark-authz explain-cache-key', function () {
  this.timeout(60000);

  it('prints the input paths the example policy reads', () => {
    const r = cli(['explain-cache-key', '--policy', path.join(ROOT, 'envoy', 'policies', 'example.rego')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.include.members(['input.attributes.request.http.method', 'input.parsed_path', 'input.attributes.request.http.headers["x-role"]']);
    expect(r.stdout).to.not.contain('x-request-id');
  });

  it('says so when the key is the whole input', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-key-'));
    fs.writeFileSync(path.join(dir, 'p.rego'), 'package envoy.authz\n\nallow if count(input) > 0\n');
    const r = cli(['explain-cache-key', '--policy', dir, '--format', 'json']);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(JSON.parse(r.stdout)).to.deep.equal([[]]);
  });
});
