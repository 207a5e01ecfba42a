/**
 * Every command's whole output reaches a pipe (issue 13.8): the process
 * used to exit while a piped stdout still held all but its first 64 KiB.
 * The reader here is slow on purpose (it starts reading late), as `jq` on a
 * busy machine is.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN } from '../helpers/cli';
import { ROOT } from '../helpers/server';

/** Runs `sark-authz ARGS` with stdout a pipe read only after `lateMs`; resolves to the exit code and all of stdout. */
function runPiped(args: string[], lateMs: number): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), lateMs);
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(chunks), stderr });
    });
  });
}

describe('cli: output through a pipe', function () {
  this.timeout(90000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-pipe-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('eval delivers a 5 MB result whole', async () => {
    const r = await runPiped(['eval', 'numbers.range(1, 450000)'], 1000);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.length).to.be.greaterThan(5_000_000);
    const out = JSON.parse(r.stdout.toString('utf8')) as { result: Array<{ expressions: Array<{ value: number[] }> }> };
    const value = out.result[0].expressions[0].value;
    expect(value.length).to.equal(450000);
    expect(value[449999]).to.equal(450000);
  });

  it('capabilities | python3 -m json.tool (a late reader) is complete JSON', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" capabilities | (sleep 1; python3 -m json.tool) > "${path.join(dir, 'caps.json')}"`], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(r.status, r.stderr).to.equal(0);
    const caps = JSON.parse(fs.readFileSync(path.join(dir, 'caps.json'), 'utf8')) as { builtins: unknown[] };
    expect(caps.builtins.length).to.be.greaterThan(100);
  });

  it('a reader that stops early (| head) ends the command without an error', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" capabilities | head -c 10 > /dev/null; echo "status $?"`], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(r.stdout).to.include('status 0');
    expect(r.stderr).to.not.match(/EPIPE|Error/);
  });
});
