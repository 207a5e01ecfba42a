/** Hot reload of local policy files (watched) and on SIGHUP; a broken edit keeps the running policy. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { eventually, startCli } from './helpers/process';
import { parsePrometheusText } from './helpers/prom-text';
import type { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';

const policy = (tag: string) => `package envoy.authz

allow := {"allowed": true, "headers": {"x-rev": data.config.tag}} if {
	input.parsed_path[0] == "${tag}"
}

default allow := false
`;

const header = (r: CheckResponse) => r.okResponse?.headers.find((h) => h.header?.key === 'x-rev')?.header?.value;

describe('ops: hot reload of local files', function () {
  this.timeout(90000);

  it('reloads on change and on SIGHUP, keeps the running policy when an edit does not compile', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-reload-'));
    const pdir = path.join(dir, 'policy');
    fs.mkdirSync(pdir);
    fs.writeFileSync(path.join(pdir, 'authz.rego'), policy('one'));
    const dataFile = path.join(dir, 'data.json');
    fs.writeFileSync(dataFile, JSON.stringify({ config: { tag: 'data-1' } }));
    const served = startCli(['serve', '--policy', pdir, '--data', dataFile, '--addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0']);
    try {
      const rec = await served.waitForMsg('serving');
      const ops = (await served.waitForMsg('ops http serving')).addr as string;
      const client = v3Client(rec.addr as string);
      const ask = async (p: string) => checkV3(client, envoyCheckRequest({ path: p }));
      try {
        expect(header(await ask('/one'))).to.equal('data-1');

        fs.writeFileSync(path.join(pdir, 'authz.rego'), policy('two'));
        await eventually(async () => header(await ask('/two')) === 'data-1', 30000, 'the edited policy');
        expect((await ask('/one')).status?.code).to.equal(7);

        fs.writeFileSync(path.join(pdir, 'authz.rego'), 'package envoy.authz\n\nallow if {\n');
        await served.waitFor((r) => r.msg === 'policy load failed; the running policy stays', 30000, 'the compile failure');
        expect(header(await ask('/two'))).to.equal('data-1');
        const ready = (await (await fetch(`http://${ops}/health/ready`)).json()) as { last_error?: { code: string } };
        expect(ready.last_error?.code).to.match(/^rego_/);
        const m = parsePrometheusText(await (await fetch(`http://${ops}/metrics`)).text());
        expect(m.sum('sark_authz_policy_load_failures_total', { source: 'files' })).to.be.at.least(1);

        // SIGHUP reloads too (whether or not the watcher saw the change first).
        fs.writeFileSync(path.join(pdir, 'authz.rego'), policy('three'));
        await eventually(async () => header(await ask('/three')) === 'data-1', 30000, 'the fixed policy');
        fs.writeFileSync(dataFile, JSON.stringify({ config: { tag: 'data-2' } }));
        served.child.kill('SIGHUP');
        await eventually(async () => header(await ask('/three')) === 'data-2', 30000, 'the new data');
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a watched directory follows five atomic replacements in a row (write a temporary file, rename it over)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-atomic-'));
    const pdir = path.join(dir, 'policy');
    fs.mkdirSync(path.join(pdir, 'nested'), { recursive: true });
    const target = path.join(pdir, 'nested', 'authz.rego');
    const fixed = (tag: string) => policy(tag).replace('data.config.tag', `"${tag}"`);
    fs.writeFileSync(target, fixed('r0'));
    const served = startCli(['serve', '--policy', pdir, '--addr', '127.0.0.1:0']);
    try {
      const rec = await served.waitForMsg('serving');
      const client = v3Client(rec.addr as string);
      try {
        expect(header(await checkV3(client, envoyCheckRequest({ path: '/r0' })))).to.equal('r0');
        for (let i = 1; i <= 5; i++) {
          // What editors, `sed -i` and config tools do: a new inode renamed over the old name.
          const tmp = path.join(pdir, 'nested', `sed${i}XYZ`);
          fs.writeFileSync(tmp, fixed(`r${i}`));
          fs.renameSync(tmp, target);
          await eventually(async () => header(await checkV3(client, envoyCheckRequest({ path: `/r${i}` }))) === `r${i}`, 15000, `replacement ${i}`);
        }
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reloads on SIGHUP with --watch false', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-hup-'));
    const file = path.join(dir, 'authz.rego');
    fs.writeFileSync(file, policy('a').replace('data.config.tag', '"a"'));
    const served = startCli(['serve', '--policy', file, '--addr', '127.0.0.1:0', '--watch', 'false']);
    try {
      const rec = await served.waitForMsg('serving');
      const client = v3Client(rec.addr as string);
      try {
        expect(header(await checkV3(client, envoyCheckRequest({ path: '/a' })))).to.equal('a');
        fs.writeFileSync(file, policy('b').replace('data.config.tag', '"b"'));
        served.child.kill('SIGHUP');
        await served.waitForMsg('policy loaded');
        expect(header(await checkV3(client, envoyCheckRequest({ path: '/b' })))).to.equal('b');
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
