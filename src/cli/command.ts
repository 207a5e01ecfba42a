/** A `sark-authz` subcommand: its own module, registered by name in main.ts. */
export interface Command {
  /** One line for `sark-authz --help`. */
  summary: string;
  /** Runs with the arguments after the subcommand name; resolves to the exit code. */
  run(argv: string[]): Promise<number> | number;
}

/** Exit codes shared by every subcommand. */
export const EXIT = {
  ok: 0,
  /** Runtime failure: a policy that does not compile, an address in use, a failed check. */
  failure: 1,
  /** Bad command line. */
  usage: 2,
} as const;

/** Thrown for a bad command line; main prints it with the usage hint and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
