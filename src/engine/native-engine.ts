/**
 * The PolicyEngine backed by the Rust engine in the native addon. Besides
 * evaluating JSON inputs, its prepared policies run the whole Envoy Check
 * in native code (`checkBytes`): JavaScript only moves bytes.
 */
import { NATIVE_LOAD_ERROR, RustOPAEngine, type RustCacheInstance, type RustOPAEngineInstance } from '../native';
import { EngineError, type CompileOptions, type Diagnostic, type EngineDecision, type PolicyEngine, type PolicyModule, type PreparedPolicy } from './types';

/** Per-decision options fixed when a path is prepared. */
export interface PrepareOptions {
  /** Evaluation step budget. Default 10,000,000. */
  maxSteps?: number;
  /** Maximum nesting of rule and function calls. Default 512. */
  maxDepth?: number;
  /** Wall-clock budget of one evaluation, in milliseconds; 0 = none. Default 0. */
  timeoutMs?: number;
  /** Leave `parsed_body`/`truncated_body` out of the input document. Default false. */
  skipRequestBodyParse?: boolean;
  /** Log the real decision but always allow. Default false. */
  dryRun?: boolean;
  /** Cache TTL (ms) for decisions that reached a non-deterministic builtin; absent = never cached. */
  volatileTtlMs?: number;
  /**
   * A protobuf FileDescriptorSet (`protoc --include_imports --descriptor_set_out`), base64:
   * gRPC request bodies (`application/grpc`, sent by Envoy as `raw_body`) of the methods it
   * describes become `parsed_body`, as protojson (opa-envoy-plugin's descriptor set). Loaded once
   * at prepare; a bad set throws EngineError `config_invalid`.
   */
  protoDescriptorBase64?: string;
}

/** What `checkBytes` came to. */
export interface NativeCheckOutcome {
  /** The encoded CheckResponse (a copy the caller owns). */
  bytes: Buffer;
  outcome: 'allow' | 'deny' | 'bad_request';
  cacheHit: boolean;
  cacheable: boolean;
}

const FLAG_DENY = 1;
const FLAG_BAD_REQUEST = 2;
const FLAG_CACHE_HIT = 4;
const FLAG_CACHEABLE = 8;

/** Turns an error thrown by the addon into an EngineError with its code and diagnostics. */
export function engineErrorFrom(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { code?: unknown; message?: string; diagnosticsJson?: string };
  let diagnostics: Diagnostic[] = [];
  if (typeof e?.diagnosticsJson === 'string') {
    try {
      diagnostics = JSON.parse(e.diagnosticsJson) as Diagnostic[];
    } catch {
      diagnostics = [];
    }
  }
  return new EngineError(typeof e?.code === 'string' ? e.code : 'internal', e?.message ?? String(err), diagnostics);
}

function decisionFrom(json: string): EngineDecision {
  const d = JSON.parse(json) as { value?: unknown; cacheable: boolean };
  return { value: d.value, cacheable: d.cacheable };
}

/** Response lengths below this get a reused view of the output buffer. */
const VIEW_CACHE_MAX = 1024;

export class NativePreparedPolicy implements PreparedPolicy {
  /** Reused for every response; grown when a response does not fit. */
  private out = Buffer.allocUnsafe(64 * 1024);
  /** Views of `out` by length (responses of one policy have a few lengths): `checkView` allocates nothing. */
  private views: Array<Buffer | undefined> = new Array<Buffer | undefined>(VIEW_CACHE_MAX).fill(undefined);
  /** Outcome flags of the last `checkView`. */
  private flags = 0;

  constructor(
    private readonly engine: RustOPAEngineInstance,
    private readonly handle: number,
    readonly path: string,
  ) {}

  evaluate(input: unknown): EngineDecision {
    return this.evaluateJson(JSON.stringify(input));
  }

  evaluateJson(inputJson: string, deadlineMs = 0): EngineDecision {
    try {
      return decisionFrom(this.engine.evaluate(this.handle, inputJson, deadlineMs));
    } catch (err) {
      throw engineErrorFrom(err);
    }
  }

  /** Evaluates `count` times natively with the input parsed once; total nanoseconds. */
  benchNative(input: unknown, count: number): number {
    try {
      return this.engine.bench(this.handle, input === undefined ? null : JSON.stringify(input), count);
    } catch (err) {
      throw engineErrorFrom(err);
    }
  }

  /** The input paths the decision can read: what its cache key is made of. */
  inputPaths(): unknown[][] {
    return JSON.parse(this.engine.inputPaths(this.handle)) as unknown[][];
  }

  /**
   * The input document opa-envoy-plugin builds for `request`. Throws EngineError (`request_*`, or
   * `config_invalid` for a bad descriptor set). `protoDescriptorBase64` as in PrepareOptions.
   */
  inputDocument(request: Buffer, version: 2 | 3, options: { skipRequestBodyParse?: boolean; protoDescriptorBase64?: string } = {}): unknown {
    try {
      return JSON.parse(this.engine.checkInput(request, version, JSON.stringify(options)));
    } catch (err) {
      throw engineErrorFrom(err);
    }
  }

