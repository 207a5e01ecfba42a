/**
 * Budgets inside builtins through the real server (issue 16.2): hostile
 * requests against hostile policies end in a gRPC error (so Envoy applies
 * `status_on_error`), are counted in metrics, and never come back as allow;
 * the server answers a cheap Check right after. Both engines: the addon and
 * the same engine in WebAssembly.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import pino from 'pino';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { CheckResponse, AuthorizationClient } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer } from '../../src/server/server';
import { createMetrics } from '../../src/telemetry/metrics';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { FIXTURES } from '../helpers/server';
import { parsePrometheusText } from '../ops/helpers/prom-text';

function check(client: AuthorizationClient, headers: Record<string, string>, deadlineMs = 10_000): Promise<CheckResponse> {
  return new Promise((resolve, reject) =>
    client.check(envoyCheckRequest({ path: '/x', headers }), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: grpc.ServiceError) => e);

describe('server: budgets inside builtins', function () {
  this.timeout(120_000);

  for (const engine of ['native', 'wasm'] as const) {
    describe(`${engine} engine`, () => {
      const metrics = createMetrics({ processMetrics: false });
      let server: ReturnType<typeof createAuthzServer>;
      let client: AuthorizationClient;

      before(async () => {
        const policy = (engine === 'wasm' ? new WasmEngine() : createEngine()).prepare(loadPolicyModules(path.join(FIXTURES, 'policies', 'hostile.rego')), {}, 'data.envoy.authz.allow');
        server = createAuthzServer({ policy, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }), observer: metrics });
        client = new AuthorizationClient(await server.listen(), grpc.credentials.createInsecure());
      });
      after(async () => {
        client.close();
        await server.close(1000);
      });

      it('refuses to_number of a 1 MB numeric header with an error, not allow', async () => {
        const started = Date.now();
        const err = await failure(check(client, { 'x-number': '1' + '0'.repeat(1 << 20) }));
        expect(err?.code).to.equal(grpc.status.INTERNAL);
        expect(err?.details).to.not.match(/bytes|longer/); // no internal text for the client
        expect(Date.now() - started).to.be.lessThan(2_000);
      });

      it('stops repeated string doubling at the memory bound', async () => {
        const err = await failure(check(client, { 'x-double': 'yes' }));
        expect(err?.code).to.equal(grpc.status.INTERNAL);
      });

      it('merges 20,000 objects with object.union_n in linear time', async () => {
        const started = Date.now();
        const res = await check(client, { 'x-union': '20000' });
        expect(res.status?.code).to.equal(grpc.status.OK);
        expect(Date.now() - started).to.be.lessThan(2_000);
      });

      it('counts the limit errors and keeps answering cheap Checks', async () => {
        const started = Date.now();
        expect((await check(client, { 'x-cheap': 'yes' })).status?.code).to.equal(grpc.status.OK);
        expect(Date.now() - started).to.be.lessThan(1_000);
        const m = parsePrometheusText(await metrics.text());
        expect(m.sum('sark_authz_evaluation_limits_exceeded_total', { limit: 'steps_depth_memory' })).to.equal(2);
        expect(m.sum('sark_authz_errors_total', { code: 'eval_limit_error' })).to.equal(2);
      });
    });
  }
});
