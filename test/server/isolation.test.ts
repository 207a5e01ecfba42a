/**
 * Isolation (issue 16.3), through the real server and the real addon: a
 * Check that needs more than the inline step budget is finished on a native
 * thread, so cheap Checks on another connection and health probes are
 * answered while expensive ones run; the cap on such Checks refuses excess
 * with RESOURCE_EXHAUSTED; a client that cancels stops its Check's
 * evaluation and frees its thread; a decision finished past its deadline is never
 * served; offloaded Checks keep their decision id, cache entry and metrics.
 * Latencies are measured against `sark-authz serve` in its own process, so
 * that the clients' clock never waits on the server's event loop.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import pino from 'pino';
import { createDecisionCache } from '../../src/cache/create-cache';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { AuthorizationClient, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer, type AuthzServer, type CheckEvent, type OffloadOptions } from '../../src/server/server';
import { createMetrics, combineObservers } from '../../src/telemetry/metrics';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { healthClient } from '../helpers/grpc-client';
import { startServe, type ServeProcess } from '../helpers/cli';
import { FIXTURES } from '../helpers/server';
import { parsePrometheusText } from '../ops/helpers/prom-text';

const HAZARDS = ['comprehension', 'union', 'yaml', 'number'] as const;
type Hazard = (typeof HAZARDS)[number];

/** How long each hazard must run alone, so that it is still running when the cheap Checks are sent. */
const HAZARD_MS = 600;

let run = 0;
/** Every request is new to the decision cache (the policy reads all headers). */
const unique = () => String(++run);

