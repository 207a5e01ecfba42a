/**
 * Runaway evaluation: Envoy's grpc-timeout stops the work (the client sees
 * DEADLINE_EXCEEDED), the step budget ends what has no deadline, and the
 * server keeps answering in both cases.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import pino from 'pino';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { CheckResponse, AuthorizationClient } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer, type CheckEvent } from '../../src/server/server';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { FIXTURES } from '../helpers/server';

function check(client: AuthorizationClient, p: string, deadlineMs?: number): Promise<CheckResponse> {
  const options = deadlineMs ? { deadline: Date.now() + deadlineMs } : {};
  return new Promise((resolve, reject) => client.check(envoyCheckRequest({ path: p }), new grpc.Metadata(), options, (err, res) => (err ? reject(err) : resolve(res))));
}

describe('server: evaluation limits', function () {
  this.timeout(60000);

  for (const engine of ['native', 'wasm'] as const) {
    it(`stops a runaway evaluation at Envoy's deadline and keeps serving (${engine} engine)`, async () => {
      const events: CheckEvent[] = [];
      const policy = (engine === 'wasm' ? new WasmEngine() : createEngine()).prepare(loadPolicyModules(path.join(FIXTURES, 'policies', 'runaway.rego')), {}, 'data.envoy.authz.allow', { maxSteps: 0 });
      const server = createAuthzServer({ policy, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }), observer: { onCheck: (e) => events.push(e) } });
      const addr = await server.listen();
      const client = new AuthorizationClient(addr, grpc.credentials.createInsecure());
      try {
        const started = Date.now();
        const err = await check(client, '/spin', 300).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        expect(err?.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
        // The server stopped too: the next request is answered without waiting for 10^10 steps.
        expect((await check(client, '/ok')).status?.code).to.equal(grpc.status.OK);
        expect(Date.now() - started).to.be.lessThan(30000);
        // On the addon the runaway runs on a Check thread (the cheap Check did not wait for it): its event comes when it stops.
        for (let i = 0; i < 250 && !events.some((e) => e.outcome === 'error'); i++) await new Promise((r) => setTimeout(r, 20));
        expect(events.find((e) => e.outcome === 'error')?.code).to.equal('eval_timeout');
      } finally {
        client.close();
        await server.close(1000);
      }
    });
  }

  it('ends an evaluation without a deadline at the step budget, with a generic error', async () => {
    const policy = createEngine().prepare(loadPolicyModules(path.join(FIXTURES, 'policies', 'runaway.rego')), {}, 'data.envoy.authz.allow', { maxSteps: 200000 });
    const server = createAuthzServer({ policy, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    const addr = await server.listen();
    const client = new AuthorizationClient(addr, grpc.credentials.createInsecure());
    try {
      const err = await check(client, '/spin').then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).to.equal(grpc.status.INTERNAL);
      expect(err?.details).to.equal('authorization decision failed (eval_limit_error)');
      expect((await check(client, '/ok')).status?.code).to.equal(grpc.status.OK);
    } finally {
      client.close();
      await server.close(1000);
    }
  });
});
