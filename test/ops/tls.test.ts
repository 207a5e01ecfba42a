/** TLS and mTLS on the gRPC listener, with certificates made by openssl at test time. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3 } from '../helpers/grpc-client';
import { FIXTURES } from '../helpers/server';
import { AuthorizationClient } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer, type AuthzServer } from '../../src/server/server';
import { createEngine } from '../../src/engine/native-engine';
import { loadPolicyModules } from '../../src/config/policy-files';
import { serverCredentials } from '../../src/config/tls';
import { makeCa, makeCert } from './helpers/certs';
import { eventually, runCli, startCli } from './helpers/process';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

describe('ops: TLS and mTLS', function () {
  this.timeout(90000);
  let dir: string;
  const f = (n: string) => path.join(dir, n);
  const read = (n: string) => fs.readFileSync(f(n));

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-tls-'));
    makeCa(dir, 'ca');
    makeCa(dir, 'rogue-ca');
    makeCa(dir, 'ca2');
    makeCert(dir, 'server', 'ca');
    makeCert(dir, 'server2', 'ca2');
    makeCert(dir, 'client', 'ca');
    makeCert(dir, 'rogue-client', 'rogue-ca');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** One Check over a fresh connection; resolves to the gRPC status code (0 = answered). */
  async function tryCheck(addr: string, creds: grpc.ChannelCredentials): Promise<number> {
    const client = new AuthorizationClient(addr, creds);
    try {
      const deadline = new Date(Date.now() + 10000);
      await new Promise<void>((resolve, reject) => client.check(envoyCheckRequest({ path: '/ok' }), new grpc.Metadata(), { deadline }, (err) => (err ? reject(err) : resolve())));
      return 0;
    } catch (err) {
      return (err as { code: number }).code;
    } finally {
      client.close();
    }
  }

  async function start(files: { certFile: string; privateKeyFile: string; caCertFile?: string; refreshMs?: number }): Promise<{ server: AuthzServer; addr: string }> {
    const server = createAuthzServer({
      policy: createEngine().prepare(loadPolicyModules(POLICY), {}, 'data.envoy.authz.allow'),
      addr: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      credentials: serverCredentials(files)!,
    });
    const bound = await server.listen();
    return { server, addr: `localhost:${bound.split(':')[1]}` };
  }

  it('TLS: a client trusting the CA gets answers; a plaintext client does not', async () => {
    const { server, addr } = await start({ certFile: f('server.crt'), privateKeyFile: f('server.key') });
    try {
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt')))).to.equal(0);
      expect(await tryCheck(addr, grpc.credentials.createInsecure())).to.equal(grpc.status.UNAVAILABLE);
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('rogue-ca.crt')))).to.equal(grpc.status.UNAVAILABLE);
    } finally {
      await server.close(1000);
    }
  });

  it('mTLS: a client without a valid certificate is refused; with one, Check works', async () => {
    const { server, addr } = await start({ certFile: f('server.crt'), privateKeyFile: f('server.key'), caCertFile: f('ca.crt') });
    try {
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt')))).to.equal(grpc.status.UNAVAILABLE);
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt'), read('rogue-client.key'), read('rogue-client.crt')))).to.equal(grpc.status.UNAVAILABLE);
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt'), read('client.key'), read('client.crt')))).to.equal(0);
    } finally {
      await server.close(1000);
    }
  });

  it('re-reads rotated certificate files without a restart', async () => {
    const live = fs.mkdtempSync(path.join(dir, 'live-'));
    fs.copyFileSync(f('server.crt'), path.join(live, 'tls.crt'));
    fs.copyFileSync(f('server.key'), path.join(live, 'tls.key'));
    const { server, addr } = await start({ certFile: path.join(live, 'tls.crt'), privateKeyFile: path.join(live, 'tls.key'), refreshMs: 200 });
    try {
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt')))).to.equal(0);
      fs.copyFileSync(f('server2.crt'), path.join(live, 'tls.crt'));
      fs.copyFileSync(f('server2.key'), path.join(live, 'tls.key'));
      await eventually(async () => (await tryCheck(addr, grpc.credentials.createSsl(read('ca2.crt')))) === 0, 30000, 'the rotated certificate');
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt')))).to.equal(grpc.status.UNAVAILABLE);
    } finally {
      await server.close(1000);
    }
  });

  it('serve --tls-*: mTLS from the command line; a missing file is refused naming the flag', async () => {
    const r = await runCli(['serve', '--policy', POLICY, '--addr', '127.0.0.1:0', '--tls-cert-file', f('server.crt'), '--tls-private-key-file', f('nope.key')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--tls-private-key-file').and.include('does not exist');
    const served = startCli(['serve', '--policy', POLICY, '--addr', '127.0.0.1:0', '--tls-cert-file', f('server.crt'), '--tls-private-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.crt')]);
    try {
      const rec = await served.waitForMsg('serving');
      const addr = `localhost:${(rec.addr as string).split(':')[1]}`;
      expect(await tryCheck(addr, grpc.credentials.createSsl(read('ca.crt')))).to.equal(grpc.status.UNAVAILABLE);
      const client = new AuthorizationClient(addr, grpc.credentials.createSsl(read('ca.crt'), read('client.key'), read('client.crt')));
      try {
        expect((await checkV3(client, envoyCheckRequest({ path: '/ok' }))).status?.code).to.equal(0);
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
    }
  });
});
