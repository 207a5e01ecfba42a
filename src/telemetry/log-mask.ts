/**
 * What decision logs hide by default (docs/operations.md, "Decision logs"):
 * the usual secret-bearing request headers, and the usual secret-bearing
 * query parameters — erased from `parsed_query` and their values replaced
 * in the request path (`/a?access_token=REDACTED`). A configured
 * `decision_logs.mask` replaces this default, as OPA's mask policy does.
 */
import type { DecisionEvent, MaskRule } from './decision-log';

/** Request headers (lower case, as Envoy sends them) erased from logged input. */
export const SECRET_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
  'x-amz-security-token',
  'x-csrf-token',
  'x-xsrf-token',
] as const;

/** Query parameters (compared case-insensitively) erased from `parsed_query` and redacted in the path. */
export const SECRET_QUERY_PARAMETERS = [
  'access_token',
  'id_token',
  'refresh_token',
  'token',
  'api_key',
  'apikey',
  'client_secret',
  'password',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'sig',
  'signature',
] as const;

export const DEFAULT_MASK: MaskRule[] = SECRET_HEADERS.map((h) => `/input/attributes/request/http/headers/${h}`);

export const REDACTED = 'REDACTED';

const SECRET_QUERY = new Set<string>(SECRET_QUERY_PARAMETERS);

function isSecretParameter(rawName: string): boolean {
  let name = rawName;
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' '));
  } catch {
    // A bad escape: compare the name as written.
  }
  return SECRET_QUERY.has(name.toLowerCase());
}

/** `/a?access_token=t&x=1` → `/a?access_token=REDACTED&x=1`; unchanged when no secret parameter is present. */
export function redactQuery(pathWithQuery: string): string {
  const q = pathWithQuery.indexOf('?');
  if (q < 0) return pathWithQuery;
  const hash = pathWithQuery.indexOf('#', q);
  const query = pathWithQuery.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && isSecretParameter(name) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return `${pathWithQuery.slice(0, q + 1)}${redacted}${hash < 0 ? '' : pathWithQuery.slice(hash)}`;
}

/**
 * Masks secret query parameters in an event's input, in place: erased from
 * `input.parsed_query`, redacted in `attributes.request.http.path` and the
 * `:path` header. Touched paths are listed in `erased`/`masked`, as OPA does.
 */
export function maskSecretQuery(event: DecisionEvent): void {
  const input = event.input as { parsed_query?: Record<string, unknown>; attributes?: { request?: { http?: { path?: unknown; headers?: Record<string, unknown> } } } } | undefined;
  if (typeof input !== 'object' || input === null) return;
  const query = input.parsed_query;
  if (typeof query === 'object' && query !== null) {
    for (const name of Object.keys(query)) {
      if (!isSecretParameter(name)) continue;
      delete query[name];
      (event.erased ??= []).push(`/input/parsed_query/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
  }
  const http = input.attributes?.request?.http;
  if (!http) return;
  if (typeof http.path === 'string') {
    const redacted = redactQuery(http.path);
    if (redacted !== http.path) {
      http.path = redacted;
      (event.masked ??= []).push('/input/attributes/request/http/path');
    }
  }
  const pseudo = http.headers?.[':path'];
  if (typeof pseudo === 'string') {
    const redacted = redactQuery(pseudo);
    if (redacted !== pseudo) {
      http.headers![':path'] = redacted;
      (event.masked ??= []).push('/input/attributes/request/http/headers/:path');
    }
  }
}
