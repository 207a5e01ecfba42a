/** The `sark-authz` command as a user runs it: a real process, real flags, real exit codes. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, healthCheck, v3Client } from '../helpers/grpc-client';
import { startServe } from '../helpers/cli';
import { FIXTURES, ROOT } from '../helpers/server';

const BIN = path.join(ROOT, 'bin', 'sark-authz.js');

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (async, so nothing here blocks). */
function run(args: string[], timeoutMs = 20000): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cli: sark-authz', function () {
  this.timeout(30000);

  it('prints the commands with --help and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/usage: sark-authz COMMAND/).and.match(/serve/);
  });

  it('prints serve flags with serve --help', async () => {
    const r = await run(['serve', '--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include('--policy FILE|DIR').and.include('--addr HOST:PORT').and.include('--path PATH').and.include('127.0.0.1:9191');
  });

  const usageErrors: Array<[string, string[], RegExp]> = [
    ['no command', [], /usage: sark-authz/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['serve without --policy', ['serve'], /--policy is required/],
    ['an unknown flag', ['serve', '--policy', 'x.rego', '--nope'], /Unknown option '--nope'/],
    ['a bad log level', ['serve', '--policy', 'x.rego', '--log-level', 'loud'], /--log-level must be one of/],
  ];
  for (const [name, args, message] of usageErrors) {
    it(`exits 2 on ${name}`, async () => {
      const r = await run(args);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(message);
    });
  }

  it('exits 1 naming a policy file that does not exist', async () => {
    const r = await run(['serve', '--policy', 'no/such/policy.rego']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('no/such/policy.rego').and.include('no such file or directory');
  });

  it('exits 1 with file:line:col when the policy does not parse', async () => {
    const broken = path.join('test', 'fixtures', 'policies', 'broken.rego');
    const r = await run(['serve', '--policy', broken, '--addr', '127.0.0.1:0']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/test\/fixtures\/policies\/broken\.rego:\d+:\d+: rego_[a-z_]+: /);
    expect(r.stdout).to.not.include('"serving"');
  });

  it('serves Check until SIGTERM, then exits 0', async () => {
    const srv = await startServe(['--policy', path.join(FIXTURES, 'policies', 'decisions.rego'), '--addr', '127.0.0.1:0']);
    try {
      expect(srv.addr).to.match(/^127\.0\.0\.1:\d+$/);
      expect(await healthCheck(srv.addr)).to.equal('SERVING');
      const client = v3Client(srv.addr);
      try {
        expect((await checkV3(client, envoyCheckRequest({ path: '/ok' }))).status?.code).to.equal(GrpcStatus.OK);
        expect((await checkV3(client, envoyCheckRequest({ path: '/plain-deny' }))).status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      } finally {
        client.close();
      }
    } finally {
      expect(await srv.stop()).to.equal(0);
    }
  });
});
