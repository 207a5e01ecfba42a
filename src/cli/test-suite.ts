/** `sark-authz test-suite DIR...`: OPA conformance-format YAML cases on the native engine. */
import { testSuiteCommand } from '../conformance/command';
import { NATIVE_LOAD_ERROR, nativeAddon } from '../native';
import { EXIT, type Command } from './command';

function run(argv: string[]): number {
  const addon = nativeAddon;
  if (!addon) {
    process.stderr.write(`sark-authz test-suite: native_unavailable: ${NATIVE_LOAD_ERROR}\n`);
    return EXIT.failure;
  }
  return testSuiteCommand(argv, (caseJson, v0) => JSON.parse(addon.runConformanceCase(caseJson, v0)) as { pass: boolean; reason?: string });
}

export const testSuiteCommandEntry: Command = { summary: 'run YAML test cases in OPA conformance format', run };
