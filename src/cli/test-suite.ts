/**
 * `sark-authz test-suite DIR...`: OPA conformance-format YAML cases on the
 * engine serve would use: the addon, or without it (SARK_NATIVE=0) the same
 * engine in WebAssembly.
 */
import { testSuiteCommand } from '../conformance/command';
import { WasmTools, wasmLoadError } from '../engine/wasm-engine';
import { NATIVE_LOAD_ERROR, nativeAddon, warnNativeUnavailable } from '../native';
import { EXIT, type Command } from './command';

function run(argv: string[]): number {
  const addon = nativeAddon;
  if (addon) return testSuiteCommand(argv, (caseJson, v0) => JSON.parse(addon.runConformanceCase(caseJson, v0)) as { pass: boolean; reason?: string });
  const wasmError = wasmLoadError();
  if (wasmError) {
    process.stderr.write(`sark-authz test-suite: engine_unavailable: ${NATIVE_LOAD_ERROR}; ${wasmError}\n`);
    return EXIT.failure;
  }
  warnNativeUnavailable();
  const tools = new WasmTools();
  return testSuiteCommand(argv, (caseJson, v0) => tools.conformanceCase(caseJson, v0));
}

export const testSuiteCommandEntry: Command = { summary: 'run YAML test cases in OPA conformance format', run };
