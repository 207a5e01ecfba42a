/**
 * The portable engine: the same Rust engine and Envoy Check as the addon,
 * compiled to wasm32 (native/wasm, `scripts/build-wasm.sh`), driven through
 * its direct entry points (`sark_*`). Serve falls back to it when the addon
 * cannot load. The Check is the addon's (sark_envoy::PreparedCheck, result
 * decoded by check-result.ts); the module supplies keys and entries, this
 * host stores them in its decision cache (the lru-cache fallback).
 *
 * One instance (and linear memory) per compiled policy. A call that traps or
 * panics leaves an instance unusable: it is rebuilt from the policy's recipe
 * on the next call. A Check that needs more than the inline step budget is
 * finished in a worker thread (wasm-pool.ts), which builds its own instance
 * from the same recipe.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DecisionCache } from '../cache/types';
import { CheckResult, HEADER_LEN, KIND_OFFLOAD, ResultBuffer } from './check-result';
import type { WasmCheckPool } from './wasm-pool';
import { prepareModule } from './wasm-module';
import type { PrepareOptions } from './native-engine';
import { EngineError, type CompileOptions, type Diagnostic, type EngineDecision, type PolicyEngine, type PolicyModule, type PreparedPolicy } from './types';

/** The WebAssembly JavaScript API, as far as it is used here (the tsconfig has no DOM library). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: object };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Where `scripts/build-wasm.sh` puts the module (`SARK_WASM_PATH` overrides). */
export function wasmModulePath(): string {
  return process.env.SARK_WASM_PATH ?? path.resolve(__dirname, '..', '..', '..', 'native', 'wasm', 'sark-engine.wasm');
}

let linked: { module?: WasmModule; raw?: Buffer; error?: string } | undefined;

/** The engine module as built (for `sark-authz build -t wasm`); throws EngineError `wasm_unavailable`. */
export function engineModuleBytes(): Buffer {
  load();
  if (!linked?.raw) throw new EngineError('wasm_unavailable', linked?.error ?? 'wasm engine not loaded');
  return linked.raw;
}

function load(): WasmModule | undefined {
  if (!linked) {
    const file = wasmModulePath();
    try {
      const raw = fs.readFileSync(file);
      linked = { raw, module: new WebAssemblyApi.Module(prepareModule(raw, { hostImports: true })) };
    } catch (err) {
      linked = { error: `wasm engine not loadable from ${file} (build it with \`make wasm\`): ${(err as Error).message}` };
    }
  }
  return linked.module;
}

/** The compiled engine module (for worker threads, which instantiate it themselves); throws EngineError `wasm_unavailable`. */
export function engineModule(): WasmModule {
  return requireModule();
}

/** Why the wasm engine cannot be used; undefined when it can. */
export function wasmLoadError(): string | undefined {
  load();
  return linked?.error;
}

interface Exports {
  sark_alloc(len: number): number;
  sark_free(ptr: number, len: number): void;
  sark_result_ptr(): number;
  sark_result_len(): number;
  sark_init(a: number, b: number, c: number, d: number): void;
  sark_compile(m: number, ml: number, d: number, dl: number, o: number, ol: number): number;
  sark_prepare(p: number, pl: number, o: number, ol: number): number;
  sark_evaluate(h: number, i: number, il: number, hasInput: number, deadlineMs: number): number;
  sark_input_paths(h: number): number;
  sark_query(q: number, ql: number, i: number, il: number, hasInput: number): number;
  sark_check_input(r: number, rl: number, version: number, o: number, ol: number): number;
  sark_check(h: number, r: number, rl: number, version: number, useCache: number, deadlineMs: number, inlineSteps: number): number;
  sark_respond(d: number, dl: number, hasDecision: number, version: number, dryRun: number, badRequest: number, evalNs: number): number;
  sark_conformance_case(c: number, cl: number, v0: number): number;
}

/** The wall clock in nanoseconds since the epoch, finer than Date.now(). */
const nowNs = () => (performance.timeOrigin + performance.now()) * 1e6;

/** One instance of the module: memory, exports and argument passing. */
class Instance {
  readonly exports: Exports;
  private readonly memory: WasmMemory;
  /** Scratch blocks for arguments, reused: [ptr, capacity] by slot. */
  private scratch: Array<[number, number]> = [];
  /** The decision cache of the Check running now, and its keys' prefix. */
  cache: { store: DecisionCache; scope: string } | null = null;
  /** The entry `cache_get` found, for `cache_take`. */
  private found: Buffer | undefined;

