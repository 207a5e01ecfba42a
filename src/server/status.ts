/**
 * The one table from error code to what the client sees: a gRPC status and
 * a generic message naming only the code. Details stay in the log. Engine
 * codes (`eval_*`, `rego_*`) fall into their family's row.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export interface ClientStatus {
  code: GrpcStatus;
  /** Sent to the client: generic, never internal error text. */
  message: string;
}

const TABLE: Record<string, GrpcStatus> = {
  request_malformed: GrpcStatus.INVALID_ARGUMENT,
  decision_undefined: GrpcStatus.INTERNAL,
  decision_invalid: GrpcStatus.INTERNAL,
  native_unavailable: GrpcStatus.UNAVAILABLE,
  eval_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  eval_cancelled: GrpcStatus.CANCELLED,
  capacity_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  internal: GrpcStatus.UNKNOWN,
};

const MESSAGES: Partial<Record<GrpcStatus, string>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 'malformed CheckRequest',
  [GrpcStatus.UNAVAILABLE]: 'authorization engine unavailable',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'authorization server busy',
};

/** The gRPC status for an error code; Envoy applies `status_on_error` to any of them. */
export function clientStatus(code: string): ClientStatus {
  const grpc = TABLE[code] ?? (code.startsWith('eval_') || code.startsWith('rego_') ? GrpcStatus.INTERNAL : GrpcStatus.UNKNOWN);
  return { code: grpc, message: `${MESSAGES[grpc] ?? 'authorization decision failed'} (${code})` };
}
