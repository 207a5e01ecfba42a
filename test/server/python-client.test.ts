/**
 * End to end with another gRPC stack: Python's grpcio, with stubs
 * generated from proto/ at test time, against the real server.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generatePythonStubs, PYTHON, pythonGrpcAvailable } from '../helpers/python';
import { FIXTURES, ROOT, startServer, type Running } from '../helpers/server';

describe('server: Python grpcio client', function () {
  this.timeout(60000);
  let srv: Running;
  let stubs: string;
  before(async function () {
    if (!pythonGrpcAvailable()) throw new Error(`${PYTHON} lacks grpc/grpc_tools: run scripts/install-deps.sh python`);
    stubs = generatePythonStubs();
    srv = await startServer(path.join(FIXTURES, 'policies', 'decisions.rego'));
  });
  after(async () => {
    await srv?.close();
    if (stubs) fs.rmSync(stubs, { recursive: true, force: true });
  });

  /** Runs the client without blocking this process: the server answers from this event loop. */
  function runClient(cases: unknown[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(PYTHON, [path.join(ROOT, 'test', 'python', 'check_client.py'), stubs, srv.addr], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      child.stdin.end(JSON.stringify(cases));
    });
  }

  it('gets allow, deny, deny with status/body/headers, errors and health', async () => {
    const cases = [
      { name: 'allow', path: '/ok' },
      { name: 'deny', path: '/plain-deny' },
      { name: 'login', path: '/login' },
      { name: 'body', method: 'POST', path: '/body?page=1', headers: { 'content-type': 'application/json' }, body: '{"name":"gizmo"}' },
      { name: 'undefined', path: '/nothing' },
    ];
    const r = await runClient(cases);
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const byName = Object.fromEntries(lines.filter((l) => l.name).map((l) => [l.name, l]));

    expect(byName.allow).to.deep.include({ code: 0, http_response: 'ok_response', ok_headers: [['x-user', 'alice']] });
    expect(byName.deny).to.deep.include({ code: 7, http_response: null });
    expect(byName.login).to.deep.include({
      code: 7,
      http_response: 'denied_response',
      denied_status: 401,
      denied_body: 'login required',
      denied_headers: [['www-authenticate', 'Bearer realm="items"']],
    });
    expect(byName.body.ok_headers).to.deep.equal([
      ['x-item', 'gizmo'],
      ['x-page', '1'],
    ]);
    expect(byName.undefined).to.deep.equal({ name: 'undefined', grpc_error: 'INTERNAL', details: 'authorization decision failed (decision_undefined)' });
    expect(byName.allow.decision_id).to.match(/^[0-9a-f-]{36}$/);
    expect(lines[lines.length - 1]).to.deep.equal({ health: 'SERVING' });
  });
});
