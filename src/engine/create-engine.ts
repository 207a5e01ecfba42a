/**
 * Chooses the engine: the native addon when it loads, otherwise the same
 * engine compiled to wasm32 (src/engine/wasm-engine.ts). The reason for the
 * fallback is written once; `engineKind` names the engine for logs and metrics.
 */
import { NATIVE_LOAD_ERROR, RUST_AVAILABLE, warnNativeUnavailable } from '../native';
import { NativeEngine } from './native-engine';
import { EngineError } from './types';
import { WasmEngine, wasmLoadError } from './wasm-engine';

export type EngineKind = 'native' | 'wasm';

/** The engine serving this process. */
export function engineKind(): EngineKind {
  return RUST_AVAILABLE ? 'native' : 'wasm';
}

/**
 * The native engine, or the wasm one when the addon is not available.
 * Throws EngineError `engine_unavailable` naming both reasons when neither loads.
 */
export function createEngine(): NativeEngine | WasmEngine {
  if (RUST_AVAILABLE) return new NativeEngine();
  const wasmError = wasmLoadError();
  if (wasmError) throw new EngineError('engine_unavailable', `${NATIVE_LOAD_ERROR ?? 'native addon not loaded'}; ${wasmError}`);
  warnNativeUnavailable();
  return new WasmEngine();
}
