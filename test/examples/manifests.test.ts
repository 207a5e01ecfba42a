/**
 * The configuration under envoy/: every YAML file parses; envoy.yaml wires
 * ext_authz to sark-authz as documented; the Kubernetes and Istio manifests
 * agree with envoy.yaml, with the example policy and with each other; and the
 * policies they carry in ConfigMaps are served by the real server, laid out
 * on disk the way the kubelet mounts a ConfigMap.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import YAML from 'yaml';
import { StatusCode } from '../../src/gen/envoy/type/v3/http_status';
import { startServe } from '../helpers/cli';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, healthCheck, v3Client } from '../helpers/grpc-client';
import { ROOT, SERVER_MODES, startServer } from '../helpers/server';

const ENVOY_DIR = path.join(ROOT, 'envoy');
const TIMEOUT = 60000;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

const read = (rel: string) => fs.readFileSync(path.join(ENVOY_DIR, rel), 'utf8');
const docs = (rel: string): Doc[] => YAML.parseAllDocuments(read(rel)).map((d) => d.toJSON() as Doc).filter((d) => d !== null);
const find = (ds: Doc[], kind: string, name?: string): Doc => {
  const d = ds.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  expect(d, `${kind}${name ? ` ${name}` : ''}`).to.not.equal(undefined);
  return d!;
};
const container = (deploy: Doc, name: string): Doc => {
  const c = deploy.spec.template.spec.containers.find((x: Doc) => x.name === name);
  expect(c, `container ${name}`).to.not.equal(undefined);
  return c;
};

/** The ext_authz filter config and the cluster it calls, from a parsed Envoy bootstrap. */
function extAuthz(cfg: Doc): { filter: Doc; cluster: Doc } {
  const hcm = cfg.static_resources.listeners[0].filter_chains[0].filters.find((f: Doc) => f.name === 'envoy.filters.network.http_connection_manager').typed_config;
  const filters: Doc[] = hcm.http_filters;
  const i = filters.findIndex((f) => f.name === 'envoy.filters.http.ext_authz');
  expect(i, 'the ext_authz filter').to.be.at.least(0);
  // Authorization must run before the router sends the request upstream.
  expect(filters[filters.length - 1].name).to.equal('envoy.filters.http.router');
  expect(i).to.be.below(filters.length - 1);
  const filter = filters[i].typed_config;
  const cluster = cfg.static_resources.clusters.find((c: Doc) => c.name === filter.grpc_service?.envoy_grpc?.cluster_name);
  expect(cluster, 'the authorization cluster').to.not.equal(undefined);
  return { filter, cluster };
}

/** sark-authz's `--addr` port from a container's command line. */
function addrPort(c: Doc): number {
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
  const addr = argv[argv.indexOf('--addr') + 1];
  return Number(/:(\d+)$/.exec(addr)![1]);
}

/**
 * Writes `files` the way the kubelet mounts a ConfigMap volume: the data in a
 * timestamped hidden directory, a `..data` symlink to it, and one symlink per
 * key (`policy.rego -> ..data/policy.rego`).
 */
function configMapVolume(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-authz-configmap-'));
  const stamp = '..2025_01_01_00_00_00.000000001';
  fs.mkdirSync(path.join(dir, stamp));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, stamp, name), text);
  fs.symlinkSync(stamp, path.join(dir, '..data'));
  for (const name of Object.keys(files)) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  return dir;
}

/** The sark-authz container as both manifests must run it. */
function expectSarkAuthzContainer(c: Doc, policyConfigMap: string, deploy: Doc): void {
  expect(c.image).to.equal('sark-authz:latest');
  expect([...c.command, ...c.args]).to.deep.equal(['sark-authz', 'serve', '--policy', '/policies', '--addr', '0.0.0.0:9191']);
  // Probes over grpc.health.v1 on the port it serves.
  expect(c.readinessProbe.grpc.port).to.equal(addrPort(c));
  expect(c.livenessProbe.grpc.port).to.equal(addrPort(c));
  // /policies is the policy ConfigMap.
  const mount = c.volumeMounts.find((m: Doc) => m.mountPath === '/policies');
  const volume = deploy.spec.template.spec.volumes.find((v: Doc) => v.name === mount.name);
  expect(volume.configMap.name).to.equal(policyConfigMap);
}

