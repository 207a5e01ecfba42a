import { expect } from 'chai';
import { CheckRequest as CheckRequestV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { CheckRequest } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { checkRequestToInput } from '../../src/envoy/input';
import { AuthzError } from '../../src/envoy/errors';
import { parsedPath, parseQuery } from '../../src/envoy/url';
import { envoyCheckRequest } from '../helpers/envoy-request';

/** Round-trips through the wire format, as the server sees requests. */
function wire(req: CheckRequest): CheckRequest {
  return CheckRequest.decode(CheckRequest.encode(req).finish());
}

function input(spec: Parameters<typeof envoyCheckRequest>[0]) {
  return checkRequestToInput(wire(envoyCheckRequest(spec)), 'v3') as Record<string, any>;
}

describe('envoy: CheckRequest → input document', () => {
  it('has the attributes of an Envoy request in protojson names, populated fields only', () => {
    const doc = input({ method: 'GET', path: '/api/v1/items?page=2' });
    const attrs = doc.attributes;
    expect(attrs.source).to.deep.equal({ address: { socketAddress: { address: '127.0.0.1', portValue: 53122 } } });
    expect(attrs.destination).to.deep.equal({ address: { socketAddress: { address: '127.0.0.1', portValue: 8000 } } });
    expect(attrs.request.time).to.deep.equal({ seconds: 1764345600, nanos: 123456000 });
    const http = attrs.request.http;
    expect(http).to.include({ method: 'GET', path: '/api/v1/items?page=2', host: 'app.example.com', scheme: 'http', protocol: 'HTTP/1.1' });
    expect(http.id).to.match(/^\d+$/);
    expect(http.headers).to.include({ ':method': 'GET', ':path': '/api/v1/items?page=2', ':authority': 'app.example.com', ':scheme': 'http' });
    expect(http).to.not.have.any.keys('body', 'size', 'query', 'fragment', 'rawBody', 'headerMap');
    // metadataContext was sent (empty); contextExtensions was empty, so absent.
    expect(attrs.metadataContext).to.deep.equal({});
    expect(attrs).to.not.have.key('contextExtensions');
    expect(doc.version).to.deep.equal({ encoding: 'protojson', ext_authz: 'v3' });
    expect(doc).to.not.have.key('source_principal');
  });

  const paths: Array<[string, string[], Record<string, string[]>]> = [
    ['/', [''], {}],
    ['/api/v1/products?x=1', ['api', 'v1', 'products'], { x: ['1'] }],
    ['/a%2Fb/c%20d', ['a', 'b', 'c d'], {}],
    ['//admin/x', ['admin', 'x'], {}],
    ['///admin/x?a=1', ['admin', 'x'], { a: ['1'] }],
    ['%2F%2Fadmin', ['admin'], {}],
    ['/a+b?q=a+b&q=%41&flag&&e=', ['a+b'], { q: ['a b', 'A'], flag: [''], e: [''] }],
    ['/caf%C3%A9?k=%E2%9C%93', ['café'], { k: ['✓'] }],
  ];
  for (const [path, parsed, query] of paths) {
    it(`parses ${path} as Go's url package does`, () => {
      const doc = input({ path });
      expect(doc.parsed_path).to.deep.equal(parsed);
      expect(doc.parsed_query).to.deep.equal(query);
    });
  }

  const badPaths: Array<[string, string]> = [
    ['/bad%zz', 'request_path_invalid'],
    ['/p?a=%', 'request_path_invalid'],
    ['/p?a=1;b=2', 'request_path_invalid'],
  ];
  for (const [path, code] of badPaths) {
    it(`refuses ${path} with ${code}`, () => {
      expect(() => input({ path })).to.throw(AuthzError).with.property('code', code);
    });
  }

  const bodies: Array<{ name: string; headers: Record<string, string>; body: string; parsed: unknown; truncated: boolean }> = [
    { name: 'JSON', headers: { 'content-type': 'application/json' }, body: '{"name":"widget","n":2}', parsed: { name: 'widget', n: 2 }, truncated: false },
    { name: 'vendor +json', headers: { 'content-type': 'application/vnd.api+json; charset=utf-8' }, body: '[1]', parsed: [1], truncated: false },
    { name: 'a form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=x+y&a=2', parsed: { a: ['1', '2'], b: ['x y'] }, truncated: false },
    {
      name: 'multipart',
      headers: { 'content-type': 'multipart/form-data; boundary=XX' },
      body: '--XX\r\nContent-Disposition: form-data; name="user"\r\n\r\nalice\r\n--XX\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"k":true}\r\n--XX--\r\n',
      parsed: { user: ['alice'], meta: [{ k: true }] },
      truncated: false,
    },
    { name: 'text (not parsed)', headers: { 'content-type': 'text/plain' }, body: 'hi', parsed: null, truncated: false },
    { name: 'no body', headers: { 'content-type': 'application/json' }, body: '', parsed: null, truncated: false },
    { name: 'a body cut short (content-length)', headers: { 'content-type': 'application/json', 'content-length': '100' }, body: '{"a":', parsed: null, truncated: true },
    { name: 'a body cut short (partial-body header)', headers: { 'x-envoy-auth-partial-body': 'true' }, body: '{"a":', parsed: null, truncated: true },
  ];
  for (const c of bodies) {
    it(`parsed_body for ${c.name}`, () => {
      const doc = input({ method: 'POST', path: '/p', headers: c.headers, body: c.body });
      expect(doc.parsed_body).to.deep.equal(c.parsed);
      expect(doc.truncated_body).to.equal(c.truncated);
    });
  }

  it('refuses a JSON body that does not parse with request_body_invalid', () => {
    expect(() => input({ method: 'POST', path: '/p', headers: { 'content-type': 'application/json' }, body: '{not json' }))
      .to.throw(AuthzError)
      .with.property('code', 'request_body_invalid');
  });

  it('leaves parsed_body out with skipRequestBodyParse', () => {
    const doc = checkRequestToInput(envoyCheckRequest({ body: '{bad' }), 'v3', { skipRequestBodyParse: true });
    expect(doc).to.not.have.any.keys('parsed_body', 'truncated_body');
  });

  it('reads a JSON body sent as raw bytes (pack_as_bytes)', () => {
    const req = envoyCheckRequest({ method: 'POST', path: '/p', headers: { 'content-type': 'application/json' } });
    req.attributes!.request!.http!.rawBody = Buffer.from('[true]');
    const doc = checkRequestToInput(wire(req), 'v3') as Record<string, any>;
    expect(doc.parsed_body).to.deep.equal([true]);
    expect(doc.attributes.request.http.rawBody).to.equal(Buffer.from('[true]').toString('base64'));
  });

  it('adds source_principal, metadata as plain objects and context extensions', () => {
    const req = envoyCheckRequest({ sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/web', contextExtensions: { tenant: 'acme' } });
    req.attributes!.metadataContext = { filterMetadata: { 'envoy.filters.http.jwt_authn': { sub: 'alice', n: 1, ok: true } }, typedFilterMetadata: {} };
    const doc = checkRequestToInput(wire(req), 'v3') as Record<string, any>;
    expect(doc.source_principal).to.equal('spiffe://cluster.local/ns/default/sa/web');
    expect(doc.attributes.contextExtensions).to.deep.equal({ tenant: 'acme' });
    expect(doc.attributes.metadataContext).to.deep.equal({ filterMetadata: { 'envoy.filters.http.jwt_authn': { sub: 'alice', n: 1, ok: true } } });
  });

  it('folds raw header_map headers into headers (encode_raw_headers)', () => {
    const req = envoyCheckRequest({ path: '/x' });
    const http = req.attributes!.request!.http!;
    http.headers = {};
    http.headerMap = {
      headers: [
        { key: ':path', value: '', rawValue: Buffer.from('/x') },
        { key: 'X-Role', value: 'admin', rawValue: Buffer.alloc(0) },
        { key: 'x-role', value: 'viewer', rawValue: Buffer.alloc(0) },
      ],
    };
    const doc = checkRequestToInput(wire(req), 'v3') as Record<string, any>;
    expect(doc.attributes.request.http.headers).to.deep.equal({ ':path': '/x', 'x-role': 'admin,viewer' });
  });

  it('uses proto field names for v2', () => {
    const v3 = envoyCheckRequest({ path: '/a?b=1', contextExtensions: { k: 'v' } });
    const v2 = CheckRequestV2.decode(CheckRequest.encode(v3).finish());
    const doc = checkRequestToInput(v2, 'v2') as Record<string, any>;
    expect(doc.version).to.deep.equal({ encoding: 'encoding/json', ext_authz: 'v2' });
    expect(doc.attributes.context_extensions).to.deep.equal({ k: 'v' });
    expect(doc.attributes.source.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 53122 });
    expect(doc.parsed_path).to.deep.equal(['a']);
  });
});

describe('envoy: url helpers', () => {
  it('trims every leading slash, as the plugin does since GHSA-9f29-v6mm-pw6w, and decodes escapes', () => {
    expect(parsedPath('//x%41')).to.deep.equal(['xA']);
    expect(parsedPath('/')).to.deep.equal(['']);
    expect(parsedPath('/a//b/')).to.deep.equal(['a', '', 'b', '']);
  });
  it('keeps the order of repeated query values', () => {
    expect(parseQuery('a=2&b=1&a=1')).to.deep.equal({ a: ['2', '1'], b: ['1'] });
  });
});
