/**
 * opa-envoy-plugin's own test cases, as data: requests and what the plugin
 * answers them with, replayed over gRPC against the real server by
 * plugin-cases.test.ts. Facts taken from the plugin's Go tests (Apache-2.0):
 *
 * - envoyauth/request_test.go at 58c44d4ec408d5852d1d0287599e7d5c5e2bc5c3
 *   (the GHSA-9f29-v6mm-pw6w fix): TestParsedPathAndQuery, TestGetParsedBody,
 *   TestGetParsedBodygRPC, TestSourcePeerAttributes;
 * - envoyauth/response_test.go at 0507a76e705ac238edb1d1ed6f94991ad7d987a6:
 *   the decision → response accessors (each case's decision, made an allow
 *   or deny object where the accessor needs one, since Check reads those
 *   fields only then);
 * - envoyauth/protomap_test.go at db61dfee6d09f5914a087a0f2bac6348d42d0d1b:
 *   Test_protomap, the `attributes` document;
 * - internal/internal_test.go at 8ef31a4df5a01abafc48d0cbb3d3af2d457eab8a:
 *   whole Checks against its test policies (restated in
 *   test/fixtures/opa-envoy-plugin/policy.rego);
 * - internal/internal.go at 37513f0abeb8ea7457546a2f5f2942509bf84a2b: a
 *   request that cannot become an input document is a 400 deny (older
 *   internal_test.go versions expected a gRPC error there), and the v2
 *   response carries status and headers only.
 *
 * Where a case goes through the body parser with no path, the plugin's
 * parsed_path is [""] (the empty path split).
 */