  constructor(module: WasmModule) {
    this.memory = new WebAssemblyApi.Memory({ initial: 2 });
    const text = (addr: number) => {
      const b = new Uint8Array(this.memory.buffer);
      let end = addr;
      while (end < b.length && b[end] !== 0) end++;
      return Buffer.from(b.buffer, addr, end - addr).toString('utf8');
    };
    const bytes = (ptr: number, len: number) => Buffer.from(this.memory.buffer, ptr, len);
    const instance = new WebAssemblyApi.Instance(module, {
      // The Check's host (native/wasm/src/host.rs): the clock and the decision cache.
      sark_host: {
        now_ns: nowNs,
        cache_get: (key: number, keyLen: number) => {
          const hit = this.cache?.store.get(this.cache.scope + bytes(key, keyLen).toString('latin1'));
          this.found = hit === undefined ? undefined : Buffer.from(hit, 'latin1');
          return this.found?.length ?? -1;
        },
        cache_take: (dst: number) => {
          if (this.found) new Uint8Array(this.memory.buffer, dst, this.found.length).set(this.found);
          this.found = undefined;
        },
        cache_set: (key: number, keyLen: number, entry: number, entryLen: number, ttlMs: number) => {
          this.cache?.store.set(this.cache.scope + bytes(key, keyLen).toString('latin1'), bytes(entry, entryLen).toString('latin1'), ttlMs >= 0 ? ttlMs : undefined);
        },
      },
      env: {
        memory: this.memory,
        opa_abort: (addr: number) => {
          throw new Error(text(addr));
        },
        opa_println: (addr: number) => {
          process.stderr.write(`${text(addr)}\n`);
        },
        // OPA hosts' builtin call: the module uses it only for the clock under
        // opa-wasm; here `sark_host.now_ns` is the clock, so it is never called.
        opa_builtin0: () => {
          throw new Error('opa_builtin0 is not used by the direct engine');
        },
      },
    });
    this.exports = instance.exports as unknown as Exports;
    const seed = new Float64Array(randomBytes(32).buffer.slice(0, 32));
    this.exports.sark_init(seed[0]!, seed[1]!, seed[2]!, seed[3]!);
  }

  /** Copies `data` into argument slot `slot`; its address and length. */
  arg(slot: number, data: Buffer | string | undefined): [number, number] {
    if (data === undefined) return [0, 0];
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let s = this.scratch[slot];
    if (!s || s[1] < bytes.length) {
      if (s) this.exports.sark_free(s[0], s[1]);
      const cap = Math.max(bytes.length, 256);
      const ptr = this.exports.sark_alloc(cap);
      if (ptr === 0) throw new Error(`out of memory allocating ${cap} bytes`);
      s = [ptr, cap];
      this.scratch[slot] = s;
    }
    new Uint8Array(this.memory.buffer, s[0], bytes.length).set(bytes);
    return [s[0], bytes.length];
  }

  /** Bytes of linear memory: it grows with what evaluations built, and never shrinks. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** The result buffer of the last call, as a view (valid until the next call). */
  result(): Buffer {
    const ptr = this.exports.sark_result_ptr();
    return Buffer.from(this.memory.buffer, ptr, this.exports.sark_result_len());
  }

  resultText(): string {
    return this.result().toString('utf8');
  }

  /** The failure a call reported (-1) as an EngineError. */
  failure(): EngineError {
    const f = JSON.parse(this.resultText()) as { code: string; message: string; diagnostics?: Diagnostic[] };
    return new EngineError(f.code, f.message, f.diagnostics ?? []);
  }
}

/** What rebuilds an instance: the compile arguments and every prepared path, in order. */
export interface Recipe {
  modules: string;
  data: string;
  options: string;
  prepared: Array<{ path: string; options: string }>;
}

/** A decision-cache entry a worker's Check made: key (no scope), entry, time to live in ms (-1: the cache's default). */
export type CacheEntry = [key: string, entry: string, ttlMs: number];


/**
 * Runs `f` on `inst`. An EngineError passes through; anything else (a trap,
 * a panic through `opa_abort`) drops the instance (`drop`: the next call
 * builds a new one) and becomes EngineError `internal`.
 */
function onInstance<T>(inst: Instance, drop: () => void, f: (inst: Instance) => T): T {
  try {
    return f(inst);
  } catch (err) {
    if (err instanceof EngineError) throw err;
    drop();
    throw new EngineError('internal', `wasm engine: ${(err as Error).message ?? String(err)}`);
  }
}

