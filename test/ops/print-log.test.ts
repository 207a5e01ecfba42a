/**
 * print() in a served policy: each line goes to the server log at info, as
 * opa-envoy-plugin logs it (`line`: `file.rego:N`, the message as `opa eval`
 * writes it), with the Check's decision id. A cache hit did not evaluate, so
 * it prints nothing.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { FIXTURES, ROOT } from '../helpers/server';
import { startCli, type LogRecord } from './helpers/process';

const POLICY = path.join(FIXTURES, 'policies', 'nondeterministic.rego');
const OPA = path.join(ROOT, '.build/go/bin/opa');

/** `file.rego:N` of the first line of `policy` containing `text`. */
function lineOf(text: string): string {
  const n = fs.readFileSync(POLICY, 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;
  return `${POLICY}:${n}`;
}

/** What the real `opa eval` prints to stderr for `input` (its message text). */
function opaPrints(input: unknown): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-print-'));
  try {
    fs.writeFileSync(path.join(dir, 'input.json'), JSON.stringify(input));
    const r = spawnSync(OPA, ['eval', '-d', POLICY, '-i', path.join(dir, 'input.json'), 'data.envoy.authz.allow'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    return r.stderr.split('\n').filter(Boolean);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('ops: print() in the server log', function () {
  this.timeout(60000);

  it('logs each print line with its file:line and decision id; a cache hit prints nothing; a failing Check still logs its prints', async () => {
    const served = startCli(['serve', '--policy', POLICY, '--addr', '127.0.0.1:0']);
    const prints = (): LogRecord[] => served.records.filter((r) => typeof r.line === 'string');
    try {
      const rec = await served.waitForMsg('serving');
      const client = v3Client(rec.addr as string);
      let first;
      try {
        first = await checkV3(client, envoyCheckRequest({ path: '/same' }));
        await checkV3(client, envoyCheckRequest({ path: '/same' })); // a cache hit
        await checkV3(client, envoyCheckRequest({ path: '/fails' })).catch(() => undefined);
      } finally {
        client.close();
      }
      await served.waitFor((r) => r.msg === 'before the error', 20000, 'the failing Check\'s print');
      const lines = prints();
      expect(lines.map((r) => [r.line, r.msg, r.level])).to.deep.equal([
        [lineOf('print("path"'), 'path ["same"] missing: <undefined>', 30],
        [lineOf('print("before'), 'before the error', 30],
      ]);
      expect(lines[0].decision_id).to.equal(first.dynamicMetadata?.decision_id);
      expect(lines[1].decision_id).to.match(/^[0-9a-f-]{36}$/);
      if (fs.existsSync(OPA)) {
        // The message is the real opa's, for the same input document.
        expect(lines[0].msg).to.equal(opaPrints({ parsed_path: ['same'] })[0]);
      }
    } finally {
      expect(await served.stop()).to.equal(0);
    }
  });
});
