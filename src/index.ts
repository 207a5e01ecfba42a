/**
 * sark-authz: an Envoy ext_authz server deciding with an in-process Rego
 * engine. Every public export, by name.
 */
export { createAuthzServer, DEFAULT_ADDR, AUTHORIZATION_SERVICES } from './server/server';
export type { AuthzServer, AuthzServerOptions } from './server/server';
export { check, decodeRequest, evaluate, encodeResponse } from './server/check';
export type { CheckOptions, CheckResult } from './server/check';
export { clientStatus } from './server/status';
export type { ClientStatus } from './server/status';
export { checkRequestToInput } from './envoy/input';
export type { ApiVersion, InputOptions } from './envoy/input';
export { decisionToResponse, badRequestResponse, toV2Response } from './envoy/response';
export type { Outcome, ResponseOptions } from './envoy/response';
export { AuthzError } from './envoy/errors';
export type { AuthzErrorCode } from './envoy/errors';
export { loadPolicyModules, loadData } from './config/policy-files';
export { decisionRef, normaliseDecisionPath, type DecisionPath } from './config/decision-path';
export { main } from './cli/main';
export type { PolicyEngine, PreparedPolicy, PolicyModule, EngineDecision, Diagnostic, CompileOptions } from './engine/types';
export { EngineError } from './engine/types';
