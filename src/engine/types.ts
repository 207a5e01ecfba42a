/**
 * The engine contract the server depends on. Implementations: the Rust
 * engine in the addon (native-engine.ts) or in WebAssembly (wasm-engine.ts),
 * and OPA-built policy.wasm files run by opa-wasm (opa-wasm-policy.ts).
 */

/** Options fixed when a policy set is compiled. */
export interface CompileOptions {
  /** Parse modules as Rego v0 (OPA's --v0-compatible). Default false. */
  v0Compatible?: boolean;
  /** Builtin errors abort evaluation instead of yielding undefined. Default false. */
  strictBuiltinErrors?: boolean;
}

/** One Rego source file. */
export interface PolicyModule {
  /** File name used in diagnostics (`policy.rego`). */
  name: string;
  source: string;
}

/** A compile problem, located: `file:line:col: code: message`. */
export interface Diagnostic {
  code: string;
  message: string;
  file: string;
  line: number;
  col: number;
}

/** Result of evaluating a decision path for one input. */
export interface EngineDecision {
  /** The decision's value; `undefined` when the rule is undefined. */
  value: unknown;
  /** False when evaluation reached a non-deterministic builtin. */
  cacheable: boolean;
}

/** A compiled policy set with its data, ready to evaluate a path many times. */
export interface PreparedPolicy {
  /** Evaluates the prepared decision path against `input`. Throws EngineError. */
  evaluate(input: unknown): EngineDecision;
  /** Same, with input already serialized as JSON (the cheaper path); evaluation stops at `deadlineMs` (ms since the epoch, 0 = none). */
  evaluateJson(inputJson: string, deadlineMs?: number): EngineDecision;
  /** The decision path, e.g. `data.envoy.authz.allow`. */
  readonly path: string;
}

export interface PolicyEngine {
  /** Compiles modules + base data and prepares `path`. Throws EngineError (code `rego_compile_error`, with diagnostics). */
  prepare(modules: PolicyModule[], data: unknown, path: string, options?: CompileOptions): PreparedPolicy;
}

/** Every engine failure: a snake_case code, a message, and compile diagnostics if any. */
export class EngineError extends Error {
  /** Lines `print` wrote before an evaluation failed (`file:line` and message), when any. */
  prints?: Array<{ line: string; msg: string }>;

  constructor(
    readonly code: string,
    message: string,
    readonly diagnostics: Diagnostic[] = [],
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