/** The parts of a CheckRequest the plugin's tests fill. */
export interface PluginRequest {
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** `raw_body`, base64 (as in the plugin's JSON requests). */
  rawBodyBase64?: string;
  principal?: string;
  /** Further CheckRequest.attributes fields, in the generated types' shape (merged over the above). */
  attributes?: Record<string, unknown>;
}

/** An input field the plugin leaves out of the document. */
export const ABSENT = '<absent>';

/** What the Check must come to. */
export type PluginExpectation =
  /** Allowed; the echoed input fields (`echo` decision) must equal these, field by field (ABSENT = left out). */
  | { input: Record<string, unknown> }
  /** A 400 deny: the request could not become an input document. */
  | { badRequest: true }
  /** A gRPC error: the decision could not become a response. */
  | { error: true }
  | {
      allowed: boolean;
      /** ok_response.headers or denied_response.headers, as [key, value] in any order. */
      headers?: Array<[string, string]>;
      headersToRemove?: string[];
      responseHeadersToAdd?: Array<[string, string]>;
      queryParametersToSet?: Array<[string, string]>;
      queryParametersToRemove?: string[];
      body?: string;
      httpStatus?: number;
      /** dynamic_metadata without decision_id; for v2, {} means no dynamic_metadata field at all (v2 has none). */
      dynamicMetadata?: Record<string, unknown>;
    };

export interface PluginCase {
  /** `file Test/case`. */
  name: string;
  /** The rule of test/fixtures/opa-envoy-plugin/policy.rego that decides (`data.plugin.RULE`). */
  rule: string;
  api?: 'v3' | 'v2';
  request: PluginRequest;
  /** For `rule: decision`: the decision under test (becomes data.decisions[name]). */
  decision?: unknown;
  skipRequestBodyParse?: boolean;
  dryRun?: boolean;
  /** Serve with the descriptor set of test/fixtures/opa-envoy-plugin/*.proto. */
  protoDescriptor?: boolean;
  expect: PluginExpectation;
}

const RT = 'request_test.go';
const IT = 'internal_test.go';
const RS = 'response_test.go';

const noBody = { parsed_body: null, truncated_body: false };

const pathCases: Array<[string, string[], Record<string, string[]>]> = [
  ['/my/test/path', ['my', 'test', 'path'], {}],
  ['/my/test/path?a=1', ['my', 'test', 'path'], { a: ['1'] }],
  ['/my/test/path?a=1&a=2', ['my', 'test', 'path'], { a: ['1', '2'] }],
  ['/my/test/path?a=1&b=2', ['my', 'test', 'path'], { a: ['1'], b: ['2'] }],
  ['/my/test/path?a=1&a=new%0aline', ['my', 'test', 'path'], { a: ['1', 'new\nline'] }],
  ['%2Fmy%2Ftest%2Fpath?a=1&a=new%0aline', ['my', 'test', 'path'], { a: ['1', 'new\nline'] }],
  ['//x/people', ['x', 'people'], {}],
  ['//admin/dashboard', ['admin', 'dashboard'], {}],
  ['//x/people?a=1', ['x', 'people'], { a: ['1'] }],
];

const json = { 'content-type': 'application/json' };
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const multipart = { 'content-type': 'multipart/form-data; boundary=foo' };
// The plugin's JSON fixtures hold a raw line break inside the multipart body
// string; its YAML-tolerant reader folds it (and the indentation) into one space.
const multipartEnd = '--foo-- ';

const bodyCases: Array<[string, PluginRequest, unknown, boolean]> = [
  ['no_content_type', { headers: { 'content-length': '0' } }, null, false],
  ['content_type_text', { headers: { 'content-type': 'text/html' } }, null, false],
  ['content_type_json_string', { headers: json, body: '"foo"' }, 'foo', false],
  ['content_type_json_boolean', { headers: json, body: 'true' }, true, false],
  ['content_type_json_number', { headers: json, body: '42' }, 42, false],
  ['content_type_json_null', { headers: json, body: 'null' }, null, false],
  ['content_type_json_object', { headers: json, body: '{"firstname": "foo", "lastname": "bar"}' }, { firstname: 'foo', lastname: 'bar' }, false],
  ['content_type_json_array', { headers: json, body: '["hello", "opa"]' }, ['hello', 'opa'], false],
  [
    'content_type_json_with_special_chars',
    { headers: json, body: String.raw`["\"", "\\", "\/", "/", "\b", "\f", "\n", "\r", "\t", "\u0041"]` },
    ['"', '\\', '/', '/', '\b', '\f', '\n', '\r', '\t', 'A'],
    false,
  ],
  [
    'content_type_multipart_form_data',
    { headers: multipart, body: `--foo\nContent-Disposition: form-data; name="foo"\nContent-Type: text/plain\n\nbar\n${multipartEnd}` },
    { foo: ['bar'] },
    false,
  ],
  [
    'content_type_multipart_form_data_with_json',
    {
      headers: multipart,
      body: `--foo\nContent-Disposition: form-data; name="foo"\nContent-Type: text/plain\n\nbar\n--foo\nContent-Disposition: form-data; name="bar"\nContent-Type: application/json;\n\n{"name": "bar"}\n${multipartEnd}`,
    },
    { foo: ['bar'], bar: [{ name: 'bar' }] },
    false,
  ],
  ['empty_content', { headers: json, body: '' }, null, false],
  ['body_truncated', { headers: { ...json, 'content-length': '1000' }, body: 'true' }, null, true],
  ['content_type_url_encoded_raw', { headers: form, rawBodyBase64: 'Zmlyc3RuYW1lPWZvbyZsYXN0bmFtZT1iYXI=' }, { firstname: ['foo'], lastname: ['bar'] }, false],
  ['content_type_url_encoded', { headers: form, body: 'firstname=foo&lastname=bar' }, { firstname: ['foo'], lastname: ['bar'] }, false],
  ['content_type_url_encoded_empty', { headers: form, body: '' }, null, false],
  ['content_type_url_encoded_multiple_values', { headers: form, body: 'firstname=foo&lastname=bar&lastname=foobar' }, { firstname: ['foo'], lastname: ['bar', 'foobar'] }, false],
  ['content_type_url_encoded_truncated', { headers: { ...form, 'content-length': '1000' }, body: 'firstname=foo&lastname=bar' }, null, true],
  [
    'content_type_json_with_raw_body',
    { headers: json, rawBodyBase64: 'ewogICAgImZpcnN0bmFtZSI6ICJmb28iLAogICAgImxhc3RuYW1lIjogImJhciIKfQ==' },
    { firstname: 'foo', lastname: 'bar' },
    false,
  ],
];

const grpc = { 'content-type': 'application/grpc' };
const EXAMPLE = '/Example.Test.GRPC.ProtoServiceIExampleApplication/RegisterExample';
const grpcCases: Array<[string, PluginRequest, PluginExpectation]> = [
  ['parsed_path_error', { headers: grpc, method: 'POST', rawBodyBase64: 'AAAAAC0KDQoHCgVFUlJPUhICCAESHAoMCgpCb2R5IHZhbHVlEgwKCk5hbWUgVmFsdWU=' }, { badRequest: true }],
  ['without_raw_body', { headers: grpc, method: 'POST', path: EXAMPLE }, { input: noBody }],
  [
    'valid_parsed_example',
    { headers: grpc, method: 'POST', path: EXAMPLE, rawBodyBase64: 'AAAAADYKFgoHCgVFUlJPUhILCglTZWNOdW1iZXISHAoMCgpCb2R5IHZhbHVlEgwKCk5hbWUgVmFsdWU=' },
    { input: { parsed_body: { Data: { Body: 'Body value', Name: 'Name Value' }, Metadata: { SeverityNumber: 'SecNumber', SeverityText: 'ERROR' } }, truncated_body: false } },
  ],
  ['valid_parsed_book', { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaAuthor', rawBodyBase64: 'AAAAAAYKBEpvaG4=' }, { input: { parsed_body: { author: 'John' }, truncated_body: false } }],
  ['unknown_service', { headers: grpc, method: 'POST', path: '/com.book.SecondBookService/GetBooksViaAuthor', rawBodyBase64: 'AAAAAAYKBEpvaG4=' }, { input: noBody }],
  ['unknown_method', { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaSecondAuthor', rawBodyBase64: 'AAAAAAYKBEpvaG4=' }, { input: noBody }],
  ['empty_request', { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaAuthor', rawBodyBase64: 'AAAAAAA=' }, { input: { parsed_body: {}, truncated_body: false } }],
  [
    'compressed_payload',
    { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaAuthor', rawBodyBase64: 'AQAAADwfiwgAAAAAAAD/4hLkaOi4t49RoOHi+ll//////59RSJCj4dGiE4wCDau/LIYIAQIAAP//aJ9RpSYAAAA=' },
    { input: noBody },
  ],
  ['truncated_payload', { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaAuthor', rawBodyBase64: 'AAAAABEImqaMww==' }, { input: { parsed_body: null, truncated_body: true } }],
];

// internal_test.go's requests.
const bobProducts: PluginRequest = {
  method: 'GET',
  path: '/api/v1/products',
  headers: { ':authority': '192.168.99.100:31380', ':method': 'GET', ':path': '/api/v1/products', accept: '*/*', authorization: 'Basic Ym9iOnBhc3N3b3Jk', 'content-length': '0', 'x-request-id': '92a6c0f7-0250-944b-9cfc-ae10cbcedd8e' },
  body: '{"firstname": "foo", "lastname": "bar"}',
};
const aliceProducts: PluginRequest = { ...bobProducts, headers: { ...bobProducts.headers, authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' }, body: 'foo' };
const parsedPathRequest: PluginRequest = { method: 'GET', path: '/my/test/path?a=1&a=2&x=y' };
const deptBody = '{"firstname": "foo", "lastname": "bar", "dept": {"it": "eng"}}';
const parsedBodyRequest: PluginRequest = { method: 'GET', headers: json, body: deptBody };
const invalidJson: PluginRequest = { headers: json, body: '["foo" : 42}' };

const checkCases: PluginCase[] = [
  { name: `${IT} TestCheckAllow`, rule: 'rbac', request: bobProducts, expect: { allowed: true } },
  { name: `${IT} TestCheckDeny`, rule: 'rbac', request: aliceProducts, expect: { allowed: false } },
  { name: `${IT} TestCheckAllowParsedPath`, rule: 'rbac', request: parsedPathRequest, expect: { allowed: true } },
  { name: `${IT} TestCheckAllowParsedBody`, rule: 'rbac', request: parsedBodyRequest, expect: { allowed: true } },
  { name: `${IT} TestCheckDenyParsedBody`, rule: 'rbac', request: { method: 'GET', body: 'foo' }, expect: { allowed: false } },
  { name: `${IT} TestCheckAllowWithDryRunTrue`, rule: 'rbac', dryRun: true, request: bobProducts, expect: { allowed: true } },
  { name: `${IT} TestCheckDenyWithDryRunTrue`, rule: 'rbac', dryRun: true, request: aliceProducts, expect: { allowed: true } },
  { name: `${IT} TestCheckDenyWithLoggerV2`, rule: 'rbac', api: 'v2', request: aliceProducts, expect: { allowed: false } },
  { name: `${IT} TestCheckBadDecisionWithLogger (internal.go: 400)`, rule: 'rbac', request: invalidJson, expect: { badRequest: true } },
  { name: `${IT} TestCheckBadDecisionWithLoggerV2 (internal.go: 400)`, rule: 'rbac', api: 'v2', request: invalidJson, expect: { badRequest: true } },
  { name: `${IT} TestCheckIllegalDecisionWithLogger`, rule: 'illegal', request: aliceProducts, expect: { error: true } },
  { name: `${IT} TestCheckDenyDecisionTruncatedBodyWithLogger`, rule: 'not_truncated', request: { method: 'GET', headers: { ...json, 'content-length': '100000' }, body: deptBody }, expect: { allowed: false } },
  { name: `${IT} TestCheckDecisionTruncatedBodyWithLogger (allowed)`, rule: 'not_truncated', request: { method: 'GET', headers: { ...json, 'content-length': '62' }, body: deptBody }, expect: { allowed: true } },
  { name: `${IT} TestCheckAllowDecisionWithSkipRequestBodyParse`, rule: 'not_truncated', skipRequestBodyParse: true, request: invalidJson, expect: { allowed: true } },
  { name: `${IT} TestCheckAllowDecisionWithSkipRequestBodyParse (input)`, rule: 'echo', skipRequestBodyParse: true, request: invalidJson, expect: { input: { parsed_body: ABSENT, truncated_body: ABSENT } } },
  { name: `${IT} TestVersionInfoInputV3`, rule: 'version_v3', request: bobProducts, expect: { allowed: true } },
  { name: `${IT} TestVersionInfoInputV2`, rule: 'version_v2', api: 'v2', request: bobProducts, expect: { allowed: true } },
  { name: `${IT} TestCheckAllowObjectDecision`, rule: 'object_decision', request: parsedPathRequest, expect: { allowed: true, headers: [['x', 'hello'], ['y', 'world']], headersToRemove: [], responseHeadersToAdd: [] } },
  {
    name: `${IT} TestCheckDenyObjectDecision`,
    rule: 'object_decision',
    request: aliceProducts,
    expect: { allowed: false, headers: [['foo', 'bar'], ['baz', 'taz']], body: 'Unauthorized Request', httpStatus: 301 },
  },
  { name: `${IT} TestCheckDenyWithDryRunObjectDecision`, rule: 'object_decision', dryRun: true, request: aliceProducts, expect: { allowed: true } },
  { name: `${IT} TestCheckAllowWithDryRunObjectDecision`, rule: 'object_decision', dryRun: true, request: parsedPathRequest, expect: { allowed: true, headers: [['x', 'hello'], ['y', 'world']] } },
  { name: `${IT} TestCheckAllowObjectDecisionReqHeadersToRemove`, rule: 'headers_to_remove', request: parsedPathRequest, expect: { allowed: true, headersToRemove: ['foo', 'bar'] } },
  { name: `${IT} TestCheckAllowObjectDecisionResponseHeadersToAdd`, rule: 'response_headers_to_add', request: parsedPathRequest, expect: { allowed: true, responseHeadersToAdd: [['x', 'hello'], ['y', 'world']] } },
  // The v2 response: status and headers only (internal.go v2Response).
  { name: `internal.go v2Response (object decision)`, rule: 'object_decision', api: 'v2', request: parsedPathRequest, expect: { allowed: true, headers: [['x', 'hello'], ['y', 'world']], dynamicMetadata: {} } },
];

/** response_test.go: one decision each; `ok`/`deny` wrap the field under test in an allow or deny object. */
const ok = (fields: Record<string, unknown>) => ({ allowed: true, ...fields });
const deny = (fields: Record<string, unknown>) => ({ allowed: false, ...fields });
const decisionCases: Array<[string, unknown, PluginExpectation]> = [
  ['TestIsAllowed/no_allowed', {}, { error: true }],
  ['TestIsAllowed/allowed_not_bool', { allowed: 1 }, { error: true }],
  ['TestIsAllowed/allowed_true', { allowed: true }, { allowed: true }],
  ['TestGetRequestQueryParametersToRemove/bool_eval_result', true, { allowed: true, queryParametersToRemove: [] }],
  ['TestGetRequestQueryParametersToRemove/invalid_eval_result', 'hello', { error: true }],
  ['TestGetRequestQueryParametersToRemove/empty_map_result', ok({}), { allowed: true, queryParametersToRemove: [] }],
  ['TestGetRequestQueryParametersToRemove/bad_param_value', ok({ query_parameters_to_remove: 'test' }), { error: true }],
  ['TestGetRequestQueryParametersToRemove/string_array_param_value', ok({ query_parameters_to_remove: ['foo', 'bar'] }), { allowed: true, queryParametersToRemove: ['foo', 'bar'] }],
  ['TestGetRequestQueryParametersToRemove/interface_array_param_value', ok({ query_parameters_to_remove: ['foo', 'bar', 'fuz'] }), { allowed: true, queryParametersToRemove: ['foo', 'bar', 'fuz'] }],
  ['TestGetRequestQueryParametersToRemove/interface_array_bad_param_value', ok({ query_parameters_to_remove: [1] }), { error: true }],
  ['TestGetQueryParametersToSet/bool_eval_result', true, { allowed: true, queryParametersToSet: [] }],
  ['TestGetQueryParametersToSet/empty_map_result', ok({}), { allowed: true, queryParametersToSet: [] }],
  ['TestGetQueryParametersToSet/invalid_type', ok({ query_parameters_to_set: 'invalid' }), { error: true }],
  ['TestGetQueryParametersToSet/invalid_value_type', ok({ query_parameters_to_set: { test: 123 } }), { error: true }],
  ['TestGetQueryParametersToSet/invalid_array_value_type', ok({ query_parameters_to_set: { test: [123] } }), { error: true }],
  ['TestGetQueryParametersToSet/single_value', ok({ query_parameters_to_set: { param1: 'value1', param2: 'value2' } }), { allowed: true, queryParametersToSet: [['param1', 'value1'], ['param2', 'value2']] }],
  [
    'TestGetQueryParametersToSet/array_values',
    ok({ query_parameters_to_set: { param1: ['value1', 'value2'], param2: ['value3', 'value4'] } }),
    { allowed: true, queryParametersToSet: [['param1', 'value1'], ['param1', 'value2'], ['param2', 'value3'], ['param2', 'value4']] },
  ],
  [
    'TestGetQueryParametersToSet/mixed_values',
    ok({ query_parameters_to_set: { param1: 'single', param2: ['multi1', 'multi2'] } }),
    { allowed: true, queryParametersToSet: [['param1', 'single'], ['param2', 'multi1'], ['param2', 'multi2']] },
  ],
  ['TestGetRequestHTTPHeadersToRemove/bool_eval_result', true, { allowed: true, headersToRemove: [] }],
  ['TestGetRequestHTTPHeadersToRemove/invalid_eval_result', 'hello', { error: true }],
  ['TestGetRequestHTTPHeadersToRemove/empty_map_result', ok({}), { allowed: true, headersToRemove: [] }],
  ['TestGetRequestHTTPHeadersToRemove/bad_header_value', ok({ request_headers_to_remove: 'test' }), { error: true }],
  ['TestGetRequestHTTPHeadersToRemove/string_array_header_value', ok({ request_headers_to_remove: ['foo', 'bar'] }), { allowed: true, headersToRemove: ['foo', 'bar'] }],
  ['TestGetRequestHTTPHeadersToRemove/interface_array_header_value', ok({ request_headers_to_remove: ['foo', 'bar', 'fuz'] }), { allowed: true, headersToRemove: ['foo', 'bar', 'fuz'] }],
  ['TestGetRequestHTTPHeadersToRemove/interface_array_bad_header_value', ok({ request_headers_to_remove: [1] }), { error: true }],
  ['TestGetRequestHTTPHeadersToRemove/type_assertion_error', ok({ request_headers_to_remove: 1 }), { error: true }],
  ['TestGetResponseHTTPHeadersToAdd/none', ok({}), { allowed: true, responseHeadersToAdd: [] }],
  ['TestGetResponseHTTPHeadersToAdd/not_an_object', ok({ response_headers_to_add: 'test' }), { error: true }],
  ['TestGetResponseHTTPHeadersToAdd/one', ok({ response_headers_to_add: { foo: 'bar' } }), { allowed: true, responseHeadersToAdd: [['foo', 'bar']] }],
  ['TestGetResponseHTTPHeadersToAdd/number_value', ok({ response_headers_to_add: { foo: 'bar', baz: 1 } }), { error: true }],
  ['TestGetResponseHTTPHeadersToAdd/list', ok({ response_headers_to_add: [{ foo: 'bar' }, { foo: 'baz' }] }), { allowed: true, responseHeadersToAdd: [['foo', 'bar'], ['foo', 'baz']] }],
  ['TestGetResponseHTTPHeadersToAdd/value_list', ok({ response_headers_to_add: { foo: ['bar', 'baz'] } }), { allowed: true, responseHeadersToAdd: [['foo', 'bar'], ['foo', 'baz']] }],
  ['TestGetResponseHeaderValueOptions/none', ok({}), { allowed: true, headers: [] }],
  ['TestGetResponseHeaderValueOptions/not_an_object', ok({ headers: 'test' }), { error: true }],
  ['TestGetResponseHeaderValueOptions/one', ok({ headers: { foo: 'bar' } }), { allowed: true, headers: [['foo', 'bar']] }],
  ['TestGetResponseHeaderValueOptions/number_value', ok({ headers: { foo: 'bar', baz: 1 } }), { error: true }],
  ['TestGetResponseHeaderValueOptions/list', ok({ headers: [{ foo: 'bar' }, { foo: 'baz' }] }), { allowed: true, headers: [['foo', 'bar'], ['foo', 'baz']] }],
  ['TestGetResponseHeaderValueOptions/value_list', ok({ headers: { foo: ['bar', 'baz'] } }), { allowed: true, headers: [['foo', 'bar'], ['foo', 'baz']] }],
  ['TestGetResponseHeaderValueOptions/denied', deny({ headers: { foo: ['bar', 'baz'] } }), { allowed: false, headers: [['foo', 'bar'], ['foo', 'baz']] }],
  ['TestGetResponseBody/none', deny({}), { allowed: false, body: '' }],
  ['TestGetResponseBody/hello', deny({ body: 'hello' }), { allowed: false, body: 'hello' }],
  ['TestGetResponseBody/number', deny({ body: 123 }), { error: true }],
  ['TestGetResponseHttpStatus/none', deny({}), { allowed: false, httpStatus: 403 }],
  ['TestGetResponseHttpStatus/bool', deny({ http_status: true }), { error: true }],
  ['TestGetResponseHttpStatus/1', deny({ http_status: 1 }), { error: true }],
  ['TestGetResponseHttpStatus/9999', deny({ http_status: 9999 }), { error: true }],
  ['TestGetResponseHttpStatus/400', deny({ http_status: 400 }), { allowed: false, httpStatus: 400 }],
  ['TestGetDynamicMetadata/none', ok({}), { allowed: true, dynamicMetadata: {} }],
  ['TestGetDynamicMetadata/object', ok({ dynamic_metadata: { foo: 'bar' } }), { allowed: true, dynamicMetadata: { foo: 'bar' } }],
  ['TestGetDynamicMetadata/number', ok({ dynamic_metadata: 123 }), { error: true }],
];

const protomapCase: PluginCase = {
  name: 'protomap_test.go Test_protomap',
  rule: 'echo',
  request: {
    method: 'GET',
    path: '/api/v1/products',
    headers: { ':authority': '192.168.99.100:31380', ':method': 'GET', ':path': '/api/v1/products', accept: '*/*' },
    body: '{"firstname": "foo", "lastname": "bar"}',
    attributes: {
      source: { address: { socketAddress: { address: '127.0.0.1' } }, service: 'dummy', labels: { foo: 'bar' } },
      metadataContext: { filterMetadata: { dummy: { hello: 'world', count: 1 } } },
      contextExtensions: { hello: 'world' },
      request: { http: { id: '13359530607844510314', host: '192.168.99.100:31380', protocol: 'HTTP/1.1' } },
    },
  },
  expect: {
    input: {
      attributes: {
        source: { service: 'dummy', labels: { foo: 'bar' }, address: { socketAddress: { address: '127.0.0.1' } } },
        metadataContext: { filterMetadata: { dummy: { hello: 'world', count: 1 } } },
        contextExtensions: { hello: 'world' },
        request: {
          http: {
            id: '13359530607844510314',
            method: 'GET',
            path: '/api/v1/products',
            host: '192.168.99.100:31380',
            protocol: 'HTTP/1.1',
            body: '{"firstname": "foo", "lastname": "bar"}',
            headers: { ':authority': '192.168.99.100:31380', ':method': 'GET', ':path': '/api/v1/products', accept: '*/*' },
          },
        },
      },
    },
  },
};

export const PLUGIN_CASES: PluginCase[] = [
  protomapCase,
  ...pathCases.map(([path, parsedPath, parsedQuery]): PluginCase => ({
    name: `${RT} TestParsedPathAndQuery ${path}`,
    rule: 'echo',
    request: { path },
    expect: { input: { parsed_path: parsedPath, parsed_query: parsedQuery } },
  })),
  ...bodyCases.map(([name, request, parsed, truncated]): PluginCase => ({
    name: `${RT} TestGetParsedBody/${name}`,
    rule: 'echo',
    request,
    expect: { input: { parsed_path: [''], parsed_body: parsed, truncated_body: truncated } },
  })),
  { name: `${RT} TestGetParsedBody/invalid_json`, rule: 'echo', request: invalidJson, expect: { badRequest: true } },
  ...grpcCases.map(([name, request, expect]): PluginCase => ({ name: `${RT} TestGetParsedBodygRPC/${name}`, rule: 'echo', protoDescriptor: true, request, expect })),
  {
    name: `${RT} TestSourcePeerAttributes/none`,
    rule: 'echo',
    request: { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaAuthor', rawBodyBase64: 'AAAAAAA=' },
    expect: { input: { source_principal: ABSENT } },
  },
  {
    name: `${RT} TestSourcePeerAttributes/spiffe`,
    rule: 'echo',
    request: { headers: grpc, method: 'POST', path: '/com.book.BookService/GetBooksViaAuthor', rawBodyBase64: 'AAAAAAA=', principal: 'spiffe://test-domain/path' },
    expect: { input: { source_principal: 'spiffe://test-domain/path' } },
  },
  ...checkCases,
  ...decisionCases.map(([name, decision, expect]): PluginCase => ({ name: `${RS} ${name}`, rule: 'decision', decision, request: { path: '/' }, expect })),
];
