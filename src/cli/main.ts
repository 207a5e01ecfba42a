/**
 * The `sark-authz` entry point: `sark-authz COMMAND [flags]`. Each command
 * is its own module registered in COMMANDS; add `eval`, `test-suite`,
 * `bench`, `capabilities` there.
 */
import { EXIT, UsageError, type Command } from './command';
import { benchCommand } from './bench';
import { buildCommand } from './build';
import { capabilitiesCommand } from './capabilities';
import { evalCommand } from './eval';
import { explainCacheKeyCommand } from './explain-cache-key';
import { serveCommand } from './serve';
import { testSuiteCommandEntry } from './test-suite';

export const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  eval: evalCommand,
  bench: benchCommand,
  'test-suite': testSuiteCommandEntry,
  capabilities: capabilitiesCommand,
  'explain-cache-key': explainCacheKeyCommand,
  build: buildCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: sark-authz COMMAND [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun \`sark-authz COMMAND --help\` for a command's flags.\n`;
}

/** Runs the command line (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`sark-authz: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sark-authz ${name}: ${err.message}\nRun \`sark-authz ${name} --help\` for usage.\n`);
      return EXIT.usage;
    }
    process.stderr.write(`sark-authz ${name}: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}
