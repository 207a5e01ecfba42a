/**
 * gRPC request bodies with a protobuf descriptor set (opa-envoy-plugin's
 * descriptor set): the addon's input document against the wasm engine's,
 * parsed bodies against @bufbuild/protobuf's protojson, plus the plugin's
 * rules for frames —
 * only the first message, compressed → null, short → truncated, unknown
 * method → null, bad path or message → request_body_invalid. The
 * descriptor set is built here with protoc from test/fixtures/grpc/.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonObject } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { createEngine, type NativePreparedPolicy } from '../../src/engine/native-engine';
import { WasmEngine } from '../../src/engine/wasm-engine';
import type { ApiVersion } from '../../src/server/server';
import { CheckResponse as CheckResponseV3 } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { encodeCheckRequest, envoyRequest, rng, type RequestSpec } from './corpus';
import { FIXTURES } from '../helpers/server';

const SVC = 'sark.test.v1.UserService';

function buildDescriptorSet(): Uint8Array {
  const dir = path.join(FIXTURES, 'grpc');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sark-grpc-')), 'set.pb');
  execFileSync('protoc', ['--include_imports', `--descriptor_set_out=${out}`, `-I${dir}`, 'authz_test.proto', 'legacy_test.proto']);
  const bytes = fs.readFileSync(out);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return new Uint8Array(bytes);
}

/** A gRPC length-prefixed frame. */
function frame(message: Uint8Array, compressed = false): Uint8Array {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

function grpcRequest(method: string, rawBody: Uint8Array, contentType = 'application/grpc'): Uint8Array {
  const spec: RequestSpec = envoyRequest('POST', method, { 'content-type': contentType, te: 'trailers' });
  spec.http.body = '';
  spec.http.rawBody = rawBody;
  spec.http.protocol = 'HTTP/2';
  return encodeCheckRequest(spec);
}

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

describe('differential: gRPC bodies with a descriptor set', function () {
  this.timeout(120_000);
  const descriptorSet = buildDescriptorSet();
  const b64 = Buffer.from(descriptorSet).toString('base64');
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
  const msg = (name: string): DescMessage => {
    const d = registry.getMessage(name);
    if (!d) throw new Error(`no ${name}`);
    return d;
  };
  const encode = (name: string, json: JsonObject): Uint8Array => toBinary(msg(name), fromJson(msg(name), json, { registry }));

  const engine = createEngine();
  const modules = [{ name: 'grpc.rego', source: 'package grpc\n\ndefault allow := false\n\nallow if input.parsed_body.userId == "u7"\n' }];
  const policy: NativePreparedPolicy = engine.prepare(modules, {}, 'data.grpc.allow', { protoDescriptorBase64: b64 });
  const wasm = new WasmEngine().prepare(modules, {}, 'data.grpc.allow', { protoDescriptorBase64: b64 });

  function inputOf(p: { inputDocument: NativePreparedPolicy['inputDocument'] }, bytes: Uint8Array, version: ApiVersion, withSet = true): { input?: unknown; code?: string } {
    try {
      return { input: plain(p.inputDocument(Buffer.from(bytes), version === 'v3' ? 3 : 2, withSet ? { protoDescriptorBase64: b64 } : {})) };
    } catch (err) {
      return { code: (err as { code?: string }).code };
    }
  }
  /** Both engines; they must agree. Returns the shared result. */
  function both(bytes: Uint8Array, version: ApiVersion = 'v3', withSet = true): { input?: { parsed_body?: unknown; truncated_body?: unknown }; code?: string } {
    const native = inputOf(policy, bytes, version, withSet);
    expect(inputOf(wasm, bytes, version, withSet)).to.deep.equal(native);
    return native as { input?: { parsed_body?: unknown; truncated_body?: unknown }; code?: string };
  }

  const createUser: JsonObject = {
    user: {
      userId: 'u1',
      age: -5,
      accountId: '1099511627776',
      quotaBytes: '18446744073709551615',
      delta: -3,
      bigDelta: '-9007199254740993',
      f32: 4294967295,
      f64: '9',
      sf32: -2,
      sf64: '-4',
      admin: true,
      score: 0.1,
      ratio: 2.5,
      avatar: 'AAEC/w==',
      role: 'ROLE_WRITER',
      extraRoles: ['ROLE_READER', 'ROLE_UNSPECIFIED'],
      homeAddress: { streetName: 'Main', zipCode: 12345 },
      otherAddresses: [{ streetName: 'A', zipCode: 1 }, {}],
      luckyNumbers: [3, 4, -5],
      tags: ['a', 'ü'],
      labels: { k: 'v', '': 'empty' },
      addressesById: { '7': { streetName: 'Seven' }, '-1': {} },
      flags: { true: 'ROLE_READER', false: 'ROLE_UNSPECIFIED' },
      optCount: 0,
      postal: { streetName: 'Oneof' },
      customName: 'custom',
    },
    createTime: '2025-11-24T16:00:00.005Z',
    ttl: '-90.000500s',
    attributes: { a: 1.5, b: [true, null, 'x', { c: {} }] },
    anyValue: 'just a string',
    bigWrapper: '9007199254740993',
    nameWrapper: '',
    flagWrapper: false,
    updateMask: 'user.userId,ttl',
    details: { '@type': 'type.googleapis.com/sark.test.v1.Address', streetName: 'Any St', zipCode: 9 },
    nothing: {},
    history: ['1970-01-01T00:00:00Z', '0001-01-01T00:00:00.000001Z'],
    list: [1, 'two', false],
    smallWrapper: 0,
    bytesWrapper: 'AQI=',
    doubleWrapper: -0.25,
  };

  it('renders a message with every field kind as protojson, identically', () => {
    const bytes = grpcRequest(`/${SVC}/CreateUser`, frame(encode('sark.test.v1.CreateUserRequest', createUser)));
    const r = both(bytes, 'v3');
    expect(r.code).to.equal(undefined);
    expect(r.input?.truncated_body).to.equal(false);
    // protojson of protojson: the same document back.
    expect(r.input?.parsed_body).to.deep.equal(createUser);
    // API v2 has no raw_body (as in the plugin): nothing to parse.
    expect(both(bytes, 'v2').input).to.include({ parsed_body: null, truncated_body: false });
  });

  it('gives specific values as the plugin does', () => {
    const bytes = grpcRequest(`/${SVC}/GetUser`, frame(encode('sark.test.v1.GetUserRequest', { userId: 'u7', ids: ['1', '-2'] })));
    const r = both(bytes);
    expect(r.input?.parsed_body).to.deep.equal({ userId: 'u7', ids: ['1', '-2'] });
    // Zero values of proto3 fields are left out.
    const empty = both(grpcRequest(`/${SVC}/GetUser`, frame(new Uint8Array([0x0a, 0x00]))));
    expect(empty.input?.parsed_body).to.deep.equal({});
    // proto2: presence at zero, closed enum, group.
    const legacy = both(grpcRequest('/sark.test.legacy.Legacy/Send', frame(new Uint8Array([0x08, 0x00, 0x18, 0x09, 0x18, 0x02, 0x33, 0x3a, 0x01, 0x6b, 0x34]))));
    expect(legacy.input?.parsed_body).to.deep.equal({ count: 0, level: 'HIGH', extra: { key: 'k' } });
  });

  it('follows the plugin for frames, methods and paths', () => {
    const get = encode('sark.test.v1.GetUserRequest', { userId: 'u7' });
    const body = (method: string, raw: Uint8Array, ct = 'application/grpc') => both(grpcRequest(method, raw, ct)).input;
    const errorCode = (method: string, raw: Uint8Array) => both(grpcRequest(method, raw)).code;
    // Several frames: the first is read.
    expect(body(`/${SVC}/GetUser`, Buffer.concat([frame(get), frame(encode('sark.test.v1.GetUserRequest', { userId: 'other' }))]))?.parsed_body).to.deep.equal({ userId: 'u7' });
    expect(body(`/${SVC}/GetUser`, frame(get), 'application/grpc+proto')?.parsed_body).to.deep.equal({ userId: 'u7' });
    // Server streaming is read; client streaming is not.
    expect(body(`/${SVC}/WatchUsers`, frame(get))?.parsed_body).to.deep.equal({ userId: 'u7' });
    expect(body(`/${SVC}/UploadUsers`, frame(encode('sark.test.v1.User', { userId: 'u7' }))))?.to.include({ parsed_body: null, truncated_body: false });
    // Compressed, unknown method, unknown service: null.
    expect(body(`/${SVC}/GetUser`, frame(get, true))).to.include({ parsed_body: null, truncated_body: false });
    expect(body(`/${SVC}/Nope`, frame(get))).to.include({ parsed_body: null, truncated_body: false });
    expect(body('/no.Such/GetUser', frame(get))).to.include({ parsed_body: null, truncated_body: false });
    // A frame longer than the bytes sent: truncated.
    expect(body(`/${SVC}/GetUser`, frame(get).subarray(0, 7))).to.include({ parsed_body: null, truncated_body: true });
    // Errors: a short frame, a path that is not /Service/Method, a message that does not decode.
    expect(errorCode(`/${SVC}/GetUser`, new Uint8Array([0, 0, 0]))).to.equal('request_body_invalid');
    expect(errorCode(`/${SVC}/GetUser/extra`, frame(get))).to.equal('request_body_invalid');
    expect(errorCode(`/${SVC}/GetUser`, frame(new Uint8Array([0x0a, 0x09, 0x61])))).to.equal('request_body_invalid');
    expect(errorCode(`/${SVC}/GetUser`, frame(new Uint8Array([0x0a, 0x01, 0xff])))).to.equal('request_body_invalid'); // proto3 string, bad UTF-8
    expect(errorCode(`/${SVC}/CreateUser`, frame(new Uint8Array([0x2a, 0x00])))).to.equal('request_body_invalid'); // a Value with no kind
    // No raw body (Envoy without pack_as_bytes): null.
    expect(body(`/${SVC}/GetUser`, new Uint8Array(0))).to.include({ parsed_body: null, truncated_body: false });
  });

  it('leaves gRPC bodies unparsed without a descriptor set', () => {
    const bytes = grpcRequest(`/${SVC}/GetUser`, frame(encode('sark.test.v1.GetUserRequest', { userId: 'u7' })));
    const r = both(bytes, 'v3', false);
    expect(r.input).to.include({ parsed_body: null, truncated_body: false });
    // Nor are errors raised for frames it would refuse.
    expect(both(grpcRequest(`/${SVC}/GetUser/x`, new Uint8Array([1])), 'v3', false).input).to.include({ parsed_body: null });
  });

  it('agrees on 300 random messages', () => {
    const r = rng(20261129);
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
    const int = (bits: number) => Math.floor((r() - 0.5) * 2 ** bits);
    let compared = 0;
    const str = () => pick(['', 'a', 'ümlaut', 'x y', '"q"', '\u2603', 'long'.repeat(5)]);
    for (let i = 0; i < 300; i++) {
      const user: JsonObject = {};
      if (r() < 0.5) user.userId = str();
      if (r() < 0.5) user.age = int(31);
      if (r() < 0.5) user.accountId = String(BigInt(int(52)) * 4099n);
      if (r() < 0.5) user.score = pick([0.1, -3.25, 1e-7, 3.4e38, 'NaN', 'Infinity', 16777217, 0]);
      if (r() < 0.5) user.ratio = pick([0.1, -1e300, 5e-324, 'NaN', '-Infinity', 2 ** 60]);
      if (r() < 0.5) user.role = pick(['ROLE_UNSPECIFIED', 'ROLE_READER', 'ROLE_WRITER', 17]);
      if (r() < 0.5) user.luckyNumbers = Array.from({ length: Math.floor(r() * 4) }, () => int(31));
      if (r() < 0.3) user.labels = { [str()]: str() };
      if (r() < 0.3) user[pick(['email', 'phone', 'postal'])] = pick([str(), '12', { zipCode: 3 }]) as never;
      if (r() < 0.3) user.avatar = Buffer.from(str()).toString('base64');
      const req: JsonObject = { user };
      if (r() < 0.5) req.createTime = new Date(Math.floor(r() * 4e12)).toISOString();
      if (r() < 0.3) req.ttl = `${int(20)}.${pick(['5', '000001', '123456789'])}s`;
      if (r() < 0.3) req.attributes = { k: pick([1, 'v', null, [true], { n: 0.5 }]) };
      let message: Uint8Array;
      try {
        message = encode('sark.test.v1.CreateUserRequest', req);
      } catch {
        continue; // a random value the schema refuses (e.g. a oneof member of the wrong type)
      }
      const res = both(grpcRequest(`/${SVC}/CreateUser`, frame(message)));
      expect(res.code, JSON.stringify(req)).to.equal(undefined);
      // protojson as @bufbuild/protobuf renders it, where both render alike:
      // floats (score) are written as their shortest float32 text, as Go's protojson does.
      const desc = msg('sark.test.v1.CreateUserRequest');
      if (!('score' in user)) expect(res.input?.parsed_body, JSON.stringify(req)).to.deep.equal(plain(toJson(desc, fromBinary(desc, message), { registry })));
      compared++;
    }
    expect(compared).to.be.at.least(200);
  });

  it('runs the whole Check with the descriptor set, the same with both engines', () => {
    const allowed = grpcRequest(`/${SVC}/GetUser`, frame(encode('sark.test.v1.GetUserRequest', { userId: 'u7' })));
    const denied = grpcRequest(`/${SVC}/GetUser`, frame(encode('sark.test.v1.GetUserRequest', { userId: 'u8' })));
    for (const bytes of [allowed, denied]) {
      const native = policy.checkBytes(Buffer.from(bytes), 3, null);
      const viaWasm = Buffer.from(wasm.checkView(Buffer.from(bytes), 3, null));
      const strip = (b: Uint8Array) => {
        const res = CheckResponseV3.decode(b) as { dynamicMetadata?: { [k: string]: unknown } };
        delete res.dynamicMetadata;
        return plain(res);
      };
      expect(strip(viaWasm)).to.deep.equal(strip(native.bytes));
    }
    expect(policy.checkBytes(Buffer.from(allowed), 3, null).outcome).to.equal('allow');
    expect(policy.checkBytes(Buffer.from(denied), 3, null).outcome).to.equal('deny');
  });

  it('refuses a bad descriptor set with config_invalid', () => {
    const code = (run: () => unknown) => {
      try {
        run();
        return undefined;
      } catch (err) {
        return { code: (err as { code?: string }).code, message: (err as Error).message };
      }
    };
    const bad = Buffer.from([0x0a, 0x05, 0x01]).toString('base64');
    const r = code(() => engine.prepare(modules, {}, 'data.grpc.allow', { protoDescriptorBase64: bad }));
    expect(r?.code).to.equal('config_invalid');
    expect(r?.message).to.match(/descriptor set/);
    // A set built without --include_imports.
    const dir = path.join(FIXTURES, 'grpc');
    const out = path.join(os.tmpdir(), `sark-grpc-noimports-${process.pid}.pb`);
    execFileSync('protoc', [`--descriptor_set_out=${out}`, `-I${dir}`, 'authz_test.proto']);
    const partial = fs.readFileSync(out);
    fs.rmSync(out, { force: true });
    const p = code(() => engine.prepare(modules, {}, 'data.grpc.allow', { protoDescriptorBase64: partial.toString('base64') }));
    expect(p?.code).to.equal('config_invalid');
    expect(p?.message).to.match(/include_imports/);
    expect(code(() => new WasmEngine().prepare(modules, {}, 'data.grpc.allow', { protoDescriptorBase64: partial.toString('base64') }))?.code).to.equal('config_invalid');
  });
});