describe('examples: YAML under envoy/', () => {
  const yamlFiles = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : []));
  const files = yamlFiles(ENVOY_DIR).sort();

  it('has envoy.yaml, the Kubernetes sidecar and the Istio example', () => {
    expect(files.map((f) => path.relative(ENVOY_DIR, f))).to.include.members([
      'envoy.yaml',
      path.join('kubernetes', 'sidecar.yaml'),
      path.join('istio', 'mesh-config.yaml'),
      path.join('istio', 'authorization.yaml'),
      path.join('istio', 'workload.yaml'),
    ]);
  });

  for (const file of files) {
    it(`${path.relative(ROOT, file)} parses without errors or warnings`, () => {
      const parsed = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { uniqueKeys: true });
      expect(parsed.length).to.be.greaterThan(0);
      for (const d of parsed) {
        expect(d.errors.map((e) => e.message)).to.deep.equal([]);
        expect(d.warnings.map((e) => e.message)).to.deep.equal([]);
      }
      // Kubernetes manifests: every document names its kind and API.
      if (!file.endsWith(`${path.sep}envoy.yaml`)) {
        for (const d of parsed.map((x) => x.toJSON() as Doc)) {
          expect(d.apiVersion, file).to.be.a('string');
          expect(d.kind, file).to.be.a('string');
        }
      }
    });
  }
});

