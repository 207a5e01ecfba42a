/**
 * A policy compiled by OPA (`opa build -t wasm`), run by
 * @open-policy-agent/opa-wasm: the `policy.wasm` of a bundle, its
 * entrypoint chosen by the decision path. The Envoy mapping around it is the
 * one every Check uses (sark_envoy, in the wasm module: `WasmTools`),
 * so only the evaluation differs from a policy of our own engine.
 */
import { loadPolicySync, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { CheckResult, HEADER_LEN, ResultBuffer } from './check-result';
import { EngineError, type EngineDecision, type PreparedPolicy } from './types';
import { WasmTools } from './wasm-engine';

/** `data.envoy.authz.allow` → `envoy/authz/allow`, as OPA names entrypoints. */
export function entrypointOf(path: string): string {
  return path.replace(/^data\.?/, '').replace(/\./g, '/');
}

/** The Check settings that apply to an OPA-built policy (evaluation budgets are its own). */
export interface OpaWasmCheckOptions {
  skipRequestBodyParse?: boolean;
  protoDescriptorBase64?: string;
  dryRun?: boolean;
}

/** Input errors answered with a 400 deny, as for every Check. */
const BAD_REQUEST_CODES = new Set(['request_path_invalid', 'request_body_invalid']);

/** The Envoy mapping, one instance for every OPA-built policy. */
let mapping: WasmTools | undefined;

export class OpaWasmPolicy implements PreparedPolicy {
  private readonly policy: LoadedPolicy;
  private readonly entrypoint: string;
  /** The last Check's result (as the other engines' `last`). */
  readonly last = new CheckResult(new ResultBuffer(Buffer.alloc(HEADER_LEN)));

  /** Throws EngineError `wasm_invalid` for a module opa-wasm cannot load, or an unknown entrypoint. */
  constructor(
    wasm: Buffer,
    data: unknown,
    readonly path: string,
    private readonly options: OpaWasmCheckOptions = {},
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

  /** The input document opa-envoy-plugin builds for `request`, with this policy's settings. */
  inputDocument(request: Buffer, version: 2 | 3, options: { skipRequestBodyParse?: boolean; protoDescriptorBase64?: string } = this.options): unknown {
    return (mapping ??= new WasmTools()).inputDocument(request, version, options);
  }

  /**
   * One Envoy Check: the mapping every Check uses around an opa-wasm
   * evaluation; never cached (OPA's policies do not say whether a decision is
   * deterministic). The rest of the result is `last`. Throws EngineError.
   */
  checkView(request: Buffer, version: 2 | 3): Buffer {
    const m = (mapping ??= new WasmTools());
    let input: unknown;
    try {
      input = m.inputDocument(request, version, this.options);
    } catch (err) {
      if (err instanceof EngineError && BAD_REQUEST_CODES.has(err.code)) return m.respond(this.last, undefined, version, { badRequest: true });
      throw err;
    }
    const started = process.hrtime.bigint();
    const value = this.evaluate(input).value;
    const evalNs = Number(process.hrtime.bigint() - started);
    if (value === undefined) throw new EngineError('decision_undefined', `${this.path} is undefined`);
    return m.respond(this.last, value, version, { dryRun: this.options.dryRun, evalNs });
  }
}
