/** serve --workers N: one address, requests spread over workers, a dead worker replaced, metrics aggregated. */
import { expect } from 'chai';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3 } from '../helpers/grpc-client';
import { FIXTURES } from '../helpers/server';
import { AuthorizationClient } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { eventually, freePort, startCli } from './helpers/process';
import { parsePrometheusText } from './helpers/prom-text';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

/** A client with its own connection (grpc-js otherwise shares one per target). */
const ownClient = (addr: string) => new AuthorizationClient(addr, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });

/** One Check with a deadline, on a fresh connection each attempt; retried when the connection failed. */
async function checkWithRetry(addr: string, attempts = 20): Promise<void> {
  for (let i = 1; ; i++) {
    const c = ownClient(addr);
    try {
      await new Promise<void>((resolve, reject) =>
        c.check(envoyCheckRequest({ path: '/ok' }), new grpc.Metadata(), { deadline: new Date(Date.now() + 5000) }, (err) => (err ? reject(err) : resolve())),
      );
      return;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (i >= attempts || (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      c.close();
    }
  }
}

describe('ops: worker processes', function () {
  this.timeout(180000);

  it('spreads connections over workers, replaces a killed one, and loses nothing a retry cannot absorb', async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const served = startCli(['serve', '--policy', POLICY, '--addr', addr, '--workers', '2', '--metrics-addr', '127.0.0.1:0', '--decision-log-console', '--no-cache']);
    try {
      const ops = (await served.waitForMsg('ops http serving')).addr as string;
      await eventually(() => served.records.filter((r) => r.msg === 'worker serving').length >= 2, 60000, 'two workers serving');
      await eventually(async () => (await fetch(`http://${ops}/health/ready`)).status === 200, 30000, 'ready');
      const pids = served.records.filter((r) => r.msg === 'worker serving').map((r) => r.pid as number);
      expect(new Set(pids).size).to.equal(2);

      // Many connections: the cluster hands them to both workers (each worker's decision logger has its own id).
      let answered = 0;
      for (let round = 0; round < 6; round++) {
        const clients = Array.from({ length: 4 }, () => ownClient(addr));
        try {
          await Promise.all(clients.map(async (c) => {
            await checkV3(c, envoyCheckRequest({ path: '/ok' }));
            answered++;
          }));
        } finally {
          clients.forEach((c) => c.close());
        }
      }
      await eventually(() => served.records.filter((r) => typeof r.decision_id === 'string').length >= answered, 30000, 'every decision logged');
      const loggers = new Set(served.records.filter((r) => typeof r.decision_id === 'string').map((r) => (r.labels as { id: string }).id));
      expect(loggers.size, 'workers that answered').to.equal(2);

      // /metrics on the primary sums every worker's counters.
      const m = parsePrometheusText(await (await fetch(`http://${ops}/metrics`)).text());
      expect(m.sum('sark_authz_requests_total', { result: 'allow', grpc_code: '0' })).to.equal(answered);

      // Kill one worker under load: every request succeeds, with a retry where its connection died.
      let stop = false;
      let ok = 0;
      const failures: unknown[] = [];
      const load = Array.from({ length: 4 }, async () => {
        while (!stop) {
          try {
            await checkWithRetry(addr);
            ok++;
          } catch (err) {
            failures.push(err);
          }
        }
      });
      await eventually(() => ok > 20, 30000, 'traffic');
      process.kill(pids[0], 'SIGKILL');
      await served.waitFor((r) => r.msg === 'worker died; replacing it', 30000, 'the primary noticing');
      await eventually(() => served.records.filter((r) => r.msg === 'worker serving').length >= 3, 60000, 'a replacement worker');
      const after = ok;
      await eventually(() => ok > after + 20, 30000, 'traffic after the replacement');
      stop = true;
      await Promise.all(load);
      expect(failures).to.deep.equal([]);
      await eventually(async () => (await fetch(`http://${ops}/health/ready`)).status === 200, 30000, 'ready again');
    } finally {
      expect(await served.stop('SIGTERM', 30000)).to.equal(0);
    }
  });

  it('survives all workers dying together: replaces them and serves again on the same port', async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    // No --metrics-addr: nothing but the primary's own state may keep it alive.
    const served = startCli(['serve', '--policy', POLICY, '--addr', addr, '--workers', '2']);
    try {
      await eventually(() => served.records.filter((r) => r.msg === 'worker serving').length >= 2, 60000, 'two workers serving');
      const pids = served.records.filter((r) => r.msg === 'worker serving').map((r) => r.pid as number);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      await eventually(() => served.records.filter((r) => r.msg === 'worker died; replacing it').length >= 2, 30000, 'both deaths noticed');
      await eventually(() => served.records.filter((r) => r.msg === 'worker serving').length >= 4, 60000, 'two replacement workers');
      expect(served.child.exitCode, 'the primary is still running').to.equal(null);
      await checkWithRetry(addr);
    } finally {
      expect(await served.stop('SIGTERM', 30000)).to.equal(0);
    }
  });

  it('gives up with exit 1 and the reason when no worker can start (address in use)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const served = startCli(['serve', '--policy', POLICY, '--addr', `127.0.0.1:${port}`, '--workers', '2']);
      expect(await served.exited).to.equal(1);
      expect(served.stderr).to.match(/workers_failed: worker \d+ could not start/);
    } finally {
      blocker.close();
    }
  });

  it('exits 1 before forking when the policy does not compile', async () => {
    const served = startCli(['serve', '--policy', path.join(FIXTURES, 'policies', 'broken.rego'), '--addr', '127.0.0.1:0', '--workers', '2']);
    expect(await served.exited).to.equal(1);
    expect(served.stderr).to.match(/broken\.rego:\d+:\d+: rego_/);
  });
});
