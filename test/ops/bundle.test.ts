/** OPA bundles served by a real nginx: load, 304, update, failures that keep the running policy, signatures, swaps under load. */
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { createEngine } from '../../src/engine/native-engine';
import { decisionRef } from '../../src/config/decision-path';
import { createDecisionCache } from '../../src/cache/create-cache';
import { createAuthzServer, type AuthzServer } from '../../src/server/server';
import { PolicyManager, type PolicyContent } from '../../src/bundle/policy-manager';
import { BundleSource } from '../../src/bundle/sources';
import { parseBundle } from '../../src/bundle/archive';
import { signFiles, verifyBundle, type SigningOptions } from '../../src/bundle/signature';
import { createMetrics } from '../../src/telemetry/metrics';
import { disposeNginx, startNginx, type Nginx } from './helpers/nginx';
import { makeBundle, revBundle, signedBundle } from './helpers/bundles';
import { eventually, startCli } from './helpers/process';
import { parsePrometheusText } from './helpers/prom-text';
import type { AuthorizationClient, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';

const silent = pino({ level: 'silent' });

function rev(res: CheckResponse): string | undefined {
  return res.okResponse?.headers.find((h) => h.header?.key === 'x-rev')?.header?.value;
}

interface Harness {
  manager: PolicyManager;
  source: BundleSource;
  server: AuthzServer;
  addr: string;
  client: AuthorizationClient;
  metrics: ReturnType<typeof createMetrics>;
  close(): Promise<void>;
}

async function harness(url: string, opts: { token?: string; signing?: SigningOptions; minDelayMs?: number; maxDelayMs?: number } = {}): Promise<Harness> {
  const engine = createEngine();
  const metrics = createMetrics({ processMetrics: false });
  const cache = createDecisionCache({ maxEntries: 1000 });
  let server: AuthzServer | null = null;
  const manager = new PolicyManager({
    compile: (c: PolicyContent) => engine.prepare(c.modules, c.data, decisionRef('envoy/authz/allow'), { v0Compatible: c.v0Compatible }),
    activate: (a) => server?.setPolicy(a.policy),
    logger: silent,
    onActivated: (a) => metrics.policyActivated(a.revision, a.source),
    onFailed: (s, c) => metrics.policyLoadFailed(s, c),
  });
  const source = new BundleSource({
    name: 'authz',
    url,
    token: opts.token,
    minDelayMs: opts.minDelayMs ?? 3_600_000,
    maxDelayMs: opts.maxDelayMs ?? 3_600_000,
    backoffBaseMs: 50,
    timeoutMs: 5000,
    signing: opts.signing,
    watch: false,
    manager,
    logger: silent,
  });
  expect(await source.pollOnce(), `first load: ${JSON.stringify(manager.lastFailure)}`).to.equal(true);
  server = createAuthzServer({ policy: manager.active!.policy, addr: '127.0.0.1:0', logger: silent, cache, observer: metrics });
  const addr = await server.listen();
  const client = v3Client(addr);
  return {
    manager,
    source,
    server,
    addr,
    client,
    metrics,
    close: async () => {
      source.stop();
      client.close();
      await server!.close(1000);
    },
  };
}

describe('ops: OPA bundles from a real nginx', function () {
  this.timeout(90000);
  let nginx: Nginx;
  let h: Harness | null = null;

  before(async () => {
    nginx = await startNginx();
  });
  after(async () => {
    await disposeNginx(nginx);
  });
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  it('first load, unchanged (304), update, corrupted archive, compile error, server down', async () => {
    nginx.put('authz.tar.gz', makeBundle(revBundle('v1')));
    h = await harness(`${nginx.url}/authz.tar.gz`);
    expect(h.manager.active!.revision).to.equal('v1');
    expect(rev(await checkV3(h.client, envoyCheckRequest({ path: '/items' })))).to.equal('v1');
    const activatedAt = h.manager.active!.activatedAt;

    // Unchanged: nginx answers 304 to If-None-Match; nothing is recompiled.
    expect(await h.source.pollOnce()).to.equal(true);
    // nginx writes its access log line after sending the response: wait for it.
    await eventually(() => nginx.accessLog().length >= 2, 5000, 'the 304 in the access log');
    expect(nginx.accessLog().slice(-2)).to.deep.equal(['GET /authz.tar.gz 200', 'GET /authz.tar.gz 304']);
    expect(h.manager.active!.activatedAt).to.equal(activatedAt);

    // Update: the next Check after the swap sees the new policy (the cache retired v1's entries).
    nginx.put('authz.tar.gz', makeBundle(revBundle('v2')));
    expect(await h.source.pollOnce()).to.equal(true);
    expect(h.manager.active!.revision).to.equal('v2');
    expect(rev(await checkV3(h.client, envoyCheckRequest({ path: '/items' })))).to.equal('v2');

    const failures: Array<[string, Buffer | string, string | RegExp]> = [
      ['corrupted archive', crypto.randomBytes(300), 'bundle_corrupt'],
      ['truncated archive', makeBundle(revBundle('v3')).subarray(0, 60), 'bundle_corrupt'],
      ['compile error', makeBundle(revBundle('v4', { 'envoy/authz/broken.rego': 'package envoy.authz\n\nallow if { undefined_fn(1) }\n' })), /^rego_/],
      ['package outside the roots', makeBundle(revBundle('v5', { 'other/x.rego': 'package other\n\nx := 1\n' })), 'bundle_invalid'],
    ];
    for (const [what, bytes, code] of failures) {
      nginx.put('authz.tar.gz', bytes);
      expect(await h.source.pollOnce(), what).to.equal(false);
      expect(h.manager.lastFailure!.code, what).to.match(typeof code === 'string' ? new RegExp(`^${code}$`) : code);
      expect(h.manager.active!.revision, what).to.equal('v2');
      expect(rev(await checkV3(h.client, envoyCheckRequest({ path: '/items' }))), what).to.equal('v2');
    }
    // The failing bundle is fetched again (its ETag was not remembered), so a fix is picked up.
    nginx.put('authz.tar.gz', makeBundle(revBundle('v6')));
    expect(await h.source.pollOnce()).to.equal(true);
    expect(h.manager.active!.revision).to.equal('v6');
    expect(h.manager.lastFailure).to.equal(null);

    // Server down: the running policy stays, the failure is counted; back up, polling resumes.
    await nginx.stop();
    expect(await h.source.pollOnce()).to.equal(false);
    expect(h.manager.lastFailure!.code).to.equal('bundle_download_failed');
    expect(rev(await checkV3(h.client, envoyCheckRequest({ path: '/items' })))).to.equal('v6');
    await nginx.start();
    expect(await h.source.pollOnce()).to.equal(true);

    const m = parsePrometheusText(await h.metrics.text());
    expect(m.sum('sark_authz_policy_load_failures_total', { source: 'bundle:authz', code: 'bundle_corrupt' })).to.equal(2);
    expect(m.sum('sark_authz_policy_load_failures_total', { code: 'bundle_download_failed' })).to.equal(1);
    expect(m.sum('sark_authz_policy_load_failures_total', { code: 'bundle_invalid' })).to.equal(1);
    expect(m.find('sark_authz_policy_info')[0].labels).to.deep.equal({ revision: 'v6', source: 'bundle:authz' });
  });

  it('sends the bearer token; a wrong token is a download failure', async () => {
    nginx.put('protected/authz.tar.gz', makeBundle(revBundle('t1')));
    h = await harness(`${nginx.url}/protected/authz.tar.gz`, { token: 'bundle-token' });
    expect(h.manager.active!.revision).to.equal('t1');
    const engine = createEngine();
    let failed = '';
    const manager = new PolicyManager({ compile: (c) => engine.prepare(c.modules, c.data, 'data.envoy.authz.allow'), activate: () => undefined, logger: silent, onFailed: (_s, c) => (failed = c) });
    const src = new BundleSource({ name: 'authz', url: `${nginx.url}/protected/authz.tar.gz`, token: 'wrong', minDelayMs: 1e6, maxDelayMs: 1e6, timeoutMs: 5000, watch: false, manager, logger: silent });
    expect(await src.pollOnce()).to.equal(false);
    expect(failed).to.equal('bundle_download_failed');
    expect(manager.lastFailure!.message).to.include('HTTP 401');
  });

  it('verifies signatures (RS256, ES256, HS256); a bad signature keeps the running policy', async () => {
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
    const signing: SigningOptions = {
      keys: { rsa: { algorithm: 'RS256', key: pem(rsa.publicKey) }, ec: { algorithm: 'ES256', key: pem(ec.publicKey) }, hmac: { algorithm: 'HS256', key: 'shared-secret' } },
    };
    nginx.put('signed.tar.gz', signedBundle(revBundle('s1'), 'RS256', rsa.privateKey, 'rsa'));
    h = await harness(`${nginx.url}/signed.tar.gz`, { signing });
    expect(h.manager.active!.revision).to.equal('s1');
    nginx.put('signed.tar.gz', signedBundle(revBundle('s2'), 'ES256', ec.privateKey, 'ec'));
    expect(await h.source.pollOnce()).to.equal(true);
    nginx.put('signed.tar.gz', signedBundle(revBundle('s3'), 'HS256', 'shared-secret', 'hmac'));
    expect(await h.source.pollOnce()).to.equal(true);
    expect(h.manager.active!.revision).to.equal('s3');

    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const tampered = revBundle('s5');
    const goodSig = signFilesFor(revBundle('s5'), rsa.privateKey);
    const bad: Array<[string, Buffer, RegExp]> = [
      ['signed by another key', signedBundle(revBundle('s4'), 'RS256', other.privateKey, 'rsa'), /does not verify/],
      ['a file changed after signing', makeBundle({ ...tampered, 'config/data.json': JSON.stringify({ rev: 'evil' }), '.signatures.json': goodSig }), /config\/data\.json: hash does not match/],
      ['an unsigned extra file', makeBundle({ ...tampered, 'envoy/authz/extra.rego': 'package envoy.authz\n\nx := 1\n', '.signatures.json': goodSig }), /extra\.rego: not covered/],
      ['no signature', makeBundle(revBundle('s6')), /not signed/],
      ['an unknown key id', signedBundle(revBundle('s7'), 'HS256', 'shared-secret', 'nope'), /key "nope" is not configured/],
      ['the wrong HMAC secret', signedBundle(revBundle('s8'), 'HS256', 'guess', 'hmac'), /does not verify/],
    ];
    for (const [what, bytes, msg] of bad) {
      nginx.put('signed.tar.gz', bytes);
      expect(await h.source.pollOnce(), what).to.equal(false);
      expect(h.manager.lastFailure!.code, what).to.equal('bundle_signature_invalid');
      expect(h.manager.lastFailure!.message, what).to.match(msg);
      expect(rev(await checkV3(h.client, envoyCheckRequest({ path: '/x' }))), what).to.equal('s3');
    }
  });

  it('reports policy.wasm as not evaluated and decides with the .rego modules', async () => {
    const b = await parseBundle(makeBundle(revBundle('w1', { 'policy.wasm': Buffer.from([0, 97, 115, 109]) })));
    expect(b.wasm).to.deep.equal(['policy.wasm']);
    expect(b.manifest.revision).to.equal('w1');
    expect(b.data).to.deep.equal({ config: { rev: 'w1' } });
    expect(() => verifyBundle(b, { keys: { k: { algorithm: 'HS256', key: 'x' } } })).to.throw(/not signed/);
  });

  it('polls on its own (random delay in [min, max]) with If-None-Match and picks up an update', async () => {
    nginx.put('poll.tar.gz', makeBundle(revBundle('p1')));
    h = await harness(`${nginx.url}/poll.tar.gz`, { minDelayMs: 100, maxDelayMs: 200 });
    void h.source.start();
    await eventually(() => nginx.accessLog().filter((l) => l === 'GET /poll.tar.gz 304').length >= 3, 30000, 'three 304 polls');
    nginx.put('poll.tar.gz', makeBundle(revBundle('p2')));
    await eventually(() => h!.manager.active!.revision === 'p2', 30000, 'the update picked up by polling');
    expect(rev(await checkV3(h.client, envoyCheckRequest({ path: '/x' })))).to.equal('p2');
  });

  it('swaps policies under sustained load without failing a request or serving an old decision after the swap', async () => {
    nginx.put('load.tar.gz', makeBundle(revBundle('L0')));
    h = await harness(`${nginx.url}/load.tar.gz`);
    const clients = Array.from({ length: 4 }, () => v3Client(h!.addr));
    let stop = false;
    let sent = 0;
    const errors: unknown[] = [];
    const stale: string[] = [];
    let minRev = 0; // revision number every Check that *starts* now must see at least
    const load = clients.map(async (c) => {
      while (!stop) {
        const floor = minRev;
        try {
          const r = rev(await checkV3(c, envoyCheckRequest({ path: `/items/${sent % 7}` })));
          sent++;
          if (Number(r!.slice(1)) < floor) stale.push(`${r} after L${floor}`);
        } catch (err) {
          errors.push(err);
        }
      }
    });
    try {
      for (let i = 1; i <= 5; i++) {
        nginx.put('load.tar.gz', makeBundle(revBundle(`L${i}`)));
        expect(await h.source.pollOnce()).to.equal(true);
        minRev = i;
        await eventually(() => sent > i * 50, 30000, 'traffic between swaps');
      }
    } finally {
      stop = true;
      await Promise.all(load);
      clients.forEach((c) => c.close());
    }
    expect(errors).to.deep.equal([]);
    expect(stale).to.deep.equal([]);
    expect(h.manager.active!.revision).to.equal('L5');
  });

  it('serve --bundle URL: not ready until the first bundle loads, then serves it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-bcli-'));
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `bundle:\n  url: ${nginx.url}/late.tar.gz\n  polling:\n    min_delay_seconds: 1\n    max_delay_seconds: 1\n`);
    fs.rmSync(path.join(nginx.root, 'late.tar.gz'), { force: true });
    const served = startCli(['serve', '--config', cfg, '--addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0']);
    try {
      const ops = (await served.waitForMsg('ops http serving')).addr as string;
      await served.waitFor((r) => r.msg === 'policy load failed; the running policy stays', 30000, 'a failed first poll');
      const notReady = await fetch(`http://${ops}/health/ready`);
      expect(notReady.status).to.equal(503);
      expect(((await notReady.json()) as { last_error: { code: string } }).last_error.code).to.equal('bundle_download_failed');
      nginx.put('late.tar.gz', makeBundle(revBundle('late-1')));
      const rec = await served.waitForMsg('serving', 60000);
      const ready = await fetch(`http://${ops}/health/ready`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.include({ revision: 'late-1', source: 'bundle:authz' });
      const client = v3Client(rec.addr as string);
      try {
        expect(rev(await checkV3(client, envoyCheckRequest({ path: '/x' })))).to.equal('late-1');
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The signature signedBundle would write, to pair with altered contents. */
function signFilesFor(files: Record<string, string | Buffer>, key: crypto.KeyObject): string {
  return signFiles(new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])), 'RS256', key, 'rsa');
}
