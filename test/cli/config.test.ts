import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decisionRef, refToPath } from '../../src/config/decision-path';
import { listenAddress, loadData, loadPolicyModules } from '../../src/config/policy-files';
import { AuthzError } from '../../src/errors';

describe('config: serve inputs', () => {
  const refs: Array<[string, string]> = [
    ['envoy/authz/allow', 'data.envoy.authz.allow'],
    ['/envoy/authz/allow', 'data.envoy.authz.allow'],
    ['data.envoy.authz.allow', 'data.envoy.authz.allow'],
    ['istio/authz/allow/', 'data.istio.authz.allow'],
    // One key per `/` segment, as opa-envoy-plugin: dots and other characters stay in their key.
    ['test/com.foo.envoy.ingress/allow/main', 'data.test["com.foo.envoy.ingress"].allow.main'],
    ['envoy/authz/al low', 'data.envoy.authz["al low"]'],
    ['envoy/9lives/default', 'data.envoy["9lives"]["default"]'],
    ['data.test["com.foo"].allow', 'data.test["com.foo"].allow'],
    ['/', 'data'],
  ];
  for (const [given, ref] of refs) it(`decision path ${given} → ${ref}`, () => expect(decisionRef(given)).to.equal(ref));

  const logged: Array<[string, string]> = [
    ['data.envoy.authz.allow', 'envoy/authz/allow'],
    ['data.test["com.foo.envoy.ingress"].allow.main', 'test/com.foo.envoy.ingress/allow/main'],
    ['data.envoy["9lives"]["default"]', 'envoy/9lives/default'],
    ['data', ''],
  ];
  for (const [ref, logPath] of logged) it(`logs ${ref} as ${logPath || '(empty)'}`, () => expect(refToPath(ref)).to.equal(logPath));

  for (const bad of ['envoy//allow', 'data.envoy authz', 'data.test["open'])
    it(`refuses the decision path ${bad}`, () => {
      expect(() => decisionRef(bad)).to.throw(AuthzError).with.property('code', 'config_invalid');
    });

  const addrs: Array<[string, string | undefined]> = [
    ['127.0.0.1:9191', '127.0.0.1:9191'],
    [':9191', '0.0.0.0:9191'],
    ['[::1]:0', '[::1]:0'],
    ['localhost:8181', 'localhost:8181'],
    ['unix:/tmp/authz.sock', 'unix:/tmp/authz.sock'],
    ['9191', undefined],
    ['127.0.0.1:99999', undefined],
    ['unix:', undefined],
  ];
  for (const [given, want] of addrs) {
    it(`address ${given} → ${want ?? 'error'}`, () => {
      if (want) expect(listenAddress(given)).to.equal(want);
      else expect(() => listenAddress(given)).to.throw(AuthzError).with.property('code', 'config_invalid');
    });
  }

  it('loads every .rego file under a directory, sorted, named by path', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-authz-pol-'));
    try {
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.mkdirSync(path.join(dir, '.hidden'));
      fs.writeFileSync(path.join(dir, 'b.rego'), 'package b');
      fs.writeFileSync(path.join(dir, 'sub', 'a.rego'), 'package a');
      fs.writeFileSync(path.join(dir, '.hidden', 'x.rego'), 'package x');
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'hi');
      expect(loadPolicyModules(dir)).to.deep.equal([
        { name: path.join(dir, 'b.rego'), source: 'package b' },
        { name: path.join(dir, 'sub', 'a.rego'), source: 'package a' },
      ]);
      fs.writeFileSync(path.join(dir, 'data.yaml'), 'roles:\n  admin: [read]\n');
      expect(loadData(path.join(dir, 'data.yaml'))).to.deep.equal({ roles: { admin: ['read'] } });
      fs.writeFileSync(path.join(dir, 'list.json'), '[1]');
      expect(() => loadData(path.join(dir, 'list.json'))).to.throw(/must be an object/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