  /**
   * One Envoy Check in native code: CheckRequest bytes in, CheckResponse
   * bytes out, through `cache` when given; evaluation stops at `deadlineMs`
   * (ms since the epoch, 0 = none). Throws EngineError with the failure's
   * code (`request_malformed`, `decision_undefined`, `eval_timeout`, `eval_*`).
   */
  checkBytes(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs = 0): NativeCheckOutcome {
    const len = this.run(request, version, cache, deadlineMs);
    return {
      bytes: Buffer.from(this.out.subarray(0, len)),
      outcome: this.lastOutcome,
      cacheHit: this.lastCacheHit,
      cacheable: (this.flags & FLAG_CACHEABLE) !== 0,
    };
  }

  /**
   * `checkBytes` for the server's hot path, allocating nothing: the response
   * is a view of this policy's output buffer, valid until its next check.
   * The caller must hand it on at once: the server gives it to grpc-js,
   * which copies it into the response frame before the handler returns.
   * The outcome is `lastOutcome` / `lastCacheHit`.
   */
  checkView(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs = 0): Buffer {
    const len = this.run(request, version, cache, deadlineMs);
    if (len >= VIEW_CACHE_MAX) return this.out.subarray(0, len);
    let view = this.views[len];
    if (view === undefined || view.buffer !== this.out.buffer) {
      view = this.out.subarray(0, len);
      this.views[len] = view;
    }
    return view;
  }

  /** The last check's outcome. */
  get lastOutcome(): NativeCheckOutcome['outcome'] {
    return this.flags & FLAG_BAD_REQUEST ? 'bad_request' : this.flags & FLAG_DENY ? 'deny' : 'allow';
  }

  /** Whether the last check was answered from the decision cache. */
  get lastCacheHit(): boolean {
    return (this.flags & FLAG_CACHE_HIT) !== 0;
  }

  /** Runs one Check into `out`; the response's length (flags kept in `flags`). */
  private run(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs: number): number {
    let r: number;
    try {
      r = this.engine.check(this.handle, request, version, this.out, cache, deadlineMs);
      if (r <= -2) {
        this.out = Buffer.allocUnsafe(Math.max(-r - 2, this.out.length * 2));
        r = this.engine.takePending(this.out);
      }
    } catch (err) {
      throw engineErrorFrom(err);
    }
    if (r === -1) {
      const { code, detail } = JSON.parse(this.engine.lastError()) as { code: string; detail: string };
      throw new EngineError(code, detail);
    }
    this.flags = r % 16;
    return Math.floor(r / 16);
  }

  /** Seconds the last check spent evaluating (and encoding); 0 for a cache hit or a bad request. */
  lastEvalSeconds(): number {
    return this.engine.lastEvalNs() / 1e9;
  }

  /** The decision id of the last check (in the response's dynamic metadata). */
  lastDecisionId(): string {
    return this.engine.lastDecisionId();
  }
}

/** A compiled policy set (one revision), able to prepare paths and run queries. */
export class NativeCompiledPolicy {
  constructor(private readonly engine: RustOPAEngineInstance) {}

  prepare(path: string, options: PrepareOptions = {}): NativePreparedPolicy {
    try {
      const handle = this.engine.prepare(path, JSON.stringify(options));
      return new NativePreparedPolicy(this.engine, handle, path);
    } catch (err) {
      throw engineErrorFrom(err);
    }
  }

  /** An ad-hoc query, shaped like `opa eval --format json`. */
  query(text: string, input?: unknown): unknown {
    try {
      return JSON.parse(this.engine.query(text, input === undefined ? null : JSON.stringify(input)));
    } catch (err) {
      throw engineErrorFrom(err);
    }
  }
}

export class NativeEngine implements PolicyEngine {
  /** Compiles modules with base data. Throws EngineError with diagnostics. */
  compile(modules: PolicyModule[], data: unknown, options: CompileOptions = {}): NativeCompiledPolicy {
    return this.compileJson(modules, JSON.stringify(data ?? {}), options);
  }

  /** Same, with the data document as JSON text (parsed natively: large documents never become JS objects). */
  compileJson(modules: PolicyModule[], dataJson: string, options: CompileOptions = {}): NativeCompiledPolicy {
    if (!RustOPAEngine) throw new EngineError('native_unavailable', NATIVE_LOAD_ERROR ?? 'native addon not loaded');
    const engine = new RustOPAEngine();
    try {
      engine.compile(JSON.stringify(modules), dataJson, JSON.stringify(options));
    } catch (err) {
      throw engineErrorFrom(err);
    }
    return new NativeCompiledPolicy(engine);
  }

  prepare(modules: PolicyModule[], data: unknown, path: string, options: CompileOptions & PrepareOptions = {}): NativePreparedPolicy {
    return this.compile(modules, data, options).prepare(path, options);
  }
}

/**
 * The engine. Throws EngineError `native_unavailable` (with the loader's
 * reason: platform, paths tried, errors) when the addon is not loaded: there
 * is no portable engine yet.
 */
export function createEngine(): NativeEngine {
  if (!RustOPAEngine) throw new EngineError('native_unavailable', NATIVE_LOAD_ERROR ?? 'native addon not loaded');
  return new NativeEngine();
}
