/**
 * The one error class of the server (request path, configuration, bundles). Every failure carries a
 * snake_case `code` (also the metric label and log field); `message` and
 * `cause` are for logs only, never sent to a client. The server maps codes
 * to gRPC statuses in one table (src/server/status.ts).
 */

/** Every code the request path can fail with; engine codes pass through as strings. */
export type AuthzErrorCode =
  /** The bytes are not a CheckRequest (gRPC INVALID_ARGUMENT). */
  | 'request_malformed'
  /** The request path or query has a bad escape or a `;` (answered with a 400 deny). */
  | 'request_path_invalid'
  /** The body cannot be parsed as its content type says (answered with a 400 deny). */
  | 'request_body_invalid'
  /** The decision path is undefined for this input. */
  | 'decision_undefined'
  /** The decision is not a boolean or a well-formed object. */
  | 'decision_invalid'
  /** The native engine could not be loaded. */
  | 'native_unavailable'
  /** Anything unexpected. */
  | 'internal'
  | (string & {});

export class AuthzError extends Error {
  override readonly name = 'AuthzError';

  constructor(
    readonly code: AuthzErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /**
   * Wraps anything thrown into an AuthzError: an AuthzError is returned as
   * is; an error with a string `code` (an EngineError) keeps its code; the
   * rest becomes `internal`.
   */
  static from(err: unknown): AuthzError {
    if (err instanceof AuthzError) return err;
    if (err instanceof Error) {
      const code = (err as { code?: unknown }).code;
      return new AuthzError(typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? code : 'internal', err.message, { cause: err });
    }
    return new AuthzError('internal', String(err), { cause: err });
  }
}
