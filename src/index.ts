/**
 * sark-authz: an Envoy ext_authz server deciding with an in-process Rego
 * engine. Every public export, by name.
 */
export { createAuthzServer, DEFAULT_ADDR, AUTHORIZATION_SERVICES } from './server/server';
export type { AuthzServer, AuthzServerOptions, ApiVersion, InputOptions } from './server/server';
export { clientStatus } from './server/status';
export type { ClientStatus } from './server/status';
export { AuthzError } from './errors';
export type { AuthzErrorCode } from './errors';
export { loadPolicyModules, loadData } from './config/policy-files';
export { decisionRef, normaliseDecisionPath, type DecisionPath } from './config/decision-path';
export { main } from './cli/main';
export type { PolicyEngine, PreparedPolicy, PolicyModule, EngineDecision, Diagnostic, CompileOptions } from './engine/types';
export { EngineError } from './engine/types';
