/**
 * A decoded AttributeContext (ts-proto object) → the plain object
 * opa-envoy-plugin puts under `input.attributes`: populated fields only
 * (proto3 defaults left out, set oneof members kept), maps as objects,
 * Struct as a plain object, int64 and enums as numbers, bytes as base64,
 * Timestamp as `{seconds, nanos}`. v3 uses protojson names (lowerCamelCase);
 * v2 uses the proto names (the plugin marshals v2 with encoding/json).
 */

export type Naming = 'json' | 'proto';

type Kind =
  | { t: 'scalar' }
  | { t: 'bytes' }
  | { t: 'stringMap' }
  | { t: 'structMap' }
  | { t: 'anyMap' }
  | { t: 'message'; of: Schema }
  | { t: 'repeated'; of: Schema };

interface Field {
  /** The ts-proto property and protojson name. */
  json: string;
  /** The .proto field name. */
  proto: string;
  kind: Kind;
  /** A oneof member: kept when set, even to its default value. */
  oneof?: boolean;
}

type Schema = Field[];

const scalar: Kind = { t: 'scalar' };
const f = (json: string, proto: string, kind: Kind = scalar, oneof = false): Field => ({ json, proto, kind, oneof });
const msg = (of: Schema): Kind => ({ t: 'message', of });

const TIMESTAMP: Schema = [f('seconds', 'seconds'), f('nanos', 'nanos')];

const SOCKET_ADDRESS: Schema = [
  f('protocol', 'protocol'),
  f('address', 'address'),
  f('portValue', 'port_value', scalar, true),
  f('namedPort', 'named_port', scalar, true),
  f('resolverName', 'resolver_name'),
  f('ipv4Compat', 'ipv4_compat'),
  f('networkNamespaceFilepath', 'network_namespace_filepath'),
];

const ADDRESS: Schema = [
  f('socketAddress', 'socket_address', msg(SOCKET_ADDRESS), true),
  f('pipe', 'pipe', msg([f('path', 'path'), f('mode', 'mode')]), true),
  f('envoyInternalAddress', 'envoy_internal_address', msg([f('serverListenerName', 'server_listener_name', scalar, true), f('endpointId', 'endpoint_id')]), true),
];

const PEER: Schema = [
  f('address', 'address', msg(ADDRESS)),
  f('service', 'service'),
  f('labels', 'labels', { t: 'stringMap' }),
  f('principal', 'principal'),
  f('certificate', 'certificate'),
];

const HEADER_VALUE: Schema = [f('key', 'key'), f('value', 'value'), f('rawValue', 'raw_value', { t: 'bytes' })];

const HTTP_REQUEST: Schema = [
  f('id', 'id'),
  f('method', 'method'),
  f('headers', 'headers', { t: 'stringMap' }),
  f('headerMap', 'header_map', msg([f('headers', 'headers', { t: 'repeated', of: HEADER_VALUE })])),
  f('path', 'path'),
  f('host', 'host'),
  f('scheme', 'scheme'),
  f('query', 'query'),
  f('fragment', 'fragment'),
  f('size', 'size'),
  f('protocol', 'protocol'),
  f('body', 'body'),
  f('rawBody', 'raw_body', { t: 'bytes' }),
];

const METADATA: Schema = [f('filterMetadata', 'filter_metadata', { t: 'structMap' }), f('typedFilterMetadata', 'typed_filter_metadata', { t: 'anyMap' })];

const ATTRIBUTE_CONTEXT: Schema = [
  f('source', 'source', msg(PEER)),
  f('destination', 'destination', msg(PEER)),
  f('request', 'request', msg([f('time', 'time', msg(TIMESTAMP)), f('http', 'http', msg(HTTP_REQUEST))])),
  f('contextExtensions', 'context_extensions', { t: 'stringMap' }),
  f('metadataContext', 'metadata_context', msg(METADATA)),
  f('routeMetadataContext', 'route_metadata_context', msg(METADATA)),
  f('tlsSession', 'tls_session', msg([f('sni', 'sni')])),
];

/** Plain JSON-like object. */
export type JsonObject = { [key: string]: unknown };

function isDefault(v: unknown): boolean {
  return v === undefined || v === '' || v === 0 || v === false;
}

function mapObject(message: unknown, schema: Schema, naming: Naming): JsonObject {
  const src = (message ?? {}) as Record<string, unknown>;
  const out: JsonObject = {};
  for (const field of schema) {
    const v = src[field.json];
    const key = naming === 'json' ? field.json : field.proto;
    switch (field.kind.t) {
      case 'scalar':
        if (field.oneof ? v !== undefined : !isDefault(v)) out[key] = v;
        break;
      case 'bytes':
        if (v instanceof Uint8Array && v.length > 0) out[key] = Buffer.from(v.buffer, v.byteOffset, v.length).toString('base64');
        break;
      case 'stringMap':
      case 'structMap':
        if (v && typeof v === 'object' && Object.keys(v).length > 0) out[key] = structMapValue(v as Record<string, unknown>);
        break;
      case 'anyMap':
        if (v && typeof v === 'object' && Object.keys(v).length > 0) {
          const m: JsonObject = {};
          for (const [k, any] of Object.entries(v as Record<string, unknown>)) m[k] = mapObject(any, ANY_SCHEMA, naming);
          out[key] = m;
        }
        break;
      case 'message':
        if (v !== undefined) out[key] = mapObject(v, field.kind.of, naming);
        break;
      case 'repeated':
        if (Array.isArray(v) && v.length > 0) {
          const of = field.kind.of;
          out[key] = v.map((x) => mapObject(x, of, naming));
        }
        break;
    }
  }
  return out;
}

const ANY_SCHEMA: Schema = [f('typeUrl', 'type_url'), f('value', 'value', { t: 'bytes' })];

/** Map values: strings as they are; an absent Struct (never on Envoy's wire) as an empty object. */
function structMapValue(m: Record<string, unknown>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(m)) out[k] = v === undefined ? {} : v;
  return out;
}

/** `{attributes: ...}` for a decoded CheckRequest of either API version. */
export function checkRequestToObject(request: { attributes?: unknown }, naming: Naming): JsonObject {
  return request.attributes === undefined ? {} : { attributes: mapObject(request.attributes, ATTRIBUTE_CONTEXT, naming) };
}
