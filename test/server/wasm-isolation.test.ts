/**
 * Isolation with the wasm engine (issue 16.3; no addon, SARK_NATIVE=0): a
 * Check that needs more than the inline step budget is finished in a worker
 * thread holding its own instance of the engine and policy, so a cheap Check
 * on another connection is answered while an expensive one runs; the cap
 * refuses excess with RESOURCE_EXHAUSTED; a client that cancels stops its
 * worker; a deadline ends its Check; workers follow policy swaps; the
 * decision a worker made is cached. The ordering test runs against `sark-authz
 * serve` with SARK_NATIVE=0 in its own process; the others against the server
 * in this process over the wasm engine, whose events and metrics they read.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { LruDecisionCache } from '../../src/cache/lru-fallback';
import { loadPolicyModules } from '../../src/config/policy-files';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { AuthorizationClient, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer, type AuthzServer, type CheckEvent } from '../../src/server/server';
import { createMetrics, combineObservers } from '../../src/telemetry/metrics';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { healthClient } from '../helpers/grpc-client';
import { startServe, type ServeProcess } from '../helpers/cli';
import { ENGINE_ENV, FIXTURES } from '../helpers/server';
import { parsePrometheusText } from '../ops/helpers/prom-text';

const HAZARDS = path.join(FIXTURES, 'policies', 'hazards.rego');
/** How long the expensive Check must run alone, so that it is still running when the cheap one is sent. */
const HAZARD_MS = 600;

let run = 0;
/** Every request is new to the decision cache (the policy reads all headers). */
const unique = () => String(++run);

