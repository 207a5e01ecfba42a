/**
 * CheckRequests shaped exactly as Envoy's ext_authz HTTP filter fills them:
 * pseudo-headers (`:authority :method :path :scheme`) in `headers`,
 * `x-request-id`, `http.id` the decimal stream id, `protocol` HTTP/1.1,
 * source/destination socket addresses and `request.time`.
 */
import { CheckRequest } from '../../src/gen/envoy/service/auth/v3/external_auth';

export interface EnvoyRequestSpec {
  method?: string;
  /** Path with query, as the client sent it (not decoded). */
  path?: string;
  /** Extra request headers (lower-case names). */
  headers?: Record<string, string>;
  body?: string;
  host?: string;
  /** Downstream peer address. Default 127.0.0.1:53122. */
  sourceAddress?: string;
  sourcePrincipal?: string;
  contextExtensions?: Record<string, string>;
}

let streamId = 7n;

export function envoyCheckRequest(spec: EnvoyRequestSpec = {}): CheckRequest {
  const method = spec.method ?? 'GET';
  const path = spec.path ?? '/';
  const host = spec.host ?? 'app.example.com';
  const body = spec.body ?? '';
  streamId += 1n;
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': path,
    ':scheme': 'http',
    'user-agent': 'curl/8.5.0',
    accept: '*/*',
    'x-forwarded-proto': 'http',
    'x-request-id': '5f0c8e3a-6a4e-4d7e-9d59-0f2a6f1c2b7e',
    ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
    ...spec.headers,
  };
  return CheckRequest.fromPartial({
    attributes: {
      source: {
        address: { socketAddress: { address: spec.sourceAddress ?? '127.0.0.1', portValue: 53122 } },
        principal: spec.sourcePrincipal ?? '',
      },
      destination: { address: { socketAddress: { address: '127.0.0.1', portValue: 8000 } } },
      request: {
        time: { seconds: 1764345600, nanos: 123456000 },
        http: {
          id: (streamId * 1_000_000_007n).toString(), // Envoy sends the stream id in decimal
          method,
          headers,
          path,
          host,
          scheme: 'http',
          size: body ? Buffer.byteLength(body) : 0,
          protocol: 'HTTP/1.1',
          body,
        },
      },
      contextExtensions: spec.contextExtensions ?? {},
      metadataContext: {},
    },
  });
}

export function encodeEnvoyCheckRequest(spec: EnvoyRequestSpec = {}): Buffer {
  return Buffer.from(CheckRequest.encode(envoyCheckRequest(spec)).finish());
}
