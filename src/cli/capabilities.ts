/**
 * `sark-authz capabilities`: OPA-format capabilities JSON listing exactly
 * the builtins this engine supports, with their declared types — for
 * `opa check --capabilities` and similar tooling.
 */
import { NATIVE_LOAD_ERROR, nativeAddon } from '../native';
import { EXIT, type Command } from './command';

const USAGE = `usage: sark-authz capabilities [--current]

Prints OPA-format capabilities JSON (builtins with declared types, features)
for the builtins this engine implements.
`;

function run(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (!nativeAddon) {
    process.stderr.write(`sark-authz capabilities: native_unavailable: ${NATIVE_LOAD_ERROR}\n`);
    return EXIT.failure;
  }
  process.stdout.write(JSON.stringify(JSON.parse(nativeAddon.capabilities()), null, 2) + '\n');
  return EXIT.ok;
}

export const capabilitiesCommand: Command = { summary: 'print OPA-format capabilities JSON of the supported builtins', run };