function call(client: AuthorizationClient, headers: Record<string, string>, deadlineMs = 60_000): { done: Promise<CheckResponse>; cancel(): void } {
  let c: grpc.ClientUnaryCall | undefined;
  const done = new Promise<CheckResponse>((resolve, reject) => {
    c = client.check(envoyCheckRequest({ path: '/x', headers }), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  return { done, cancel: () => c?.cancel() };
}
const check = (client: AuthorizationClient, headers: Record<string, string>, deadlineMs?: number) => call(client, headers, deadlineMs).done;
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: grpc.ServiceError) => e);
const codeOf = (p: Promise<CheckResponse>) => p.then((r) => r.status?.code ?? 0, (e: grpc.ServiceError) => `grpc ${e.code}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msSince = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const hazard = (n: number) => ({ 'x-hazard': 'comprehension', 'x-n': String(n), 'x-run': unique() });

/** Grows `x-n` until one comprehension alone runs HAZARD_MS, or ends at its step budget (bounded). */
async function sizeHazard(client: AuthorizationClient): Promise<number> {
  let n = 200;
  for (let i = 0; i < 12; i++) {
    const t = process.hrtime.bigint();
    const err = await failure(check(client, hazard(n)));
    if (err || msSince(t) >= HAZARD_MS) break;
    n = Math.ceil(n * 1.5);
  }
  return n;
}

describe('server (wasm engine, no addon): expensive Checks run in worker threads', function () {
  this.timeout(300_000);

  it('answers a cheap Check on another connection, and a health probe, before an expensive one ends (serve, SARK_NATIVE=0)', async () => {
    const serving: ServeProcess = await startServe(['--policy', HAZARDS, '--addr', '127.0.0.1:0'], 20_000, ENGINE_ENV.wasm);
    const hazardClient = new AuthorizationClient(serving.addr, grpc.credentials.createInsecure());
    const cheapClient = new AuthorizationClient(serving.addr, grpc.credentials.createInsecure());
    const health = healthClient(serving.addr);
    try {
      // Connections up before the expensive Check starts: the cheap calls wait for nothing but the server.
      expect(await codeOf(check(hazardClient, { 'x-run': unique() }))).to.equal(grpc.status.OK);
      expect(await codeOf(check(cheapClient, { 'x-run': unique() }))).to.equal(grpc.status.OK);
      expect(await health.probe()).to.equal('SERVING');
      const ended: string[] = [];
      // Runs to serve's step budget (10^7 steps: seconds in WebAssembly), then fails with eval_limit_error.
      const t = process.hrtime.bigint();
      const expensive = codeOf(check(hazardClient, { 'x-hazard': 'spin', 'x-n': '100000', 'x-run': unique() })).finally(() => ended.push('expensive'));
      await sleep(100);
      const cheap = await codeOf(check(cheapClient, { 'x-run': unique() }));
      ended.push('cheap');
      const probed = await health.probe();
      ended.push('health');
      const code = await expensive;
      console.log(`      ended ${JSON.stringify(ended)}; the expensive Check (${code}) after ${msSince(t).toFixed(0)} ms`);
      expect(cheap).to.equal(grpc.status.OK);
      expect(probed).to.equal('SERVING');
      expect(ended).to.deep.equal(['cheap', 'health', 'expensive']);
      // It ran to its step budget.
      expect(code).to.equal(`grpc ${grpc.status.INTERNAL}`);
    } finally {
      health.close();
      hazardClient.close();
      cheapClient.close();
      await serving.stop();
    }
  });

  describe('in this process', () => {
    let server: AuthzServer;
    let events: CheckEvent[];
    let metrics: ReturnType<typeof createMetrics>;
    let client: AuthorizationClient;
    let other: AuthorizationClient;
    let n: number;

    before(async () => {
      events = [];
      metrics = createMetrics({ processMetrics: false });
      const policy = new WasmEngine().prepare(loadPolicyModules(HAZARDS), {}, 'data.envoy.authz.allow', { maxSteps: 2_000_000_000 });
      server = createAuthzServer({
        policy,
        addr: '127.0.0.1:0',
        logger: pino({ level: 'silent' }),
        cache: new LruDecisionCache({ maxEntries: 1000, maxBytes: 1 << 20 }),
        observer: combineObservers([metrics, { onCheck: (e) => events.push(e) }]),
        offload: { inlineSteps: 5000, maxOffloaded: 1 },
      });
      const addr = await server.listen();
      client = new AuthorizationClient(addr, grpc.credentials.createInsecure());
      other = new AuthorizationClient(addr, grpc.credentials.createInsecure());
      n = await sizeHazard(client);
    });
    after(async () => {
      client?.close();
      other?.close();
      await server?.close(1000);
    });

    /** Waits (bounded, generous) until the server has observed `count` more Checks than `before`. */
    async function observed(before: number, count = 1, withinMs = 30_000): Promise<CheckEvent[]> {
      for (let i = 0; i < withinMs / 50 && events.length < before + count; i++) await sleep(50);
      return events.slice(before);
    }

    it('refuses an expensive Check with every worker busy (RESOURCE_EXHAUSTED), answers cheap ones', async () => {
      const first = check(client, hazard(n));
      await sleep(100);
      const err = await failure(check(other, hazard(n)));
      expect(err?.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(err?.details).to.equal('authorization server busy (capacity_exhausted)');
      expect(await codeOf(check(other, { 'x-run': unique() }))).to.equal(grpc.status.OK);
      expect(await codeOf(first)).to.equal(grpc.status.OK);
      const m = parsePrometheusText(await metrics.text());
      expect(m.sum('sark_authz_errors_total', { code: 'capacity_exhausted' })).to.equal(1);
    });

    it('caches the decision a worker made: the same request is then a hit on the event loop', async () => {
      const headers = hazard(n);
      const before = events.length;
      const res = await check(client, headers);
      const again = await check(other, headers);
      expect(res.status?.code).to.equal(grpc.status.OK);
      expect(again.status?.code).to.equal(grpc.status.OK);
      expect(events.slice(before).map((e) => [e.outcome, e.cacheHit])).to.deep.equal([
        ['allow', false],
        ['allow', true],
      ]);
      expect(events[before].decisionId()).to.equal(res.dynamicMetadata?.decision_id);
    });

    it('stops the worker of a Check whose client cancels, and frees its slot', async () => {
      const before = events.length;
      // 10^10 iterations: nothing but its 60 s deadline (or a step budget minutes away) would end it.
      const long = call(client, { 'x-hazard': 'spin', 'x-n': '100000', 'x-run': unique() });
      await sleep(100);
      long.cancel();
      // Observed within 20 s (generous), long before its deadline.
      expect(await observed(before, 1, 20_000)).to.have.length(1);
      expect(events.slice(before).map((e) => [e.outcome, e.code, e.grpcStatus])).to.deep.equal([['error', 'eval_cancelled', grpc.status.CANCELLED]]);
      const m = parsePrometheusText(await metrics.text());
      expect(m.sum('sark_authz_errors_total', { code: 'eval_cancelled' })).to.equal(1);
      // The one slot is free (a new worker): the next expensive Check is evaluated, not refused.
      expect(await codeOf(check(other, hazard(n)))).to.equal(grpc.status.OK);
    });

    it('ends an offloaded Check at its deadline: DEADLINE_EXCEEDED, never an answer', async () => {
      const before = events.length;
      const err = await failure(check(client, { 'x-hazard': 'spin', 'x-n': '100000', 'x-run': unique() }, 150));
      expect(err?.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      await observed(before);
      expect(events.slice(before).map((e) => [e.outcome, e.code])).to.deep.equal([['error', 'eval_timeout']]);
      expect(await codeOf(check(other, hazard(n)))).to.equal(grpc.status.OK);
    });

    it('evaluates with the policy swapped in since', async () => {
      // The same hazards, each now denied: workers must not answer with the policy they hold.
      const source = fs.readFileSync(HAZARDS, 'utf8').replace('i != j]) > 0', 'i != j]) < 0');
      const previous = server.policy;
      server.setPolicy(new WasmEngine().prepare([{ name: 'hazards.rego', source }], {}, 'data.envoy.authz.allow', { maxSteps: 2_000_000_000 }));
      try {
        expect(await codeOf(check(client, hazard(n)))).to.equal(grpc.status.PERMISSION_DENIED);
      } finally {
        server.setPolicy(previous);
      }
      expect(await codeOf(check(client, hazard(n)))).to.equal(grpc.status.OK);
    });
  });
});
