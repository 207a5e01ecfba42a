/** The protos match Envoy's API where it matters on the wire, and src/gen matches proto/. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { DESCRIPTOR_SET_BASE64 } from '../../src/gen/descriptor-set';
import { ROOT } from '../helpers/server';

const pkg = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(DESCRIPTOR_SET_BASE64, 'base64'), { keepCase: true });

interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
}

/** A message's fields by name; nested messages are reached through their parent's nestedType. */
function fieldsOf(message: string): Record<string, FieldDescriptor> {
  const parts = message.split('.');
  for (let i = parts.length; i > 0; i--) {
    const top = pkg[parts.slice(0, i).join('.')] as { type?: MessageDescriptor } | undefined;
    if (!top?.type) continue;
    let desc: MessageDescriptor | undefined = top.type;
    for (const name of parts.slice(i)) desc = desc?.nestedType.find((n) => n.name === name);
    if (!desc) break;
    return Object.fromEntries(desc.field.map((f) => [f.name, f]));
  }
  throw new Error(`no message ${message}`);
}

describe('proto: Envoy ext_authz API', () => {
  // [message, field, number, type or message type] as in envoyproxy/envoy's api/.
  const table: Array<[string, string, number, string]> = [
    ['envoy.service.auth.v3.CheckRequest', 'attributes', 1, '.envoy.service.auth.v3.AttributeContext'],
    ['envoy.service.auth.v3.AttributeContext', 'source', 1, '.envoy.service.auth.v3.AttributeContext.Peer'],
    ['envoy.service.auth.v3.AttributeContext', 'destination', 2, '.envoy.service.auth.v3.AttributeContext.Peer'],
    ['envoy.service.auth.v3.AttributeContext', 'request', 4, '.envoy.service.auth.v3.AttributeContext.Request'],
    ['envoy.service.auth.v3.AttributeContext', 'context_extensions', 10, '.envoy.service.auth.v3.AttributeContext.ContextExtensionsEntry'],
    ['envoy.service.auth.v3.AttributeContext', 'metadata_context', 11, '.envoy.config.core.v3.Metadata'],
    ['envoy.service.auth.v3.AttributeContext', 'tls_session', 12, '.envoy.service.auth.v3.AttributeContext.TLSSession'],
    ['envoy.service.auth.v3.AttributeContext', 'route_metadata_context', 13, '.envoy.config.core.v3.Metadata'],
    ['envoy.service.auth.v3.AttributeContext.Peer', 'principal', 4, 'TYPE_STRING'],
    ['envoy.service.auth.v3.AttributeContext.Request', 'time', 1, '.google.protobuf.Timestamp'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'id', 1, 'TYPE_STRING'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'headers', 3, '.envoy.service.auth.v3.AttributeContext.HttpRequest.HeadersEntry'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'path', 4, 'TYPE_STRING'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'size', 9, 'TYPE_INT64'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'body', 11, 'TYPE_STRING'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'raw_body', 12, 'TYPE_BYTES'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'header_map', 13, '.envoy.config.core.v3.HeaderMap'],
    ['envoy.service.auth.v3.CheckResponse', 'status', 1, '.google.rpc.Status'],
    ['envoy.service.auth.v3.CheckResponse', 'denied_response', 2, '.envoy.service.auth.v3.DeniedHttpResponse'],
    ['envoy.service.auth.v3.CheckResponse', 'ok_response', 3, '.envoy.service.auth.v3.OkHttpResponse'],
    ['envoy.service.auth.v3.CheckResponse', 'dynamic_metadata', 4, '.google.protobuf.Struct'],
    ['envoy.service.auth.v3.OkHttpResponse', 'headers', 2, '.envoy.config.core.v3.HeaderValueOption'],
    ['envoy.service.auth.v3.OkHttpResponse', 'headers_to_remove', 5, 'TYPE_STRING'],
    ['envoy.service.auth.v3.OkHttpResponse', 'response_headers_to_add', 6, '.envoy.config.core.v3.HeaderValueOption'],
    ['envoy.service.auth.v3.OkHttpResponse', 'query_parameters_to_set', 7, '.envoy.config.core.v3.QueryParameter'],
    ['envoy.service.auth.v3.OkHttpResponse', 'query_parameters_to_remove', 8, 'TYPE_STRING'],
    ['envoy.service.auth.v3.DeniedHttpResponse', 'status', 1, '.envoy.type.v3.HttpStatus'],
    ['envoy.service.auth.v3.DeniedHttpResponse', 'body', 3, 'TYPE_STRING'],
    ['envoy.config.core.v3.HeaderValueOption', 'append', 2, '.google.protobuf.BoolValue'],
    ['envoy.config.core.v3.HeaderValueOption', 'append_action', 3, '.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction'],
    ['envoy.config.core.v3.HeaderValue', 'raw_value', 3, 'TYPE_BYTES'],
    ['envoy.config.core.v3.SocketAddress', 'port_value', 3, 'TYPE_UINT32'],
    ['envoy.config.core.v3.Address', 'pipe', 2, '.envoy.config.core.v3.Pipe'],
    ['envoy.service.auth.v2.CheckResponse', 'ok_response', 3, '.envoy.service.auth.v2.OkHttpResponse'],
    ['envoy.service.auth.v2.DeniedHttpResponse', 'status', 1, '.envoy.type.HttpStatus'],
    ['envoy.service.auth.v2.AttributeContext.HttpRequest', 'body', 11, 'TYPE_STRING'],
  ];
  for (const [message, field, number, type] of table) {
    it(`${message}.${field} = ${number}`, () => {
      const f = fieldsOf(message)[field];
      expect(f, `${message}.${field}`).to.not.equal(undefined);
      expect(f!.number).to.equal(number);
      // proto-loader gives message type names relative to the file's package root.
      if (type.startsWith('.')) expect(type.endsWith(`.${f!.typeName}`), `${f!.typeName} vs ${type}`).to.equal(true);
      else expect(f!.type).to.equal(type);
    });
  }

  it('src/gen is what scripts/gen-proto.sh makes of proto/ (reproducible, not stale)', function () {
    this.timeout(60000);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-authz-gen-'));
    try {
      const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'gen-proto.sh'), out], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      const list = (dir: string, rel = ''): string[] =>
        fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(dir, path.join(rel, e.name)) : [path.join(rel, e.name)])).sort();
      const committed = path.join(ROOT, 'src', 'gen');
      expect(list(out)).to.deep.equal(list(committed));
      for (const f of list(out)) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(committed, f))), f).to.equal(true);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
