/** Prometheus metrics and HTTP health, from a real server and a real HTTP listener. */
import { expect } from 'chai';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, rawCall, v3Client } from '../helpers/grpc-client';
import { FIXTURES, SERVER_MODES, startServer, type Running } from '../helpers/server';
import { createMetrics, type AuthzMetrics } from '../../src/telemetry/metrics';
import { createOpsHttpServer, type OpsHttpServer } from '../../src/telemetry/ops-http';
import { createDecisionCache } from '../../src/cache/create-cache';
import { createAuthzServer } from '../../src/server/server';
import pino from 'pino';
import { parsePrometheusText } from './helpers/prom-text';
import { startCli } from './helpers/process';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

async function scrape(addr: string) {
  const res = await fetch(`http://${addr}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain/);
  return parsePrometheusText(await res.text());
}

describe('ops: metrics and HTTP health', function () {
  this.timeout(60000);
  let running: Running;
  let metrics: AuthzMetrics;
  let ops: OpsHttpServer;
  let opsAddr: string;
  let ready = false;

  before(async () => {
    metrics = createMetrics();
    running = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], metrics);
    ops = createOpsHttpServer({
      addr: '127.0.0.1:0',
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.text() }),
      readiness: () => ({ ready, detail: { revision: ready ? 'r1' : null } }),
    });
    opsAddr = await ops.listen();
  });
  after(async () => {
    await running.close();
    await ops.close();
  });

  it('answers /health always and /health/ready only once a policy is active', async () => {
    expect((await fetch(`http://${opsAddr}/health`)).status).to.equal(200);
    const notReady = await fetch(`http://${opsAddr}/health/ready`);
    expect(notReady.status).to.equal(503);
    expect(await notReady.json()).to.include({ status: 'not_ready' });
    ready = true;
    const r = await fetch(`http://${opsAddr}/health/ready`);
    expect(r.status).to.equal(200);
    expect(await r.json()).to.deep.equal({ status: 'ok', revision: 'r1' });
    expect((await fetch(`http://${opsAddr}/nope`)).status).to.equal(404);
  });

  it('counts requests by result and gRPC code, latency and errors by code', async () => {
    const client = v3Client(running.addr);
    try {
      for (let i = 0; i < 3; i++) await checkV3(client, envoyCheckRequest({ path: '/ok' }));
      await checkV3(client, envoyCheckRequest({ path: '/plain-deny' }));
      await checkV3(client, envoyCheckRequest({ path: '/bad%zzescape' }));
      const err = await checkV3(client, envoyCheckRequest({ path: '/undefined-here' })).catch((e: { code: number }) => e);
      expect((err as { code: number }).code).to.equal(GrpcStatus.INTERNAL);
    } finally {
      client.close();
    }
    const bad = await rawCall(running.addr, '/envoy.service.auth.v3.Authorization/Check', Buffer.from([0xff, 0xff, 0xff])).catch((e: { code: number }) => e);
    expect((bad as { code: number }).code).to.equal(GrpcStatus.INVALID_ARGUMENT);

    const m = await scrape(opsAddr);
    expect(m.types.sark_authz_requests_total).to.equal('counter');
    expect(m.sum('sark_authz_requests_total', { result: 'allow', grpc_code: '0' })).to.equal(3);
    expect(m.sum('sark_authz_requests_total', { result: 'deny', grpc_code: '0' })).to.equal(1);
    expect(m.sum('sark_authz_requests_total', { result: 'bad_request', grpc_code: '0' })).to.equal(1);
    expect(m.sum('sark_authz_requests_total', { result: 'error', grpc_code: String(GrpcStatus.INTERNAL) })).to.equal(1);
    expect(m.sum('sark_authz_requests_total', { result: 'error', grpc_code: String(GrpcStatus.INVALID_ARGUMENT) })).to.equal(1);
    expect(m.sum('sark_authz_errors_total', { code: 'decision_undefined' })).to.equal(1);
    expect(m.sum('sark_authz_errors_total', { code: 'request_malformed' })).to.equal(1);
    expect(m.types.sark_authz_check_duration_seconds).to.equal('histogram');
    expect(m.sum('sark_authz_check_duration_seconds_count')).to.equal(7);
    expect(m.sum('sark_authz_check_duration_seconds_bucket', { result: 'allow', le: '+Inf' })).to.equal(3);
    expect(m.find('process_cpu_seconds_total')).to.have.length(0);
    expect(m.find('sark_authz_process_cpu_seconds_total')).to.have.length(1);
  });

  it('exports the decision cache stats and the policy revision', async () => {
    const cache = createDecisionCache({ maxEntries: 2 });
    const cm = createMetrics({ processMetrics: false });
    cm.watchCache(cache);
    const before = Date.now() / 1000;
    cm.policyActivated('rev-7', 'bundle:authz');
    const r = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], cm);
    // The helper's server has no cache; run one with ours to see hits, misses and evictions.
    await r.close();
    const server = createAuthzServer({ policy: r.server.policy, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }), cache, observer: cm });
    const addr = await server.listen();
    const client = v3Client(addr);
    try {
      for (const p of ['/ok', '/ok', '/plain-allow', '/plain-deny', '/login']) await checkV3(client, envoyCheckRequest({ path: p }));
    } finally {
      client.close();
      await server.close(1000);
    }
    const m = parsePrometheusText(await cm.text());
    expect(m.sum('sark_authz_cache_hits_total')).to.equal(1);
    expect(m.sum('sark_authz_cache_misses_total')).to.equal(4);
    const stats = cache.stats();
    expect(stats.evictions).to.be.at.least(1);
    expect(m.sum('sark_authz_cache_evictions_total')).to.equal(stats.evictions);
    expect(m.sum('sark_authz_cache_entries')).to.equal(stats.entries).and.to.be.above(0);
    expect(m.find('sark_authz_policy_info', { revision: 'rev-7', source: 'bundle:authz' })[0].value).to.equal(1);
    expect(m.sum('sark_authz_policy_last_activation_timestamp_seconds')).to.be.at.least(Math.floor(before));
    cm.policyLoadFailed('bundle:authz', 'bundle_download_failed');
    cm.policyActivated('rev-8', 'bundle:authz');
    const m2 = parsePrometheusText(await cm.text());
    expect(m2.find('sark_authz_policy_info')).to.have.length(1);
    expect(m2.find('sark_authz_policy_info')[0].labels.revision).to.equal('rev-8');
    expect(m2.sum('sark_authz_policy_load_failures_total', { code: 'bundle_download_failed' })).to.equal(1);
    expect(m2.sum('sark_authz_policy_activations_total')).to.equal(2);
  });

  for (const [engine, env] of [['native', {}], ['wasm', { SARK_NATIVE: '0' }]] as const) {
    it(`serve --metrics-addr (${engine} engine): /metrics counts by grpc_code as bench/grpc-bench.js scrapes them, and names the engine`, async () => {
      const served = startCli(['serve', '--policy', POLICY, '--addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0'], env);
      try {
        const opsRec = await served.waitForMsg('ops http serving');
        const grpcRec = await served.waitForMsg('serving');
        const client = v3Client(grpcRec.addr as string);
        try {
          await checkV3(client, envoyCheckRequest({ path: '/ok' }));
          await checkV3(client, envoyCheckRequest({ path: '/plain-deny' }));
        } finally {
          client.close();
        }
        const text = await (await fetch(`http://${opsRec.addr as string}/metrics`)).text();
        // The benchmark's own regular expression.
        const counts: Record<string, number> = {};
        for (const line of text.split('\n')) {
          const mm = line.match(/^sark_authz_requests_total\{([^}]*)\}\s+([0-9.e+]+)/);
          if (!mm) continue;
          const code = (mm[1].match(/grpc_code="([^"]*)"/) || [])[1] || '?';
          counts[code] = (counts[code] || 0) + Number(mm[2]);
        }
        expect(counts).to.deep.equal({ '0': 2 });
        const info = parsePrometheusText(text).find('sark_authz_engine_info');
        expect(info.map((x) => [x.labels, x.value])).to.deep.equal([[{ engine }, 1]]);
        expect((await fetch(`http://${opsRec.addr as string}/health/ready`)).status).to.equal(200);
      } finally {
        expect(await served.stop()).to.equal(0);
      }
    });
  }
});
