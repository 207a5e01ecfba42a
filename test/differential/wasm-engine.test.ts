/**
 * The wasm engine (no addon) against the native one, on the requests of the
 * differential corpus (corpus.ts): hand-written ones plus 10,000 seeded random ones,
 * API v3 and v2. Input documents, CheckResponses (decision_id aside), error
 * codes and cache keys' behaviour must be identical.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { LruDecisionCache } from '../../src/cache/lru-fallback';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { CheckResponse as CheckResponseV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { CheckResponse as CheckResponseV3 } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { corpus, encodeCheckRequest, envoyRequest } from './corpus';
import { FIXTURES, ROOT } from '../helpers/server';

const RANDOM_REQUESTS = 10_000;

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function attempt<T>(f: () => T): T | { error?: string } {
  try {
    return f();
  } catch (err) {
    return { error: (err as { code?: string }).code };
  }
}

function decoded(bytes: Buffer | { error?: string }, version: 2 | 3): unknown {
  if (!Buffer.isBuffer(bytes)) return bytes;
  const res = (version === 3 ? CheckResponseV3.decode(bytes) : CheckResponseV2.decode(bytes)) as { dynamicMetadata?: { [k: string]: unknown } };
  if (res.dynamicMetadata && typeof res.dynamicMetadata === 'object') delete res.dynamicMetadata.decision_id;
  return plain(res);
}

describe('differential: wasm engine = native engine', function () {
  this.timeout(600_000);
  const requests = [
    ...[envoyRequest('GET', '/'), envoyRequest('GET', '/a%2Fb/c%20d?x=1&x=2&y=%zz'), envoyRequest('POST', '/bad', { 'content-type': 'application/json' }, '{not json')].map((s) => encodeCheckRequest(s)),
    ...corpus(20261128, RANDOM_REQUESTS).map((c) => c.bytes),
  ].map((b) => Buffer.from(b));
  const policies = [path.join(FIXTURES, 'policies', 'differential.rego'), path.join(ROOT, 'envoy', 'policies', 'example.rego')];

  for (const [i, file] of policies.entries()) {
    const native = createEngine().prepare(loadPolicyModules(file), {}, 'data.envoy.authz.allow');
    const wasm = new WasmEngine().prepare(loadPolicyModules(file), {}, 'data.envoy.authz.allow');
    for (const version of [3, 2] as const) {
      it(`gives identical input documents and CheckResponses for ${requests.length} requests (v${version}, policy ${i + 1})`, () => {
        const outcomes = new Set<string>();
        const cache = new LruDecisionCache({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
        for (const [n, bytes] of requests.entries()) {
          expect(attempt(() => wasm.inputDocument(bytes, version)), `input #${n}`).to.deep.equal(attempt(() => native.inputDocument(bytes, version)));
          const want = decoded(attempt(() => native.checkBytes(bytes, version, null).bytes), version);
          expect(decoded(attempt(() => Buffer.from(wasm.checkView(bytes, version, null))), version), `request #${n}`).to.deep.equal(want);
          // Through the lru-cache, twice: the second answer may come from the cache and must not differ.
          for (let k = 0; k < 2; k++) {
            expect(decoded(attempt(() => Buffer.from(wasm.checkView(bytes, version, cache))), version), `cached request #${n}`).to.deep.equal(want);
          }
          outcomes.add(JSON.stringify((want as { status?: { code?: number } }).status?.code ?? (want as { error?: string }).error));
        }
        expect(outcomes.size).to.be.at.least(2);
        expect(cache.stats().hits).to.be.greaterThan(0);
      });
    }
  }
});
