/**
 * The PolicyEngine backed by the Rust engine in the native addon. Besides
 * evaluating JSON inputs, its prepared policies run the whole Envoy Check
 * in native code (`checkBytes`): JavaScript only moves bytes.
 */
import { CheckCancel, CheckPool, NATIVE_LOAD_ERROR, nativeAddon, RustOPAEngine, type CheckPoolInstance, type RustCacheInstance, type RustOPAEngineInstance } from '../native';
import { CheckResult, HEADER_LEN, KIND_OFFLOAD, ResultBuffer, type CheckNotes, type CheckOutcomeKind } from './check-result';
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
  /**
   * Each Check's result carries the input document and result the answer was decided on
   * (`CheckResult.notes()`), for decision logs. Off (the default), a Check pays nothing for it.
   */
  recordDecision?: boolean;
}

export type { CheckNotes, CheckOutcomeKind, PrintedLine } from './check-result';

/** What `checkBytes` came to. */
export interface NativeCheckOutcome {
  /** The encoded CheckResponse (a copy the caller owns). */
  bytes: Buffer;
  outcome: CheckOutcomeKind;
  cacheHit: boolean;
  cacheable: boolean;
  /** What the Check printed and (with `recordDecision`) decided on; absent when neither. */
  notes?: CheckNotes;
}

/**
 * Bounds the bytes of new values the builtins of one evaluation may create,
 * for every later evaluation of the process (0 = unlimited; default 256 MiB).
 * A setting of the process: the addon's engine has one bound. No-op without the addon.
 */
export function setMaxEvalMemory(bytes: number): void {
  nativeAddon?.setMaxEvalMemory(bytes);
}

/**
 * Native threads for Checks too expensive to finish inline (see
 * native/binding/src/pool.rs): at most `threads` run at once.
 * Throws EngineError `native_unavailable` without the addon.
 */
export function createCheckPool(threads: number): CheckPoolInstance {
  if (!CheckPool) throw new EngineError('native_unavailable', NATIVE_LOAD_ERROR ?? 'native addon not loaded');
  return new CheckPool(threads);
}

/** Turns an error thrown by the addon into an EngineError with its code and diagnostics. */
export function engineErrorFrom(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { code?: unknown; message?: string; diagnosticsJson?: string; printsJson?: string };
  let diagnostics: Diagnostic[] = [];
  if (typeof e?.diagnosticsJson === 'string') {
    try {
      diagnostics = JSON.parse(e.diagnosticsJson) as Diagnostic[];
    } catch {
      diagnostics = [];
    }
  }
  const engineError = new EngineError(typeof e?.code === 'string' ? e.code : 'internal', e?.message ?? String(err), diagnostics);
  if (typeof e?.printsJson === 'string') {
    try {
      engineError.prints = JSON.parse(e.printsJson) as EngineError['prints'];
    } catch {
      // The error itself matters more than what printed before it.
    }
  }
  return engineError;
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
    const r = this.run(request, version, cache, deadlineMs, 0)!;
    return {
      bytes: Buffer.from(this.out.bytes.subarray(HEADER_LEN, HEADER_LEN + r.length)),
      outcome: r.outcome,
      cacheHit: r.cacheHit,
      cacheable: r.cacheable,
      ...(r.notesLength > 0 ? { notes: r.notes() } : {}),
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
    return this.checkInline(request, version, cache, deadlineMs, 0)!;
  }

  /**
   * `checkView` spending at most `inlineSteps` evaluation steps (0: all of
   * the budget) on the calling thread — the event loop. `undefined` when
   * they ran out: nothing was answered or cached; finish the Check with
   * `checkOffloaded`.
   */
  checkInline(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs: number, inlineSteps: number): Buffer | undefined {
    const r = this.run(request, version, cache, deadlineMs, inlineSteps);
    if (r === undefined) return undefined;
    const len = r.length;
    const out = this.out.bytes;
    if (len >= VIEW_CACHE_MAX) return out.subarray(HEADER_LEN, HEADER_LEN + len);
    let view = this.views[len];
    if (view === undefined || view.buffer !== out.buffer) {
      view = out.subarray(HEADER_LEN, HEADER_LEN + len);
      this.views[len] = view;
    }
    return view;
  }

  /**
   * One whole Check with the full budgets on a thread of `pool`, off the
   * event loop: its result, decoded (`response()` is the CheckResponse).
   * Throws (or rejects with) EngineError: `capacity_exhausted` when every
   * thread is busy, else as `checkBytes`. `signal` aborted (the client went
   * away) stops the evaluation within a few thousand steps: the result is
   * then the error `eval_cancelled`, and the thread is free again.
   */
  async checkOffloaded(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs: number, pool: CheckPoolInstance, signal?: AbortSignal): Promise<CheckResult> {
    let bytes: Buffer;
    const cancel = signal && CheckCancel ? new CheckCancel() : undefined;
    const onAbort = () => cancel?.cancel();
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      bytes = await this.engine.checkAsync(this.handle, request, version, cache, deadlineMs, pool, cancel);
    } catch (err) {
      throw engineErrorFrom(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const out = new ResultBuffer(bytes.byteOffset % 8 === 0 ? bytes : Buffer.from(bytes));
    const result = new CheckResult(out);
    result.read(out);
    return result;
  }

  /** Runs one Check into `out`; its result, decoded, or undefined when `inlineSteps` ran out. */
  private run(request: Buffer, version: 2 | 3, cache: RustCacheInstance | null, deadlineMs: number, inlineSteps: number): CheckResult | undefined {
    // No notes of an earlier Check survive a call that fails before writing a result.
    this.last.notesLength = 0;
    try {
      if (this.checkFn === undefined || cache !== this.checkCache) {
        this.checkFn = this.engine.checker(this.handle, cache);
        this.checkCache = cache;
      }
      const grown = this.checkFn(request, version, this.out.bytes, deadlineMs, inlineSteps);
      if (grown) this.out = new ResultBuffer(grown);
    } catch (err) {
      throw engineErrorFrom(err);
    }
    if (this.out.u32[0] === KIND_OFFLOAD) return undefined;
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

  /** An ad-hoc query: its result as JSON text shaped like `opa eval --format json` (numbers as the engine writes them). */
  query(text: string, inputJson?: string): string {
    try {
      return this.engine.query(text, inputJson ?? null);
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
