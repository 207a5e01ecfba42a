/**
 * What the README tells users to do with grpcurl, done: the real grpcurl
 * (scripts/install-go-tools.sh puts it in .build/go/bin) against a real
 * `sark-authz serve` of the example policy. The commands are read from the
 * README's "Debug with grpcurl" block, so the README shows exactly what is
 * tested; only the port is the test server's.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startServe, type ServeProcess } from '../helpers/cli';
import { ROOT } from '../helpers/server';

const GRPCURL = path.join(ROOT, '.build', 'go', 'bin', 'grpcurl');
const README_ADDR = '127.0.0.1:9191';

/** The grpcurl lines of the README's "Debug with grpcurl" code block. */
function readmeCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('## Debug with grpcurl')[1]?.split('\n## ')[0] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((l) => l.startsWith('grpcurl '));
}

/** Splits a command line as sh does for these lines: words, and '...' kept whole. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

describe('cli: grpcurl against sark-authz serve, as the README shows', function () {
  this.timeout(60_000);
  let serve: ServeProcess;
  const run = promisify(execFile);

  before(async function () {
    if (!fs.existsSync(GRPCURL)) throw new Error(`${GRPCURL} is missing: run scripts/install-go-tools.sh`);
    serve = await startServe(['--policy', path.join(ROOT, 'envoy', 'policies', 'example.rego'), '--addr', '127.0.0.1:0']);
  });
  after(() => serve?.stop());

  /** Runs one README line against the test server; its stdout. */
  async function grpcurl(line: string): Promise<string> {
    const args = words(line).slice(1).map((w) => (w === README_ADDR ? serve.addr : w));
    const { stdout } = await run(GRPCURL, args, { timeout: 20_000 });
    return stdout;
  }

  const commands = readmeCommands();

  it('the README shows list, describe, an allowed and a denied Check with -d, and the health check', () => {
    const verb = (ws: string[]) => (ws.includes('list') ? 'list' : ws.includes('describe') ? 'describe' : ws[ws.length - 1]);
    expect(commands.map((c) => verb(words(c)))).to.deep.equal([
      'list',
      'describe',
      'envoy.service.auth.v3.Authorization/Check',
      'envoy.service.auth.v3.Authorization/Check',
      'grpc.health.v1.Health/Check',
    ]);
  });

  it('list: every service the server answers', async () => {
    const out = await grpcurl(commands[0]);
    expect(out.trim().split('\n')).to.deep.equal([
      'envoy.service.auth.v2.Authorization',
      'envoy.service.auth.v3.Authorization',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
  });

  it('describe: the Check method with its message types resolved', async () => {
    const out = await grpcurl(commands[1]);
    expect(out).to.include('envoy.service.auth.v3.Authorization.Check is a method:');
    expect(out).to.include('rpc Check ( .envoy.service.auth.v3.CheckRequest ) returns ( .envoy.service.auth.v3.CheckResponse );');
  });

  it('Check with a JSON body: a viewer may read the items', async () => {
    const res = JSON.parse(await grpcurl(commands[2]));
    expect(res.status).to.deep.equal({});
    expect(res.dynamicMetadata.decision_id).to.match(/^[0-9a-f-]{36}$/);
  });

  it('Check with a JSON body: a viewer may not delete one', async () => {
    const res = JSON.parse(await grpcurl(commands[3]));
    expect(res.status).to.deep.equal({ code: 7 });
    // A boolean deny: no denied_response, so Envoy answers its default 403.
    expect(res).to.not.have.property('deniedResponse');
  });

  it('the health check: SERVING', async () => {
    expect(JSON.parse(await grpcurl(commands[4]))).to.deep.equal({ status: 'SERVING' });
  });

  it('describe resolves every message Check uses, and the health service', async () => {
    for (const symbol of ['envoy.service.auth.v3.CheckRequest', 'envoy.service.auth.v3.AttributeContext', 'envoy.service.auth.v2.CheckResponse', 'grpc.health.v1.Health']) {
      const { stdout } = await run(GRPCURL, ['-plaintext', serve.addr, 'describe', symbol], { timeout: 20_000 });
      expect(stdout, symbol).to.include(`${symbol} is a`);
    }
  });
});
