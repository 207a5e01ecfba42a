/**
 * A bundle built by OPA (`opa build -t wasm`, the pinned `opa` the tests
 * install) served from a real nginx: `serve` evaluates its policy.wasm
 * through opa-wasm at the entrypoint chosen by `path`, with answers equal to
 * the native engine's on the same policy.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { envoyCheckRequest, type EnvoyRequestSpec } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { ROOT } from '../helpers/server';
import { disposeNginx, startNginx, type Nginx } from './helpers/nginx';
import { sh, startCli } from './helpers/process';

const OPA = path.join(ROOT, '.build', 'go', 'bin', 'opa');
const POLICY = path.join(ROOT, 'envoy', 'policies', 'example.rego');

const REQUESTS: Array<[EnvoyRequestSpec, boolean]> = [
  [{ method: 'GET', path: '/health' }, true],
  [{ method: 'GET', path: '/api/v1/items', headers: { 'x-role': 'viewer' } }, true],
  [{ method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'editor' } }, false],
  [{ method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'admin' } }, true],
  [{ method: 'GET', path: '/admin/users', headers: { 'x-role': 'admin' }, sourceAddress: '192.168.1.1' }, false],
  // A path that cannot be read: the 400 deny every Check gives, not an error.
  [{ method: 'GET', path: '/api/v1/items/%zz', headers: { 'x-role': 'viewer' } }, false],
];

describe('ops: a bundle with an OPA-built policy.wasm, served through opa-wasm', function () {
  this.timeout(90000);
  let nginx: Nginx;
  let dir: string;

  before(async () => {
    nginx = await startNginx();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-wasmb-'));
  });
  after(async () => {
    await disposeNginx(nginx);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers every request as the policy says, at the entrypoint of --path', async () => {
    const bundle = path.join(dir, 'bundle.tar.gz');
    sh(OPA, ['build', '-t', 'wasm', '-e', 'envoy/authz/allow', '-o', bundle, POLICY], dir);
    nginx.put('wasm.tar.gz', fs.readFileSync(bundle));
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `bundle:\n  url: ${nginx.url}/wasm.tar.gz\n`);
    const served = startCli(['serve', '--config', cfg, '--addr', '127.0.0.1:0', '--path', 'envoy/authz/allow']);
    try {
      await served.waitForMsg('bundle holds policy.wasm: served through opa-wasm', 30000);
      const rec = await served.waitForMsg('serving', 30000);
      const client = v3Client(rec.addr as string);
      try {
        for (const [spec, allowed] of REQUESTS) {
          const res = await checkV3(client, envoyCheckRequest(spec));
          expect(res.status?.code, JSON.stringify(spec)).to.equal(allowed ? 0 : 7);
        }
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
    }
  });
});
