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
  outcome: CheckOutcomeKind;
  cacheHit: boolean;
  cacheable: boolean;
}

export type CheckOutcomeKind = 'allow' | 'deny' | 'bad_request';

/**
 * Where the addon writes a Check's result: a fixed 64-byte little-endian
 * header, then the body (native/binding/src/result.rs lays it out):
 * u32 kind (0 allow, 1 deny, 2 bad request, 3 error) · u32 flags (1 cache hit,
 * 2 cacheable) · u32 body length (the CheckResponse, or the error code's) ·
 * u32 error detail length · f64 evaluation ns · 36 bytes decision id · body.
 */
const HEADER_LEN = 64;
const KIND_ERROR = 3;
const KINDS: readonly CheckOutcomeKind[] = ['allow', 'deny', 'bad_request'];
const FLAG_CACHE_HIT = 1;
const FLAG_CACHEABLE = 2;
const DECISION_ID_AT = 24;
const DECISION_ID_LEN = 36;

/** A buffer the addon writes Check results into, with typed views of its header. */
class ResultBuffer {
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  constructor(readonly bytes: Buffer) {
    // Own, 8-aligned memory (never a slice of Node's shared pool).
    this.u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, 4);
    this.f64 = new Float64Array(bytes.buffer, bytes.byteOffset + 16, 1);
  }
}

/**
 * The last Check's result, decoded from the header by `read` — the one
 * decoder of the addon's Check result. One per policy, reused: reading a
 * result allocates nothing (the decision id is decoded only when asked for).
 */
export class CheckResult {
  outcome: CheckOutcomeKind = 'allow';
  cacheHit = false;
  cacheable = false;
  /** Byte length of the CheckResponse (at `HEADER_LEN` in the buffer). */
  length = 0;
  /** Nanoseconds the Check spent evaluating and encoding; 0 for a cache hit or a bad request. */
  evalNs = 0;

  constructor(private out: ResultBuffer) {}

  /** Decodes the result the addon wrote into `out`; throws EngineError for an error result. */
  read(out: ResultBuffer): void {
    this.out = out;
    const kind = out.u32[0];
    const length = out.u32[2];
    if (kind === KIND_ERROR) {
      const code = out.bytes.toString('utf8', HEADER_LEN, HEADER_LEN + length);
      const detail = out.bytes.toString('utf8', HEADER_LEN + length, HEADER_LEN + length + out.u32[3]);
      throw new EngineError(code, detail);
    }
    const flags = out.u32[1];
    this.outcome = KINDS[kind];
    this.cacheHit = (flags & FLAG_CACHE_HIT) !== 0;
    this.cacheable = (flags & FLAG_CACHEABLE) !== 0;
    this.length = length;
    this.evalNs = out.f64[0];
  }

  /** The decision id of the last Check (in the response's dynamic metadata). */
  decisionId(): string {
    return this.out.bytes.toString('latin1', DECISION_ID_AT, DECISION_ID_AT + DECISION_ID_LEN);
  }
}

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

/** One Check of a prepared decision through one cache (`RustOPAEngine.checker`). */
type NativeCheckFn = ReturnType<RustOPAEngineInstance['checker']>;

/** Response lengths below this get a reused view of the output buffer. */
const VIEW_CACHE_MAX = 1024;

export class NativePreparedPolicy implements PreparedPolicy {
  /** Reused for every result; replaced by a larger one when a result does not fit. */
  private out = new ResultBuffer(Buffer.allocUnsafeSlow(64 * 1024));
  /** Views of `out` by response length (responses of one policy have a few lengths): `checkView` allocates nothing. */
  private views: Array<Buffer | undefined> = new Array<Buffer | undefined>(VIEW_CACHE_MAX).fill(undefined);
  /** The last check's result. */
  readonly last = new CheckResult(this.out);
  /** The addon's check function for `checkCache` (made on first use, again when the cache changes). */
  private checkFn: NativeCheckFn | undefined;
  private checkCache: RustCacheInstance | null = null;

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
      return JSON.parse(this.engine.checkInput(request, version, options));
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
    const r = this.run(request, version, cache, deadlineMs);
    return {
      bytes: Buffer.from(this.out.bytes.subarray(HEADER_LEN, HEADER_LEN + r.length)),
      outcome: r.outcome,
      cacheHit: r.cacheHit,
      cacheable: r.cacheable,
    };
  }

  /**
   * `checkBytes` for the server's hot path, allocating nothing: the response
   * is a view of this policy's output buffer, valid until its next check.
   * The caller must hand it on at once: the server gives it to grpc-js,
   * which copies it into the response frame before the handler returns.
   * The rest of the result is `last`.
   */
  checkView(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs = 0): Buffer {
    const len = this.run(request, version, cache, deadlineMs).length;
    const out = this.out.bytes;
    if (len >= VIEW_CACHE_MAX) return out.subarray(HEADER_LEN, HEADER_LEN + len);
    let view = this.views[len];
    if (view === undefined || view.buffer !== out.buffer) {
      view = out.subarray(HEADER_LEN, HEADER_LEN + len);
      this.views[len] = view;
    }
    return view;
  }

  /** Runs one Check into `out`; its result, decoded. */
  private run(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs: number): CheckResult {
    try {
      if (this.checkFn === undefined || cache !== this.checkCache) {
        this.checkFn = this.engine.checker(this.handle, cache);
        this.checkCache = cache;
      }
      const grown = this.checkFn(request, version, this.out.bytes, deadlineMs);
      if (grown) this.out = new ResultBuffer(grown);
    } catch (err) {
      throw engineErrorFrom(err);
    }
    this.last.read(this.out);
    return this.last;
  }
}

/** A compiled policy set (one revision), able to prepare paths and run queries. */
export class NativeCompiledPolicy {
  constructor(private readonly engine: RustOPAEngineInstance) {}

  prepare(path: string, options: PrepareOptions = {}): NativePreparedPolicy {
    try {
      const handle = this.engine.prepare(path, options);
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
      engine.compile(modules.map((m) => ({ name: m.name, source: m.source })), dataJson, options);
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
