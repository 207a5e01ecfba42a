/**
 * Drop-in: policies written for opa-envoy-plugin, in the shapes its
 * documentation shows (the Envoy tutorial's JWT policy, an object decision
 * with headers and a status, an Istio-era Rego v0 policy), served unchanged
 * by `sark-authz serve` as a user starts it and asked by the real grpc-js
 * client with Envoy-shaped CheckRequests — with both engines (the addon,
 * and the wasm one under SARK_NATIVE=0).
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { startServe, type ServeProcess } from '../helpers/cli';
import { envoyCheckRequest, type EnvoyRequestSpec } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { ENGINE_ENV, FIXTURES } from '../helpers/server';

const DOCS = path.join(FIXTURES, 'policies', 'plugin-docs');
const TIMEOUT = 60000;

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

/** An HS256 token signed with the tutorial's secret. */
function token(claims: Record<string, unknown>, secret = 'secret'): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
}

const live = (role: string, firstname: string) => ({ role, sub: b64url(firstname), nbf: nowS() - 60, exp: nowS() + 600 });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = (o: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(o) });

type HeaderOption = { header?: { key: string; value: string } };
const headerMap = (hs: HeaderOption[] = []) => Object.fromEntries(hs.map((h) => [h.header?.key, h.header?.value]));

for (const engine of ['native', 'wasm'] as const) {
  describe(`examples: opa-envoy-plugin policies served unchanged (${engine} engine)`, function () {
    this.timeout(TIMEOUT);

    let serve: ServeProcess | undefined;
    afterEach(async () => {
      await serve?.stop();
      serve = undefined;
    });

    const start = async (file: string, ...flags: string[]) => {
      serve = await startServe(['--policy', path.join(DOCS, file), '--addr', '127.0.0.1:0', ...flags], TIMEOUT - 5000, ENGINE_ENV[engine]);
      const client = v3Client(serve.addr);
      return async (spec: EnvoyRequestSpec): Promise<CheckResponse> => checkV3(client, envoyCheckRequest(spec));
    };
    const code = (res: CheckResponse) => res.status?.code;

    it("the Envoy tutorial's JWT policy: roles, glob paths, a body rule, expiry and signature", async () => {
      const check = await start('tutorial-jwt.rego');
      const guest = token(live('guest', 'alice'));
      const admin = token(live('admin', 'bob'));
      expect(code(await check({ method: 'GET', path: '/people', headers: bearer(guest) }))).to.equal(GrpcStatus.OK);
      // `*` stops at the delimiter `/`: the query string matches, a deeper path does not.
      expect(code(await check({ method: 'GET', path: '/people?page=2', headers: bearer(guest) }))).to.equal(GrpcStatus.OK);
      expect(code(await check({ method: 'GET', path: '/people/42', headers: bearer(guest) }))).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(code(await check({ method: 'GET', path: '/admin', headers: bearer(admin) }))).to.equal(GrpcStatus.PERMISSION_DENIED);
      // POST needs the admin role and a first name matching the token's subject.
      const post = (t: string, firstname: string) => {
        const b = json({ firstname });
        return check({ method: 'POST', path: '/people', headers: { ...bearer(t), ...b.headers }, body: b.body });
      };
      expect(code(await post(admin, 'Bob'))).to.equal(GrpcStatus.OK);
      expect(code(await post(admin, 'Charlie'))).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(code(await post(guest, 'Alice'))).to.equal(GrpcStatus.PERMISSION_DENIED);
      // Expired, not yet valid, wrongly signed, absent.
      const expired = token({ role: 'admin', sub: b64url('bob'), nbf: nowS() - 600, exp: nowS() - 1 });
      const early = token({ role: 'admin', sub: b64url('bob'), nbf: nowS() + 600, exp: nowS() + 1200 });
      for (const headers of [bearer(expired), bearer(early), bearer(token(live('admin', 'bob'), 'not-the-secret')), {}]) {
        expect(code(await check({ method: 'GET', path: '/people', headers }))).to.equal(GrpcStatus.PERMISSION_DENIED);
      }
    });

    it('an object decision: headers on allow, status, body and headers on deny, headers to remove', async () => {
      const check = await start('result-object.rego', '--path', 'envoy/authz/result');
      const ok = await check({ method: 'GET', path: '/x' });
      expect(code(ok)).to.equal(GrpcStatus.OK);
      expect(headerMap(ok.okResponse?.headers)).to.deep.equal({ 'x-ext-auth-allow': 'yes', 'x-validated-by': 'security-checkpoint' });
      expect(ok.okResponse?.headersToRemove).to.deep.equal(['one-auth-header', 'another-auth-header']);
      expect(headerMap(ok.okResponse?.responseHeadersToAdd)).to.deep.equal({ 'x-foo': 'bar' });
      expect(ok.dynamicMetadata?.decision_id).to.match(/^[0-9a-f-]{36}$/);

      const unauthenticated = await check({ method: 'POST', path: '/x' });
      expect(code(unauthenticated)).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(unauthenticated.deniedResponse?.status?.code).to.equal(401);
      expect(unauthenticated.deniedResponse?.body).to.equal('Unauthorized Request');
      expect(headerMap(unauthenticated.deniedResponse?.headers)).to.deep.equal({ 'x-ext-auth-allow': 'yes', 'x-validated-by': 'security-checkpoint' });

      const forbidden = await check({ method: 'POST', path: '/x', headers: { authorization: 'Bearer x' } });
      expect(forbidden.deniedResponse?.status?.code).to.equal(403);
      expect(forbidden.deniedResponse?.body).to.equal('Forbidden');
    });

    it('a Rego v0 policy (--v0-compatible): imports of input, a set of roles, parsed_query, a CIDR rule', async () => {
      const check = await start('istio-v0.rego', '--v0-compatible', '--path', 'istio/authz/allow');
      expect(code(await check({ path: '/health' }))).to.equal(GrpcStatus.OK);
      expect(code(await check({ path: '/api/items', headers: { 'x-user': 'alice' } }))).to.equal(GrpcStatus.OK);
      expect(code(await check({ path: '/api/items', headers: { 'x-user': 'bob' } }))).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(code(await check({ method: 'POST', path: '/api/items', headers: { 'x-user': 'alice' } }))).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(code(await check({ path: '/z?debug=true', sourceAddress: '10.1.2.3' }))).to.equal(GrpcStatus.OK);
      expect(code(await check({ path: '/z?debug=true', sourceAddress: '192.168.1.1' }))).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(code(await check({ path: '/z?debug=false', sourceAddress: '10.1.2.3' }))).to.equal(GrpcStatus.PERMISSION_DENIED);
    });
  });
}
