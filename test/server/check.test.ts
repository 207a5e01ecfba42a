/**
 * End to end: the real server, the real engine, real gRPC clients on
 * loopback, requests shaped as Envoy sends them.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { createAuthzServer } from '../../src/server/server';
import { CheckRequest as CheckRequestV2, CheckResponse as CheckResponseV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { envoyCheckRequest, encodeEnvoyCheckRequest, type EnvoyRequestSpec } from '../helpers/envoy-request';
import { checkV3, healthCheck, rawCall, reflectionRequest, v3Client } from '../helpers/grpc-client';
import { FIXTURES, ROOT, SERVER_MODES, startServer, type Running } from '../helpers/server';

const V3 = '/envoy.service.auth.v3.Authorization/Check';
const V2 = '/envoy.service.auth.v2.Authorization/Check';

async function check(addr: string, spec: EnvoyRequestSpec): Promise<CheckResponse> {
  const client = v3Client(addr);
  try {
    return await checkV3(client, envoyCheckRequest(spec));
  } finally {
    client.close();
  }
}

async function checkError(addr: string, spec: EnvoyRequestSpec): Promise<ServiceError> {
  try {
    await check(addr, spec);
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the Check to fail');
}

const headerPairs = (hs: Array<{ header?: { key: string; value: string } }> = []) => hs.map((h) => [h.header?.key, h.header?.value]);

for (const mode of SERVER_MODES) {
  describe(`server (${mode.name}): example RBAC policy over grpc-js`, function () {
    this.timeout(20000);
    let srv: Running;
    before(async () => {
      srv = await startServer(path.join(ROOT, 'envoy', 'policies', 'example.rego'), undefined, undefined, mode);
    });
    after(() => srv?.close());

    const cases: Array<[string, EnvoyRequestSpec, boolean]> = [
      ['anyone reads /health', { method: 'GET', path: '/health' }, true],
      ['a viewer lists items', { method: 'GET', path: '/api/v1/items?page=2', headers: { 'x-role': 'viewer' } }, true],
      ['a viewer may not create items', { method: 'POST', path: '/api/v1/items', headers: { 'x-role': 'viewer', 'content-type': 'application/json' }, body: '{"name":"x"}' }, false],
      ['an editor creates items', { method: 'POST', path: '/api/v1/items', headers: { 'x-role': 'editor', 'content-type': 'application/json' }, body: '{"name":"x"}' }, true],
      ['an editor updates an item', { method: 'PUT', path: '/api/v1/items/42', headers: { 'x-role': 'editor' } }, true],
      ['an editor may not delete', { method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'editor' } }, false],
      ['an admin deletes', { method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'admin' } }, true],
      ['an admin reaches /admin from 10.x', { method: 'GET', path: '/admin/users', headers: { 'x-role': 'admin' }, sourceAddress: '10.0.0.7' }, true],
      ['an admin may not reach /admin from outside', { method: 'GET', path: '/admin/users', headers: { 'x-role': 'admin' }, sourceAddress: '203.0.113.9' }, false],
      ['no role, no items', { method: 'GET', path: '/api/v1/items' }, false],
    ];
    for (const [name, spec, allowed] of cases) {
      it(`${name} → ${allowed ? 'OK' : 'PERMISSION_DENIED'}`, async () => {
        const res = await check(srv.addr, spec);
        expect(res.status?.code).to.equal(allowed ? GrpcStatus.OK : GrpcStatus.PERMISSION_DENIED);
        expect(res.deniedResponse).to.equal(undefined);
        expect(res.dynamicMetadata?.decision_id).to.match(/^[0-9a-f-]{36}$/);
      });
    }

    it('gives each of 400 concurrent Checks its own answer and decision id', async () => {
      // Allowed and denied requests interleaved on one connection: a response
      // sent from a buffer reused by a later Check would show up here.
      const client = v3Client(srv.addr);
      try {
        const specs = Array.from({ length: 400 }, (_, i) => cases[i % cases.length]);
        const answers = await Promise.all(specs.map(([, spec]) => checkV3(client, envoyCheckRequest(spec))));
        answers.forEach((res, i) => expect(res.status?.code, specs[i][0]).to.equal(specs[i][2] ? GrpcStatus.OK : GrpcStatus.PERMISSION_DENIED));
        const ids = new Set(answers.map((res) => res.dynamicMetadata?.decision_id));
        expect(ids.size).to.equal(400);
      } finally {
        client.close();
      }
    });

    it('reports SERVING on grpc.health.v1', async () => {
      expect(await healthCheck(srv.addr)).to.equal('SERVING');
      expect(await healthCheck(srv.addr, 'envoy.service.auth.v3.Authorization')).to.equal('SERVING');
    });

    it('lists its services over server reflection', async () => {
      const res = await reflectionRequest(srv.addr, { list_services: '' });
      const names = res.list_services_response.service.map((s: { name: string }) => s.name);
      expect(names).to.include.members(['envoy.service.auth.v3.Authorization', 'envoy.service.auth.v2.Authorization', 'grpc.health.v1.Health']);
    });

    it('describes the Authorization service over server reflection', async () => {
      const res = await reflectionRequest(srv.addr, { file_containing_symbol: 'envoy.service.auth.v3.Authorization' });
      const files: Buffer[] = res.file_descriptor_response.file_descriptor_proto;
      expect(files.length).to.be.greaterThan(0);
      expect(Buffer.concat(files).toString('latin1')).to.include('envoy/service/auth/v3/external_auth.proto').and.include('CheckRequest');
    });

    it('answers a malformed CheckRequest with INVALID_ARGUMENT and keeps serving', async () => {
      // Field 1 (attributes), length-delimited, claims 16 bytes but carries 1.
      const err = await rawCall(srv.addr, V3, Buffer.from([0x0a, 0x10, 0x01])).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(err?.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
      expect(err?.details).to.equal('malformed CheckRequest (request_malformed)');
      const res = await check(srv.addr, { path: '/health' });
      expect(res.status?.code).to.equal(GrpcStatus.OK);
    });

    it('answers the v2 API with the same decisions', async () => {
      const bytes = encodeEnvoyCheckRequest({ method: 'GET', path: '/api/v1/items', headers: { 'x-role': 'viewer' } });
      // v2 shares the field numbers: the same bytes are a v2 CheckRequest.
      expect(CheckRequestV2.decode(bytes).attributes?.request?.http?.method).to.equal('GET');
      const allowed = CheckResponseV2.decode(await rawCall(srv.addr, V2, bytes));
      expect(allowed.status?.code).to.equal(GrpcStatus.OK);
      const denied = CheckResponseV2.decode(await rawCall(srv.addr, V2, encodeEnvoyCheckRequest({ method: 'DELETE', path: '/api/v1/items/1' })));
      expect(denied.status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
    });
  });

  describe(`server (${mode.name}): decisions, errors and bad requests`, function () {
    this.timeout(20000);
    let srv: Running;
    before(async () => {
      srv = await startServer(path.join(FIXTURES, 'policies', 'decisions.rego'), undefined, undefined, mode);
    });
    after(() => srv?.close());

    it('allows with ok_response headers from an object decision', async () => {
      const res = await check(srv.addr, { path: '/ok' });
      expect(res.status?.code).to.equal(GrpcStatus.OK);
      expect(headerPairs(res.okResponse?.headers)).to.deep.equal([['x-user', 'alice']]);
    });

    it('allows and denies with a boolean decision, without an http response', async () => {
      const allow = await check(srv.addr, { path: '/plain-allow' });
      expect(allow.status?.code).to.equal(GrpcStatus.OK);
      expect(allow.okResponse).to.equal(undefined);
      const deny = await check(srv.addr, { path: '/plain-deny' });
      expect(deny.status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(deny.deniedResponse).to.equal(undefined);
    });

    it('denies with the status, body and headers the decision gives', async () => {
      const res = await check(srv.addr, { path: '/login' });
      expect(res.status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(res.deniedResponse?.status?.code).to.equal(401);
      expect(res.deniedResponse?.body).to.equal('login required');
      expect(headerPairs(res.deniedResponse?.headers)).to.deep.equal([['www-authenticate', 'Bearer realm="items"']]);
    });

    it('gives the policy the parsed JSON body and query', async () => {
      const res = await check(srv.addr, { method: 'POST', path: '/body?page=3', headers: { 'content-type': 'application/json' }, body: '{"name":"widget"}' });
      expect(res.status?.code).to.equal(GrpcStatus.OK);
      expect(headerPairs(res.okResponse?.headers)).to.deep.equal([
        ['x-item', 'widget'],
        ['x-page', '3'],
      ]);
    });

    it('answers an undefined decision with a gRPC error and a generic message', async () => {
      const err = await checkError(srv.addr, { path: '/nothing-matches' });
      expect(err.code).to.equal(GrpcStatus.INTERNAL);
      expect(err.details).to.equal('authorization decision failed (decision_undefined)');
    });

    it('answers a decision of the wrong shape with a gRPC error', async () => {
      const err = await checkError(srv.addr, { path: '/string' });
      expect(err.code).to.equal(GrpcStatus.INTERNAL);
      expect(err.details).to.equal('authorization decision failed (decision_invalid)');
    });

    it('answers an evaluation error with a gRPC error that leaks no engine text', async () => {
      const err = await checkError(srv.addr, { path: '/conflict' });
      expect(err.code).to.equal(GrpcStatus.INTERNAL);
      expect(err.details).to.match(/^authorization decision failed \([a-z_]+\)$/);
      expect(err.details).to.not.match(/\.rego|:\d+:|multiple outputs/);
    });

    it('denies a request whose path does not decode with 400 and a generic body', async () => {
      const res = await check(srv.addr, { path: '/ok%zz' });
      expect(res.status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(res.deniedResponse?.status?.code).to.equal(400);
      expect(res.deniedResponse?.body).to.equal('bad request');
    });

    it('keeps serving after all of that', async () => {
      expect((await check(srv.addr, { path: '/ok' })).status?.code).to.equal(GrpcStatus.OK);
    });
  });
}

describe('server: unix socket', function () {
  this.timeout(20000);
  it('serves Check on unix:/path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-authz-uds-'));
    const policy = createEngine().prepare(loadPolicyModules(path.join(FIXTURES, 'policies', 'decisions.rego')), {}, 'data.envoy.authz.allow');
    const server = createAuthzServer({ policy, addr: `unix:${path.join(dir, 'authz.sock')}`, logger: pino({ level: 'silent' }) });
    const addr = await server.listen();
    try {
      expect(addr).to.equal(`unix:${path.join(dir, 'authz.sock')}`);
      expect((await check(addr, { path: '/ok' })).status?.code).to.equal(GrpcStatus.OK);
    } finally {
      await server.close(1000);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
