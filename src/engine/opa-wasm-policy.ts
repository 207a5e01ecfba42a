/**
 * A policy compiled by OPA (`opa build -t wasm`), run by
 * @open-policy-agent/opa-wasm: the `policy.wasm` of a bundle, its
 * entrypoint chosen by the decision path. It evaluates JSON inputs; the
 * Envoy mapping around it is the TypeScript one (the server's `js` path).
 */
import { loadPolicySync, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { EngineError, type EngineDecision, type PreparedPolicy } from './types';

/** `data.envoy.authz.allow` → `envoy/authz/allow`, as OPA names entrypoints. */
export function entrypointOf(path: string): string {
  return path.replace(/^data\.?/, '').replace(/\./g, '/');
}

export class OpaWasmPolicy implements PreparedPolicy {
  private readonly policy: LoadedPolicy;
  private readonly entrypoint: string;

  /** Throws EngineError `rego_compile_error`-like `wasm_invalid` for a module opa-wasm cannot load, or an unknown entrypoint. */
  constructor(
    wasm: Buffer,
    data: unknown,
    readonly path: string,
  ) {
    try {
      this.policy = loadPolicySync(wasm);
      this.policy.setData(data ?? {});
    } catch (err) {
      throw new EngineError('wasm_invalid', `policy.wasm does not load: ${(err as Error)?.message ?? String(err)}`);
    }
    this.entrypoint = entrypointOf(path);
    if (!Object.hasOwn((this.policy as unknown as { entrypoints: Record<string, number> }).entrypoints, this.entrypoint)) {
      throw new EngineError('wasm_invalid', `policy.wasm has no entrypoint ${this.entrypoint}`);
    }
  }

  evaluate(input: unknown): EngineDecision {
    let rows: Array<{ result?: unknown }>;
    try {
      rows = this.policy.evaluate(input, this.entrypoint) as Array<{ result?: unknown }>;
    } catch (err) {
      throw new EngineError('eval_error', `policy.wasm: ${(err as Error)?.message ?? String(err)}`);
    }
    // OPA's compiled policies do not say whether a decision reached a non-deterministic builtin.
    return { value: rows.length > 0 ? rows[0]!.result : undefined, cacheable: false };
  }

  evaluateJson(inputJson: string): EngineDecision {
    return this.evaluate(JSON.parse(inputJson));
  }
}
