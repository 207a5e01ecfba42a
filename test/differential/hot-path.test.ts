/**
 * The native hot path against the TypeScript reference path, on the same
 * requests: hand-written Envoy-shaped ones plus 10,000 seeded random ones
 * (headers, escaped paths, bodies of every content type, truncation,
 * metadata, peers), for API v3 and v2. Input documents must be identical,
 * and so must CheckResponses (decision_id aside).
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { loadPolicyModules } from '../../src/config/policy-files';
import { createEngine, type NativePreparedPolicy } from '../../src/engine/native-engine';
import { CheckResponse as CheckResponseV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { CheckResponse as CheckResponseV3 } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { check, decodeRequest } from '../../src/server/check';
import { checkRequestToInput, type ApiVersion } from '../../src/envoy/input';
import { corpus, encodeCheckRequest, envoyRequest, type RequestSpec } from './corpus';
import { FIXTURES, ROOT } from '../helpers/server';

const RANDOM_REQUESTS = 10_000;

const HAND_WRITTEN: RequestSpec[] = [
  envoyRequest('GET', '/'),
  envoyRequest('GET', '//admin/x'),
  envoyRequest('GET', '/a%2Fb/c%20d?x=1&x=2&y=%zz'),
  envoyRequest('GET', '/ok%zz'),
  envoyRequest('POST', '/items', { 'content-type': 'application/json', 'content-length': '13' }, '{"name":"x"}'),
  envoyRequest('POST', '/form', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1&b=two&a=3'),
  envoyRequest('POST', '/cloud', { 'content-type': 'application/cloudevents+json' }, '{"id":1}'),
  envoyRequest('POST', '/bad', { 'content-type': 'application/json' }, '{not json'),
  envoyRequest('POST', '/cut', { 'content-type': 'application/json', 'x-envoy-auth-partial-body': 'true' }, '{"a":'),
  envoyRequest('GET', '/api/v1/items;jsessionid=1'),
];

/** JSON round trip: the TypeScript document as the policy sees it. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function jsInput(bytes: Uint8Array, version: ApiVersion): { input?: unknown; code?: string } {
  try {
    return { input: plain(checkRequestToInput(decodeRequest(bytes, version), version)) };
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
}

function nativeInput(policy: NativePreparedPolicy, bytes: Uint8Array, version: ApiVersion): { input?: unknown; code?: string } {
  try {
    return { input: policy.inputDocument(Buffer.from(bytes), version === 'v3' ? 3 : 2) };
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
}

/** A decoded CheckResponse without its decision_id, or the error code. */
function responseOf(run: () => Uint8Array, version: ApiVersion): unknown {
  let bytes: Uint8Array;
  try {
    bytes = run();
  } catch (err) {
    return { error: (err as { code?: string }).code };
  }
  const res = (version === 'v3' ? CheckResponseV3.decode(bytes) : CheckResponseV2.decode(bytes)) as { dynamicMetadata?: { [k: string]: unknown } };
  const md = res.dynamicMetadata;
  if (md && typeof md === 'object') {
    expect(md).to.have.property('decision_id').that.matches(/^[0-9a-f-]{36}$/);
    delete md.decision_id;
  }
  return plain(res);
}

describe('differential: native hot path = TypeScript path', function () {
  this.timeout(300_000);
  const requests = [...HAND_WRITTEN.map((spec) => encodeCheckRequest(spec)), ...corpus(20261128, RANDOM_REQUESTS).map((c) => c.bytes)];
  const engine = createEngine();
  const policies = [
    engine.prepare(loadPolicyModules(path.join(FIXTURES, 'policies', 'differential.rego')), {}, 'data.envoy.authz.allow'),
    engine.prepare(loadPolicyModules(path.join(ROOT, 'envoy', 'policies', 'example.rego')), {}, 'data.envoy.authz.allow'),
  ];

  for (const version of ['v3', 'v2'] as const) {
    it(`builds identical input documents for ${requests.length} requests (${version})`, () => {
      let compared = 0;
      for (const bytes of requests) {
        const js = jsInput(bytes, version);
        const native = nativeInput(policies[0], bytes, version);
        expect(native, `request #${compared}`).to.deep.equal(js);
        compared++;
      }
      expect(compared).to.be.at.least(RANDOM_REQUESTS);
    });

    for (const [i, policy] of policies.entries()) {
      it(`gives identical CheckResponses for ${requests.length} requests (${version}, policy ${i + 1})`, () => {
        const outcomes = new Map<string, number>();
        for (const [n, bytes] of requests.entries()) {
          const js = responseOf(() => check(policy, bytes, version).bytes, version);
          const native = responseOf(() => policy.checkBytes(Buffer.from(bytes), version === 'v3' ? 3 : 2, null).bytes, version);
          expect(native, `request #${n}`).to.deep.equal(js);
          const key = JSON.stringify((js as { status?: { code?: number }; error?: string }).status?.code ?? (js as { error?: string }).error);
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
        // The corpus must exercise both allow and deny.
        expect(outcomes.size, JSON.stringify([...outcomes])).to.be.at.least(2);
      });
    }
  }
});
