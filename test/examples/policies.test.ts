/**
 * Every example policy in envoy/policies/, served by the real server (real
 * engine, real gRPC listener on a free loopback port) and asked by the real
 * grpc-js client with CheckRequests shaped as Envoy sends them — once per
 * server mode. Plus: each policy starts under `sark-authz serve` as a user runs it.
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { AuthorizationClient, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { startServe } from '../helpers/cli';
import { envoyCheckRequest, type EnvoyRequestSpec } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { FIXTURES, ROOT, SERVER_MODES, startServer, type Running } from '../helpers/server';

const POLICIES = path.join(ROOT, 'envoy', 'policies');
/** Generous: the suite must pass on a slow, shared 2-core machine. */
const TIMEOUT = 60000;

// ---- HS256 tokens, made here with node:crypto ----

const CONSTANT_SECRET = 'example-secret-change-me'; // jwt.rego's fallback
const DATA_SECRET = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'examples', 'jwt-secret.json'), 'utf8')).jwt.secret as string;
const ISS = 'https://issuer.example.com';
const AUD = 'api';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function jwt(claims: Record<string, unknown>, secret = CONSTANT_SECRET, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const head = b64url(JSON.stringify(header));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

/** Claims that verify (issuer, audience, ten minutes left), for `sub` with `roles`. */
const good = (sub: string, roles: string[], extra: Record<string, unknown> = {}) => ({ sub, roles, iss: ISS, aud: AUD, iat: now(), exp: now() + 600, ...extra });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

// ---- response helpers ----

type HeaderOption = { header?: { key: string; value: string } };
const headerMap = (hs: HeaderOption[] = []) => Object.fromEntries(hs.map((h) => [h.header?.key, h.header?.value]));
const denied = (res: CheckResponse) => ({
  grpc: res.status?.code,
  http: res.deniedResponse?.status?.code,
  headers: headerMap(res.deniedResponse?.headers),
  body: res.deniedResponse?.body,
});

for (const mode of SERVER_MODES) {
  describe(`examples: envoy/policies through the server (${mode.name})`, function () {
    this.timeout(TIMEOUT);

    const servers = new Map<string, { srv: Running; client: AuthorizationClient }>();
    const start = async (name: string, policy: string, dataFile?: string) => {
      const srv = await startServer(path.join(POLICIES, policy), 'envoy/authz/allow', dataFile, mode);
      servers.set(name, { srv, client: v3Client(srv.addr) });
    };
    before(async () => {
      await start('example', 'example.rego');
      await start('jwt', 'jwt.rego');
      await start('jwt+data', 'jwt.rego', path.join(FIXTURES, 'examples', 'jwt-secret.json'));
      await start('headers', 'headers.rego');
      await start('body', 'body.rego');
    });
    after(async () => {
      for (const { srv, client } of servers.values()) {
        client.close();
        await srv.close();
      }
      servers.clear();
    });

    async function check(server: string, spec: EnvoyRequestSpec): Promise<CheckResponse> {
      const res = await checkV3(servers.get(server)!.client, envoyCheckRequest(spec));
      // Every answer carries its decision id, allowed or not.
      expect(res.dynamicMetadata?.decision_id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      return res;
    }

    describe('example.rego (path/method RBAC)', () => {
      const role = (r: string) => ({ 'x-role': r });
      const cases: Array<[string, EnvoyRequestSpec, boolean]> = [
        ['GET /health without a role', { path: '/health' }, true],
        ['POST /health', { method: 'POST', path: '/health' }, false],
        ['GET /public/logo.png without a role', { path: '/public/logo.png' }, true],
        ['GET /public alone', { path: '/public' }, false],
        ['a viewer HEAD on an item', { method: 'HEAD', path: '/api/v1/items/7', headers: role('viewer') }, true],
        ['a viewer GET with a query', { path: '/api/v1/items?page=2&sort=name', headers: role('viewer') }, true],
        ['a viewer PUT', { method: 'PUT', path: '/api/v1/items/7', headers: role('viewer') }, false],
        ['an editor POST on the collection', { method: 'POST', path: '/api/v1/items', headers: { ...role('editor'), 'content-type': 'application/json' }, body: '{"name":"x"}' }, true],
        ['an editor POST on an item', { method: 'POST', path: '/api/v1/items/7', headers: role('editor') }, false],
        ['an editor PUT on the collection', { method: 'PUT', path: '/api/v1/items/', headers: role('editor') }, false],
        ['an editor DELETE', { method: 'DELETE', path: '/api/v1/items/7', headers: role('editor') }, false],
        ['an admin DELETE', { method: 'DELETE', path: '/api/v1/items/7', headers: role('admin') }, true],
        ['an admin in /admin from 10.x', { path: '/admin/users', headers: role('admin'), sourceAddress: '10.1.2.3' }, true],
        ['an admin in /admin from outside', { path: '/admin/users', headers: role('admin'), sourceAddress: '192.0.2.10' }, false],
        ['an editor in /admin from 10.x', { path: '/admin/users', headers: role('editor'), sourceAddress: '10.1.2.3' }, false],
        ['an unknown role', { path: '/api/v1/items', headers: role('root') }, false],
      ];
      for (const [name, spec, allowed] of cases) {
        it(`${allowed ? 'allows' : 'denies'} ${name}`, async () => {
          const res = await check('example', spec);
          expect(res.status?.code).to.equal(allowed ? GrpcStatus.OK : GrpcStatus.PERMISSION_DENIED);
          // A boolean decision: Envoy's default 403, no body or headers from the policy.
          expect(res.deniedResponse).to.equal(undefined);
        });
      }
    });

    describe('jwt.rego (claims from an HS256 JWT)', () => {
      it('lets a viewer read and passes the verified subject upstream', async () => {
        const res = await check('jwt', { path: '/items', headers: bearer(jwt(good('alice', ['viewer']))) });
        expect(res.status?.code).to.equal(GrpcStatus.OK);
        expect(headerMap(res.okResponse?.headers)).to.deep.equal({ 'x-user': 'alice' });
      });

      const byRole: Array<[string, string[], boolean]> = [
        ['POST', ['viewer'], false],
        ['POST', ['editor'], true],
        ['PUT', ['viewer', 'editor'], true],
        ['DELETE', ['editor'], false],
        ['DELETE', ['admin'], true],
        ['GET', [], false],
        ['GET', ['auditor'], false],
      ];
      for (const [method, roles, allowed] of byRole) {
        it(`${allowed ? 'allows' : 'forbids (403)'} ${method} with roles [${roles.join(', ')}]`, async () => {
          const res = await check('jwt', { method, path: '/items/1', headers: bearer(jwt(good('bob', roles))) });
          if (allowed) {
            expect(res.status?.code).to.equal(GrpcStatus.OK);
            expect(headerMap(res.okResponse?.headers)).to.deep.equal({ 'x-user': 'bob' });
          } else {
            expect(denied(res)).to.deep.include({ grpc: GrpcStatus.PERMISSION_DENIED, http: 403, body: 'forbidden' });
          }
        });
      }

      const missing: Array<[string, Record<string, string>]> = [
        ['no Authorization header', {}],
        ['a Basic credential', { authorization: 'Basic YWxpY2U6c2VjcmV0' }],
        ['an empty Bearer', { authorization: 'Bearer ' }],
      ];
      for (const [name, headers] of missing) {
        it(`answers ${name} with 401 and a bare Bearer challenge`, async () => {
          const res = await check('jwt', { path: '/items', headers });
          expect(denied(res)).to.deep.equal({
            grpc: GrpcStatus.PERMISSION_DENIED,
            http: 401,
            headers: { 'www-authenticate': 'Bearer realm="api"' },
            body: 'authentication required',
          });
        });
      }

      const invalid: Array<[string, () => string]> = [
        ['an expired token', () => jwt(good('alice', ['admin'], { exp: now() - 120 }))],
        ['a token not valid yet (nbf)', () => jwt(good('alice', ['admin'], { nbf: now() + 3600 }))],
        ['a token signed with another secret', () => jwt(good('alice', ['admin']), 'not-the-secret')],
        ['a token from another issuer', () => jwt(good('alice', ['admin'], { iss: 'https://evil.example.com' }))],
        ['a token for another audience', () => jwt(good('alice', ['admin'], { aud: 'billing' }))],
        ['a token whose payload was edited after signing', () => {
          const [h, , s] = jwt(good('alice', ['viewer'])).split('.');
          return [h, b64url(JSON.stringify(good('alice', ['admin']))), s].join('.');
        }],
        ['an unsigned token (alg none)', () => `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(good('alice', ['admin'])))}.`],
        ['a malformed token', () => 'not.a.jwt'],
      ];
      for (const [name, token] of invalid) {
        it(`answers ${name} with 401 and error="invalid_token"`, async () => {
          const res = await check('jwt', { method: 'DELETE', path: '/items/1', headers: bearer(token()) });
          expect(denied(res)).to.deep.equal({
            grpc: GrpcStatus.PERMISSION_DENIED,
            http: 401,
            headers: { 'www-authenticate': 'Bearer realm="api", error="invalid_token"' },
            body: 'invalid token',
          });
        });
      }

      it('verifies with data.jwt.secret when the data gives one, and no longer with the constant', async () => {
        const withData = await check('jwt+data', { path: '/items', headers: bearer(jwt(good('carol', ['viewer']), DATA_SECRET)) });
        expect(withData.status?.code).to.equal(GrpcStatus.OK);
        expect(headerMap(withData.okResponse?.headers)).to.deep.equal({ 'x-user': 'carol' });
        const withConstant = await check('jwt+data', { path: '/items', headers: bearer(jwt(good('carol', ['viewer']), CONSTANT_SECRET)) });
        expect(denied(withConstant)).to.deep.include({ http: 401, body: 'invalid token' });
      });

      // The decision reads the clock (exp), so the decision cache must not keep it.
      if (mode.cache) it('stops allowing a token once it expires, even with the decision cache', async () => {
        const exp = now() + 4;
        const spec = { path: '/items', headers: bearer(jwt(good('dave', ['viewer'], { exp }))) };
        expect((await check('jwt', spec)).status?.code).to.equal(GrpcStatus.OK);
        await new Promise((r) => setTimeout(r, (exp + 1) * 1000 - Date.now() + 100));
        expect(denied(await check('jwt', spec))).to.deep.include({ http: 401, body: 'invalid token' });
      });
    });

    describe('headers.rego (an object decision that edits headers)', () => {
      it('adds request and response headers, removes the internal token, passes dynamic metadata', async () => {
        const res = await check('headers', { path: '/x', headers: { 'x-user': 'bob', 'x-internal-token': 's3cret' } });
        expect(res.status?.code).to.equal(GrpcStatus.OK);
        expect(headerMap(res.okResponse?.headers)).to.deep.equal({ 'x-authz-decision': 'allow', 'x-authz-user': 'bob' });
        expect(headerMap(res.okResponse?.responseHeadersToAdd)).to.deep.equal({ 'x-served-by': 'sark-authz' });
        expect(res.okResponse?.headersToRemove).to.deep.equal(['x-internal-token']);
        expect(res.dynamicMetadata?.user).to.equal('bob');
      });

      it('denies an anonymous request with 403, a body and a header', async () => {
        const res = await check('headers', { path: '/x' });
        expect(denied(res)).to.deep.equal({ grpc: GrpcStatus.PERMISSION_DENIED, http: 403, headers: { 'x-authz-decision': 'deny' }, body: 'unknown user' });
        expect(res.okResponse).to.equal(undefined);
      });

      it('treats an empty x-user as anonymous', async () => {
        expect(denied(await check('headers', { path: '/x', headers: { 'x-user': '' } }))).to.deep.include({ http: 403 });
      });
    });

    describe('body.rego (rules over parsed_body)', () => {
      const json = { 'content-type': 'application/json' };
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const transfer = (body: string, headers: Record<string, string> = json): EnvoyRequestSpec => ({ method: 'POST', path: '/transfers', headers, body });
      const cases: Array<[string, EnvoyRequestSpec, boolean]> = [
        ['a transfer within the limit', transfer('{"amount": 250, "currency": "EUR"}'), true],
        ['a transfer of exactly the limit', transfer('{"amount": 1000, "currency": "USD"}'), true],
        ['a transfer just over the limit', transfer('{"amount": 1000.01, "currency": "USD"}'), false],
        ['a transfer of nothing', transfer('{"amount": 0, "currency": "EUR"}'), false],
        ['a negative transfer', transfer('{"amount": -5, "currency": "EUR"}'), false],
        ['an amount given as a string', transfer('{"amount": "250", "currency": "EUR"}'), false],
        ['a transfer in another currency', transfer('{"amount": 5, "currency": "GBP"}'), false],
        ['a transfer without a body', { method: 'POST', path: '/transfers' }, false],
        ['a transfer sent as a form', transfer('amount=5&currency=EUR', form), false],
        ['a transfer cut short by Envoy', transfer('{"amount": 5, "cur', { ...json, 'x-envoy-auth-partial-body': 'true' }), false],
        ['a form login with a username', { method: 'POST', path: '/login', headers: form, body: 'username=carol&password=x' }, true],
        ['a form login with an empty username', { method: 'POST', path: '/login', headers: form, body: 'username=&password=x' }, false],
        ['a form login without a username', { method: 'POST', path: '/login', headers: form, body: 'password=x' }, false],
        ['a GET', { path: '/transfers' }, true],
        ['a DELETE', { method: 'DELETE', path: '/transfers/1' }, false],
      ];
      for (const [name, spec, allowed] of cases) {
        it(`${allowed ? 'allows' : 'denies'} ${name}`, async () => {
          expect((await check('body', spec)).status?.code).to.equal(allowed ? GrpcStatus.OK : GrpcStatus.PERMISSION_DENIED);
        });
      }

      it('answers a JSON body that does not parse with a generic 400', async () => {
        const res = await check('body', transfer('{"amount": '));
        expect(denied(res)).to.deep.include({ grpc: GrpcStatus.PERMISSION_DENIED, http: 400 });
        expect(res.deniedResponse?.body).to.not.match(/json|parse|line|column|unexpected|position/i);
      });
    });
  });
}

describe('examples: each envoy/policies/*.rego starts under `sark-authz serve`', function () {
  this.timeout(TIMEOUT);
  const files = fs.readdirSync(POLICIES).filter((f) => f.endsWith('.rego')).sort();

  it('has the four documented examples, each with a header comment', () => {
    expect(files).to.include.members(['body.rego', 'example.rego', 'headers.rego', 'jwt.rego']);
    for (const f of files) {
      const text = fs.readFileSync(path.join(POLICIES, f), 'utf8');
      expect(text.startsWith('# '), `${f} starts with a comment`).to.equal(true);
      expect(text).to.match(/^package envoy\.authz$/m);
    }
  });

  for (const f of files) {
    it(`serve --policy envoy/policies/${f}`, async () => {
      const serve = await startServe(['--policy', path.join('envoy', 'policies', f), '--addr', '127.0.0.1:0'], TIMEOUT - 5000);
      expect(serve.addr).to.match(/^127\.0\.0\.1:\d+$/);
      expect(await serve.stop()).to.equal(0);
    });
  }
});
