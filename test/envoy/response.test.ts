import { expect } from 'chai';
import { CheckResponse as CheckResponseV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { AuthzError } from '../../src/envoy/errors';
import { badRequestResponse, decisionToResponse, toV2Response } from '../../src/envoy/response';

/** Through the wire and back, as Envoy would read it. */
function decided(decision: unknown, options = {}) {
  const { response, outcome } = decisionToResponse(decision, 'id-1', options);
  return { response: CheckResponse.decode(CheckResponse.encode(response).finish()), outcome };
}

const hv = (key: string, value: string, appendAction = 0) => ({ header: { key, value, rawValue: Buffer.alloc(0) }, append: undefined, appendAction, keepEmptyValue: false });

describe('envoy: decision → CheckResponse', () => {
  const cases: Array<{ name: string; decision: unknown; code: number; ok?: unknown; denied?: unknown; outcome: string }> = [
    { name: 'true allows with status OK only', decision: true, code: 0, outcome: 'allow' },
    { name: 'false denies with PERMISSION_DENIED only', decision: false, code: 7, outcome: 'deny' },
    {
      name: 'an allowed object carries ok_response headers',
      decision: { allowed: true, headers: { 'x-user': 'alice', 'x-groups': ['a', 'b'] } },
      code: 0,
      ok: { headers: [hv('x-groups', 'a'), hv('x-groups', 'b'), hv('x-user', 'alice')], dynamicMetadata: undefined, headersToRemove: [], responseHeadersToAdd: [], queryParametersToSet: [], queryParametersToRemove: [] },
      outcome: 'allow',
    },
    {
      name: 'an allowed object with removals, response headers and query parameters',
      decision: {
        allowed: true,
        request_headers_to_remove: ['authorization'],
        response_headers_to_add: [{ 'x-a': '1' }, { 'x-b': { value: '2', append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } }],
        query_parameters_to_set: { page: '1', tag: ['x', 'y'] },
        query_parameters_to_remove: ['token'],
      },
      code: 0,
      ok: {
        headers: [],
        dynamicMetadata: undefined,
        headersToRemove: ['authorization'],
        responseHeadersToAdd: [hv('x-a', '1'), hv('x-b', '2', 2)],
        queryParametersToSet: [{ key: 'page', value: '1' }, { key: 'tag', value: 'x' }, { key: 'tag', value: 'y' }],
        queryParametersToRemove: ['token'],
      },
      outcome: 'allow',
    },
    {
      name: 'a denied object carries status, headers and body',
      decision: { allowed: false, http_status: 401, body: 'login required', headers: { 'www-authenticate': 'Bearer' } },
      code: 7,
      denied: { status: { code: 401 }, headers: [hv('www-authenticate', 'Bearer')], body: 'login required' },
      outcome: 'deny',
    },
    {
      name: 'a denied object without status gets 403',
      decision: { allowed: false },
      code: 7,
      denied: { status: { code: 403 }, headers: [], body: '' },
      outcome: 'deny',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { response, outcome } = decided(c.decision);
      expect(outcome).to.equal(c.outcome);
      expect(response.status?.code).to.equal(c.code);
      expect(response.okResponse).to.deep.equal(c.ok);
      expect(response.deniedResponse).to.deep.equal(c.denied);
      expect(response.dynamicMetadata).to.deep.equal({ decision_id: 'id-1' });
    });
  }

  const invalid: Array<[string, unknown]> = [
    ['a string', 'allow'],
    ['null', null],
    ['an object without allowed', { headers: {} }],
    ['allowed not a boolean', { allowed: 'yes' }],
    ['an unknown http_status', { allowed: false, http_status: 999 }],
    ['a fractional http_status', { allowed: false, http_status: 403.5 }],
    ['a body not a string', { allowed: false, body: 1 }],
    ['a header value not a string', { allowed: true, headers: { x: 1 } }],
    ['headers not an object', { allowed: true, headers: 'x' }],
    ['an unknown append_action', { allowed: true, headers: { x: { value: 'v', append_action: 'MERGE' } } }],
    ['request_headers_to_remove not an array', { allowed: true, request_headers_to_remove: 'x' }],
    ['dynamic_metadata not an object', { allowed: true, dynamic_metadata: [] }],
  ];
  for (const [name, decision] of invalid) {
    it(`refuses ${name} with decision_invalid`, () => {
      expect(() => decisionToResponse(decision, 'id')).to.throw(AuthzError).with.property('code', 'decision_invalid');
    });
  }

  it('keeps dynamic_metadata from the decision and adds decision_id', () => {
    const { response } = decided({ allowed: true, dynamic_metadata: { user: 'alice', score: 2, tags: ['a'], decision_id: 'spoofed' } });
    expect(response.dynamicMetadata).to.deep.equal({ decision_id: 'id-1', score: 2, tags: ['a'], user: 'alice' });
  });

  it('always allows in dry-run, keeping the outcome for logs', () => {
    const { response, outcome } = decided({ allowed: false, http_status: 401 }, { dryRun: true });
    expect(outcome).to.equal('deny');
    expect(response.status?.code).to.equal(0);
    expect(response.deniedResponse).to.equal(undefined);
  });

  it('answers a bad request with a generic 400 body', () => {
    const r = badRequestResponse('id-2');
    expect(r.status?.code).to.equal(7);
    expect(r.deniedResponse).to.deep.include({ status: { code: 400 }, body: 'bad request' });
  });

  it('maps to v2: headers without append actions, no metadata', () => {
    const { response } = decisionToResponse({ allowed: false, http_status: 401, body: 'no', headers: { a: 'b' } }, 'id');
    const v2 = CheckResponseV2.decode(CheckResponseV2.encode(toV2Response(response)).finish());
    expect(v2.status?.code).to.equal(7);
    expect(v2.deniedResponse?.status?.code).to.equal(401);
    expect(v2.deniedResponse?.headers).to.deep.equal([{ header: { key: 'a', value: 'b' }, append: undefined }]);
    expect(v2.deniedResponse?.body).to.equal('no');
  });
});
