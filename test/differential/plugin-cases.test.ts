/**
 * opa-envoy-plugin's own test cases (plugin-cases.ts) replayed over gRPC
 * against the real server, once per server mode (native or wasm engine, with
 * or without the decision cache): where the plugin and we disagree, the
 * plugin is right unless the README's comparison says why not.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { createEngine } from '../../src/engine/native-engine';
import { CheckRequest as CheckRequestV2, CheckResponse as CheckResponseV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { CheckRequest, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer, AUTHORIZATION_SERVICES } from '../../src/server/server';
import { rawCall } from '../helpers/grpc-client';
import { FIXTURES, SERVER_MODES, cacheFor, engineFor, type ServerMode } from '../helpers/server';
import { ABSENT, PLUGIN_CASES, type PluginCase, type PluginRequest } from './plugin-cases';

const DIR = path.join(FIXTURES, 'opa-envoy-plugin');

function descriptorSet(): Uint8Array {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sark-plugin-')), 'set.pb');
  execFileSync('protoc', ['--include_imports', `--descriptor_set_out=${out}`, `-I${DIR}`, 'book.proto', 'example.proto']);
  const bytes = fs.readFileSync(out);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return new Uint8Array(bytes);
}

function requestBytes(c: PluginCase): Buffer {
  const r: PluginRequest = c.request;
  const headers = { ...(r.headers ?? {}), ...(c.rule === 'decision' ? { 'x-case': c.name } : {}) };
  const more = (r.attributes ?? {}) as { source?: object; request?: { http?: object } };
  const http = { path: r.path ?? '', method: r.method ?? '', headers, body: r.body ?? '', ...more.request?.http };
  const source = r.principal || more.source ? { ...more.source, principal: r.principal ?? '' } : undefined;
  const attributes = { ...more, source, request: { http } };
  if (c.api === 'v2') return Buffer.from(CheckRequestV2.encode(CheckRequestV2.fromPartial({ attributes })).finish());
  const rawBody = r.rawBodyBase64 ? Buffer.from(r.rawBodyBase64, 'base64') : undefined;
  return Buffer.from(CheckRequest.encode(CheckRequest.fromPartial({ attributes: { ...attributes, request: { http: { ...http, rawBody } } } })).finish());
}

/** Top-level field numbers present in a protobuf message. */
function fieldNumbers(buf: Buffer): number[] {
  const out: number[] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    out.push(Math.floor(tag / 8));
    const wt = tag % 8;
    if (wt === 0) varint();
    else if (wt === 1) i += 8;
    else if (wt === 2) {
      const len = varint();
      i += len;
    }
    else if (wt === 5) i += 4;
    else throw new Error(`wire type ${wt}`);
  }
  return out;
}

const pairs = (hs: Array<{ header?: { key: string; value: string } }> | undefined) => (hs ?? []).map((h) => [h.header?.key ?? '', h.header?.value ?? '']).sort();
const sorted = (xs: Array<[string, string]>) => [...xs].sort();

/** Checks one answer against the plugin's; throws an assertion error when they differ. */
function assertAnswer(c: PluginCase, answer: { bytes?: Buffer; error?: Error }): void {
  const e = c.expect;
  if ('error' in e) {
    expect(answer.error, 'a gRPC error').to.be.instanceOf(Error);
    return;
  }
  if (answer.error) throw new Error(`gRPC error: ${answer.error.message}`);
  const bytes = answer.bytes!;
  const v3 = c.api !== 'v2';
  const res: CheckResponse | CheckResponseV2 = v3 ? CheckResponse.decode(bytes) : CheckResponseV2.decode(bytes);
  const denied = res.deniedResponse;
  const okr = res.okResponse as CheckResponse['okResponse'];
  if ('badRequest' in e) {
    expect(res.status?.code, 'PERMISSION_DENIED').to.equal(7);
    expect(denied?.status?.code, 'HTTP 400').to.equal(400);
    return;
  }
  if ('input' in e) {
    expect(res.status?.code, `allowed (${JSON.stringify(denied ?? null)})`).to.equal(0);
    const echoed = ((res as CheckResponse).dynamicMetadata?.input ?? {}) as Record<string, unknown>;
    for (const [k, want] of Object.entries(e.input)) {
      if (want === ABSENT) expect(echoed, k).to.not.have.property(k);
      else expect(echoed[k], k).to.deep.equal(want);
    }
    return;
  }
  expect(res.status?.code, 'status').to.equal(e.allowed ? 0 : 7);
  if (e.headers) expect(pairs(e.allowed ? okr?.headers : denied?.headers), 'headers').to.deep.equal(sorted(e.headers));
  if (e.headersToRemove) expect(okr?.headersToRemove ?? [], 'headers_to_remove').to.deep.equal(e.headersToRemove);
  if (e.responseHeadersToAdd) expect(pairs(okr?.responseHeadersToAdd), 'response_headers_to_add').to.deep.equal(sorted(e.responseHeadersToAdd));
  if (e.queryParametersToSet) expect((okr?.queryParametersToSet ?? []).map((q) => [q.key, q.value]).sort(), 'query_parameters_to_set').to.deep.equal(sorted(e.queryParametersToSet));
  if (e.queryParametersToRemove) expect(okr?.queryParametersToRemove ?? [], 'query_parameters_to_remove').to.deep.equal(e.queryParametersToRemove);
  if (e.body !== undefined) expect(denied?.body ?? '', 'body').to.equal(e.body);
  if (e.httpStatus !== undefined) expect(denied?.status?.code, 'http_status').to.equal(e.httpStatus);
  if (e.dynamicMetadata) {
    if (v3) {
      const { decision_id: id, ...rest } = (res as CheckResponse).dynamicMetadata ?? {};
      expect(id, 'decision_id').to.be.a('string');
      expect(rest, 'dynamic_metadata').to.deep.equal(e.dynamicMetadata);
    } else {
      expect(fieldNumbers(bytes), 'v2 CheckResponse fields').to.not.include(4);
    }
  }
}

