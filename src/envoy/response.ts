/**
 * A decision → CheckResponse, mapped as opa-envoy-plugin maps it: a boolean
 * allows or denies; an object carries `allowed` and optionally `headers`,
 * `request_headers_to_remove`, `response_headers_to_add`,
 * `query_parameters_to_set`, `query_parameters_to_remove`, `body`,
 * `http_status` and `dynamic_metadata`. `decision_id` is always added to
 * the dynamic metadata. One accessor per decision field; pure.
 */
import type { HeaderValueOption, QueryParameter } from '../gen/envoy/config/core/v3/base';
import type { CheckResponse as CheckResponseV2 } from '../gen/envoy/service/auth/v2/external_auth';
import type { CheckResponse } from '../gen/envoy/service/auth/v3/external_auth';
import { AuthzError } from './errors';

/** gRPC status codes carried in CheckResponse.status. */
export const GRPC_OK = 0;
export const GRPC_PERMISSION_DENIED = 7;

export type Outcome = 'allow' | 'deny';

export interface ResponseOptions {
  /** Log the real decision but always allow (opa-envoy-plugin's dry-run). Default false. */
  dryRun?: boolean;
}

/** Envoy's `type.v3.StatusCode` values: an `http_status` outside this set is refused. */
const ENVOY_STATUS_CODES = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403,
  404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500,
  501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

const APPEND_ACTIONS: Record<string, number> = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
};

type DecisionObject = Record<string, unknown>;

