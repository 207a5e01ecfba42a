/**
 * Malformed and hostile requests give one answer whichever engine runs
 * (issue 16.9): the addon and the wasm engine agree on the input document or
 * the error code, and on the CheckResponse or gRPC error. Cases:
 * invalid UTF-8 in string fields, numbers a double cannot hold, JSON nested
 * deeper than the readers allow, number texts past their length limit.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { CheckResponse as CheckResponseV3 } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { encodeCheckRequest, envoyRequest } from './corpus';
import { FIXTURES } from '../helpers/server';

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** A request whose bytes `ZZZZ` (in a header value, the path, ...) become invalid UTF-8. */
function withInvalidUtf8(spec: ReturnType<typeof envoyRequest>): Uint8Array {
  const bytes = Buffer.from(encodeCheckRequest(spec));
  const at = bytes.indexOf('ZZZZ');
  expect(at, 'placeholder').to.be.at.least(0);
  Buffer.from([0xff, 0xfe, 0xc0, 0x80]).copy(bytes, at);
  return bytes;
}

const json = (body: string) => encodeCheckRequest(envoyRequest('POST', '/items', { 'content-type': 'application/json' }, body));
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const CASES: Array<[string, Uint8Array]> = [
  ['invalid UTF-8 in a header value', withInvalidUtf8(envoyRequest('GET', '/', { 'x-bad': 'aZZZZb' }))],
  ['invalid UTF-8 in a header name', withInvalidUtf8(envoyRequest('GET', '/', { 'x-ZZZZ': 'v' }))],
  ['invalid UTF-8 in the path', withInvalidUtf8(envoyRequest('GET', '/aZZZZ'))],
  ['invalid UTF-8 in the body', withInvalidUtf8(envoyRequest('POST', '/b', { 'content-type': 'application/json' }, '{"a":"ZZZZ"}'))],
  ['a body of 1e999999', json('1e999999')],
  ['1e400 inside a body', json('{"n":[1,1e400]}')],
  ['a 400-digit integer', json(`{"n":${'9'.repeat(400)}}`)],
  ['a 300-digit integer (in range)', json(`{"n":${'9'.repeat(300)}}`)],
  ['1e-999999 (underflows to 0)', json('{"n":1e-999999}')],
  ['a 5000-character number', json(`{"n":0.${'0'.repeat(5000)}1}`)],
  ['number-like text in a string', json('{"s":"1e999999 and 1e400"}')],
  ['JSON 100,000 deep', json(nested(100_000))],
  ['JSON 513 deep', json(nested(513))],
  ['JSON 512 deep (allowed)', json(nested(512))],
  ['brackets inside strings do not nest', json(`{"s":"${'['.repeat(2000)}"}`)],
];

describe('differential: bad input gets one answer with both engines', function () {
  this.timeout(60_000);
  const modules = loadPolicyModules(path.join(FIXTURES, 'policies', 'differential.rego'));
  const native = createEngine().prepare(modules, {}, 'data.envoy.authz.allow');
  const wasm = new WasmEngine().prepare(modules, {}, 'data.envoy.authz.allow');

  const inputOf = (policy: typeof native | typeof wasm, bytes: Uint8Array) => {
    try {
      return { input: plain(policy.inputDocument(Buffer.from(bytes), 3)) };
    } catch (err) {
      return { code: (err as { code?: string }).code };
    }
  };
  const response = (run: () => Uint8Array) => {
    try {
      const res = CheckResponseV3.decode(run()) as { dynamicMetadata?: { [k: string]: unknown } };
      delete res.dynamicMetadata?.decision_id;
      return plain(res);
    } catch (err) {
      return { error: (err as { code?: string }).code };
    }
  };

  for (const [name, bytes] of CASES) {
    it(name, () => {
      const want = inputOf(native, bytes);
      expect(inputOf(wasm, bytes), 'input document').to.deep.equal(want);
      expect(want.code ?? 'ok', 'a known error code, not an internal failure').to.be.oneOf(['ok', 'request_malformed', 'request_body_invalid', 'request_path_invalid']);
      const viaNative = response(() => native.checkBytes(Buffer.from(bytes), 3, null).bytes);
      const viaWasm = response(() => Buffer.from(wasm.checkView(Buffer.from(bytes), 3, null)));
      expect(viaWasm, 'CheckResponse').to.deep.equal(viaNative);
    });
  }
});