/** Cases served alike share a server. */
function groupKey(c: PluginCase): string {
  return JSON.stringify([c.rule, !!c.skipRequestBodyParse, !!c.dryRun, !!c.protoDescriptor]);
}

describe('differential: opa-envoy-plugin test cases over gRPC', function () {
  this.timeout(60_000);
  const set = descriptorSet();
  const decisions = Object.fromEntries(PLUGIN_CASES.filter((c) => c.rule === 'decision').map((c) => [c.name, c.decision]));
  const modules = [{ name: 'policy.rego', source: fs.readFileSync(path.join(DIR, 'policy.rego'), 'utf8') }];
  const groups = new Map<string, PluginCase[]>();
  for (const c of PLUGIN_CASES) groups.set(groupKey(c), [...(groups.get(groupKey(c)) ?? []), c]);

  for (const mode of SERVER_MODES) {
    describe(mode.name, () => {
      for (const cases of groups.values()) {
        const first = cases[0];
        describe(`data.plugin.${first.rule}${first.skipRequestBodyParse ? ' (skip body parse)' : ''}${first.dryRun ? ' (dry run)' : ''}${first.protoDescriptor ? ' (descriptor set)' : ''}`, () => {
          let addr = '';
          let close: () => Promise<void> = async () => undefined;
          before(async () => {
            ({ addr, close } = await serve(mode, first, modules, decisions, set));
          });
          after(() => close());
          for (const c of cases) {
            it(`${c.api ?? 'v3'} ${c.name}`, async () => {
              const method = `/${AUTHORIZATION_SERVICES[c.api ?? 'v3']}/Check`;
              const answer = await rawCall(addr, method, requestBytes(c)).then(
                (bytes) => ({ bytes }),
                (error: Error) => ({ error }),
              );
              assertAnswer(c, answer);
            });
          }
        });
      }
    });
  }
});

describe('differential: the //admin bypass the plugin closed (GHSA-9f29-v6mm-pw6w)', function () {
  this.timeout(30_000);
  const modules = [{ name: 'admin.rego', source: 'package gate\n\ndefault allow := false\n\nallow if input.parsed_path[0] != "admin"\n' }];
  for (const mode of SERVER_MODES) {
    it(`${mode.name}: a policy denying parsed_path[0] == "admin" denies every spelling of /admin`, async () => {
      const c: PluginCase = { name: 'admin', rule: 'allow', request: {}, expect: { allowed: false } };
      const policy = engineFor(mode).prepare(modules, {}, 'data.gate.allow');
      const server = createAuthzServer({ policy, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }), cache: cacheFor(mode, 100) });
      const addr = await server.listen();
      try {
        for (const path of ['/admin/dashboard', '//admin/dashboard', '///admin', '/%2Fadmin/x', '//admin?x=1']) {
          const bytes = await rawCall(addr, `/${AUTHORIZATION_SERVICES.v3}/Check`, requestBytes({ ...c, request: { path, method: 'GET' } }));
          expect(CheckResponse.decode(bytes).status?.code, path).to.equal(7);
        }
        const open = await rawCall(addr, `/${AUTHORIZATION_SERVICES.v3}/Check`, requestBytes({ ...c, request: { path: '/public/admin', method: 'GET' } }));
        expect(CheckResponse.decode(open).status?.code).to.equal(0);
      } finally {
        await server.close(1000);
      }
    });
  }
});

async function serve(mode: ServerMode, c: PluginCase, modules: Array<{ name: string; source: string }>, decisions: Record<string, unknown>, set: Uint8Array) {
  const protoDescriptor = c.protoDescriptor ? set : undefined;
  const policy = engineFor(mode).prepare(modules, { decisions }, `data.plugin.${c.rule}`, {
    skipRequestBodyParse: c.skipRequestBodyParse,
    dryRun: c.dryRun,
    protoDescriptorBase64: protoDescriptor ? Buffer.from(protoDescriptor).toString('base64') : undefined,
  });
  const server = createAuthzServer({
    policy,
    addr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    cache: cacheFor(mode),
    check: { input: { skipRequestBodyParse: c.skipRequestBodyParse, protoDescriptor } },
  });
  const addr = await server.listen();
  return { addr, close: () => server.close(1000) };
}
