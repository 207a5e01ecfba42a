/**
 * `WasmCheckPool`: worker threads for the wasm engine's Checks too expensive
 * for the event loop (what native/binding/src/pool.rs is to the addon).
 *
 * WebAssembly has no threads of its own here, so each worker holds its own
 * instance of the engine module with the same policy (its recipe: modules,
 * data, prepared paths), built on the first Check of that policy it runs and
 * replaced when the policy changes (policy swaps, bundle activations and
 * data updates all make a new policy with a new key). One worker runs one
 * Check at a time: the cap is the worker count, there is no hidden queue,
 * and a Check refused for want of a worker is refused at once
 * (`capacity_exhausted`).
 *
 * A worker cannot be interrupted while its instance computes, so one past
 * its Check's deadline (a builtin that does not read the clock), or whose
 * client cancelled, is terminated; the next Check starts a new one. Workers
 * start lazily, so a server whose Checks all finish inline never pays for them.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { EngineError } from './types';
import { engineModule, type CacheEntry, type Recipe } from './wasm-engine';

/** One Check for a worker: the policy (its recipe, sent only to a worker that does not hold it yet) and the call. */
export interface WasmJob {
  key: string;
  recipe: Recipe;
  handle: number;
  request: Buffer;
  version: 2 | 3;
  /** The caller's deadline, ms since the epoch (0: none); the engine also applies the prepared timeout. */
  deadlineMs: number;
}

/** What a worker is sent: the job, with the recipe only when the worker does not hold that policy. */
export interface WorkerRequest {
  key: string;
  recipe?: Recipe;
  handle: number;
  request: Uint8Array;
  version: 2 | 3;
  deadlineMs: number;
}

/**
 * What a worker answers: the Check result (native/envoy/src/result.rs
 * layout) and its cache entries, or a failure; and the key of the policy it
 * holds now (none after a failed build).
 */
export type WorkerReply = ({ result: Uint8Array; entries: CacheEntry[]; memoryBytes: number } | { error: { code: string; message: string } }) & { holds?: string };

/**
 * A worker whose instance's memory grew past this after a Check is stopped
 * (and started again when next needed): WebAssembly memory never shrinks, so
 * one large evaluation would otherwise keep its peak for the life of the worker.
 */
export const RETIRE_MEMORY_BYTES = 128 * 1024 * 1024;

/** A worker past its deadline gets this long to answer before it is stopped (ms): the engine stops itself at the deadline. */
const DEADLINE_GRACE_MS = 250;

/** One worker slot: a worker (absent until needed, or after it was stopped) and the policy it holds. */
interface Slot {
  worker?: Worker;
  holds?: string;
  busy: boolean;
}

export class WasmCheckPool {
  private readonly slots: Slot[];
  private closed = false;

  constructor(readonly capacity: number) {
    this.slots = Array.from({ length: Math.max(1, capacity) }, () => ({ busy: false }));
  }

  /** Checks running now. */
  get running(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /** Workers alive now (started lazily, stopped when past a deadline or cancelled). */
  get workers(): number {
    return this.slots.filter((s) => s.worker).length;
  }

  /**
   * Runs `job` on a free worker: its result bytes and cache entries.
   * Rejects with EngineError `capacity_exhausted` (every worker busy, or the
   * pool closed), `eval_timeout` (stopped `DEADLINE_GRACE_MS` after
   * `budgetEndMs`, ms since the epoch, 0: none), `eval_cancelled` (`signal`
   * aborted), or the engine's failure.
   */
  check(job: WasmJob, budgetEndMs: number, signal?: AbortSignal): Promise<{ result: Uint8Array; entries: CacheEntry[] }> {
    const slot = this.closed ? undefined : this.slots.find((s) => !s.busy);
    if (!slot) return Promise.reject(new EngineError('capacity_exhausted', `all ${this.capacity} Check workers are busy`));
    if (signal?.aborted) return Promise.reject(new EngineError('eval_cancelled', 'the caller went away before the Check started'));
    slot.busy = true;
    let worker: Worker;
    try {
      worker = slot.worker ??= this.start(slot);
    } catch (err) {
      slot.busy = false;
      return Promise.reject(new EngineError('internal', `cannot start a Check worker: ${(err as Error).message}`));
    }
    // A copy of the request's bytes alone: grpc-js's buffer may be a view of a larger one, which would be cloned whole.
    const request: WorkerRequest = { key: job.key, handle: job.handle, request: Uint8Array.from(job.request), version: job.version, deadlineMs: job.deadlineMs };
    if (slot.holds !== job.key) request.recipe = job.recipe;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        slot.busy = false;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      /** Stops the worker (its instance cannot be interrupted); the slot starts a new one next time. */
      const stop = (err: EngineError) => {
        settle();
        this.retire(slot);
        reject(err);
      };
      const onMessage = (reply: WorkerReply) => {
        settle();
        slot.holds = reply.holds;
        if ('error' in reply) return reject(new EngineError(reply.error.code, reply.error.message));
        if (reply.memoryBytes > RETIRE_MEMORY_BYTES) this.retire(slot);
        resolve(reply);
      };
      const onError = (err: Error) => stop(new EngineError('internal', `Check worker failed: ${err.message}`));
      const onExit = (code: number) => stop(new EngineError('internal', `Check worker exited (${code})`));
      const onAbort = () => stop(new EngineError('eval_cancelled', 'the caller went away; its Check worker was stopped'));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (budgetEndMs > 0) {
        timer = setTimeout(() => stop(new EngineError('eval_timeout', 'evaluation deadline exceeded (its Check worker was stopped)')), Math.max(0, budgetEndMs - Date.now()) + DEADLINE_GRACE_MS);
      }
      worker.postMessage(request);
    });
  }

  /** Stops the slot's worker; the slot starts a new one when next needed. */
  private retire(slot: Slot): void {
    const w = slot.worker;
    slot.worker = undefined;
    slot.holds = undefined;
    if (w) void w.terminate();
  }

  /** Stops every worker; a running Check is rejected (`internal`). */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      const w = slot.worker;
      slot.worker = undefined;
      if (w) void w.terminate();
    }
  }

  private start(slot: Slot): Worker {
    const worker = new Worker(path.join(__dirname, 'wasm-worker.js'), { workerData: { module: engineModule() } });
    // An idle worker must not keep the process alive.
    worker.unref();
    // A running Check hears of a failure through its own listeners; an idle worker that fails is dropped (never an unhandled 'error').
    worker.on('error', () => {});
    worker.on('exit', () => {
      if (slot.worker === worker) this.retire(slot);
    });
    return worker;
  }
}
