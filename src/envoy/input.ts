/**
 * A decoded CheckRequest → the input document opa-envoy-plugin gives
 * policies: `attributes`, `parsed_path`, `parsed_query`, `parsed_body`,
 * `truncated_body`, `version` and, when the source peer has one,
 * `source_principal`. Pure: no I/O, no clock.
 */
import type { CheckRequest as CheckRequestV2 } from '../gen/envoy/service/auth/v2/external_auth';
import type { CheckRequest as CheckRequestV3 } from '../gen/envoy/service/auth/v3/external_auth';
import { parseBody } from './body';
import { checkRequestToObject, type JsonObject } from './protomap';
import { parsedPath, parsedQuery } from './url';

export type ApiVersion = 'v2' | 'v3';

export interface InputOptions {
  /** Leave out `parsed_body` and `truncated_body` (opa-envoy-plugin's skip-request-body-parse). Default false. */
  skipRequestBodyParse?: boolean;
  /**
   * A serialized protobuf FileDescriptorSet (`protoc --include_imports --descriptor_set_out`,
   * opa-envoy-plugin's descriptor set): gRPC request bodies of the methods it describes become
   * `parsed_body`, as protojson. Its registry is built once per byte array; a bad set throws
   * AuthzError `config_invalid` (see `descriptorRegistry` to check one up front).
   */
  protoDescriptor?: Uint8Array;
}

const VERSION_INFO: Record<ApiVersion, { encoding: string; ext_authz: string }> = {
  v3: { encoding: 'protojson', ext_authz: 'v3' },
  v2: { encoding: 'encoding/json', ext_authz: 'v2' },
};

/**
 * Builds the input document. Throws AuthzError `request_path_invalid` (bad
 * escape or `;` in the path or query) or `request_body_invalid` (a body
 * that does not parse as its content type says).
 */
export function checkRequestToInput(request: CheckRequestV3 | CheckRequestV2, version: ApiVersion, options: InputOptions = {}): JsonObject {
  const input = checkRequestToObject(request, version === 'v3' ? 'json' : 'proto');
  const http = request.attributes?.request?.http;
  const path = http?.path ?? '';

  const headers = foldedHeaders(http);
  if (headers.changed) setHttpHeaders(input, headers.all);

  input.version = { ...VERSION_INFO[version] };
  const pathSegments = parsedPath(path);
  input.parsed_path = pathSegments;
  input.parsed_query = parsedQuery(path);
  if (!options.skipRequestBodyParse) {
    const rawBody = http && 'rawBody' in http ? http.rawBody : undefined;
    const grpc = options.protoDescriptor ? { protoDescriptor: options.protoDescriptor, parsedPath: pathSegments } : undefined;
    const body = parseBody(headers.all, http?.body ?? '', rawBody, grpc);
    input.parsed_body = body.parsed;
    input.truncated_body = body.truncated;
  }
  const principal = request.attributes?.source?.principal;
  if (principal) input.source_principal = principal;
  return input;
}

type HttpLike = { headers?: Record<string, string>; headerMap?: { headers: Array<{ key: string; value: string; rawValue?: Uint8Array }> } };

/**
 * `headers`, with the raw `header_map` (Envoy's encode_raw_headers) folded
 * in for keys `headers` lacks: keys lower-cased, repeated keys joined with
 * `,`, `raw_value` bytes read as text. Beyond the plugin, so policies that
 * read `headers` keep working when Envoy sends raw headers.
 */
function foldedHeaders(http: HttpLike | undefined): { all: Record<string, string>; changed: boolean } {
  const all: Record<string, string> = { ...(http?.headers ?? {}) };
  const list = http?.headerMap?.headers;
  if (!list) return { all, changed: false };
  const folded = new Map<string, string>();
  for (const hv of list) {
    if (!hv.key) continue;
    const key = hv.key.toLowerCase();
    const value = hv.value !== '' ? hv.value : hv.rawValue && hv.rawValue.length > 0 ? Buffer.from(hv.rawValue).toString('utf8') : '';
    const prev = folded.get(key);
    folded.set(key, prev === undefined ? value : `${prev},${value}`);
  }
  let changed = false;
  for (const [k, v] of folded) {
    if (!(k in all)) {
      all[k] = v;
      changed = true;
    }
  }
  return { all, changed };
}

function setHttpHeaders(input: JsonObject, headers: Record<string, string>): void {
  const attrs = input.attributes as JsonObject | undefined;
  const http = (attrs?.request as JsonObject | undefined)?.http as JsonObject | undefined;
  if (http) http.headers = headers;
}
