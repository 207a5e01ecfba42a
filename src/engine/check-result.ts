/**
 * The one decoder of a Check's result (native/envoy/src/result.rs), for
 * both engines: the addon's output buffer and the wasm module's result.
 */
import { EngineError } from './types';

export type CheckOutcomeKind = 'allow' | 'deny' | 'bad_request';

/**
 * A Check's result, as the addon and the wasm module both hand it over: a
 * fixed 64-byte little-endian header, then the body (native/envoy/src/result.rs
 * lays it out):
 * u32 kind (0 allow, 1 deny, 2 bad request, 3 error, 4 offload) · u32 flags (1 cache hit,
 * 2 cacheable) · u32 body length (the CheckResponse, or the error code's) ·
 * u32 error detail length · f64 evaluation ns · 36 bytes decision id · u32
 * notes length · body, then (error) the detail, then the notes JSON.
 */
export const HEADER_LEN = 64;
const KIND_ERROR = 3;
/** The addon's inline step budget ran out: the Check is to run again off the event loop (nothing else is written). */
export const KIND_OFFLOAD = 4;
const KINDS: readonly CheckOutcomeKind[] = ['allow', 'deny', 'bad_request'];
const FLAG_CACHE_HIT = 1;
const FLAG_CACHEABLE = 2;
const DECISION_ID_AT = 24;
const DECISION_ID_LEN = 36;
const NOTES_LENGTH_WORD = 15;

/** A line `print` wrote: `line` is `file.rego:17`, as OPA logs it. */
export interface PrintedLine {
  line: string;
  msg: string;
}

/** What a Check adds to its answer when it printed or records its decision. */
export interface CheckNotes {
  prints?: PrintedLine[];
  /** With `recordDecision`: the input document the answer was decided on. */
  input?: unknown;
  /** With `recordDecision`: the decision's value (absent when undefined or failed). */
  result?: unknown;
}

/** A buffer holding a Check result, with typed views of its header. */
export class ResultBuffer {
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  constructor(readonly bytes: Buffer) {
    // The header must be 8-aligned: the addon's buffers are (own memory, never
    // a slice of Node's shared pool), the wasm allocator's are.
    this.u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, HEADER_LEN / 4);
    this.f64 = new Float64Array(bytes.buffer, bytes.byteOffset + 16, 1);
  }
}

/**
 * The last Check's result, decoded from the header by `read` — the one
 * decoder of a Check result, the addon's and the wasm module's. One per
 * policy, reused: reading a result allocates nothing (the decision id is
 * decoded only when asked for).
 */
export class CheckResult {
  outcome: CheckOutcomeKind = 'allow';
  cacheHit = false;
  cacheable = false;
  /** Byte length of the CheckResponse (at `HEADER_LEN` in the buffer). */
  length = 0;
  /** Nanoseconds the Check spent evaluating and encoding; 0 for a cache hit or a bad request. */
  evalNs = 0;

  /** Byte length of the notes JSON; 0 when the Check neither printed nor recorded its decision. */
  notesLength = 0;

  constructor(private out: ResultBuffer) {}

  /** Decodes the result written into `out`; throws EngineError for an error result (its notes stay readable). */
  read(out: ResultBuffer): void {
    this.out = out;
    const kind = out.u32[0];
    const length = out.u32[2];
    this.notesLength = out.u32[NOTES_LENGTH_WORD];
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

  /** The last Check's prints and recorded decision, decoded on demand; undefined when it has none. */
  notes(): CheckNotes | undefined {
    if (this.notesLength === 0) return undefined;
    const at = HEADER_LEN + this.out.u32[2] + this.out.u32[3];
    return JSON.parse(this.out.bytes.toString('utf8', at, at + this.notesLength)) as CheckNotes;
  }

  /** The CheckResponse: a view of the result's buffer. */
  response(): Buffer {
    return this.out.bytes.subarray(HEADER_LEN, HEADER_LEN + this.length);
  }

  /** The decision id of the last Check (in the response's dynamic metadata). */
  decisionId(): string {
    return this.out.bytes.toString('latin1', DECISION_ID_AT, DECISION_ID_AT + DECISION_ID_LEN);
  }
}