describe('examples: envoy/envoy.yaml', () => {
  const cfg = YAML.parse(read('envoy.yaml'));
  const { filter, cluster } = extAuthz(cfg);

  it('calls Check over gRPC, v3, with a timeout', () => {
    expect(filter['@type']).to.equal('type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
    expect(filter.transport_api_version).to.equal('V3');
    expect(filter.grpc_service.timeout).to.match(/^\d+(\.\d+)?s$/);
    expect(filter.http_service).to.equal(undefined);
  });

  it('fails closed, with a status Envoy knows', () => {
    expect(filter.failure_mode_allow).to.equal(false);
    expect(StatusCode[filter.status_on_error.code as keyof typeof StatusCode]).to.equal(503);
  });

  it('sends the body (partial when long, as text) and the peer certificate', () => {
    expect(filter.with_request_body).to.deep.equal({ max_request_bytes: 8192, allow_partial_message: true, pack_as_bytes: false });
    expect(filter.include_peer_certificate).to.equal(true);
  });

  it('reaches sark-authz on 127.0.0.1:9191 over HTTP/2, health-checked over gRPC', () => {
    const socket = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(socket).to.deep.equal({ address: '127.0.0.1', port_value: 9191 });
    expect(cluster.load_assignment.cluster_name).to.equal(cluster.name);
    const opts = cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(opts['@type']).to.equal('type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
    expect(opts.explicit_http_config.http2_protocol_options).to.deep.equal({});
    const hc = cluster.health_checks[0];
    for (const k of ['timeout', 'interval', 'unhealthy_threshold', 'healthy_threshold']) expect(hc, k).to.have.property(k);
    expect(hc.grpc_health_check).to.deep.equal({ service_name: 'envoy.service.auth.v3.Authorization' });
  });

  it('health-checks a service name sark-authz reports SERVING', async function () {
    this.timeout(TIMEOUT);
    const srv = await startServer(path.join(ENVOY_DIR, 'policies', 'example.rego'));
    try {
      expect(await healthCheck(srv.addr, cluster.health_checks[0].grpc_health_check.service_name)).to.equal('SERVING');
    } finally {
      await srv.close();
    }
  });
});

describe('examples: envoy/kubernetes/sidecar.yaml', () => {
  const ds = docs(path.join('kubernetes', 'sidecar.yaml'));
  const deploy = find(ds, 'Deployment');
  const policyMap = find(ds, 'ConfigMap', 'sark-authz-policy');
  const envoyMap = find(ds, 'ConfigMap', 'envoy-config');

  it('carries envoy/policies/example.rego and envoy/envoy.yaml unchanged', () => {
    expect(policyMap.data['policy.rego']).to.equal(read(path.join('policies', 'example.rego')));
    expect(YAML.parse(envoyMap.data['envoy.yaml'])).to.deep.equal(YAML.parse(read('envoy.yaml')));
  });

  it('runs app, Envoy and sark-authz in one pod, Envoy on its ConfigMap', () => {
    expect(deploy.spec.template.spec.containers.map((c: Doc) => c.name)).to.have.members(['app', 'envoy', 'sark-authz']);
    const envoy = container(deploy, 'envoy');
    const configPath = envoy.args[envoy.args.indexOf('-c') + 1];
    const mount = envoy.volumeMounts.find((m: Doc) => configPath.startsWith(`${m.mountPath}/`));
    const volume = deploy.spec.template.spec.volumes.find((v: Doc) => v.name === mount.name);
    expect(volume.configMap.name).to.equal(envoyMap.metadata.name);
    expect(path.posix.basename(configPath)).to.be.oneOf(Object.keys(envoyMap.data));
  });

  it('serves the policy ConfigMap on the port Envoy calls, with gRPC probes', () => {
    const c = container(deploy, 'sark-authz');
    expectSarkAuthzContainer(c, policyMap.metadata.name, deploy);
    expect(c.startupProbe.grpc.port).to.equal(9191);
    const { cluster } = extAuthz(YAML.parse(envoyMap.data['envoy.yaml']));
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).to.equal(addrPort(c));
  });

  it('selects its own pods and exposes Envoy, not sark-authz', () => {
    expect(deploy.spec.template.metadata.labels).to.deep.include(deploy.spec.selector.matchLabels);
    const svc = find(ds, 'Service');
    expect(deploy.spec.template.metadata.labels).to.deep.include(svc.spec.selector);
    const envoyPorts = container(deploy, 'envoy').ports.map((p: Doc) => p.name);
    for (const p of svc.spec.ports) expect(p.targetPort).to.be.oneOf(envoyPorts);
  });
});

describe('examples: envoy/istio/', () => {
  const mesh = find(docs(path.join('istio', 'mesh-config.yaml')), 'IstioOperator');
  const authz = docs(path.join('istio', 'authorization.yaml'));
  const workload = docs(path.join('istio', 'workload.yaml'));
  const provider = mesh.spec.meshConfig.extensionProviders.find((p: Doc) => p.envoyExtAuthzGrpc);
  const policy = find(authz, 'AuthorizationPolicy');
  const entry = find(authz, 'ServiceEntry');
  const deploy = find(workload, 'Deployment');

  it('registers a gRPC ext_authz provider on port 9191 that fails closed', () => {
    const grpc = provider.envoyExtAuthzGrpc;
    expect(grpc.port).to.equal(9191);
    expect(grpc.failOpen).to.equal(false);
    expect(Object.values(StatusCode)).to.include(Number(grpc.statusOnError));
    expect(grpc.timeout).to.match(/^\d+(\.\d+)?s$/);
    expect(grpc.includeRequestBodyInCheck).to.deep.equal({ maxRequestBytes: 8192, allowPartialMessage: true, packAsBytes: false });
  });

  it('sends the workload’s requests to that provider with action CUSTOM', () => {
    expect(policy.apiVersion).to.match(/^security\.istio\.io\//);
    expect(policy.spec.action).to.equal('CUSTOM');
    expect(policy.spec.provider.name).to.equal(provider.name);
    expect(deploy.spec.template.metadata.labels).to.deep.include(policy.spec.selector.matchLabels);
  });

  it('resolves the provider service to the sark-authz container in the pod', () => {
    expect(entry.spec.hosts).to.include(provider.envoyExtAuthzGrpc.service);
    expect(entry.spec.endpoints).to.deep.equal([{ address: '127.0.0.1' }]);
    expect(entry.spec.ports.map((p: Doc) => p.number)).to.include(provider.envoyExtAuthzGrpc.port);
    const c = container(deploy, 'sark-authz');
    expectSarkAuthzContainer(c, find(workload, 'ConfigMap', 'sark-authz-policy').metadata.name, deploy);
    expect(addrPort(c)).to.equal(provider.envoyExtAuthzGrpc.port);
    // Istio injects the proxy; the pod does not bring its own Envoy.
    expect(deploy.spec.template.spec.containers.map((c: Doc) => c.name)).to.not.include('envoy');
  });
});

describe('examples: the ConfigMap policies, mounted as the kubelet mounts them', function () {
  this.timeout(TIMEOUT);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const volume = (files: Record<string, string>) => {
    const d = configMapVolume(files);
    dirs.push(d);
    return d;
  };

  const istioPolicy = find(docs(path.join('istio', 'workload.yaml')), 'ConfigMap', 'sark-authz-policy').data['policy.rego'] as string;

  for (const mode of SERVER_MODES) {
    it(`the Istio workload policy decides by SPIFFE identity (${mode.name})`, async () => {
      const dir = volume({ 'policy.rego': istioPolicy });
      const srv = await startServer(path.join(dir, '..data', 'policy.rego'), 'envoy/authz/allow', undefined, mode);
      const client = v3Client(srv.addr);
      try {
        const spiffe = (sa: string) => `spiffe://cluster.local/ns/default/sa/${sa}`;
        const cases: Array<[string, string, string | undefined, boolean]> = [
          ['GET', '/health', undefined, true],
          ['GET', '/public/app.js', undefined, true],
          ['POST', '/api/orders', spiffe('frontend'), true],
          ['POST', '/api/orders', spiffe('reporting'), false],
          ['GET', '/api/reports/daily', spiffe('reporting'), true],
          ['GET', '/api/orders', spiffe('reporting'), false],
          ['GET', '/api/orders', undefined, false],
          ['GET', '/api/orders', 'spiffe://cluster.local/ns/other/sa/frontend', false],
        ];
        for (const [method, p, principal, allowed] of cases) {
          const res = await checkV3(client, envoyCheckRequest({ method, path: p, sourcePrincipal: principal }));
          expect(res.status?.code, `${method} ${p} as ${principal}`).to.equal(allowed ? GrpcStatus.OK : GrpcStatus.PERMISSION_DENIED);
        }
      } finally {
        client.close();
        await srv.close();
      }
    });
  }

  // The manifests run `serve --policy /policies` on a ConfigMap volume, where
  // policy.rego is a symlink into ..data (hidden, so skipped as a directory).
  for (const [name, text] of [
    ['the Kubernetes sidecar', find(docs(path.join('kubernetes', 'sidecar.yaml')), 'ConfigMap', 'sark-authz-policy').data['policy.rego'] as string],
    ['the Istio workload', istioPolicy],
  ] as const) {
    it(`\`serve --policy DIR\` loads ${name}'s ConfigMap volume (symlinked files)`, async () => {
      const dir = volume({ 'policy.rego': text });
      const serve = await startServe(['--policy', dir, '--addr', '127.0.0.1:0'], TIMEOUT - 5000);
      const client = v3Client(serve.addr);
      try {
        const res = await checkV3(client, envoyCheckRequest({ method: 'GET', path: '/health' }));
        expect(res.status?.code).to.equal(GrpcStatus.OK);
      } finally {
        client.close();
        expect(await serve.stop()).to.equal(0);
      }
    });
  }
});