let nextCompiled = 1;

export class WasmCompiledPolicy {
  private instance: Instance | undefined;
  /** Tells this policy set from every other of the process (worker threads hold instances by it). */
  readonly id = nextCompiled++;

  constructor(
    private readonly module: WasmModule,
    private readonly recipe: Recipe,
  ) {
    this.instance = this.build();
  }

  /**
   * What a worker thread needs to hold the same policy in its own instance:
   * a key that changes whenever the recipe does (another policy, another
   * prepared path), and the recipe.
   */
  source(): { key: string; recipe: Recipe } {
    return { key: `${this.id}/${this.recipe.prepared.length}`, recipe: this.recipe };
  }

  /**
   * One whole Check of decision `handle` with the full budgets, for a worker
   * thread: the result bytes (a copy) and the decision-cache entries it
   * made (keys without a scope), for the event loop to store. The event loop
   * already missed the cache, so nothing is looked up.
   */
  checkForHost(handle: number, request: Buffer, version: 2 | 3, deadlineMs: number): { result: Uint8Array; entries: CacheEntry[]; memoryBytes: number } {
    const entries: CacheEntry[] = [];
    const recorder = { get: () => undefined, set: (key: string, value: string, ttlMs?: number) => void entries.push([key, value, ttlMs ?? -1]) } as unknown as DecisionCache;
    return this.call((inst) => {
      const [r, rl] = inst.arg(0, request);
      inst.cache = { store: recorder, scope: '' };
      try {
        if (inst.exports.sark_check(handle, r, rl, version, 1, deadlineMs, 0) !== 0) throw inst.failure();
      } finally {
        inst.cache = null;
      }
      return { result: Uint8Array.from(inst.result()), entries, memoryBytes: inst.memoryBytes };
    });
  }

  private build(): Instance {
    const inst = new Instance(this.module);
    const [m, ml] = inst.arg(0, this.recipe.modules);
    const [d, dl] = inst.arg(1, this.recipe.data);
    const [o, ol] = inst.arg(2, this.recipe.options);
    if (inst.exports.sark_compile(m, ml, d, dl, o, ol) !== 0) throw inst.failure();
    for (const p of this.recipe.prepared) this.prepareIn(inst, p.path, p.options);
    return inst;
  }

  private prepareIn(inst: Instance, path: string, options: string): number {
    const [p, pl] = inst.arg(0, path);
    const [o, ol] = inst.arg(1, options);
    const h = inst.exports.sark_prepare(p, pl, o, ol);
    if (h < 0) throw inst.failure();
    return h;
  }

  /**
   * Runs `f` on the instance with the clock set. An EngineError passes
   * through; anything else (a trap, a panic through `opa_abort`) drops the
   * instance and becomes EngineError `internal`.
   */
  call<T>(f: (inst: Instance) => T): T {
    return onInstance((this.instance ??= this.build()), () => (this.instance = undefined), f);
  }

  prepare(path: string, options: PrepareOptions = {}): WasmPreparedPolicy {
    const opts = JSON.stringify(options);
    const handle = this.call((inst) => this.prepareIn(inst, path, opts));
    this.recipe.prepared.push({ path, options: opts });
    return new WasmPreparedPolicy(this, handle, path, options.timeoutMs ?? 0);
  }

  /** An ad-hoc query: its result as JSON text shaped like `opa eval --format json` (numbers as the engine writes them). */
  query(text: string, inputJson?: string): string {
    return this.call((inst) => {
      const [q, ql] = inst.arg(0, text);
      const [i, il] = inst.arg(1, inputJson);
      if (inst.exports.sark_query(q, ql, i, il, inputJson === undefined ? 0 : 1) !== 0) throw inst.failure();
      return inst.resultText();
    });
  }
}

let nextScope = 1;

/** A prepared decision in the wasm engine: JSON evaluation and the whole Envoy Check. */
export class WasmPreparedPolicy implements PreparedPolicy {
  /** The last Check's result (as NativePreparedPolicy's `last`). */
  readonly last = new CheckResult(new ResultBuffer(Buffer.alloc(HEADER_LEN)));
  /** Prefix of this decision's cache keys: entries of other policies (other instances) never match. */
  private readonly scope = `${nextScope++}:`;

