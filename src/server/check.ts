/**
 * One Check, as named steps over raw protobuf bytes:
 * decode → input document → evaluate → response → encode.
 * The steps are pure or delegate to the engine; the grpc-js glue is in
 * server.ts. A request whose path, query or body cannot be read gets a 400
 * deny (as opa-envoy-plugin answers it, without the parser's text); every
 * other failure throws an AuthzError for the status table.
 */
import { randomUUID } from 'node:crypto';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { CheckRequest as CheckRequestV2, CheckResponse as CheckResponseV2 } from '../gen/envoy/service/auth/v2/external_auth';
import { CheckRequest as CheckRequestV3, CheckResponse as CheckResponseV3 } from '../gen/envoy/service/auth/v3/external_auth';
import type { EngineDecision, PreparedPolicy } from '../engine/types';
import { AuthzError } from '../envoy/errors';
import { checkRequestToInput, type ApiVersion, type InputOptions } from '../envoy/input';
import { badRequestResponse, decisionToResponse, toV2Response, type Outcome, type ResponseOptions } from '../envoy/response';

export interface CheckOptions {
  input?: InputOptions;
  response?: ResponseOptions;
  /** Stop evaluating at this time (ms since the epoch; Envoy's grpc-timeout). 0 or absent = no deadline. */
  deadlineMs?: number;
}

/** What a Check came to, for the log and metrics. */
export interface CheckResult {
  /** The encoded CheckResponse. */
  bytes: Uint8Array;
  decisionId: string;
  /** The request's `x-request-id`, to correlate with Envoy's access log. */
  requestId?: string;
  /** `allow`/`deny` from the decision; `bad_request` for an unreadable request. */
  outcome: Outcome | 'bad_request';
  /** Why a request was a bad request (`request_path_invalid`, `request_body_invalid`). */
  reason?: string;
  /** The parser's detail for a bad request; log only. */
  detail?: string;
  /** Seconds spent evaluating the policy (absent for a bad request). */
  evalSeconds?: number;
  /** The input document and the decision the response was made from (absent for a bad request). */
  input?: unknown;
  decision?: unknown;
}

/** Strings must be valid UTF-8, as proto3 requires and the native decoder checks: one answer on both paths. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const decodeUtf8 = (b: Uint8Array): string => strictUtf8.decode(b);

export function decodeRequest(bytes: Uint8Array, version: ApiVersion): CheckRequestV3 | CheckRequestV2 {
  try {
    const reader = new BinaryReader(bytes, decodeUtf8);
    return version === 'v3' ? CheckRequestV3.decode(reader) : CheckRequestV2.decode(reader);
  } catch (err) {
    throw new AuthzError('request_malformed', `CheckRequest ${version} does not decode: ${(err as Error).message}`, { cause: err });
  }
}

export function evaluate(policy: PreparedPolicy, input: unknown, deadlineMs = 0): unknown {
  let decision: EngineDecision;
  try {
    decision = policy.evaluateJson(JSON.stringify(input), deadlineMs);
  } catch (err) {
    throw AuthzError.from(err);
  }
  if (decision.value === undefined) throw new AuthzError('decision_undefined', `${policy.path} is undefined`);
  return decision.value;
}

export function encodeResponse(response: CheckResponseV3, version: ApiVersion): Uint8Array {
  return version === 'v3' ? CheckResponseV3.encode(response).finish() : CheckResponseV2.encode(toV2Response(response)).finish();
}

function isBadRequest(err: unknown): err is AuthzError {
  return err instanceof AuthzError && (err.code === 'request_path_invalid' || err.code === 'request_body_invalid');
}

/** Runs one Check. Throws AuthzError when no response can be given. */
export function check(policy: PreparedPolicy, bytes: Uint8Array, version: ApiVersion, options: CheckOptions = {}): CheckResult {
  const decisionId = randomUUID();
  const request = decodeRequest(bytes, version);
  const requestId = request.attributes?.request?.http?.headers?.['x-request-id'];
  let input: unknown;
  try {
    input = checkRequestToInput(request, version, options.input);
  } catch (err) {
    if (!isBadRequest(err)) throw AuthzError.from(err);
    return { bytes: encodeResponse(badRequestResponse(decisionId), version), decisionId, requestId, outcome: 'bad_request', reason: err.code, detail: err.message };
  }
  const started = process.hrtime.bigint();
  const decision = evaluate(policy, input, options.deadlineMs);
  const evalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { response, outcome } = decisionToResponse(decision, decisionId, options.response);
  return { bytes: encodeResponse(response, version), decisionId, requestId, outcome, evalSeconds, input, decision };
}
