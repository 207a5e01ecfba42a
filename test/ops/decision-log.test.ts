/** Decision logs: OPA's event format, masking, a real HTTP collector, a bounded queue. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { FIXTURES, SERVER_MODES, startServer, type Running } from '../helpers/server';
import { applyMask, createDecisionLogger, validateMask, type DecisionEvent, type DecisionLogger } from '../../src/telemetry/decision-log';
import { createMetrics } from '../../src/telemetry/metrics';
import { combineObservers } from '../../src/telemetry/metrics';
import type { CheckEvent } from '../../src/server/server';
import type { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { startCollector, type Collector } from './helpers/collector';
import { eventually, startCli } from './helpers/process';
import { parsePrometheusText } from './helpers/prom-text';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');
const NONDETERMINISTIC = path.join(FIXTURES, 'policies', 'nondeterministic.rego');

function headersOf(res: CheckResponse): Record<string, string> {
  return Object.fromEntries((res.okResponse?.headers ?? []).map((h) => [h.header?.key ?? '', h.header?.value ?? '']));
}
const silent = pino({ level: 'silent' });

describe('ops: decision logs', function () {
  this.timeout(60000);
  let collector: Collector;
  let running: Running | null = null;
  let logger: DecisionLogger | null = null;

  beforeEach(async () => {
    collector = await startCollector();
  });
  afterEach(async () => {
    await running?.close();
    await logger?.close();
    await collector.close();
    running = null;
    logger = null;
  });

  it('uploads OPA-format events, gzipped, with input, result, bundle revisions and masking', async () => {
    logger = createDecisionLogger({
      service: { url: collector.url, token: 'secret-token' },
      flushIntervalMs: 100,
      policyInfo: () => ({ revision: 'rev-1', bundles: { authz: { revision: 'rev-1' } } }),
      logger: silent,
    });
    running = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[1], logger);
    const client = v3Client(running.addr);
    try {
      const headers = { authorization: 'Bearer very-secret', cookie: 'session=abc', 'x-role': 'viewer' };
      await checkV3(client, envoyCheckRequest({ path: '/ok', headers }));
      await checkV3(client, envoyCheckRequest({ path: '/ok', headers }));
      await checkV3(client, envoyCheckRequest({ path: '/plain-deny' }));
      await checkV3(client, envoyCheckRequest({ path: '/nothing' })).catch(() => undefined);
    } finally {
      client.close();
    }
    await eventually(() => collector.events.length >= 4, 20000, '4 events at the collector');
    expect(collector.requests[0]['content-encoding']).to.equal('gzip');
    expect(collector.requests[0]['content-type']).to.equal('application/json');
    expect(collector.requests[0].authorization).to.equal('Bearer secret-token');
    const [first, second, deny, error] = collector.events as DecisionEvent[];
    expect(first.decision_id).to.match(/^[0-9a-f-]{36}$/);
    expect(second.decision_id).to.not.equal(first.decision_id);
    expect(first.path).to.equal('envoy/authz/allow');
    // Named bundles carry their revisions in `bundles`; `revision` is OPA's legacy field.
    expect(first).to.not.have.property('revision');
    expect(first.bundles).to.deep.equal({ authz: { revision: 'rev-1' } });
    expect(first.labels).to.have.property('id');
    expect(Date.parse(first.timestamp)).to.be.a('number').and.not.NaN;
    expect(first.result).to.deep.equal({ allowed: true, headers: { 'x-user': 'alice' } });
    expect(first.metrics.timer_rego_query_eval_ns).to.be.a('number');
    expect(first.metrics.timer_server_handler_ns).to.be.a('number');
    expect([first.cached, second.cached]).to.deep.equal([false, true]);
    const h = (first.input as any).attributes.request.http.headers;
    expect(h).to.not.have.property('authorization');
    expect(h).to.not.have.property('cookie');
    expect(h['x-role']).to.equal('viewer');
    expect(first.erased).to.deep.equal(['/input/attributes/request/http/headers/authorization', '/input/attributes/request/http/headers/cookie']);
    expect(JSON.stringify(collector.events)).to.not.include('very-secret').and.not.include('session=abc');
    expect(deny.result).to.equal(false);
    expect(error.error).to.deep.include({ code: 'decision_undefined' });
    expect(error).to.not.have.property('result');
  });

  // Native paths, with and without the cache, and the TypeScript path: every one logs what it served.
  for (const mode of SERVER_MODES.filter((m) => m.engine !== 'wasm')) {
    it(`${mode.name}: logs the input and result the answer was decided on, never a second evaluation`, async () => {
      logger = createDecisionLogger({ service: { url: collector.url }, flushIntervalMs: 50, logger: silent });
      running = await startServer(NONDETERMINISTIC, 'envoy/authz/allow', undefined, mode, logger);
      const client = v3Client(running.addr);
      const served: Array<Record<string, string>> = [];
      try {
        // Each evaluation reads the clock and a random number: a re-evaluation would differ.
        for (let i = 0; i < 3; i++) served.push(headersOf(await checkV3(client, envoyCheckRequest({ path: '/now' }))));
        // A cacheable decision, twice: with the cache the second answer is a hit.
        for (let i = 0; i < 2; i++) served.push(headersOf(await checkV3(client, envoyCheckRequest({ path: '/same' }))));
      } finally {
        client.close();
      }
      await eventually(() => collector.events.length >= 5, 20000, '5 events at the collector');
      const events = collector.events as DecisionEvent[];
      expect(new Set(served.slice(0, 3).map((h) => h['x-now'])).size).to.equal(3);
      expect(events.map((e) => (e.result as { headers: Record<string, string> }).headers)).to.deep.equal(served);
      expect(events.map((e) => (e.input as { parsed_path: string[] }).parsed_path)).to.deep.equal([['now'], ['now'], ['now'], ['same'], ['same']]);
      expect(events.map((e) => e.cached)).to.deep.equal([false, false, false, false, mode.cache]);
      expect(events[0].metrics.timer_rego_query_eval_ns).to.be.a('number');
    });
  }

  it('applies configured mask rules: remove and upsert, like OPA', () => {
    const rules = validateMask(['/input/a/secret', { op: 'upsert', path: '/input/b', value: '***' }, { op: 'remove', path: '/result/token' }, '/input/missing/x']);
    const e = { input: { a: { secret: 1, keep: 2 }, b: 'pii' }, result: { allowed: true, token: 't' } } as unknown as DecisionEvent;
    applyMask(e, rules);
    expect(e.input).to.deep.equal({ a: { keep: 2 }, b: '***' });
    expect(e.result).to.deep.equal({ allowed: true });
    expect(e.erased).to.deep.equal(['/input/a/secret', '/result/token']);
    expect(e.masked).to.deep.equal(['/input/b']);
    expect(() => validateMask(['/headers/x'])).to.throw(/decision_logs\.mask\[0\]: path must start with \/input or \/result/);
    expect(() => validateMask([{ op: 'hide', path: '/input/x' }])).to.throw(/decision_logs\.mask\[0\]\.op/);
  });

  it('drops and counts what does not fit the queue, without blocking Checks', async () => {
    const metrics = createMetrics({ processMetrics: false });
    logger = createDecisionLogger({
      service: { url: collector.url },
      maxQueued: 5,
      flushIntervalMs: 100,
      onDropped: (r, n) => metrics.decisionLogsDropped(r, n),
      onSent: (s, n) => metrics.decisionLogsSent(s, n),
      logger: silent,
    });
    running = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], combineObservers([metrics, logger]));
    // 20 Checks reported within one turn of the event loop: the first 5 are queued, 15 dropped.
    const events: CheckEvent[] = [];
    const capture = { onCheck: (e: CheckEvent) => events.push(e) };
    const r2 = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], capture);
    const client = v3Client(r2.addr);
    try {
      await checkV3(client, envoyCheckRequest({ path: '/ok' }));
    } finally {
      client.close();
      await r2.close();
    }
    for (let i = 0; i < 20; i++) logger.onCheck({ ...events[0], decisionId: () => `id-${i}` });
    expect(logger.dropped).to.deep.equal({ queue_full: 15 });
    await eventually(() => collector.events.length === 5, 20000, '5 events');
    expect(collector.events.map((e) => e.decision_id)).to.deep.equal(['id-0', 'id-1', 'id-2', 'id-3', 'id-4']);
    await eventually(async () => parsePrometheusText(await metrics.text()).sum('sark_authz_decision_logs_sent_total', { sink: 'service' }) === 5);
    const m = parsePrometheusText(await metrics.text());
    expect(m.sum('sark_authz_decision_logs_dropped_total', { reason: 'queue_full' })).to.equal(15);
  });

  it('keeps events while the collector fails and uploads them once it recovers', async () => {
    collector.status = 503;
    logger = createDecisionLogger({ service: { url: collector.url }, flushIntervalMs: 50, retryMinMs: 50, retryMaxMs: 200, logger: silent });
    running = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], logger);
    const client = v3Client(running.addr);
    try {
      for (let i = 0; i < 3; i++) await checkV3(client, envoyCheckRequest({ path: '/plain-allow' }));
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(collector.events).to.have.length(0);
    collector.status = 200;
    await eventually(() => collector.events.length === 3, 20000, '3 events after recovery');
  });

  it('serve --decision-log-console and --decision-log-file write JSON lines', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-dl-'));
    const file = path.join(dir, 'decisions.jsonl');
    const served = startCli(['serve', '--policy', POLICY, '--addr', '127.0.0.1:0', '--decision-log-console', '--decision-log-file', file]);
    try {
      const rec = await served.waitForMsg('serving');
      const client = v3Client(rec.addr as string);
      try {
        await checkV3(client, envoyCheckRequest({ path: '/ok', headers: { authorization: 'Bearer xyz' } }));
      } finally {
        client.close();
      }
      const ev = await served.waitFor((r) => typeof r.decision_id === 'string', 20000, 'a decision event on stdout');
      expect(ev.path).to.equal('envoy/authz/allow');
      expect(JSON.stringify(ev)).to.not.include('Bearer xyz');
      await eventually(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(ev.decision_id as string), 20000, 'the event in the file');
    } finally {
      expect(await served.stop()).to.equal(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