  constructor(
    private readonly compiled: WasmCompiledPolicy,
    private readonly handle: number,
    readonly path: string,
    /** The prepared wall-clock budget of one evaluation, ms (0: none). */
    private readonly timeoutMs = 0,
  ) {}

  evaluate(input: unknown): EngineDecision {
    return this.evaluateJson(JSON.stringify(input));
  }

  evaluateJson(inputJson: string | undefined, deadlineMs = 0): EngineDecision {
    return this.compiled.call((inst) => {
      const [i, il] = inst.arg(0, inputJson);
      if (inst.exports.sark_evaluate(this.handle, i, il, inputJson === undefined ? 0 : 1, deadlineMs) !== 0) throw inst.failure();
      const d = JSON.parse(inst.resultText()) as { value?: unknown; cacheable: boolean };
      return { value: d.value, cacheable: d.cacheable };
    });
  }

  /** The input paths the decision can read: what its cache key is made of. */
  inputPaths(): unknown[][] {
    return this.compiled.call((inst) => {
      if (inst.exports.sark_input_paths(this.handle) !== 0) throw inst.failure();
      return JSON.parse(inst.resultText()) as unknown[][];
    });
  }

  /** The input document opa-envoy-plugin builds for `request` (as NativePreparedPolicy.inputDocument). */
  inputDocument(request: Buffer, version: 2 | 3, options: { skipRequestBodyParse?: boolean; protoDescriptorBase64?: string } = {}): unknown {
    return this.compiled.call((inst) => {
      const [r, rl] = inst.arg(0, request);
      const [o, ol] = inst.arg(1, JSON.stringify(options));
      if (inst.exports.sark_check_input(r, rl, version, o, ol) !== 0) throw inst.failure();
      return JSON.parse(inst.resultText()) as unknown;
    });
  }

  /**
   * One Envoy Check: CheckRequest bytes in, CheckResponse bytes out (a view
   * of the module's memory, valid until the next call), through `cache` when
   * given. The rest of the result is `last`. Throws EngineError with the
   * failure's code.
   */
  checkView(request: Buffer, version: 2 | 3, cache: DecisionCache | null, deadlineMs = 0): Buffer {
    return this.checkInline(request, version, cache, deadlineMs, 0)!;
  }

  /**
   * `checkView` spending at most `inlineSteps` evaluation steps (0: all of
   * the budget) here, on the event loop. `undefined` when they ran out:
   * nothing was answered or cached; finish the Check with `checkOffloaded`.
   */
  checkInline(request: Buffer, version: 2 | 3, cache: DecisionCache | null, deadlineMs: number, inlineSteps: number): Buffer | undefined {
    return this.compiled.call((inst) => {
      const [r, rl] = inst.arg(0, request);
      inst.cache = cache ? { store: cache, scope: this.scope } : null;
      try {
        if (inst.exports.sark_check(this.handle, r, rl, version, cache ? 1 : 0, deadlineMs, inlineSteps) !== 0) throw inst.failure();
      } finally {
        inst.cache = null;
      }
      const out = resultBuffer(inst);
      if (out.u32[0] === KIND_OFFLOAD) return undefined;
      this.last.read(out);
      return out.bytes.subarray(HEADER_LEN, HEADER_LEN + this.last.length);
    });
  }

  /**
   * One whole Check with the full budgets in a worker thread of `pool`
   * (an instance of its own holding the same policy), off the event loop:
   * its result, decoded. Its decision-cache entries are stored in `cache`
   * here. Rejects with EngineError: `capacity_exhausted` when every worker
   * is busy; `eval_timeout` when the worker was stopped past the deadline;
   * `eval_cancelled` when `signal` aborted (the worker is stopped); else as
   * `checkView`.
   */
  async checkOffloaded(request: Buffer, version: 2 | 3, cache: DecisionCache | null, deadlineMs: number, pool: WasmCheckPool, signal?: AbortSignal): Promise<CheckResult> {
    const ends = this.timeoutMs > 0 ? Date.now() + this.timeoutMs : 0;
    const budgetEndMs = deadlineMs > 0 && (ends === 0 || deadlineMs < ends) ? deadlineMs : ends;
    const done = await pool.check({ ...this.compiled.source(), handle: this.handle, request, version, deadlineMs }, budgetEndMs, signal);
    if (cache) for (const [key, entry, ttlMs] of done.entries) cache.set(this.scope + key, entry, ttlMs >= 0 ? ttlMs : undefined);
    const out = new ResultBuffer(copyAligned(Buffer.from(done.result.buffer, done.result.byteOffset, done.result.byteLength)));
    const result = new CheckResult(out);
    result.read(out);
    return result;
  }
}

