/**
 * A worker thread of `WasmCheckPool` (wasm-pool.ts): holds its own instance
 * of the wasm engine with the policy its Checks name, and runs one whole
 * Check at a time with the full budgets, answering with the result bytes
 * and the decision-cache entries the Check made (the event loop stores them).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EngineError } from './types';
import { WasmCompiledPolicy } from './wasm-engine';
import type { WorkerReply, WorkerRequest } from './wasm-pool';

const engine = (workerData as { module: object }).module;
/** The policy held, by key: one at a time (a new policy replaces the old one). */
let held: { key: string; compiled: WasmCompiledPolicy } | undefined;

function run(job: WorkerRequest): WorkerReply {
  if (held?.key !== job.key) {
    held = undefined;
    if (!job.recipe) return { error: { code: 'internal', message: 'the Check worker does not hold this policy' } };
    // Builds the instance: compiles the policy and prepares its paths (throws EngineError, leaving none held).
    // The recipe's copy: the worker's instance owns its prepared paths.
    held = { key: job.key, compiled: new WasmCompiledPolicy(engine, { ...job.recipe, prepared: [...job.recipe.prepared] }) };
  }
  const request = Buffer.from(job.request.buffer, job.request.byteOffset, job.request.byteLength);
  return held.compiled.checkForHost(job.handle, request, job.version, job.deadlineMs);
}

parentPort?.on('message', (job: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = run(job);
  } catch (err) {
    const e = err instanceof EngineError ? err : new EngineError('internal', (err as Error).message ?? String(err));
    reply = { error: { code: e.code, message: e.message } };
  }
  reply.holds = held?.key;
  parentPort?.postMessage(reply, 'result' in reply ? [reply.result.buffer as ArrayBuffer] : []);
});
