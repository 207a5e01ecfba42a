/**
 * Every example policy in envoy/policies/, through the real server and a
 * real gRPC client, with requests shaped as Envoy sends them — on each hot
 * path. Plus: the YAML under envoy/ parses and wires ext_authz as documented.
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import YAML from 'yaml';
import type { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { envoyCheckRequest, type EnvoyRequestSpec } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { ROOT, SERVER_MODES, startServer, type Running } from '../helpers/server';

const POLICIES = path.join(ROOT, 'envoy', 'policies');

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** An HS256 JWT. */
function jwt(claims: Record<string, unknown>, secret = 'example-secret-change-me'): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);
const ISS = 'https://issuer.example.com';
const headerPairs = (hs: Array<{ header?: { key: string; value: string } }> = []) => Object.fromEntries(hs.map((h) => [h.header?.key, h.header?.value]));

for (const mode of SERVER_MODES) {
  describe(`examples (${mode.name})`, function () {
    this.timeout(30000);
    const servers: Record<string, Running> = {};
    before(async () => {
      for (const p of ['jwt', 'headers', 'body']) servers[p] = await startServer(path.join(POLICIES, `${p}.rego`), undefined, undefined, mode);
    });
    after(async () => {
      for (const s of Object.values(servers)) await s.close();
    });

    async function check(policy: string, spec: EnvoyRequestSpec): Promise<CheckResponse> {
      const client = v3Client(servers[policy].addr);
      try {
        return await checkV3(client, envoyCheckRequest(spec));
      } finally {
        client.close();
      }
    }

    describe('jwt.rego', () => {
      const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

      it('lets a viewer read and passes the subject upstream', async () => {
        const res = await check('jwt', { method: 'GET', path: '/items', headers: bearer(jwt({ sub: 'alice', role: 'viewer', iss: ISS, exp: now() + 600 })) });
        expect(res.status?.code).to.equal(GrpcStatus.OK);
        expect(headerPairs(res.okResponse?.headers)).to.deep.equal({ 'x-user': 'alice' });
      });

      it('forbids a viewer to write (403), allows an admin', async () => {
        const viewer = await check('jwt', { method: 'POST', path: '/items', headers: bearer(jwt({ sub: 'alice', role: 'viewer', iss: ISS, exp: now() + 600 })) });
        expect(viewer.status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
        expect(viewer.deniedResponse?.status?.code).to.equal(403);
        const admin = await check('jwt', { method: 'DELETE', path: '/items/1', headers: bearer(jwt({ sub: 'root', role: 'admin', iss: ISS, exp: now() + 600 })) });
        expect(admin.status?.code).to.equal(GrpcStatus.OK);
      });

      const invalid: Array<[string, Record<string, string>]> = [
        ['no token', {}],
        ['an expired token', bearer(jwt({ sub: 'alice', role: 'admin', iss: ISS, exp: now() - 60 }))],
        ['a token signed with another secret', bearer(jwt({ sub: 'alice', role: 'admin', iss: ISS, exp: now() + 600 }, 'wrong'))],
        ['a token from another issuer', bearer(jwt({ sub: 'alice', role: 'admin', iss: 'https://evil.example.com', exp: now() + 600 }))],
        ['a malformed token', bearer('not.a.jwt')],
      ];
      for (const [name, headers] of invalid) {
        it(`answers ${name} with 401 and a challenge`, async () => {
          const res = await check('jwt', { method: 'GET', path: '/items', headers });
          expect(res.status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
          expect(res.deniedResponse?.status?.code).to.equal(401);
          expect(headerPairs(res.deniedResponse?.headers)['www-authenticate']).to.equal('Bearer realm="api"');
        });
      }
    });

    describe('headers.rego', () => {
      it('adds and removes headers and passes dynamic metadata for a known user', async () => {
        const res = await check('headers', { path: '/x', headers: { 'x-user': 'bob', 'x-internal-token': 's3cret' } });
        expect(res.status?.code).to.equal(GrpcStatus.OK);
        expect(headerPairs(res.okResponse?.headers)).to.deep.equal({ 'x-authz-decision': 'allow', 'x-authz-user': 'bob' });
        expect(headerPairs(res.okResponse?.responseHeadersToAdd)).to.deep.equal({ 'x-served-by': 'sark-authz' });
        expect(res.okResponse?.headersToRemove).to.deep.equal(['x-internal-token']);
        expect((res.dynamicMetadata as Record<string, unknown>).user).to.equal('bob');
      });

      it('denies an anonymous request with 403 and a header', async () => {
        const res = await check('headers', { path: '/x' });
        expect(res.deniedResponse?.status?.code).to.equal(403);
        expect(res.deniedResponse?.body).to.equal('unknown user');
        expect(headerPairs(res.deniedResponse?.headers)).to.deep.equal({ 'x-authz-decision': 'deny' });
      });
    });

    describe('body.rego', () => {
      const json = { 'content-type': 'application/json' };
      const cases: Array<[string, EnvoyRequestSpec, boolean]> = [
        ['a transfer within the limit', { method: 'POST', path: '/transfers', headers: json, body: '{"amount": 250, "currency": "EUR"}' }, true],
        ['a transfer over the limit', { method: 'POST', path: '/transfers', headers: json, body: '{"amount": 5000, "currency": "EUR"}' }, false],
        ['a transfer in another currency', { method: 'POST', path: '/transfers', headers: json, body: '{"amount": 5, "currency": "GBP"}' }, false],
        ['a transfer cut short by Envoy', { method: 'POST', path: '/transfers', headers: { ...json, 'x-envoy-auth-partial-body': 'true' }, body: '{"amount": 5, "cur' }, false],
        ['a form login with a username', { method: 'POST', path: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=carol&password=x' }, true],
        ['a form login without one', { method: 'POST', path: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=&password=x' }, false],
        ['a read', { method: 'GET', path: '/transfers' }, true],
      ];
      for (const [name, spec, allowed] of cases) {
        it(`${allowed ? 'allows' : 'denies'} ${name}`, async () => {
          expect((await check('body', spec)).status?.code).to.equal(allowed ? GrpcStatus.OK : GrpcStatus.PERMISSION_DENIED);
        });
      }

      it('answers a body that does not parse with a generic 400', async () => {
        const res = await check('body', { method: 'POST', path: '/transfers', headers: json, body: '{"amount": ' });
        expect(res.deniedResponse?.status?.code).to.equal(400);
        expect(res.deniedResponse?.body).to.not.match(/json|parse|line|column/i);
      });
    });
  });
}

describe('examples: manifests under envoy/', () => {
  const yamlFiles = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : []));

  for (const file of yamlFiles(path.join(ROOT, 'envoy'))) {
    it(`${path.relative(ROOT, file)} parses`, () => {
      const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
      expect(docs.length).to.be.greaterThan(0);
      for (const d of docs) expect(d.errors, d.errors.map((e) => e.message).join('; ')).to.deep.equal([]);
    });
  }

  it('envoy.yaml sends Checks over gRPC v3 to port 9191, fails closed, with the body, to a health-checked cluster', () => {
    const cfg = YAML.parse(fs.readFileSync(path.join(ROOT, 'envoy', 'envoy.yaml'), 'utf8'));
    const hcm = cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const authz = hcm.http_filters.find((f: { name: string }) => f.name === 'envoy.filters.http.ext_authz').typed_config;
    expect(authz.transport_api_version).to.equal('V3');
    expect(authz.failure_mode_allow).to.equal(false);
    expect(authz.with_request_body.max_request_bytes).to.be.greaterThan(0);
    expect(authz.status_on_error.code).to.be.a('string');
    const cluster = cfg.static_resources.clusters.find((c: { name: string }) => c.name === authz.grpc_service.envoy_grpc.cluster_name);
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).to.equal(9191);
    expect(cluster.health_checks[0].grpc_health_check).to.deep.equal({});
    expect(cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options).to.deep.equal({});
  });

  it('the Kubernetes sidecar serves the ConfigMap policy on :9191 with gRPC probes', () => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(ROOT, 'envoy', 'kubernetes', 'sidecar.yaml'), 'utf8')).map((d) => d.toJSON());
    const deploy = docs.find((d) => d.kind === 'Deployment');
    const sidecar = deploy.spec.template.spec.containers.find((c: { name: string }) => c.name === 'sark-authz');
    expect(sidecar.args).to.include.members(['serve', '--policy', '/policies', ':9191']);
    expect(sidecar.readinessProbe.grpc.port).to.equal(9191);
  });
});
