/**
 * The decision cache against no cache: randomized streams of Envoy-shaped
 * requests — repeats, and requests differing only in volatile fields
 * (`request.time`, `http.id`, `x-request-id`, `traceparent`) — must get
 * identical CheckResponses (decision_id aside) with and without the cache,
 * for every policy in envoy/policies and the differential fixture.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NativeDecisionCache } from '../../src/cache/native-cache';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { corpus, encodeCheckRequest, rng, type RequestSpec } from './corpus';
import { FIXTURES, ROOT } from '../helpers/server';

/** The same request as Envoy would send it again later: only volatile fields change. */
function volatileVariant(spec: RequestSpec, r: () => number): RequestSpec {
  const v = structuredClone(spec);
  v.http.id = String(Math.floor(r() * 1e15));
  v.time = { seconds: 1764000000 + Math.floor(r() * 1e6), nanos: Math.floor(r() * 1e9) };
  const set = (k: string, val: string) => {
    if (v.http.headers) v.http.headers[k] = val;
    else v.http.headerMap = [...(v.http.headerMap ?? []).filter(([hk]) => hk !== k), [k, val]];
  };
  set('x-request-id', `${Math.floor(r() * 1e9)}-${Math.floor(r() * 1e9)}`);
  set('traceparent', `00-${Math.floor(r() * 1e12).toString(16).padStart(32, '0')}-${Math.floor(r() * 1e8).toString(16).padStart(16, '0')}-01`);
  return v;
}

function withoutDecisionId(bytes: Buffer): unknown {
  const res = CheckResponse.decode(bytes) as { dynamicMetadata?: Record<string, unknown> };
  if (res.dynamicMetadata) delete res.dynamicMetadata.decision_id;
  return JSON.parse(JSON.stringify(res));
}

function outcomeOf(run: () => Buffer): unknown {
  try {
    return withoutDecisionId(run());
  } catch (err) {
    return { error: (err as { code?: string }).code };
  }
}

const policyFiles = [
  ...fs.readdirSync(path.join(ROOT, 'envoy', 'policies')).filter((f) => f.endsWith('.rego')).map((f) => path.join(ROOT, 'envoy', 'policies', f)),
  path.join(FIXTURES, 'policies', 'differential.rego'),
];

describe('differential: decision cache = no cache', function () {
  this.timeout(300_000);
  const base = corpus(7, 600).map((c) => c.spec);

  for (const file of policyFiles) {
    it(`gives identical responses for a stream of repeats and volatile variants (${path.basename(file)})`, () => {
      const policy = createEngine().prepare(loadPolicyModules(file), {}, 'data.envoy.authz.allow');
      const cache = new NativeDecisionCache({ maxEntries: 10_000, maxBytes: 16 << 20 });
      const r = rng(99);
      let hits = 0;
      let n = 0;
      for (let i = 0; i < 6000; i++) {
        const spec = base[Math.floor(r() * base.length)];
        const bytes = Buffer.from(encodeCheckRequest(r() < 0.5 ? spec : volatileVariant(spec, r)));
        const plain = outcomeOf(() => policy.checkBytes(bytes, 3, null).bytes);
        let hit = false;
        const cached = outcomeOf(() => {
          const o = policy.checkBytes(bytes, 3, cache.native);
          hit = o.cacheHit;
          return o.bytes;
        });
        expect(cached, `request #${i}`).to.deep.equal(plain);
        if (hit) hits++;
        n++;
      }
      expect(n).to.equal(6000);
      // Policies whose key leaves the volatile fields out must hit. (headers.rego
      // and the fixture read every header; jwt.rego's verified decisions read
      // the clock and are never cached.)
      if (/\/(example|body)\.rego$/.test(file)) expect(hits / n).to.be.greaterThan(0.5);
    });
  }

  it('hits ≥ 95% when requests differ only in volatile fields (example policy)', () => {
    const policy = createEngine().prepare(loadPolicyModules(path.join(ROOT, 'envoy', 'policies', 'example.rego')), {}, 'data.envoy.authz.allow');
    const cache = new NativeDecisionCache({ maxEntries: 10_000, maxBytes: 16 << 20 });
    const r = rng(5);
    const distinct = base.slice(0, 50);
    let hits = 0;
    let decided = 0;
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(encodeCheckRequest(volatileVariant(distinct[i % distinct.length], r)));
      // Bad requests (unreadable path or body) are answered before any
      // decision, so they are outside the cache: count decisions only.
      const o = policy.checkBytes(bytes, 3, cache.native);
      if (o.outcome === 'bad_request') continue;
      decided++;
      if (o.cacheHit) hits++;
    }
    expect(decided).to.be.greaterThan(3000);
    expect(hits / decided).to.be.at.least(0.95);
  });

  it('never serves a decision of the old policy after a swap', () => {
    const engine = createEngine();
    const allowAll = engine.prepare([{ name: 'a.rego', source: 'package envoy.authz\nallow := true\n' }], {}, 'data.envoy.authz.allow');
    const denyAll = engine.prepare([{ name: 'b.rego', source: 'package envoy.authz\nallow := false\n' }], {}, 'data.envoy.authz.allow');
    const cache = new NativeDecisionCache({ maxEntries: 100, maxBytes: 1 << 20 });
    const bytes = Buffer.from(encodeCheckRequest(base[0]));
    expect(allowAll.checkBytes(bytes, 3, cache.native).outcome).to.equal('allow');
    expect(allowAll.checkBytes(bytes, 3, cache.native).cacheHit).to.equal(true);
    // Same cache, new revision: even without clearing, the old entry cannot match.
    const after = denyAll.checkBytes(bytes, 3, cache.native);
    expect(after.outcome).to.equal('deny');
    expect(after.cacheHit).to.equal(false);
  });
});