function invalid(message: string): AuthzError {
  return new AuthzError('decision_invalid', message);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

function isObject(v: unknown): v is DecisionObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys in code-point order, so the same decision always gives the same bytes. */
function sortedEntries(o: DecisionObject): Array<[string, unknown]> {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `allowed`, from a boolean decision or an object's `allowed` key. */
export function isAllowed(decision: unknown): boolean {
  if (typeof decision === 'boolean') return decision;
  if (isObject(decision)) {
    if (!('allowed' in decision)) throw invalid('missing "allowed" key in decision');
    if (typeof decision.allowed !== 'boolean') throw invalid(`expected allowed to be a boolean but got ${typeName(decision.allowed)}`);
    return decision.allowed;
  }
  throw invalid(`illegal value for policy evaluation result: ${typeName(decision)}`);
}

/** `headers` / `response_headers_to_add`: an object or an array of objects; values a string, strings, or `{value|values, append_action}`. */
export function headersOf(decision: DecisionObject, field: string): HeaderValueOption[] {
  const v = decision[field];
  if (v === undefined) return [];
  const objects = Array.isArray(v) ? v : [v];
  const out: HeaderValueOption[] = [];
  for (const obj of objects) {
    if (!isObject(obj)) throw invalid(`expected ${field} to be an object but got ${typeName(obj)}`);
    for (const [key, value] of sortedEntries(obj)) pushHeader(out, key, value);
  }
  return out;
}

function pushHeader(out: HeaderValueOption[], key: string, value: unknown): void {
  const bad = () => invalid(`invalid value type for header '${key}'`);
  const add = (v: unknown, appendAction?: number) => {
    if (typeof v !== 'string') throw bad();
    out.push({ header: { key, value: v, rawValue: Buffer.alloc(0) }, appendAction: appendAction ?? 0, keepEmptyValue: false });
  };
  if (typeof value === 'string') return add(value);
  if (Array.isArray(value)) return value.forEach((v) => add(v));
  if (!isObject(value)) throw bad();
  let action: number | undefined;
  if (value.append_action !== undefined) {
    if (typeof value.append_action !== 'string') throw bad();
    action = APPEND_ACTIONS[value.append_action];
    if (action === undefined) throw invalid(`unknown append_action '${value.append_action}'`);
  }
  if (typeof value.value === 'string' && value.values === undefined) return add(value.value, action);
  if (value.value === undefined && Array.isArray(value.values)) return value.values.forEach((v) => add(v, action));
  throw bad();
}

/** `request_headers_to_remove` / `query_parameters_to_remove`: an array of strings. */
export function stringsOf(decision: DecisionObject, field: string): string[] {
  const v = decision[field];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(`expected ${field} to be an array of strings but got ${typeName(v)}`);
  return v.map((x) => {
    if (typeof x !== 'string') throw invalid(`expected ${field} values to be strings`);
    return x;
  });
}

/** `query_parameters_to_set`: `{key: value | [values]}`. */
export function queryParametersOf(decision: DecisionObject): QueryParameter[] {
  const v = decision.query_parameters_to_set;
  if (v === undefined) return [];
  if (!isObject(v)) throw invalid(`expected query_parameters_to_set to be an object but got ${typeName(v)}`);
  const out: QueryParameter[] = [];
  for (const [key, value] of sortedEntries(v)) {
    const values = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
    if (!values) throw invalid('expected query parameter value to be a string or an array');
    for (const x of values) {
      if (typeof x !== 'string') throw invalid('expected query parameter values to be strings');
      out.push({ key, value: x });
    }
  }
  return out;
}

/** `body`: a string; empty when absent. */
export function bodyOf(decision: DecisionObject): string {
  const v = decision.body;
  if (v === undefined) return '';
  if (typeof v !== 'string') throw invalid(`expected body to be a string but got ${typeName(v)}`);
  return v;
}

/** `http_status`: one of Envoy's StatusCode values; 403 when absent. */
export function httpStatusOf(decision: DecisionObject): number {
  const v = decision.http_status;
  if (v === undefined) return 403;
  if (typeof v !== 'number') throw invalid(`expected http_status to be a number but got ${typeName(v)}`);
  if (!Number.isInteger(v) || !ENVOY_STATUS_CODES.has(v)) throw invalid(`invalid HTTP status code ${v}`);
  return v;
}

/** `dynamic_metadata`: an object, keys sorted. */
export function dynamicMetadataOf(decision: DecisionObject): DecisionObject {
  const v = decision.dynamic_metadata;
  if (v === undefined) return {};
  if (!isObject(v)) throw invalid(`expected dynamic_metadata to be an object but got ${typeName(v)}`);
  return Object.fromEntries(sortedEntries(v));
}

/**
 * The CheckResponse for a decision. Throws AuthzError `decision_invalid`
 * when the decision is neither a boolean nor a well-formed object.
 */
export function decisionToResponse(decision: unknown, decisionId: string, options: ResponseOptions = {}): { response: CheckResponse; outcome: Outcome } {
  const allowed = isAllowed(decision);
  const obj = isObject(decision) ? decision : undefined;
  const outcome: Outcome = allowed ? 'allow' : 'deny';
  const headers = obj ? headersOf(obj, 'headers') : [];
  const metadata = obj ? dynamicMetadataOf(obj) : {};
  const response: CheckResponse = { status: { code: allowed || options.dryRun ? GRPC_OK : GRPC_PERMISSION_DENIED, message: '', details: [] } };

  if (obj && allowed) {
    response.okResponse = {
      headers,
      headersToRemove: stringsOf(obj, 'request_headers_to_remove'),
      responseHeadersToAdd: headersOf(obj, 'response_headers_to_add'),
      queryParametersToSet: queryParametersOf(obj),
      queryParametersToRemove: stringsOf(obj, 'query_parameters_to_remove'),
    };
  } else if (obj && !options.dryRun) {
    const body = bodyOf(obj);
    const status = httpStatusOf(obj);
    response.deniedResponse = { status: { code: status }, headers, body };
  } else if (options.dryRun && !allowed) {
    response.okResponse = { headers: [], headersToRemove: [], responseHeadersToAdd: [], queryParametersToSet: [], queryParametersToRemove: [] };
  }

  delete metadata.decision_id;
  response.dynamicMetadata = Object.fromEntries(sortedEntries({ ...metadata, decision_id: decisionId }));
  return { response, outcome };
}

/** The 400 deny for a request whose path, query or body cannot be read: a short generic body, never the parser's text. */
export function badRequestResponse(decisionId: string): CheckResponse {
  return {
    status: { code: GRPC_PERMISSION_DENIED, message: '', details: [] },
    deniedResponse: { status: { code: 400 }, headers: [], body: 'bad request' },
    dynamicMetadata: { decision_id: decisionId },
  };
}

/** The v2 form of a v3 response: headers without append actions, no query parameters or metadata. */
export function toV2Response(r: CheckResponse): CheckResponseV2 {
  const v2Headers = (hs: HeaderValueOption[]) => hs.map((h) => ({ header: { key: h.header?.key ?? '', value: h.header?.value ?? '' } }));
  const out: CheckResponseV2 = { status: r.status };
  if (r.okResponse) out.okResponse = { headers: v2Headers(r.okResponse.headers) };
  if (r.deniedResponse) out.deniedResponse = { status: r.deniedResponse.status, headers: v2Headers(r.deniedResponse.headers), body: r.deniedResponse.body };
  return out;
}