function check(client: AuthorizationClient, headers: Record<string, string>, deadlineMs = 60_000): Promise<CheckResponse> {
  return new Promise((resolve, reject) =>
    client.check(envoyCheckRequest({ path: '/x', headers }), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: grpc.ServiceError) => e);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msSince = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

interface Served {
  server: AuthzServer;
  addr: string;
  events: CheckEvent[];
  metrics: ReturnType<typeof createMetrics>;
  close(): Promise<void>;
}

/** The real server over the hazard policy, with a large step budget so hazards end by their size. */
async function serve(offload?: OffloadOptions, timeoutMs = 0): Promise<Served> {
  const policy = createEngine().prepare(loadPolicyModules(path.join(FIXTURES, 'policies', 'hazards.rego')), {}, 'data.envoy.authz.allow', { maxSteps: 2_000_000_000, timeoutMs });
  const events: CheckEvent[] = [];
  const metrics = createMetrics({ processMetrics: false });
  const server = createAuthzServer({
    policy,
    addr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    cache: createDecisionCache({ maxEntries: 1000 }),
    observer: combineObservers([metrics, { onCheck: (e) => events.push(e) }]),
    offload,
  });
  const addr = await server.listen();
  return { server, addr, events, metrics, close: () => server.close(5000) };
}

describe('server: expensive Checks run off the event loop', function () {
  this.timeout(300_000);
  /** Per hazard, the `x-n` that makes it run at least HAZARD_MS alone. */
  const sizes = {} as Record<Hazard, number>;
  let main: Served;
  let hazardClient: AuthorizationClient;
  let cheapClient: AuthorizationClient;
  let serving: ServeProcess;

  before(async () => {
    main = await serve();
    hazardClient = new AuthorizationClient(main.addr, grpc.credentials.createInsecure());
    cheapClient = new AuthorizationClient(main.addr, grpc.credentials.createInsecure());
    serving = await startServe(['--policy', path.join(FIXTURES, 'policies', 'hazards.rego'), '--addr', '127.0.0.1:0']);
    // Sized on this machine and build: grown until one hazard alone runs long enough, or its step budget ends it (bounded).
    const client = new AuthorizationClient(serving.addr, grpc.credentials.createInsecure());
    const start: Record<Hazard, number> = { comprehension: 300, union: 4000, yaml: 4000, number: 2000 };
    try {
      for (const hazard of HAZARDS) {
        let n = start[hazard];
        for (let i = 0; i < 12; i++) {
          const t = process.hrtime.bigint();
          const err = await failure(check(client, { 'x-hazard': hazard, 'x-n': String(n), 'x-run': unique() }));
          if (err || msSince(t) >= HAZARD_MS) break;
          n = Math.ceil(n * (hazard === 'comprehension' ? 1.5 : 2));
        }
        sizes[hazard] = n;
      }
    } finally {
      client.close();
    }
    console.log(`      hazard sizes (each runs >= ${HAZARD_MS} ms alone, or to its step budget): ${JSON.stringify(sizes)}`);
  });
  after(async () => {
    hazardClient?.close();
    cheapClient?.close();
    await main?.close();
    await serving?.stop();
  });

  it('answers a cheap Check and a health probe in well under 250 ms while four hazards run', async () => {
    const hazardClient = new AuthorizationClient(serving.addr, grpc.credentials.createInsecure());
    const cheapClient = new AuthorizationClient(serving.addr, grpc.credentials.createInsecure());
    const health = healthClient(serving.addr);
    try {
      // Connections up before the hazards start: the figures are the calls alone.
      expect((await check(cheapClient, { 'x-run': unique() })).status?.code).to.equal(grpc.status.OK);
      expect(await health.probe()).to.equal('SERVING');
      const finished: number[] = [];
      // Each ends in an answer, or an error at its step budget: either way it ran.
      const hazards = HAZARDS.map((hazard) =>
        check(hazardClient, { 'x-hazard': hazard, 'x-n': String(sizes[hazard]), 'x-run': unique() }).then(
          (res) => res.status?.code,
          (err: grpc.ServiceError) => err.code,
        ).finally(() => finished.push(Date.now())),
      );
      await sleep(100);
      let t = process.hrtime.bigint();
      const cheap = await check(cheapClient, { 'x-run': unique() });
      const cheapMs = msSince(t);
      t = process.hrtime.bigint();
      const probed = await health.probe();
      const healthMs = msSince(t);
      const answeredAt = Date.now();
      const codes = await Promise.all(hazards);
      console.log(`      while 4 hazards ran: cheap Check ${cheapMs.toFixed(1)} ms, health probe ${healthMs.toFixed(1)} ms; hazards ended ${Math.min(...finished) - answeredAt}..${Math.max(...finished) - answeredAt} ms later`);
      expect(cheap.status?.code).to.equal(grpc.status.OK);
      expect(probed).to.equal('SERVING');
      expect(cheapMs).to.be.lessThan(250);
      expect(healthMs).to.be.lessThan(250);
      // The figures mean something only if every hazard was still running.
      expect(Math.min(...finished)).to.be.greaterThan(answeredAt);
      expect(codes.every((c) => c === grpc.status.OK || c === grpc.status.INTERNAL), String(codes)).to.equal(true);
    } finally {
      health.close();
      hazardClient.close();
      cheapClient.close();
    }
  });

  it('keeps the decision id, cache entry and metrics of an offloaded Check', async () => {
    const headers = { 'x-hazard': 'union', 'x-n': String(sizes.union), 'x-run': unique() };
    const before = main.events.length;
    const res = await check(hazardClient, headers);
    expect(res.status?.code).to.equal(grpc.status.OK);
    const event = main.events[before];
    expect(event).to.include({ outcome: 'allow', grpcStatus: 0, cacheHit: false });
    expect(event.evalSeconds).to.be.greaterThan(0);
    expect(event.decisionId()).to.equal(res.dynamicMetadata?.decision_id);
    // The worker cached the decision: the same request is a hit, answered inline with a fresh id.
    const t = process.hrtime.bigint();
    const again = await check(cheapClient, headers);
    expect(msSince(t)).to.be.lessThan(HAZARD_MS);
    expect(main.events[before + 1]).to.include({ outcome: 'allow', cacheHit: true });
    expect(again.dynamicMetadata?.decision_id).to.match(/^[0-9a-f-]{36}$/).and.not.equal(res.dynamicMetadata?.decision_id);
    const m = parsePrometheusText(await main.metrics.text());
    expect(m.sum('sark_authz_requests_total', { result: 'allow' })).to.equal(main.events.filter((e) => e.outcome === 'allow').length);
  });

  it('never serves a decision finished past the deadline', async () => {
    const before = main.events.length;
    const t = process.hrtime.bigint();
    const err = await failure(check(hazardClient, { 'x-hazard': 'comprehension', 'x-n': String(sizes.comprehension), 'x-run': unique() }, 150));
    expect(err?.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(msSince(t)).to.be.lessThan(HAZARD_MS);
    // The server stops at the deadline and records an error, never an allow.
    for (let i = 0; i < 100 && main.events.length === before; i++) await sleep(20);
    expect(main.events.slice(before).map((e) => [e.outcome, e.code])).to.deep.equal([['error', 'eval_timeout']]);
  });

  describe('with every thread busy', () => {
    let capped: Served;
    let client: AuthorizationClient;
    before(async () => {
      capped = await serve({ inlineSteps: 5000, maxOffloaded: 1 });
      client = new AuthorizationClient(capped.addr, grpc.credentials.createInsecure());
    });
    after(async () => {
      client?.close();
      await capped?.close();
    });

    it('refuses another expensive Check with RESOURCE_EXHAUSTED, counted, and answers cheap ones', async () => {
      const hazard = () => check(client, { 'x-hazard': 'comprehension', 'x-n': String(sizes.comprehension), 'x-run': unique() });
      const first = hazard();
      await sleep(100);
      const err = await failure(hazard());
      expect(err?.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(err?.details).to.equal('authorization server busy (capacity_exhausted)');
      expect((await check(client, { 'x-run': unique() })).status?.code).to.equal(grpc.status.OK);
      expect((await first).status?.code).to.equal(grpc.status.OK);
      const m = parsePrometheusText(await capped.metrics.text());
      expect(m.sum('sark_authz_errors_total', { code: 'capacity_exhausted' })).to.equal(1);
      expect(m.sum('sark_authz_requests_total', { result: 'error', grpc_code: String(grpc.status.RESOURCE_EXHAUSTED) })).to.equal(1);
      // The thread is free again.
      expect((await hazard()).status?.code).to.equal(grpc.status.OK);
    });

    it('stops the evaluation of a Check whose client cancels, and frees its thread', async () => {
      const before = capped.events.length;
      // 10^10 iterations: nothing but its 60 s deadline (or a step budget minutes away) would end it.
      const long = client.check(envoyCheckRequest({ path: '/x', headers: { 'x-hazard': 'spin', 'x-n': '100000', 'x-run': unique() } }), new grpc.Metadata(), { deadline: Date.now() + 60_000 }, () => {});
      await sleep(100);
      long.cancel();
      // The server observes the Check once its thread has let go of it: within 20 s (generous), long before its deadline.
      for (let i = 0; i < 400 && capped.events.length === before; i++) await sleep(50);
      expect(capped.events.slice(before).map((e) => [e.outcome, e.code, e.grpcStatus])).to.deep.equal([['error', 'eval_cancelled', grpc.status.CANCELLED]]);
      const m = parsePrometheusText(await capped.metrics.text());
      expect(m.sum('sark_authz_errors_total', { code: 'eval_cancelled' })).to.equal(1);
      // Its one thread is free: the next expensive Check is evaluated, not refused.
      expect((await check(client, { 'x-hazard': 'comprehension', 'x-n': String(sizes.comprehension), 'x-run': unique() })).status?.code).to.equal(grpc.status.OK);
    });
  });

  it('bounds the memory of one evaluation by --max-eval-memory', async () => {
    // 1.6 MB of string: under the default bound (64 MiB), over a 1 MiB one.
    const headers = () => ({ 'x-hazard': 'memory', 'x-n': '100000', 'x-run': unique() });
    const client = new AuthorizationClient(serving.addr, grpc.credentials.createInsecure());
    const small = await startServe(['--policy', path.join(FIXTURES, 'policies', 'hazards.rego'), '--addr', '127.0.0.1:0', '--max-eval-memory', '1048576']);
    const bounded = new AuthorizationClient(small.addr, grpc.credentials.createInsecure());
    try {
      expect((await check(client, headers())).status?.code).to.equal(grpc.status.OK);
      const err = await failure(check(bounded, headers()));
      expect(err?.code).to.equal(grpc.status.INTERNAL);
      expect(err?.details).to.equal('authorization decision failed (eval_limit_error)');
    } finally {
      client.close();
      bounded.close();
      await small.stop();
    }
  });

  describe('with --eval-timeout', () => {
    let timed: Served;
    let client: AuthorizationClient;
    before(async () => {
      timed = await serve(undefined, 100);
      client = new AuthorizationClient(timed.addr, grpc.credentials.createInsecure());
    });
    after(async () => {
      client?.close();
      await timed?.close();
    });

    it('ends an offloaded evaluation at its budget with an error', async () => {
      const t = process.hrtime.bigint();
      const err = await failure(check(client, { 'x-hazard': 'comprehension', 'x-n': String(sizes.comprehension), 'x-run': unique() }));
      expect(err?.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      expect(msSince(t)).to.be.lessThan(HAZARD_MS);
      expect(timed.events.map((e) => [e.outcome, e.code])).to.deep.equal([['error', 'eval_timeout']]);
    });
  });
});