/** The result of the last call as the decoder reads it (8-aligned). */
function resultBuffer(inst: Instance): ResultBuffer {
  const out = inst.result();
  return new ResultBuffer(out.byteOffset % 8 === 0 ? out : copyAligned(out));
}

/**
 * The module's entry points that need no compiled policy, in an instance of
 * their own: the Envoy mapping alone, for decisions made elsewhere (a
 * policy.wasm built by OPA, run by opa-wasm) — CheckRequest bytes → input
 * document, decision → CheckResponse, the Rust mapping of every Check — and
 * OPA's conformance cases (`test-suite` without the addon).
 */
export class WasmTools {
  private instance: Instance | undefined;

  constructor(private readonly module: WasmModule = requireModule()) {}

  private call<T>(f: (inst: Instance) => T): T {
    return onInstance((this.instance ??= new Instance(this.module)), () => (this.instance = undefined), f);
  }

  /** The input document opa-envoy-plugin builds; throws EngineError (`request_*`, `config_invalid`). */
  inputDocument(request: Buffer, version: 2 | 3, options: { skipRequestBodyParse?: boolean; protoDescriptorBase64?: string } = {}): unknown {
    return this.call((inst) => {
      const [r, rl] = inst.arg(0, request);
      const [o, ol] = inst.arg(1, JSON.stringify(options));
      if (inst.exports.sark_check_input(r, rl, version, o, ol) !== 0) throw inst.failure();
      return JSON.parse(inst.resultText()) as unknown;
    });
  }

  /**
   * The CheckResponse for `decision` (undefined: none) into `last`; the
   * response bytes (a copy). `badRequest`: the 400 deny of a request whose
   * input could not be built. Throws EngineError as a Check does.
   */
  respond(last: CheckResult, decision: unknown, version: 2 | 3, options: { dryRun?: boolean; badRequest?: boolean; evalNs?: number } = {}): Buffer {
    return this.call((inst) => {
      const [d, dl] = inst.arg(0, decision === undefined ? undefined : JSON.stringify(decision));
      const rc = inst.exports.sark_respond(d, dl, decision === undefined ? 0 : 1, version, options.dryRun ? 1 : 0, options.badRequest ? 1 : 0, options.evalNs ?? 0);
      if (rc !== 0) throw inst.failure();
      const out = resultBuffer(inst);
      last.read(out);
      return Buffer.from(out.bytes.subarray(HEADER_LEN, HEADER_LEN + last.length));
    });
  }

  /** One case of OPA's conformance format, as the addon's `runConformanceCase` (a trap fails the case). */
  conformanceCase(caseJson: string, v0: boolean): { pass: boolean; reason?: string; skipped?: boolean } {
    try {
      return this.call((inst) => {
        const [c, cl] = inst.arg(0, caseJson);
        if (inst.exports.sark_conformance_case(c, cl, v0 ? 1 : 0) !== 0) throw inst.failure();
        return JSON.parse(inst.resultText()) as { pass: boolean; reason?: string; skipped?: boolean };
      });
    } catch (err) {
      return { pass: false, reason: `engine failed: ${(err as Error).message}` };
    }
  }
}

function requireModule(): WasmModule {
  const m = load();
  if (!m) throw new EngineError('wasm_unavailable', linked?.error ?? 'wasm engine not loaded');
  return m;
}

/** `b` in memory of its own (8-aligned). */
function copyAligned(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

export class WasmEngine implements PolicyEngine {
  private readonly module: WasmModule;

  constructor() {
    this.module = requireModule();
  }

  compile(modules: PolicyModule[], data: unknown, options: CompileOptions = {}): WasmCompiledPolicy {
    return this.compileJson(modules, JSON.stringify(data ?? {}), options);
  }

  compileJson(modules: PolicyModule[], dataJson: string, options: CompileOptions = {}): WasmCompiledPolicy {
    return new WasmCompiledPolicy(this.module, { modules: JSON.stringify(modules), data: dataJson, options: JSON.stringify(options), prepared: [] });
  }

  prepare(modules: PolicyModule[], data: unknown, path: string, options: CompileOptions & PrepareOptions = {}): WasmPreparedPolicy {
    return this.compile(modules, data, options).prepare(path, options);
  }
}
