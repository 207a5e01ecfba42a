/**
 * The Node-API addon's surface (written by hand: the binding declares
 * Node-API itself, so no generator knows it). Loaded only by src/native/.
 * Errors thrown carry a string `code` (`RUST_PANIC` for a caught panic).
 */

export declare class RustOPAEngine {
  constructor();
  /** modules `[{name, source}]` as JSON; data a JSON object; options `{v0Compatible, strictBuiltinErrors}`. Throws with `diagnosticsJson`. */
  compile(modulesJson: string, dataJson: string, optionsJson?: string | null): void;
  /**
   * Options JSON: `maxSteps`, `maxDepth`, `timeoutMs`, `skipRequestBodyParse`, `dryRun`, `volatileTtlMs`,
   * `protoDescriptorBase64` (a FileDescriptorSet as `protoc --include_imports --descriptor_set_out` writes it,
   * base64: gRPC request bodies become `parsed_body`; loaded here once, a bad one throws `config_invalid`).
   * Returns a handle.
   */
  prepare(path: string, optionsJson?: string | null): number;
  /** `{"value"?:…, "cacheable":bool, "prints"?:[…]}` */
  evaluate(handle: number, inputJson: string | null, deadlineMs?: number): string;
  /** Evaluates `count` times with the input parsed once; returns total nanoseconds. */
  bench(handle: number, inputJson: string | null, count: number): number;
  /** JSON array of input paths (arrays of steps) the decision can read. */
  inputPaths(handle: number): string;
  /** The Envoy hot path: `len * 16 + flags` (1 deny, 2 bad request, 4 cache hit, 8 cacheable); -1 error; ≤ -2 out too small. */
  check(handle: number, request: Buffer, version: 2 | 3, out: Buffer, cache: RustCache | null, deadlineMs?: number): number;
  takePending(out: Buffer): number;
  /** The input document for a CheckRequest, as JSON. Options JSON: `skipRequestBodyParse`, `protoDescriptorBase64` (as `prepare`). */
  checkInput(request: Buffer, version: 2 | 3, optionsJson?: string | null): string;
  /** `{"code","detail"}` of the last failed check. */
  lastError(): string;
  lastDecisionId(): string;
  /** Nanoseconds the last check spent evaluating and encoding; 0 for a cache hit or a bad request. */
  lastEvalNs(): number;
  /** `opa eval --format json`-shaped result. */
  query(text: string, inputJson: string | null): string;
}

export declare class RustCache {
  constructor(maxEntries?: number, maxBytes?: number, defaultTtlMs?: number, shards?: number);
  get(key: string): string | undefined;
  set(key: string, value: string, ttlMs?: number): boolean;
  delete(key: string): boolean;
  clear(): void;
  size(): number;
  stats(): { hits: number; misses: number; inserts: number; evictions: number; expirations: number; entries: number; bytes: number };
}

export declare function version(): string;
export declare function capabilities(): string;
export declare function runConformanceCase(caseJson: string, v0: boolean): string;
export declare function __panicForTest(): never;
